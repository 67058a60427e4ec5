package kms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/keystorm/keystorm/fakes/clock"
	"github.com/keystorm/keystorm/fakes/cloudhsm"
	"github.com/keystorm/keystorm/fakes/hsm"
	"github.com/keystorm/keystorm/fakes/kms"
	"github.com/keystorm/keystorm/fakes/softhsm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	adminPW   = "adminPass1"
	kmsuserPW = "kmsPass123"
)

// syncBuffer is an audit log sink safe for the service's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) events(t *testing.T) []kms.AuditEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []kms.AuditEvent
	for _, line := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if line == "" {
			continue
		}
		var ev kms.AuditEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, ev)
	}
	return out
}

type env struct {
	plane   *cloudhsm.Plane
	svc     *kms.Service
	cluster *cloudhsm.Cluster
	audit   *syncBuffer
	clock   *clock.Clock
}

// newEnv starts a plane with one seeded cluster and a KMS service whose
// clock runs 10,000 times real time (a 20-minute connect takes 120 ms).
func newEnv(t *testing.T) *env {
	t.Helper()
	m, err := softhsm.Open()
	if err != nil {
		t.Fatalf("open SoftHSM: %v", err)
	}
	clk, _ := clock.New(10000)
	p, err := cloudhsm.New(cloudhsm.Config{Module: m, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Seed(context.Background(), cloudhsm.SeedSpec{AdminPassword: adminPW, KmsuserPassword: kmsuserPW})
	if err != nil {
		t.Fatal(err)
	}
	audit := &syncBuffer{}
	svc, err := kms.New(kms.Config{Plane: p, Audit: audit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		svc.Close()
		p.Close(context.Background())
		m.Close()
	})
	return &env{plane: p, svc: svc, cluster: c, audit: audit, clock: clk}
}

func (e *env) createStore(t *testing.T, name string) string {
	t.Helper()
	out, err := e.svc.CreateCustomKeyStore(kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: name, CloudHsmClusterId: e.cluster.ID(),
		TrustAnchorCertificate: e.cluster.TrustAnchorPEM(), KeyStorePassword: kmsuserPW,
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.CustomKeyStoreId
}

func (e *env) describe(t *testing.T, id string) kms.CustomKeyStoresListEntry {
	t.Helper()
	out, err := e.svc.DescribeCustomKeyStores(kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: id})
	if err != nil {
		t.Fatal(err)
	}
	return out.CustomKeyStores[0]
}

// waitState polls until the store leaves the transitional states.
func (e *env) waitState(t *testing.T, id string) kms.CustomKeyStoresListEntry {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st := e.describe(t, id)
		if st.ConnectionState != kms.StateConnecting && st.ConnectionState != kms.StateDisconnecting {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("store %s still in transition", id)
	return kms.CustomKeyStoresListEntry{}
}

func (e *env) connect(t *testing.T, id string) kms.CustomKeyStoresListEntry {
	t.Helper()
	if err := e.svc.ConnectCustomKeyStore(id); err != nil {
		t.Fatal(err)
	}
	if st := e.describe(t, id); st.ConnectionState != kms.StateConnecting {
		t.Fatalf("right after connect: %s, want CONNECTING", st.ConnectionState)
	}
	return e.waitState(t, id)
}

func (e *env) disconnect(t *testing.T, id string) {
	t.Helper()
	if err := e.svc.DisconnectCustomKeyStore(id); err != nil {
		t.Fatal(err)
	}
	if st := e.waitState(t, id); st.ConnectionState != kms.StateDisconnected || st.ConnectionErrorCode != "" {
		t.Fatalf("after disconnect: %+v", st)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := kms.CodeOf(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func TestConnectRotatesThePasswordAndKeysWorkUntilDisconnect(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.createStore(t, "store-1")
	if st := e.describe(t, id); st.ConnectionState != kms.StateDisconnected || st.CustomKeyStoreType != "AWS_CLOUDHSM" {
		t.Fatalf("new store: %+v", st)
	}
	if st := e.connect(t, id); st.ConnectionState != kms.StateConnected {
		t.Fatalf("connect: %+v", st)
	}
	// KMS rotated kmsuser's password: the old one no longer works.
	if _, err := e.cluster.Login(ctx, "kmsuser", hsm.RoleCryptoUser, kmsuserPW); !errors.Is(err, hsm.ErrWrongPassword) {
		t.Fatalf("login with the pre-connect password: %v, want ErrWrongPassword", err)
	}
	key, err := e.svc.CreateKey(kms.CreateKeyInput{Origin: kms.OriginAWSCloudHSM, CustomKeyStoreId: id})
	if err != nil {
		t.Fatal(err)
	}
	md := key.KeyMetadata
	if md.KeyState != kms.KeyEnabled || md.CloudHsmClusterId != e.cluster.ID() || md.CustomKeyStoreId != id || md.Origin != "AWS_CLOUDHSM" {
		t.Fatalf("key metadata: %+v", md)
	}
	ec := map[string]string{"purpose": "test"}
	enc, err := e.svc.Encrypt(ctx, kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("hello"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := e.svc.Decrypt(ctx, kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if err != nil || string(dec.Plaintext) != "hello" || dec.KeyId != md.Arn {
		t.Fatalf("decrypt: %+v, %v", dec, err)
	}
	_, err = e.svc.Decrypt(ctx, kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, kms.InvalidCiphertext)
	tampered := bytes.Clone(enc.CiphertextBlob)
	tampered[len(tampered)-1] ^= 1
	_, err = e.svc.Decrypt(ctx, kms.DecryptInput{CiphertextBlob: tampered, EncryptionContext: ec})
	wantCode(t, err, kms.InvalidCiphertext)
	soft, err := e.svc.CreateKey(kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Decrypt(ctx, kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyId: soft.KeyMetadata.KeyId})
	wantCode(t, err, kms.IncorrectKey)

	e.disconnect(t, id)
	d, err := e.svc.DescribeKey(kms.KeyIdInput{KeyId: md.KeyId})
	if err != nil || d.KeyMetadata.KeyState != kms.KeyUnavailable {
		t.Fatalf("key after disconnect: %+v, %v", d, err)
	}
	_, err = e.svc.Encrypt(ctx, kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantCode(t, err, kms.KMSInvalidState)
	// Disable while Unavailable: accepted, shows on reconnect.
	if err := e.svc.DisableKey(kms.KeyIdInput{KeyId: md.KeyId}); err != nil {
		t.Fatal(err)
	}
	if st := e.connect(t, id); st.ConnectionState != kms.StateConnected {
		t.Fatalf("reconnect: %+v", st)
	}
	d, _ = e.svc.DescribeKey(kms.KeyIdInput{KeyId: md.KeyId})
	if d.KeyMetadata.KeyState != kms.KeyDisabled {
		t.Fatalf("after reconnect: %s, want Disabled", d.KeyMetadata.KeyState)
	}
	_, err = e.svc.Encrypt(ctx, kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	wantCode(t, err, kms.Disabled)
}

func TestEachConnectionErrorCodeFromItsCause(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cause func(t *testing.T, e *env, storeID string)
		code  string
	}{
		{"no HSM", func(t *testing.T, e *env, _ string) {
			for _, h := range e.cluster.HSMs() {
				if _, err := e.plane.DeleteHsm(context.Background(), e.cluster.ID(), h.ID(), "", ""); err != nil {
					t.Fatal(err)
				}
			}
		}, kms.ErrCodeInsufficientHSMs},
		{"network blocked", func(t *testing.T, e *env, _ string) { e.cluster.SetBlocked(context.Background(), true) }, kms.ErrCodeNetwork},
		{"wrong password", func(t *testing.T, e *env, id string) {
			if err := e.svc.UpdateCustomKeyStore(kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: id, KeyStorePassword: "otherPass1"}); err != nil {
				t.Fatal(err)
			}
		}, kms.ErrCodeInvalidCredentials},
		{"kmsuser logged in", func(t *testing.T, e *env, _ string) {
			s, err := e.cluster.Login(context.Background(), "kmsuser", hsm.RoleCryptoUser, kmsuserPW)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Logout() })
		}, kms.ErrCodeUserLoggedIn},
		{"kmsuser locked out", func(t *testing.T, e *env, _ string) {
			for i := 0; i < hsm.MaxFailedLogins; i++ {
				e.cluster.Login(context.Background(), "kmsuser", hsm.RoleCryptoUser, "wrongPass")
			}
		}, kms.ErrCodeUserLockedOut},
		{"subnet exhausted", func(t *testing.T, e *env, _ string) {
			if err := e.plane.SetFreeAddresses(e.cluster.SubnetIDs()[0], 0); err != nil {
				t.Fatal(err)
			}
		}, kms.ErrCodeInsufficientAddresses},
		{"subnet deleted", func(t *testing.T, e *env, _ string) {
			if err := e.plane.DeleteSubnet(context.Background(), e.cluster.SubnetIDs()[1]); err != nil {
				t.Fatal(err)
			}
		}, kms.ErrCodeSubnetNotFound},
		{"kmsuser missing", func(t *testing.T, e *env, _ string) {
			admin, err := e.cluster.Login(context.Background(), "admin", hsm.RoleAdmin, adminPW)
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Logout()
			if err := admin.DeleteUser(context.Background(), "kmsuser"); err != nil {
				t.Fatal(err)
			}
		}, kms.ErrCodeUserNotFound},
		{"internal error", func(t *testing.T, e *env, _ string) { e.svc.InjectInternalError("connect", 1) }, kms.ErrCodeInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			id := e.createStore(t, "store-"+strings.ReplaceAll(tc.name, " ", "-"))
			tc.cause(t, e, id)
			st := e.connect(t, id)
			if st.ConnectionState != kms.StateFailed || st.ConnectionErrorCode != tc.code {
				t.Fatalf("connect: %s %s, want FAILED %s", st.ConnectionState, st.ConnectionErrorCode, tc.code)
			}
			// A FAILED store must be disconnected before connecting again.
			wantCode(t, e.svc.ConnectCustomKeyStore(id), kms.CustomKeyStoreInvalidState)
			e.disconnect(t, id)
		})
	}
}

func TestDeletedClusterEndsFailedClusterNotFound(t *testing.T) {
	e := newEnv(t)
	id := e.createStore(t, "store-gone")
	ctx := context.Background()
	for _, h := range e.cluster.HSMs() {
		if _, err := e.plane.DeleteHsm(ctx, e.cluster.ID(), h.ID(), "", ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.plane.DeleteCluster(e.cluster.ID()); err != nil {
		t.Fatal(err)
	}
	if st := e.connect(t, id); st.ConnectionState != kms.StateFailed || st.ConnectionErrorCode != kms.ErrCodeClusterNotFound {
		t.Fatalf("connect: %+v", st)
	}
}

func TestScheduledDeletionDeletesTheBackingKeyAndAuditsIt(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.createStore(t, "store-del")
	e.connect(t, id)
	key, err := e.svc.CreateKey(kms.CreateKeyInput{Origin: kms.OriginAWSCloudHSM, CustomKeyStoreId: id})
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := e.svc.CreateKey(kms.CreateKeyInput{Origin: kms.OriginAWSCloudHSM, CustomKeyStoreId: id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ScheduleKeyDeletion(kms.ScheduleKeyDeletionInput{KeyId: key.KeyMetadata.KeyId, PendingWindowInDays: 7}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(7*24*time.Hour + time.Minute)
	waitFor(t, "the key's deletion", func() bool {
		_, err := e.svc.DescribeKey(kms.KeyIdInput{KeyId: key.KeyMetadata.KeyId})
		return kms.CodeOf(err) == kms.NotFound
	})
	// The orphan: its store is disconnected when its time comes.
	if _, err := e.svc.ScheduleKeyDeletion(kms.ScheduleKeyDeletionInput{KeyId: orphan.KeyMetadata.KeyId, PendingWindowInDays: 7}); err != nil {
		t.Fatal(err)
	}
	e.disconnect(t, id)
	e.clock.Advance(7*24*time.Hour + time.Minute)
	waitFor(t, "the orphan's deletion", func() bool {
		_, err := e.svc.DescribeKey(kms.KeyIdInput{KeyId: orphan.KeyMetadata.KeyId})
		return kms.CodeOf(err) == kms.NotFound
	})
	statuses := map[string]string{}
	waitFor(t, "two DeleteKey events", func() bool {
		for _, ev := range e.audit.events(t) {
			if ev.EventName == "DeleteKey" {
				statuses[ev.Resources[0].ARN] = ev.AdditionalEventData["backingKeysDeletionStatus"].(string)
			}
		}
		return len(statuses) == 2
	})
	if s := statuses[key.KeyMetadata.Arn]; !strings.Contains(s, `"deletionStatus":"SUCCESS"`) {
		t.Errorf("deleted key's status %s, want SUCCESS", s)
	}
	if s := statuses[orphan.KeyMetadata.Arn]; !strings.Contains(s, `"deletionStatus":"FAILURE"`) {
		t.Errorf("orphan's status %s, want FAILURE", s)
	}
	_ = ctx
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
