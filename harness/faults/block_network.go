package faults

import (
	"context"
	"fmt"

	"github.com/keystorm/keystorm/harness/target"
)

// BlockNetwork blocks the network path from KMS to a cluster, or to one of
// its HSMs, through the admin API: what a broken NACL, security group rule
// or partition does. A CONNECTED store stays CONNECTED and its keys fail
// with the guide's network message (with one HSM blocked, the calls KMS
// sends to that HSM); with every HSM blocked a connect fails NETWORK_ERRORS.
type BlockNetwork struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
	// HSM is an index into the cluster's HSMs as DescribeClusters lists
	// them; nil blocks the whole cluster.
	HSM *int `yaml:"hsm" doc:"only this HSM: its index among the cluster's HSMs (default: the whole cluster)"`
}

var _ Action = (*BlockNetwork)(nil)

func (*BlockNetwork) Name() string                 { return "block-network" }
func (*BlockNetwork) Kind() Kind                   { return KindFault }
func (f *BlockNetwork) Needs() []target.Capability { return hsmNeeds(target.Admin, f.HSM) }

func (f *BlockNetwork) Validate() []error {
	errs := required(nil, "cluster", f.Cluster)
	if err := checkHSMParam("hsm", f.HSM); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func (f *BlockNetwork) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	return setBlocked(ctx, env, f.Cluster, f.HSM, true)
}

// setBlocked blocks or restores the network path to a cluster or an HSM.
func setBlocked(ctx context.Context, env *Env, cluster string, hsm *int, blocked bool) error {
	admin, err := adminAPI(env, target.Admin)
	if err != nil {
		return err
	}
	t, err := targetOf(ctx, env, cluster, hsm)
	if err != nil {
		return err
	}
	in := struct {
		adminTarget
		Blocked bool `json:"blocked"`
	}{t, blocked}
	if err := admin.Post(ctx, "/v1/network", in, nil); err != nil {
		return fmt.Errorf("set the network path to %s blocked=%v: %w", t, blocked, err)
	}
	return nil
}
