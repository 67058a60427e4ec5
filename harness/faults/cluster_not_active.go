package faults

import (
	"context"
	"fmt"

	"github.com/keystorm/keystorm/harness/target"
)

// ClusterNotActive takes a cluster out of ACTIVE (DEGRADED) through the
// admin API. It is one of the connect's quick checks: the call itself fails
// and the store stays DISCONNECTED.
type ClusterNotActive struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
}

var _ Action = (*ClusterNotActive)(nil)

func (*ClusterNotActive) Name() string               { return "cluster-not-active" }
func (*ClusterNotActive) Kind() Kind                 { return KindFault }
func (*ClusterNotActive) Needs() []target.Capability { return []target.Capability{target.Admin} }

func (f *ClusterNotActive) Validate() []error { return required(nil, "cluster", f.Cluster) }

func (f *ClusterNotActive) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	return setClusterState(ctx, env, f.Cluster, "DEGRADED")
}

// setClusterState sets a cluster DEGRADED or ACTIVE.
func setClusterState(ctx context.Context, env *Env, cluster, state string) error {
	admin, err := adminAPI(env, target.Admin)
	if err != nil {
		return err
	}
	c, err := env.Cluster(cluster)
	if err != nil {
		return err
	}
	if err := admin.Post(ctx, "/v1/cluster-state", map[string]string{"cluster_id": c.ID, "state": state}, nil); err != nil {
		return fmt.Errorf("set cluster %s %s: %w", c.ID, state, err)
	}
	return nil
}
