package cloudhsm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"
)

// BackupState is a backup's state, as the CloudHSM API names it.
type BackupState string

// BackupReady is the state of a usable backup.
const BackupReady BackupState = "READY"

// Backup is a snapshot of a cluster's users and keys (keys wrapped under the
// cluster's wrapping key, never in clear). Its fields never change but state.
type Backup struct {
	id        string
	clusterID string
	created   time.Time
	hsmType   string
	state     BackupState // guarded by Plane.mu
	snap      snapshot
}

// BackupInfo describes a backup.
type BackupInfo struct {
	ID, ClusterID, HsmType string
	State                  BackupState
	Created                time.Time
	// Keys lists the ids of the backing keys it holds.
	Keys []string
}

func (b *Backup) info() BackupInfo {
	keys := make([]string, len(b.snap.keys))
	for i, k := range b.snap.keys {
		keys[i] = k.ID
	}
	return BackupInfo{ID: b.id, ClusterID: b.clusterID, HsmType: b.hsmType, State: b.state, Created: b.created, Keys: keys}
}

// TakeBackup backs up a cluster from one of its HSMs, as the real service
// does when an HSM is added and as the admin API does on demand.
func (p *Plane) TakeBackup(ctx context.Context, clusterID string) (BackupInfo, error) {
	b, err := p.takeBackup(ctx, clusterID)
	if err != nil {
		return BackupInfo{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return b.info(), nil
}

func (p *Plane) takeBackup(ctx context.Context, clusterID string) (*Backup, error) {
	p.mu.Lock()
	c, err := p.liveCluster(clusterID)
	if err != nil {
		p.mu.Unlock()
		return nil, err
	}
	if len(c.hsms) == 0 {
		p.mu.Unlock()
		return nil, fmt.Errorf("cluster %s has no HSM to back up: %w", clusterID, ErrInvalidRequest)
	}
	sources, snap := slices.Clone(c.hsms), c.seed
	p.mu.Unlock()

	// The first HSM that answers is backed up: one on a dead machine cannot be.
	var errs []error
	for _, source := range sources {
		snap.users = source.node.ExportUsers()
		snap.keys = nil
		if snap.ownerPIN == "" {
			errs = nil
			break
		}
		keys, err := source.node.ExportKeys(ctx, snap.ownerPIN)
		if err == nil {
			snap.keys, errs = keys, nil
			break
		}
		errs = append(errs, fmt.Errorf("back up %s from %s: %w", clusterID, source.id, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	b := &Backup{id: newID("backup"), clusterID: clusterID, created: p.now(), hsmType: c.hsmType, state: BackupReady, snap: snap}
	p.mu.Lock()
	p.backups[b.id] = b
	c.seed = snap // the latest backup seeds the cluster's next HSM if it loses them all
	p.mu.Unlock()
	return b, nil
}

// BackupFilter selects backups; empty fields select all.
type BackupFilter struct {
	BackupIDs, ClusterIDs []string
	States                []BackupState
}

// Backups lists backups matching f, oldest first (newest first unless
// ascending, as DescribeBackups sorts).
func (p *Plane) Backups(f BackupFilter, ascending bool) []BackupInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []BackupInfo
	for _, b := range p.backups {
		if !anyOf(f.BackupIDs, b.id) || !anyOf(f.ClusterIDs, b.clusterID) || !anyOf(f.States, b.state) {
			continue
		}
		out = append(out, b.info())
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created) == ascending
		}
		return (out[i].ID < out[j].ID) == ascending
	})
	return out
}

// anyOf reports whether v is in set, or set is empty.
func anyOf[T comparable](set []T, v T) bool {
	return len(set) == 0 || slices.Contains(set, v)
}
