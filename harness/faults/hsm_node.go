package faults

import (
	"context"
	"fmt"

	"github.com/keystorm/keystorm/harness/target"
)

// hsmNode names the HSM whose machine kill-hsm-node, pause-hsm-node and
// resume-hsm-node act on. Only the containers stack has machines.
type hsmNode struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
	HSM     int    `yaml:"hsm" doc:"the HSM's index among the cluster's HSMs as DescribeClusters lists them (default 0)"`
}

func (*hsmNode) Needs() []target.Capability {
	return []target.Capability{target.Machines, target.ControlPlane}
}

func (n *hsmNode) Validate() []error {
	errs := required(nil, "cluster", n.Cluster)
	if err := checkHSMParam("hsm", &n.HSM); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// act asks the admin API to kill, pause or resume the node's machine.
func (n *hsmNode) act(ctx context.Context, env *Env, action string) error {
	admin, err := adminAPI(env, target.Machines)
	if err != nil {
		return err
	}
	t, err := targetOf(ctx, env, n.Cluster, &n.HSM)
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
