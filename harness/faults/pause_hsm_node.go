package faults

import (
	"context"

	"github.com/keystorm/keystorm/harness/target"
)

// PauseHSMNode freezes the machine an HSM runs on (its container's
// processes stop where they are, mid-request): calls to it wait until KMS
// gives up on them, then fail with the guide's network message
// (KMSInvalidStateException). resume-hsm-node thaws it. Only the containers
// stack has machines.
type PauseHSMNode struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
	HSM     int    `yaml:"hsm" doc:"the HSM's index among the cluster's HSMs as DescribeClusters lists them (default 0)"`
}

var _ Action = (*PauseHSMNode)(nil)

func (*PauseHSMNode) Name() string { return "pause-hsm-node" }
func (*PauseHSMNode) Kind() Kind   { return KindFault }
func (*PauseHSMNode) Needs() []target.Capability {
	return []target.Capability{target.Machines, target.ControlPlane}
}

func (f *PauseHSMNode) Validate() []error {
	errs := required(nil, "cluster", f.Cluster)
	if err := checkHSMParam("hsm", &f.HSM); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func (f *PauseHSMNode) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	return actOnNode(ctx, env, f.Cluster, f.HSM, "pause")
}
