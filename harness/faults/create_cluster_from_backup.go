package faults

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	hsmtypes "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/keystorm/keystorm/harness/target"
)

// The values of create-cluster-from-backup's `backup:` and `subnets:` that
// are not names.
const (
	backupLatest  = "latest"
	subnetsSource = "source"
	subnetsNew    = "new"
)

// defaultHsmType is what CreateCluster gets when the backup does not say.
const defaultHsmType = "hsm1.medium"

// CreateClusterFromBackup is procedure 6's restore: CreateCluster with
// SourceBackupId, then CreateHsm in the cluster's AZs in turn, waiting
// until the cluster and its HSMs are ACTIVE. The new cluster is related to
// the source (same trust anchor, same users and keys as at backup time),
// so a store may move to it (update-store `cluster:`).
//
// Its kmsuser has the password of backup time, which KMS had rotated (or
// went on rotating): Env binds the new cluster with the source's trust
// anchor and admin password but no known kmsuser password, and procedure 6
// goes on with set-kmsuser-password on the new cluster, then update-store
// with `cluster:` and `password: known`, then connect-store.
type CreateClusterFromBackup struct {
	// Cluster is the source: its backups (for "latest"), subnets, trust
	// anchor and crypto officer password.
	Cluster string `yaml:"cluster" doc:"the source cluster's name in the scenario"`
	Backup  string `yaml:"backup" doc:"a backup's name in the scenario, or \"latest\" (default): the source's newest READY backup"`
	As      string `yaml:"as" doc:"the new cluster's name in the scenario"`
	HSMs    int    `yaml:"hsms" doc:"HSMs to create in it, one per AZ in turn (default 2)"`
	// Subnets "new" is for a source whose subnet was deleted: CreateCluster
	// refuses a deleted subnet, and nothing brings one back.
	Subnets string `yaml:"subnets" doc:"\"source\" (default): the source's subnets; \"new\": a fresh subnet in each of its AZs (admin API)"`
}

var _ Action = (*CreateClusterFromBackup)(nil)

func (*CreateClusterFromBackup) Name() string { return "create-cluster-from-backup" }
func (*CreateClusterFromBackup) Kind() Kind   { return KindStep }
func (s *CreateClusterFromBackup) Needs() []target.Capability {
	if s.Subnets == subnetsNew {
		return []target.Capability{target.ControlPlane, target.Admin}
	}
	return []target.Capability{target.ControlPlane}
}

func (s *CreateClusterFromBackup) Validate() []error {
	errs := required(required(required(nil, "cluster", s.Cluster), "backup", s.Backup), "as", s.As)
	if s.HSMs < 1 || s.HSMs > 28 {
		errs = append(errs, fmt.Errorf("hsms: %d, want 1 to 28 (KMS needs 2 in different AZs)", s.HSMs))
	}
	if s.Subnets != subnetsSource && s.Subnets != subnetsNew {
		errs = append(errs, fmt.Errorf("subnets: %q, want %q or %q", s.Subnets, subnetsSource, subnetsNew))
	}
	return errs
}

func (s *CreateClusterFromBackup) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	client, err := cloudHSM(env)
	if err != nil {
		return err
	}
	src, err := env.Cluster(s.Cluster)
	if err != nil {
		return err
	}
	backup, err := s.pickBackup(ctx, env, client, src)
	if err != nil {
		return err
	}
	subnets, err := s.subnets(ctx, env, src)
	if err != nil {
		return err
	}
	hsmType := aws.ToString(backup.HsmType)
	if hsmType == "" {
		hsmType = defaultHsmType
	}
	backupID := aws.ToString(backup.BackupId)
	out, err := client.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{
		HsmType: aws.String(hsmType), SubnetIds: subnets, SourceBackupId: aws.String(backupID),
	})
	if err != nil {
		return fmt.Errorf("create a cluster from backup %s in subnets %v: %w", backupID, subnets, err)
	}
	id := aws.ToString(out.Cluster.ClusterId)
	dc, err := s.waitCluster(ctx, env, id, 0)
	if err != nil {
		return err
	}
	azs := sortedAZs(dc.SubnetMapping)
	for i := 0; i < s.HSMs; i++ {
		az := azs[i%len(azs)]
		if _, err := client.CreateHsm(ctx, &cloudhsmv2.CreateHsmInput{ClusterId: aws.String(id), AvailabilityZone: aws.String(az)}); err != nil {
			return fmt.Errorf("create HSM in cluster %s (from backup %s), %s: %w", id, backupID, az, err)
		}
	}
	if dc, err = s.waitCluster(ctx, env, id, s.HSMs); err != nil {
		return err
	}
	var subnetIDs []string
	for _, az := range sortedAZs(dc.SubnetMapping) {
		subnetIDs = append(subnetIDs, dc.SubnetMapping[az])
	}
	env.BindCluster(s.As, Cluster{ID: id, TrustAnchorPEM: src.TrustAnchorPEM, AdminPassword: src.AdminPassword, SubnetIDs: subnetIDs})
	return nil
}

