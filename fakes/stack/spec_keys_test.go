package stack_test

// Section 3 of /work/shared/spec/keystore-behavior.md: the states of KMS keys
// in a custom key store, derived from their own state and the store's;
// CreateKey and GenerateRandom against the store's state; lost backing keys;
// the end of the waiting period and its audit event.

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keystorm/keystorm/fakes/cloudhsm"
	"github.com/keystorm/keystorm/fakes/hsm"
	kmssvc "github.com/keystorm/keystorm/fakes/kms"
	"github.com/keystorm/keystorm/fakes/stack"
)

const (
	excKMSInvalidState = "KMSInvalidStateException"
	excUnsupported     = "UnsupportedOperationException"
)

// keyStoreEnv is a stack whose subtests each take a seeded cluster and a
// store over it.
type keyStoreEnv struct {
	*env
	next int
}

// connectedStore makes a CONNECTED store over the next seeded cluster.
func (ke *keyStoreEnv) connectedStore(t *testing.T) (string, stack.ClusterInfo) {
	t.Helper()
	i := ke.next
	ke.next++
	id := ke.createStore(t, fmt.Sprintf("store-%d", i), i)
	ke.mustConnect(t, id)
	return id, ke.cluster(i)
}

func TestKeyStates(t *testing.T) {
	t.Parallel()
	ke := &keyStoreEnv{env: newEnv(t, stack.Options{Clusters: 10})}
	e := ke.env
	enable := func(t *testing.T, id string) {
		if _, err := e.kms.EnableKey(t.Context(), &kms.EnableKeyInput{KeyId: aws.String(id)}); err != nil {
			t.Fatalf("enable %s: %v", id, err)
		}
	}
	disable := func(t *testing.T, id string) {
		if _, err := e.kms.DisableKey(t.Context(), &kms.DisableKeyInput{KeyId: aws.String(id)}); err != nil {
			t.Fatalf("disable %s: %v", id, err)
		}
	}
	schedule := func(t *testing.T, id string, days int32) *kms.ScheduleKeyDeletionOutput {
		in := &kms.ScheduleKeyDeletionInput{KeyId: aws.String(id)}
		if days != 0 {
			in.PendingWindowInDays = aws.Int32(days)
		}
		out, err := e.kms.ScheduleKeyDeletion(t.Context(), in)
		if err != nil {
			t.Fatalf("schedule deletion of %s: %v", id, err)
		}
		return out
	}

	t.Run("store not CONNECTED - Unavailable at once, PendingDeletion stays; reconnect restores each key's own state", func(t *testing.T) {
		store, _ := ke.connectedStore(t)
		enabled := aws.ToString(e.createKey(t, store).KeyId)
		disabled := aws.ToString(e.createKey(t, store).KeyId)
		pending := aws.ToString(e.createKey(t, store).KeyId)
		disable(t, disabled)
		schedule(t, pending, 0)
		if _, err := e.kms.DisconnectCustomKeyStore(t.Context(), &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(store)}); err != nil {
			t.Fatal(err)
		}
		// DISCONNECTING already: Unavailable at once.
		e.wantKeyState(t, enabled, types.KeyStateUnavailable)
		e.wantKeyState(t, disabled, types.KeyStateUnavailable)
		e.wantKeyState(t, pending, types.KeyStatePendingDeletion)
		e.settle(t, store)
		e.wantKeyState(t, enabled, types.KeyStateUnavailable)
		out, err := e.kms.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: aws.String(enabled)})
		if err != nil || out.KeyMetadata.Enabled {
			t.Fatalf("an Unavailable key: Enabled %v, %v; want false", out.KeyMetadata.Enabled, err)
		}
		e.mustConnect(t, store)
		e.wantKeyState(t, enabled, types.KeyStateEnabled)
		e.wantKeyState(t, disabled, types.KeyStateDisabled)
		e.wantKeyState(t, pending, types.KeyStatePendingDeletion)
	})

	t.Run("EnableKey and DisableKey on Unavailable keys - accepted without a change; the last one wins on reconnect", func(t *testing.T) {
		store, _ := ke.connectedStore(t)
		a := aws.ToString(e.createKey(t, store).KeyId)
		b := aws.ToString(e.createKey(t, store).KeyId)
		disable(t, b)
		e.disconnect(t, store)
		for _, step := range []struct {
			key string
			fn  func(*testing.T, string)
		}{{a, disable}, {a, enable}, {a, disable}, {b, disable}, {b, enable}} {
			step.fn(t, step.key)
			e.wantKeyState(t, step.key, types.KeyStateUnavailable)
		}
		e.mustConnect(t, store)
		e.wantKeyState(t, a, types.KeyStateDisabled)
		e.wantKeyState(t, b, types.KeyStateEnabled)
	})

	t.Run("ScheduleKeyDeletion and CancelKeyDeletion while disconnected - PendingDeletion, then Disabled shown Unavailable until reconnect", func(t *testing.T) {
		store, _ := ke.connectedStore(t)
		key := aws.ToString(e.createKey(t, store).KeyId)
		e.disconnect(t, store)
		for _, days := range []int32{6, 31} {
			_, err := e.kms.ScheduleKeyDeletion(t.Context(), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(key), PendingWindowInDays: aws.Int32(days)})
			wantCode(t, err, excValidation)
		}
		out := schedule(t, key, 0)
		if out.PendingWindowInDays == nil || *out.PendingWindowInDays != 30 || out.KeyState != types.KeyStatePendingDeletion || out.DeletionDate == nil {
			t.Fatalf("schedule with the default window: %+v, want 30 days, PendingDeletion", out)
		}
		e.wantKeyState(t, key, types.KeyStatePendingDeletion)
		if _, err := e.kms.CancelKeyDeletion(t.Context(), &kms.CancelKeyDeletionInput{KeyId: aws.String(key)}); err != nil {
			t.Fatalf("cancel: %v", err)
		}
		e.wantKeyState(t, key, types.KeyStateUnavailable)
		e.mustConnect(t, store)
		e.wantKeyState(t, key, types.KeyStateDisabled)
	})

	t.Run("CreateKey in a CONNECTED store - AWS_CLOUDHSM, SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT, single-Region", func(t *testing.T) {
		store, c := ke.connectedStore(t)
		md := e.createKey(t, store)
		if md.Origin != types.OriginTypeAwsCloudhsm || md.KeySpec != types.KeySpecSymmetricDefault || md.KeyUsage != types.KeyUsageTypeEncryptDecrypt ||
			aws.ToString(md.CustomKeyStoreId) != store || aws.ToString(md.CloudHsmClusterId) != c.ClusterID ||
			aws.ToBool(md.MultiRegion) || md.KeyState != types.KeyStateEnabled || !md.Enabled {
			t.Fatalf("key metadata: %+v", md)
		}
		for _, tc := range []struct {
			name string
			in   *kms.CreateKeyInput
		}{
			{"multi-Region", &kms.CreateKeyInput{MultiRegion: aws.Bool(true)}},
			{"an asymmetric key spec", &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048}},
		} {
			tc.in.Origin, tc.in.CustomKeyStoreId = types.OriginTypeAwsCloudhsm, aws.String(store)
			_, err := e.kms.CreateKey(t.Context(), tc.in)
			wantCode(t, err, excUnsupported)
		}
		out, err := e.kms.GenerateRandom(t.Context(), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(32), CustomKeyStoreId: aws.String(store)})
		if err != nil || len(out.Plaintext) != 32 {
			t.Fatalf("GenerateRandom in a CONNECTED store: %d bytes, %v", len(out.Plaintext), err)
		}
	})

	t.Run("CreateKey and GenerateRandom in a store that is not CONNECTED - CustomKeyStoreInvalidStateException", func(t *testing.T) {
		for _, failed := range []bool{false, true} {
			store, _ := ke.connectedStore(t)
			e.disconnect(t, store)
			if failed {
				e.mustUpdate(t, store, "", "wrongPass1", "")
				e.wantFailed(t, store, types.ConnectionErrorCodeTypeInvalidCredentials)
			}
			_, err := e.kms.CreateKey(t.Context(), &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(store)})
			as[*types.CustomKeyStoreInvalidStateException](t, err)
			_, err = e.kms.GenerateRandom(t.Context(), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(32), CustomKeyStoreId: aws.String(store)})
			as[*types.CustomKeyStoreInvalidStateException](t, err)
		}
		_, err := e.kms.GenerateRandom(t.Context(), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(32), CustomKeyStoreId: aws.String("cks-0123456789abcdef0")})
		as[*types.CustomKeyStoreNotFoundException](t, err)
	})

	t.Run("CreateKey with one HSM left - CloudHsmClusterInvalidConfigurationException; after CreateHsm - created", func(t *testing.T) {
		store, c := ke.connectedStore(t)
		var az string
		for id, hsmAZ := range e.hsmIDs(t, c.ClusterID) {
			e.deleteHsm(t, c.ClusterID, id)
			az = hsmAZ
			break
		}
		_, err := e.kms.CreateKey(t.Context(), &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(store)})
		as[*types.CloudHsmClusterInvalidConfigurationException](t, err)
		e.createHsm(t, c.ClusterID, az)
		key := e.createKey(t, store)
		e.wantDecrypt(t, e.encrypt(t, aws.ToString(key.KeyId), []byte("two HSMs"), nil), []byte("two HSMs"), nil)
	})

	t.Run("backing key missing from the HSMs of a CONNECTED store - crypto fails at once, Unavailable after a while; a backup from before brings it back", func(t *testing.T) {
		store, c := ke.connectedStore(t)
		key := e.createKey(t, store)
		keyID := aws.ToString(key.KeyId)
		blob := e.encrypt(t, keyID, []byte("precious"), nil)
		backingKey := backingKeyOf(t, e, aws.ToString(key.Arn))
		backup, inBackup := e.backup(t, c.ClusterID)
		if !slices.Contains(inBackup, backingKey) {
			t.Fatalf("backup %s holds %v, not the backing key %s", backup, inBackup, backingKey)
		}
		deleteBackingKey(t, e, c, store, backingKey)

		e.mustConnect(t, store)
		e.wantKeyState(t, keyID, types.KeyStateEnabled) // still, for a while (choice)
		_, err := e.kms.Encrypt(t.Context(), &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")})
		as[*types.KMSInvalidStateException](t, err)
		eventually(t, "the key to show Unavailable", func() (bool, string) {
			s := e.keyState(t, keyID)
			return s == types.KeyStateUnavailable, string(s)
		})
		_, err = e.kms.Decrypt(t.Context(), &kms.DecryptInput{CiphertextBlob: blob})
		as[*types.KMSInvalidStateException](t, err)
		if st := e.describe(t, store); st.ConnectionState != types.ConnectionStateTypeConnected {
			t.Fatalf("store %s, want it still CONNECTED", st.ConnectionState)
		}

		// Procedure 6: a cluster from the backup taken while the key
		// existed; its kmsuser has the password of that time, so the crypto
		// officer sets one (procedure 3) and KMS is told both.
		e.disconnect(t, store)
		restored := e.clusterFromBackup(t, backup, c.SubnetIDs, e.azs())
		e.setKmsuserPassword(t, restored, c.AdminPassword, "restored1")
		e.mustUpdate(t, store, "", "restored1", restored)
		e.mustConnect(t, store)
		e.wantKeyState(t, keyID, types.KeyStateEnabled)
		e.wantDecrypt(t, blob, []byte("precious"), nil)
	})

	t.Run("waiting period over - key and backing key deleted (SUCCESS), backups keep it; DeleteKey event", func(t *testing.T) {
		store, c := ke.connectedStore(t)
		key := e.createKey(t, store)
		backingKey := backingKeyOf(t, e, aws.ToString(key.Arn))
		backup, _ := e.backup(t, c.ClusterID)
		schedule(t, aws.ToString(key.KeyId), 7)
		e.advance(t, 7*24*time.Hour+time.Hour)
		waitDeleted(t, e, aws.ToString(key.KeyId))
		status := deleteKeyEvent(t, e, key, store, c.ClusterID, backingKey)
		if status != "SUCCESS" {
			t.Fatalf("deletionStatus %s, want SUCCESS", status)
		}
		if hsmsHolding(t, e, c.ClusterID, backingKey) != 0 {
			t.Fatalf("backing key %s still in the cluster after SUCCESS", backingKey)
		}
		if !backupHolds(e, backup, backingKey) {
			t.Fatalf("backup %s lost backing key %s", backup, backingKey)
		}
	})

	t.Run("waiting period over while disconnected - material orphaned (FAILURE); procedure 5 deletes it by backingKeyId", func(t *testing.T) {
		store, c := ke.connectedStore(t)
		key := e.createKey(t, store)
		backingKey := backingKeyOf(t, e, aws.ToString(key.Arn))
		schedule(t, aws.ToString(key.KeyId), 7)
		e.disconnect(t, store)
		e.advance(t, 7*24*time.Hour+time.Hour)
		waitDeleted(t, e, aws.ToString(key.KeyId))
		if status := deleteKeyEvent(t, e, key, store, c.ClusterID, backingKey); status != "FAILURE" {
			t.Fatalf("deletionStatus %s, want FAILURE", status)
		}
		if n := hsmsHolding(t, e, c.ClusterID, backingKey); n != 2 {
			t.Fatalf("orphaned backing key on %d HSMs, want 2", n)
		}
		deleteBackingKey(t, e, c, store, backingKey)
		if n := hsmsHolding(t, e, c.ClusterID, backingKey); n != 0 {
			t.Fatalf("backing key on %d HSMs after key delete, want 0", n)
		}
		e.mustConnect(t, store)
	})
}

