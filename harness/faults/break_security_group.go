package faults

import (
	"context"
	"fmt"

	"github.com/keystorm/keystorm/harness/target"
)

// BreakSecurityGroup breaks the cluster security group's TCP 2223-2225
// rules through the admin API. It is one of the connect's quick checks: the
// call itself fails and the store stays DISCONNECTED.
type BreakSecurityGroup struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
}

var _ Action = (*BreakSecurityGroup)(nil)

func (*BreakSecurityGroup) Name() string               { return "break-security-group" }
func (*BreakSecurityGroup) Kind() Kind                 { return KindFault }
func (*BreakSecurityGroup) Needs() []target.Capability { return []target.Capability{target.Admin} }

func (f *BreakSecurityGroup) Validate() []error { return required(nil, "cluster", f.Cluster) }

func (f *BreakSecurityGroup) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	return setSecurityGroupBroken(ctx, env, f.Cluster, true)
}

// setSecurityGroupBroken breaks or restores a cluster's security group.
func setSecurityGroupBroken(ctx context.Context, env *Env, cluster string, broken bool) error {
	admin, err := adminAPI(env, target.Admin)
	if err != nil {
		return err
	}
	c, err := env.Cluster(cluster)
	if err != nil {
		return err
	}
	in := map[string]any{"cluster_id": c.ID, "broken": broken}
	if err := admin.Post(ctx, "/v1/security-group", in, nil); err != nil {
		return fmt.Errorf("set the security group of cluster %s broken=%v: %w", c.ID, broken, err)
	}
	return nil
}
