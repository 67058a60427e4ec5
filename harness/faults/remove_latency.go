package faults

import (
	"context"

	"github.com/keystorm/keystorm/harness/target"
)

// RemoveLatency takes away the latency add-latency added.
type RemoveLatency struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
	HSM     *int   `yaml:"hsm" doc:"only this HSM: its index among the cluster's HSMs (default: the whole cluster)"`
}

var _ Action = (*RemoveLatency)(nil)

func (*RemoveLatency) Name() string                 { return "remove-latency" }
func (*RemoveLatency) Kind() Kind                   { return KindStep }
func (s *RemoveLatency) Needs() []target.Capability { return hsmNeeds(target.Admin, s.HSM) }

func (s *RemoveLatency) Validate() []error {
	errs := required(nil, "cluster", s.Cluster)
	if err := checkHSMParam("hsm", s.HSM); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func (s *RemoveLatency) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	return setLatency(ctx, env, s.Cluster, s.HSM, 0)
}
