package faults

import (
	"context"
	"fmt"

	"github.com/keystorm/keystorm/harness/target"
)

// DeleteSubnet deletes subnets of a cluster through the admin API, as an
// operator who deletes one under the cluster does: the HSMs' ENIs stay, but
// KMS can no longer place its ENIs there. Nothing brings a deleted subnet
// back: the documented fix is procedure 6 (create-cluster-from-backup with
// `subnets: new`, update-store `cluster:`).
type DeleteSubnet struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
	Subnet  string `yaml:"subnet" doc:"\"all\" (default) or the index of one subnet (0, 1, ... in AZ order)"`
}

var _ Action = (*DeleteSubnet)(nil)

func (*DeleteSubnet) Name() string               { return "delete-subnet" }
func (*DeleteSubnet) Kind() Kind                 { return KindFault }
func (*DeleteSubnet) Needs() []target.Capability { return []target.Capability{target.Admin} }

func (f *DeleteSubnet) Validate() []error {
	errs := required(nil, "cluster", f.Cluster)
	if err := checkSubnetParam("subnet", f.Subnet); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func (f *DeleteSubnet) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	admin, err := adminAPI(env, target.Admin)
	if err != nil {
		return err
	}
	c, err := env.Cluster(f.Cluster)
	if err != nil {
		return err
	}
	ids, err := subnetsOf(c, f.Subnet)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := admin.Post(ctx, "/v1/subnets/delete", map[string]string{"subnet_id": id}, nil); err != nil {
			return fmt.Errorf("delete subnet %s of cluster %s: %w", id, c.ID, err)
		}
	}
	return nil
}
