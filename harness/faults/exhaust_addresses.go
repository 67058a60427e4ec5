package faults

import (
	"context"
	"fmt"

	"github.com/keystorm/keystorm/harness/target"
)

// ExhaustAddresses takes every free IP address of a cluster's subnets
// through the admin API. A connected store keeps its ENIs; the next
// connection attempt cannot place one.
type ExhaustAddresses struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
	Subnet  string `yaml:"subnet" doc:"\"all\" (default) or the index of one subnet (0, 1, ... in AZ order)"`
}

var _ Action = (*ExhaustAddresses)(nil)

func (*ExhaustAddresses) Name() string               { return "exhaust-addresses" }
func (*ExhaustAddresses) Kind() Kind                 { return KindFault }
func (*ExhaustAddresses) Needs() []target.Capability { return []target.Capability{target.Admin} }

func (f *ExhaustAddresses) Validate() []error {
	errs := required(nil, "cluster", f.Cluster)
	if err := checkSubnetParam("subnet", f.Subnet); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func (f *ExhaustAddresses) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	return setFreeAddresses(ctx, env, f.Cluster, f.Subnet, 0)
}

// setFreeAddresses sets the free addresses of a cluster's subnets.
func setFreeAddresses(ctx context.Context, env *Env, cluster, subnet string, free int) error {
	admin, err := adminAPI(env, target.Admin)
	if err != nil {
		return err
	}
	c, err := env.Cluster(cluster)
	if err != nil {
		return err
	}
	ids, err := subnetsOf(c, subnet)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := admin.Post(ctx, "/v1/subnets/free", map[string]any{"subnet_id": id, "free": free}, nil); err != nil {
			return fmt.Errorf("set %d free addresses in subnet %s of cluster %s: %w", free, id, c.ID, err)
		}
	}
	return nil
}