// pickBackup finds the backup to restore: the named one, or the newest
// READY backup of the source cluster.
func (s *CreateClusterFromBackup) pickBackup(ctx context.Context, env *Env, client *cloudhsmv2.Client, src Cluster) (hsmtypes.Backup, error) {
	filters := map[string][]string{"states": {string(hsmtypes.BackupStateReady)}}
	what := "READY backup of cluster " + src.ID
	if s.Backup == backupLatest {
		filters["clusterIds"] = []string{src.ID}
	} else {
		id, err := env.Backup(s.Backup)
		if err != nil {
			return hsmtypes.Backup{}, err
		}
		filters["backupIds"] = []string{id}
		what = "READY backup " + id
	}
	var newest hsmtypes.Backup
	p := cloudhsmv2.NewDescribeBackupsPaginator(client, &cloudhsmv2.DescribeBackupsInput{Filters: filters, SortAscending: aws.Bool(false)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return hsmtypes.Backup{}, fmt.Errorf("describe backups (%s): %w", what, err)
		}
		for _, b := range page.Backups {
			if newest.BackupId == nil || aws.ToTime(b.CreateTimestamp).After(aws.ToTime(newest.CreateTimestamp)) {
				newest = b
			}
		}
	}
	if newest.BackupId == nil {
		return hsmtypes.Backup{}, fmt.Errorf("no %s", what)
	}
	return newest, nil
}

// subnets returns the subnets of the new cluster, one per AZ of the source.
func (s *CreateClusterFromBackup) subnets(ctx context.Context, env *Env, src Cluster) ([]string, error) {
	if s.Subnets == subnetsSource && len(src.SubnetIDs) > 0 {
		return src.SubnetIDs, nil
	}
	// DescribeClusters still shows a deleted cluster, with its subnets.
	dc, err := describeCluster(ctx, env, src.ID)
	if err != nil {
		return nil, err
	}
	azs := sortedAZs(dc.SubnetMapping)
	if len(azs) == 0 {
		return nil, fmt.Errorf("cluster %s has no subnets", src.ID)
	}
	var ids []string
	for _, az := range azs {
		if s.Subnets == subnetsSource {
			ids = append(ids, dc.SubnetMapping[az])
			continue
		}
		id, err := createSubnet(ctx, env, az)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// createSubnet makes a fresh subnet in az through the admin API, as an
// operator makes one with EC2's CreateSubnet.
func createSubnet(ctx context.Context, env *Env, az string) (string, error) {
	admin, err := adminAPI(env, target.Admin)
	if err != nil {
		return "", err
	}
	var out struct {
		SubnetID string `json:"subnet_id"`
	}
	if err := admin.Post(ctx, "/v1/subnets", map[string]string{"az": az}, &out); err != nil {
		return "", fmt.Errorf("create a subnet in %s: %w", az, err)
	}
	return out.SubnetID, nil
}

// waitCluster waits until a cluster is ACTIVE with at least hsms ACTIVE
// HSMs: the real service takes minutes for each.
func (s *CreateClusterFromBackup) waitCluster(ctx context.Context, env *Env, id string, hsms int) (hsmtypes.Cluster, error) {
	var dc hsmtypes.Cluster
	err := poll(ctx, fmt.Sprintf("cluster %s to be ACTIVE with %d ACTIVE HSMs", id, hsms), func() (bool, string, error) {
		var err error
		if dc, err = describeCluster(ctx, env, id); err != nil {
			return false, "", err
		}
		active := 0
		for _, h := range dc.Hsms {
			if h.State == hsmtypes.HsmStateActive {
				active++
			}
		}
		return dc.State == hsmtypes.ClusterStateActive && active >= hsms, fmt.Sprintf("%s with %d ACTIVE HSMs", dc.State, active), nil
	})
	return dc, err
}
