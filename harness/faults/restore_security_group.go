package faults

import (
	"context"

	"github.com/keystorm/keystorm/harness/target"
)

// RestoreSecurityGroup puts back the security group rules that
// break-security-group broke: fix what the quick failure names, connect
// again (procedure 2).
type RestoreSecurityGroup struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
}

var _ Action = (*RestoreSecurityGroup)(nil)

func (*RestoreSecurityGroup) Name() string               { return "restore-security-group" }
func (*RestoreSecurityGroup) Kind() Kind                 { return KindStep }
func (*RestoreSecurityGroup) Needs() []target.Capability { return []target.Capability{target.Admin} }

func (s *RestoreSecurityGroup) Validate() []error { return required(nil, "cluster", s.Cluster) }

func (s *RestoreSecurityGroup) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	return setSecurityGroupBroken(ctx, env, s.Cluster, false)
}