// backingKeyOf reads a key's backing key id from the audit log: events of
// crypto calls on a key in a store carry customKeyStoreId and backingKeyId.
func backingKeyOf(t *testing.T, e *env, keyArn string) string {
	t.Helper()
	for _, ev := range e.audit.events(t) {
		if ev.EventName == "CreateKey" && len(ev.Resources) == 1 && ev.Resources[0].ARN == keyArn {
			id, _ := ev.AdditionalEventData["backingKeyId"].(string)
			store, _ := ev.AdditionalEventData["customKeyStoreId"].(string)
			if id == "" || store == "" {
				t.Fatalf("CreateKey event of %s without backingKeyId and customKeyStoreId: %+v", keyArn, ev.AdditionalEventData)
			}
			return id
		}
	}
	t.Fatalf("no CreateKey event for %s", keyArn)
	return ""
}

// deleteBackingKey runs procedure 5 on a store that is CONNECTED or
// DISCONNECTED: disconnect; the crypto officer sets kmsuser's password;
// kmsuser logs in and deletes the key by its id; logout; Update
// KeyStorePassword. It leaves the store DISCONNECTED.
func deleteBackingKey(t *testing.T, e *env, c stack.ClusterInfo, store, backingKey string) {
	t.Helper()
	if e.describe(t, store).ConnectionState != types.ConnectionStateTypeDisconnected {
		e.disconnect(t, store)
	}
	e.setKmsuserPassword(t, c.ClusterID, c.AdminPassword, "manager1")
	ku := e.login(t, c.ClusterID, kmssvc.KmsUser, hsm.RoleCryptoUser, "manager1")
	if ids := ku.keyIDs(t); !slices.Contains(ids, backingKey) {
		t.Fatalf("key list %v lacks the backing key %s", ids, backingKey)
	}
	out := ku.mustRun(t, "key-delete", map[string]any{"key_id": "0x" + backingKey})
	if out["message"] != "Key deleted successfully" {
		t.Fatalf("key delete: %v", out)
	}
	ku.logout(t)
	e.mustUpdate(t, store, "", "manager1", "")
}

