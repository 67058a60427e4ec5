package faults

import (
	"context"

	"github.com/keystorm/keystorm/harness/target"
)

// ClusterActive makes a cluster that cluster-not-active degraded ACTIVE
// again: fix what the quick failure names, connect again (procedure 2).
type ClusterActive struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
}

var _ Action = (*ClusterActive)(nil)

func (*ClusterActive) Name() string               { return "cluster-active" }
func (*ClusterActive) Kind() Kind                 { return KindStep }
func (*ClusterActive) Needs() []target.Capability { return []target.Capability{target.Admin} }

func (s *ClusterActive) Validate() []error { return required(nil, "cluster", s.Cluster) }

func (s *ClusterActive) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	return setClusterState(ctx, env, s.Cluster, "ACTIVE")
}
