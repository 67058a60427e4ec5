package faults

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/keystorm/keystorm/harness/target"
)

// DeleteHSM deletes HSMs of a cluster through the CloudHSM v2 API.
type DeleteHSM struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
	// Count is "all" or how many of the cluster's ACTIVE HSMs to delete,
	// oldest first.
	Count string `yaml:"count" doc:"\"all\" (default) or a number of HSMs"`
}

var _ Action = (*DeleteHSM)(nil)

func (*DeleteHSM) Name() string               { return "delete-hsm" }
func (*DeleteHSM) Kind() Kind                 { return KindFault }
func (*DeleteHSM) Needs() []target.Capability { return []target.Capability{target.ControlPlane} }

func (f *DeleteHSM) Validate() []error {
	var errs []error
	if f.Cluster == "" {
		errs = append(errs, errors.New("cluster: required"))
	}
	if f.Count != "all" {
		if n, err := strconv.Atoi(f.Count); err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("count: %q, want \"all\" or a number of HSMs of at least 1", f.Count))
		}
	}
	return errs
}

func (f *DeleteHSM) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	c, err := env.Cluster(f.Cluster)
	if err != nil {
		return err
	}
	hsms, err := activeHSMs(ctx, env, c.ID)
	if err != nil {
		return err
	}
	n := len(hsms)
	if f.Count != "all" {
		n, _ = strconv.Atoi(f.Count)
		if n > len(hsms) {
			return fmt.Errorf("delete %d HSMs of cluster %s: it has %d ACTIVE", n, c.ID, len(hsms))
		}
	}
	client, err := cloudHSM(env)
	if err != nil {
		return err
	}
	for _, h := range hsms[:n] {
		if _, err := client.DeleteHsm(ctx, &cloudhsmv2.DeleteHsmInput{ClusterId: aws.String(c.ID), HsmId: h.HsmId}); err != nil {
			return fmt.Errorf("delete HSM %s of cluster %s: %w", aws.ToString(h.HsmId), c.ID, err)
		}
	}
	return nil
}

// activeHSMs returns a cluster's ACTIVE HSMs as DescribeClusters lists them.
func activeHSMs(ctx context.Context, env *Env, clusterID string) ([]types.Hsm, error) {
	c, err := describeCluster(ctx, env, clusterID)
	if err != nil {
		return nil, err
	}
	var active []types.Hsm
	for _, h := range c.Hsms {
		if h.State == types.HsmStateActive {
			active = append(active, h)
		}
	}
	return active, nil
}