// hsmsHolding counts the HSMs of a cluster that hold a key.
func hsmsHolding(t *testing.T, e *env, clusterID, keyID string) int {
	t.Helper()
	n := 0
	for _, h := range e.clusterHandle(t, clusterID).HSMs() {
		if h.Node().HasKey(keyID) {
			n++
		}
	}
	return n
}

// backupHolds reports whether a backup holds a key.
func backupHolds(e *env, backupID, keyID string) bool {
	for _, b := range e.st.Plane().Backups(cloudhsm.BackupFilter{BackupIDs: []string{backupID}}, true) {
		return slices.Contains(b.Keys, keyID)
	}
	return false
}

// waitDeleted waits until DescribeKey no longer finds a key.
func waitDeleted(t *testing.T, e *env, keyID string) {
	t.Helper()
	eventually(t, "the key's deletion", func() (bool, string) {
		_, err := e.kms.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
		var nf *types.NotFoundException
		return errors.As(err, &nf), fmt.Sprint(err)
	})
}

// deleteKeyEvent finds the DeleteKey event of a key, checks its shape and
// returns its backing key's deletionStatus.
func deleteKeyEvent(t *testing.T, e *env, key types.KeyMetadata, store, clusterID, backingKey string) string {
	t.Helper()
	var ev *kmssvc.AuditEvent
	eventually(t, "the DeleteKey event", func() (bool, string) {
		for _, x := range e.audit.events(t) {
			if x.EventName == "DeleteKey" && len(x.Resources) == 1 && x.Resources[0].ARN == aws.ToString(key.Arn) {
				ev = &x
				return true, ""
			}
		}
		return false, "none yet"
	})
	extra := ev.AdditionalEventData
	if extra["customKeyStoreId"] != store || extra["clusterId"] != clusterID {
		t.Fatalf("DeleteKey event data %v, want store %s, cluster %s", extra, store, clusterID)
	}
	var keys, statuses []map[string]string
	if s, ok := extra["backingKeys"].(string); !ok || json.Unmarshal([]byte(s), &keys) != nil ||
		len(keys) != 1 || keys[0]["backingKeyId"] != backingKey {
		t.Fatalf("backingKeys %v, want a JSON string of [{backingKeyId: %s}]", extra["backingKeys"], backingKey)
	}
	if s, ok := extra["backingKeysDeletionStatus"].(string); !ok || json.Unmarshal([]byte(s), &statuses) != nil ||
		len(statuses) != 1 || statuses[0]["backingKeyId"] != backingKey {
		t.Fatalf("backingKeysDeletionStatus %v, want a JSON string of [{backingKeyId, deletionStatus}]", extra["backingKeysDeletionStatus"])
	}
	return statuses[0]["deletionStatus"]
}
