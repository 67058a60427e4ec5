package faults

import (
	"context"
	"fmt"

	"github.com/keystorm/keystorm/harness/target"
)

// FreeAddresses gives a cluster's subnets free IP addresses again through
// the admin API: the fix of INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET (a
// connection needs one in each subnet).
type FreeAddresses struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
	Subnet  string `yaml:"subnet" doc:"\"all\" (default) or the index of one subnet (0, 1, ... in AZ order)"`
	Free    int    `yaml:"free" doc:"free addresses each subnet gets (default 16)"`
}

var _ Action = (*FreeAddresses)(nil)

func (*FreeAddresses) Name() string               { return "free-addresses" }
func (*FreeAddresses) Kind() Kind                 { return KindStep }
func (*FreeAddresses) Needs() []target.Capability { return []target.Capability{target.Admin} }

func (s *FreeAddresses) Validate() []error {
	errs := required(nil, "cluster", s.Cluster)
	if err := checkSubnetParam("subnet", s.Subnet); err != nil {
		errs = append(errs, err)
	}
	if s.Free < 1 || s.Free > 4096 {
		errs = append(errs, fmt.Errorf("free: %d, want 1 to 4096 (exhaust-addresses makes 0)", s.Free))
	}
	return errs
}

func (s *FreeAddresses) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	return setFreeAddresses(ctx, env, s.Cluster, s.Subnet, s.Free)
}
