package faults

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"

	"github.com/keystorm/keystorm/harness/target"
)

// CreateHSM adds HSMs to a cluster through the CloudHSM v2 API, taking the
// cluster's AZs in turn.
type CreateHSM struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
	Count   int    `yaml:"count" doc:"how many HSMs to add (default 1)"`
}

var _ Action = (*CreateHSM)(nil)

func (*CreateHSM) Name() string               { return "create-hsm" }
func (*CreateHSM) Kind() Kind                 { return KindStep }
func (*CreateHSM) Needs() []target.Capability { return []target.Capability{target.ControlPlane} }

func (s *CreateHSM) Validate() []error {
	var errs []error
	if s.Cluster == "" {
		errs = append(errs, errors.New("cluster: required"))
	}
	if s.Count < 1 || s.Count > 28 {
		errs = append(errs, fmt.Errorf("count: %d, want 1 to 28", s.Count))
	}
	return errs
}

func (s *CreateHSM) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	c, err := env.Cluster(s.Cluster)
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
	azs := sortedAZs(dc.SubnetMapping)
	if len(azs) == 0 {
		return fmt.Errorf("cluster %s has no subnets", c.ID)
	}
	for i := 0; i < s.Count; i++ {
		az := azs[i%len(azs)]
		if _, err := client.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: aws.String(c.ID), AvailabilityZone: aws.String(az)}); err != nil {
			return fmt.Errorf("create HSM in cluster %s, %s: %w", c.ID, az, err)
		}
	}
	return nil
}
