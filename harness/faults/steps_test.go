package faults_test

// The recovery steps that no fault test above runs to the end: key states,
// the clock, renames, waits, backups.

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keystorm/keystorm/harness/faults"
)

// keyState returns the state DescribeKey shows for a named key.
func (f *fixture) keyState(key string) types.KeyState {
	f.t.Helper()
	out, err := f.kms().DescribeKey(f.ctx(), &kms.DescribeKeyInput{KeyId: aws.String(f.keyID(key))})
	if err != nil {
		f.t.Fatalf("describe key %s: %v", key, err)
	}
	return out.KeyMetadata.KeyState
}

// clock returns the stack clock's time and speed.
func (f *fixture) clock() (time.Time, float64) {
	f.t.Helper()
	var out struct {
		Now   time.Time `json:"now"`
		Speed float64   `json:"speed"`
	}
	if err := f.stack.Admin().Get(f.ctx(), "/v1/clock", &out); err != nil {
		f.t.Fatal(err)
	}
	return out.Now, out.Speed
}

func TestKeySteps(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	f.newStore("s", "c0", true)
	f.newKey("k", "s", false)

	do(f, func(a *faults.DisableKey) { a.Key = "k" })
	wantEncryptFails[*types.DisabledException](f, "k", "")
	do(f, func(a *faults.EnableKey) { a.Key = "k" })
	f.mustEncrypt("k", "enabled")

	do(f, func(a *faults.ScheduleKeyDeletion) { a.Key, a.Days = "k", 7 })
	if got := f.keyState("k"); got != types.KeyStatePendingDeletion {
		t.Fatalf("key is %s after schedule-key-deletion, want PendingDeletion", got)
	}
	wantEncryptFails[*types.KMSInvalidStateException](f, "k", "")
	do(f, func(a *faults.CancelKeyDeletion) { a.Key = "k" })
	if got := f.keyState("k"); got != types.KeyStateDisabled {
		t.Fatalf("key is %s after cancel-key-deletion, want Disabled", got)
	}
	do(f, func(a *faults.EnableKey) { a.Key = "k" })
	f.mustEncrypt("k", "back")
}

func TestClockSteps(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	f.newStore("s", "c0", true)
	f.newKey("k", "s", false)

	do(f, func(a *faults.SetClockSpeed) { a.Speed = 60 })
	if _, speed := f.clock(); speed != 60 {
		t.Fatalf("clock speed %v after set-clock-speed 60", speed)
	}

	// A 7-day waiting period, jumped over: the key is deleted.
	do(f, func(a *faults.ScheduleKeyDeletion) { a.Key, a.Days = "k", 7 })
	before, _ := f.clock()
	do(f, func(a *faults.AdvanceClock) { a.By = 7*24*time.Hour + time.Hour })
	if after, _ := f.clock(); after.Sub(before) < 7*24*time.Hour+time.Hour {
		t.Fatalf("clock moved %v, want at least 169h", after.Sub(before))
	}
	f.eventually("the key's deletion", func() (bool, string) {
		_, err := f.kms().DescribeKey(f.ctx(), &kms.DescribeKeyInput{KeyId: aws.String(f.keyID("k"))})
		var nf *types.NotFoundException
		return errors.As(err, &nf), fmt.Sprint(err)
	})
}

func TestStoreSteps(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)
	f.newStore("s", "c0", false)

	t.Run("connect-store without wait - answers at once, CONNECTED later", func(t *testing.T) {
		f := f.in(t)
		do(f, func(a *faults.ConnectStore) { a.Store = "s" })
		f.eventually("CONNECTED", func() (bool, string) {
			st := f.describe("s").ConnectionState
			return st == types.ConnectionStateTypeConnected, string(st)
		})
	})

	t.Run("update-store name while CONNECTED - renamed; a password - CustomKeyStoreInvalidStateException", func(t *testing.T) {
		f := f.in(t)
		do(f, func(a *faults.UpdateStore) { a.Store, a.NewName = "s", "renamed" })
		if got := aws.ToString(f.describe("s").CustomKeyStoreName); got != "renamed" {
			t.Fatalf("store named %q, want renamed", got)
		}
		err := try(f, func(a *faults.UpdateStore) { a.Store, a.Password = "s", "abcdefg1" })
		var invalid *types.CustomKeyStoreInvalidStateException
		if !errors.As(err, &invalid) {
			t.Fatalf("update-store password while CONNECTED: %v, want CustomKeyStoreInvalidStateException", err)
		}
	})

	t.Run("disconnect-store without wait - answers at once, DISCONNECTED later", func(t *testing.T) {
		f := f.in(t)
		do(f, func(a *faults.DisconnectStore) { a.Store, a.Wait = "s", false })
		f.eventually("DISCONNECTED", func() (bool, string) {
			st := f.describe("s").ConnectionState
			return st == types.ConnectionStateTypeDisconnected, string(st)
		})
	})

	t.Run("a name the scenario does not know - an error naming it", func(t *testing.T) {
		f := f.in(t)
		err := try(f, func(a *faults.ConnectStore) { a.Store = "nope" })
		wantErr(t, err, "connect-store", `no store named "nope"`)
	})
}

func TestBackupSteps(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 1)

	do(f, func(a *faults.TakeBackup) { a.Cluster, a.As = "c0", "b" })
	id, err := f.env.Backup("b")
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.stack.CloudHSM().DescribeBackups(f.ctx(), &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"backupIds": {id}}})
	if err != nil || len(out.Backups) != 1 || aws.ToString(out.Backups[0].ClusterId) != f.cluster("c0").ID {
		t.Fatalf("DescribeBackups of %s: %+v, %v", id, out, err)
	}

	do(f, func(a *faults.CreateClusterFromBackup) { a.Cluster, a.Backup, a.As, a.HSMs = "c0", "b", "three", 3 })
	c := f.cluster("three")
	dc, err := f.stack.CloudHSM().DescribeClusters(f.ctx(), &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {c.ID}}})
	if err != nil || len(dc.Clusters) != 1 {
		t.Fatal(err)
	}
	if got := dc.Clusters[0]; aws.ToString(got.SourceBackupId) != id || len(got.Hsms) != 3 || got.State != "ACTIVE" {
		t.Fatalf("cluster from backup %s: source %s, %d HSMs, %s; want 3 HSMs, ACTIVE", id, aws.ToString(got.SourceBackupId), len(got.Hsms), got.State)
	}
}
