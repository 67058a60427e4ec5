package faults

import (
	"context"
	"fmt"

	"github.com/keystorm/keystorm/harness/target"
)

// TakeBackup takes an on-demand backup of a cluster through the admin API
// (the real service backs up on its own schedule, and whenever an HSM is
// added or the last one deleted) and names it. A backup holds the users
// and backing keys of its time: procedure 6 needs one taken while the key
// existed.
type TakeBackup struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
	As      string `yaml:"as" doc:"the backup's name in the scenario"`
}

var _ Action = (*TakeBackup)(nil)

func (*TakeBackup) Name() string               { return "take-backup" }
func (*TakeBackup) Kind() Kind                 { return KindStep }
func (*TakeBackup) Needs() []target.Capability { return []target.Capability{target.Admin} }

func (s *TakeBackup) Validate() []error {
	return required(required(nil, "cluster", s.Cluster), "as", s.As)
}

func (s *TakeBackup) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	admin, err := adminAPI(env, target.Admin)
	if err != nil {
		return err
	}
	c, err := env.Cluster(s.Cluster)
	if err != nil {
		return err
	}
	var out struct {
		BackupID string `json:"backup_id"`
	}
	if err := admin.Post(ctx, "/v1/backups", map[string]string{"cluster_id": c.ID}, &out); err != nil {
		return fmt.Errorf("back up cluster %s: %w", c.ID, err)
	}
	if out.BackupID == "" {
		return fmt.Errorf("back up cluster %s: no backup_id in the answer", c.ID)
	}
	env.BindBackup(s.As, out.BackupID)
	return nil
}
