package faults

import (
	"context"

	"github.com/keystorm/keystorm/harness/target"
)

// ResumeHSMNode thaws a machine pause-hsm-node froze: the calls it held
// complete, and new ones succeed again. Only the containers stack has
// machines.
type ResumeHSMNode struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
	HSM     int    `yaml:"hsm" doc:"the HSM's index among the cluster's HSMs as DescribeClusters lists them (default 0)"`
}

var _ Action = (*ResumeHSMNode)(nil)

func (*ResumeHSMNode) Name() string { return "resume-hsm-node" }
func (*ResumeHSMNode) Kind() Kind   { return KindStep }
func (*ResumeHSMNode) Needs() []target.Capability {
	return []target.Capability{target.Machines, target.ControlPlane}
}

func (f *ResumeHSMNode) Validate() []error {
	errs := required(nil, "cluster", f.Cluster)
	if err := checkHSMParam("hsm", &f.HSM); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func (f *ResumeHSMNode) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	return actOnNode(ctx, env, f.Cluster, f.HSM, "resume")
}
