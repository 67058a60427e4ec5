package faults

import (
	"context"
	"fmt"

	"github.com/keystorm/keystorm/harness/target"
)

// KillHSMNode kills the machine an HSM runs on (SIGKILL to its container),
// calls in flight included, without telling the control plane: a node that
// dies, not one an operator deletes. Calls KMS sends to it fail with the
// guide's network message (KMSInvalidStateException) and the store stays
// CONNECTED; the fix is delete-hsm of the dead HSM, then create-hsm.
// Only the containers stack has machines.
type KillHSMNode struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
	HSM     int    `yaml:"hsm" doc:"the HSM's index among the cluster's HSMs as DescribeClusters lists them (default 0)"`
}

var _ Action = (*KillHSMNode)(nil)

func (*KillHSMNode) Name() string { return "kill-hsm-node" }
func (*KillHSMNode) Kind() Kind   { return KindFault }
func (*KillHSMNode) Needs() []target.Capability {
	return []target.Capability{target.Machines, target.ControlPlane}
}

func (f *KillHSMNode) Validate() []error {
	errs := required(nil, "cluster", f.Cluster)
	if err := checkHSMParam("hsm", &f.HSM); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func (f *KillHSMNode) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	return actOnNode(ctx, env, f.Cluster, f.HSM, "kill")
}

// actOnNode asks the admin API to kill, pause or resume the machine of a
// cluster's HSM.
func actOnNode(ctx context.Context, env *Env, cluster string, hsm int, action string) error {
	admin, err := adminAPI(env, target.Machines)
	if err != nil {
		return err
	}
	t, err := targetOf(ctx, env, cluster, &hsm)
	if err != nil {
		return err
	}
	in := struct {
		adminTarget
		Action string `json:"action"`
	}{t, action}
	if err := admin.Post(ctx, "/v1/nodes", in, nil); err != nil {
		return fmt.Errorf("%s the node of %s: %w", action, t, err)
	}
	return nil
}
