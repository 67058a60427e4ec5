package faults

import (
	"context"

	"github.com/keystorm/keystorm/harness/target"
)

// UnblockNetwork restores the network path that block-network blocked: the
// documented fix of NETWORK_ERRORS and of the network message (which the
// guide says to retry first).
type UnblockNetwork struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
	HSM     *int   `yaml:"hsm" doc:"only this HSM: its index among the cluster's HSMs (default: the whole cluster)"`
}

var _ Action = (*UnblockNetwork)(nil)

func (*UnblockNetwork) Name() string                 { return "unblock-network" }
func (*UnblockNetwork) Kind() Kind                   { return KindStep }
func (s *UnblockNetwork) Needs() []target.Capability { return hsmNeeds(target.Admin, s.HSM) }

func (s *UnblockNetwork) Validate() []error {
	errs := required(nil, "cluster", s.Cluster)
	if err := checkHSMParam("hsm", s.HSM); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func (s *UnblockNetwork) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	return setBlocked(ctx, env, s.Cluster, s.HSM, false)
}
