package faults

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"

	"github.com/keystorm/keystorm/harness/target"
)

// DeleteCluster deletes a cluster through the CloudHSM v2 API: its HSMs
// first (DeleteCluster refuses a cluster that has any), then the cluster.
// The scenario keeps its name bound, so that create-cluster-from-backup can
// restore from it (`backup: latest, cluster: <name>`): deleting the last
// HSM leaves a backup behind.
type DeleteCluster struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
}

var _ Action = (*DeleteCluster)(nil)

func (*DeleteCluster) Name() string               { return "delete-cluster" }
func (*DeleteCluster) Kind() Kind                 { return KindFault }
func (*DeleteCluster) Needs() []target.Capability { return []target.Capability{target.ControlPlane} }

func (f *DeleteCluster) Validate() []error {
	return required(nil, "cluster", f.Cluster)
}

func (f *DeleteCluster) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	c, err := env.Cluster(f.Cluster)
	if err != nil {
		return err
	}
	client, err := cloudHSM(env)
	if err != nil {
		return err
	}
	dc, err := describeCluster(ctx, env, c.ID)
	if err != nil {
		return err
	}
	for _, h := range dc.Hsms {
		if _, err := client.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: aws.String(c.ID), HsmId: h.HsmId}); err != nil {
			return fmt.Errorf("delete HSM %s of cluster %s: %w", aws.ToString(h.HsmId), c.ID, err)
		}
	}
	// The real service takes a while to delete an HSM; DeleteCluster
	// refuses a cluster that still lists one.
	err = poll(ctx, "cluster "+c.ID+" to have no HSM", func() (bool, string, error) {
		dc, err := describeCluster(ctx, env, c.ID)
		if err != nil {
			return false, "", err
		}
		return len(dc.Hsms) == 0, fmt.Sprintf("%d HSMs", len(dc.Hsms)), nil
	})
	if err != nil {
		return err
	}
	if _, err := client.DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: aws.String(c.ID)}); err != nil {
		return fmt.Errorf("delete cluster %s: %w", c.ID, err)
	}
	return nil
}
