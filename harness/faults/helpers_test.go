package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/keystorm/keystorm/harness/faults"
	"github.com/keystorm/keystorm/harness/target"
)

// The data plane's messages that the spec quotes from the troubleshooting
// guide.
const (
	msgNetwork = "KMS cannot communicate with your CloudHSM cluster. This might be a transient network issue. " +
		"If you see this error repeatedly, verify that the Network ACLs and the security group rules for the VPC " +
		"of your AWS CloudHSM cluster are correct."
	msgLockedOut = "KMS cannot communicate with your AWS CloudHSM cluster because the kmsuser is locked out. " +
		"If you see this error repeatedly, disconnect the AWS CloudHSM key store and reset the kmsuser account password. " +
		"Update the kmsuser password for the custom key store and try the request again."
)

// testTimeout bounds each action and each wait of a test.
const testTimeout = 30 * time.Second

// fixture is one embedded stack, of its test alone: several faults (the
// session cap, injected internal errors, the clock) are the stack's, not a
// cluster's, and the KMS quota of 10 stores would not fit every test's
// store in one stack. A stack starts in well under a second.
type fixture struct {
	t     *testing.T
	stack target.Stack
	env   *faults.Env
	audit *auditLog
}

// newFixture starts a stack with n seeded clusters, named c0, c1, ... in
// the Env. Its clock runs 10000 times faster than real time, and a connect
// takes 1s of it (0.1ms): every connect of a test is quick.
func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	audit := &auditLog{}
	s, err := target.StartEmbedded(context.Background(), target.EmbeddedOptions{Clusters: n, Speed: 10000, ConnectDuration: time.Second, Audit: audit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close the stack: %v", err)
		}
	})
	env := faults.NewEnv(s)
	for i, c := range s.Info().Clusters {
		env.BindCluster(fmt.Sprintf("c%d", i), faults.Cluster{
			ID: c.ClusterID, TrustAnchorPEM: c.TrustAnchorPEM, KmsuserPassword: c.KmsuserPassword,
			AdminPassword: c.AdminPassword, SubnetIDs: c.SubnetIDs,
		})
	}
	return &fixture{t: t, stack: s, env: env, audit: audit}
}

// in returns the fixture for a subtest: the same stack and Env, failing t.
func (f *fixture) in(t *testing.T) *fixture {
	g := *f
	g.t = t
	return &g
}

// ctx bounds a call of the test.
func (f *fixture) ctx() context.Context {
	ctx, cancel := context.WithTimeout(f.t.Context(), testTimeout)
	f.t.Cleanup(cancel)
	return ctx
}

// kms is the target's KMS client.
func (f *fixture) kms() *kms.Client { return f.stack.KMS() }

// cluster returns a named cluster.
func (f *fixture) cluster(name string) faults.Cluster {
	f.t.Helper()
	c, err := f.env.Cluster(name)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// storeID returns a named store's id.
func (f *fixture) storeID(name string) string {
	f.t.Helper()
	id, err := f.env.Store(name)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// keyID returns a named key's id.
func (f *fixture) keyID(name string) string {
	f.t.Helper()
	id, err := f.env.Key(name)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// newStore creates a store named name over a named cluster, with the
// cluster's kmsuser password, binds it, and connects it if asked.
func (f *fixture) newStore(name, cluster string, connect bool) string {
	f.t.Helper()
	c := f.cluster(cluster)
	out, err := f.kms().CreateCustomKeyStore(f.ctx(), &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String(name), CloudHsmClusterId: aws.String(c.ID),
		TrustAnchorCertificate: aws.String(c.TrustAnchorPEM), KeyStorePassword: aws.String(c.KmsuserPassword),
	})
	if err != nil {
		f.t.Fatalf("create store %s over %s: %v", name, c.ID, err)
	}
	id := aws.ToString(out.CustomKeyStoreId)
	f.env.BindStore(name, id)
	if connect {
		do(f, func(a *faults.ConnectStore) { a.Store, a.Wait = name, true })
		f.wantState(name, types.ConnectionStateTypeConnected, "")
	}
	return id
}

// newKey creates a key named name in a named store and binds it; with bind,
// its backing key too, read from its CreateKey audit event as an operator
// reads CloudTrail.
func (f *fixture) newKey(name, store string, bind bool) string {
	f.t.Helper()
	out, err := f.kms().CreateKey(f.ctx(), &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(f.storeID(store))})
	if err != nil {
		f.t.Fatalf("create key %s in store %s: %v", name, store, err)
	}
	id := aws.ToString(out.KeyMetadata.KeyId)
	f.env.BindKey(name, id)
	if bind {
		f.env.BindBackingKey(name, f.audit.backingKey(f.t, aws.ToString(out.KeyMetadata.Arn)))
	}
	return id
}

// newAction returns the catalog's action named name, with its defaults, as
// a T.
func newAction[T faults.Action](t *testing.T, name string) T {
	t.Helper()
	e, ok := faults.Lookup(name)
	if !ok {
		t.Fatalf("no action %s in the catalog", name)
	}
	a, ok := e.New().(T)
	if !ok {
		t.Fatalf("action %s is a %T", name, e.New())
	}
	return a
}

// try runs the catalog's action of type T with its defaults changed by
// set: it must validate and be possible on the stack; its error is
// returned.
func try[T faults.Action](f *fixture, set func(T)) error {
	f.t.Helper()
	var zero T // a nil pointer: Name does not look at it
	a := newAction[T](f.t, zero.Name())
	set(a)
	if errs := a.Validate(); len(errs) > 0 {
		f.t.Fatalf("%s: %v", a.Name(), errors.Join(errs...))
	}
	if err := faults.Check(a, f.stack); err != nil {
		f.t.Fatal(err)
	}
	return a.Inject(f.ctx(), f.env)
}

// do is try that fails the test on error.
func do[T faults.Action](f *fixture, set func(T)) {
	f.t.Helper()
	if err := try(f, set); err != nil {
		f.t.Fatal(err)
	}
}

// describe returns a named store as DescribeCustomKeyStores shows it.
func (f *fixture) describe(store string) types.CustomKeyStoresListEntry {
	f.t.Helper()
	out, err := f.kms().DescribeCustomKeyStores(f.ctx(), &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(f.storeID(store))})
	if err != nil || len(out.CustomKeyStores) != 1 {
		f.t.Fatalf("describe store %s: %v", store, err)
	}
	return out.CustomKeyStores[0]
}

// wantState fails unless a named store is in state with code.
func (f *fixture) wantState(store string, state types.ConnectionStateType, code types.ConnectionErrorCodeType) {
	f.t.Helper()
	if st := f.describe(store); st.ConnectionState != state || st.ConnectionErrorCode != code {
		f.t.Fatalf("store %s is %s %q, want %s %q", store, st.ConnectionState, st.ConnectionErrorCode, state, code)
	}
}

// connectFails connects a named store (connect-store, wait) and fails
// unless it ends FAILED with code; then it disconnects it, as every fix
// starts.
func (f *fixture) connectFails(store string, code types.ConnectionErrorCodeType) {
	f.t.Helper()
	do(f, func(a *faults.ConnectStore) { a.Store, a.Wait = store, true })
	f.wantState(store, types.ConnectionStateTypeFailed, code)
	do(f, func(a *faults.DisconnectStore) { a.Store = store })
	f.wantState(store, types.ConnectionStateTypeDisconnected, "")
}

// connects connects a named store (connect-store, wait) and fails unless
// it ends CONNECTED.
func (f *fixture) connects(store string) {
	f.t.Helper()
	do(f, func(a *faults.ConnectStore) { a.Store, a.Wait = store, true })
	f.wantState(store, types.ConnectionStateTypeConnected, "")
}

// encrypt encrypts under a named key.
func (f *fixture) encrypt(key string, plaintext string) ([]byte, error) {
	out, err := f.kms().Encrypt(f.ctx(), &kms.EncryptInput{KeyId: aws.String(f.keyID(key)), Plaintext: []byte(plaintext)})
	if err != nil {
		return nil, err
	}
	return out.CiphertextBlob, nil
}

// mustEncrypt is encrypt that fails the test on error.
func (f *fixture) mustEncrypt(key, plaintext string) []byte {
	f.t.Helper()
	blob, err := f.encrypt(key, plaintext)
	if err != nil {
		f.t.Fatalf("encrypt under %s: %v", key, err)
	}
	return blob
}

// wantDecrypt fails unless blob decrypts to want.
func (f *fixture) wantDecrypt(blob []byte, want string) {
	f.t.Helper()
	out, err := f.kms().Decrypt(f.ctx(), &kms.DecryptInput{CiphertextBlob: blob})
	if err != nil {
		f.t.Fatalf("decrypt: %v", err)
	}
	if string(out.Plaintext) != want {
		f.t.Fatalf("decrypt: %q, want %q", out.Plaintext, want)
	}
}

// wantEncryptFails fails unless Encrypt under a named key fails with the
// SDK's typed exception E; a message, if given, must be the whole message.
func wantEncryptFails[E smithy.APIError](f *fixture, key, message string) {
	f.t.Helper()
	_, err := f.encrypt(key, "x")
	var e E
	if !errors.As(err, &e) {
		f.t.Fatalf("encrypt under %s: %v (%T), want %T", key, err, err, e)
	}
	if message != "" && e.ErrorMessage() != message {
		f.t.Fatalf("encrypt under %s: message %q, want %q", key, e.ErrorMessage(), message)
	}
}

// wantErr fails unless err is an error whose text holds every part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one saying %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not say %q", err, p)
		}
	}
}

// eventually polls cond until it holds or the test's time is up.
func (f *fixture) eventually(what string, cond func() (bool, string)) {
	f.t.Helper()
	ctx := f.ctx()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, saw := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			f.t.Fatalf("waiting for %s: %v; last saw %s", what, ctx.Err(), saw)
		case <-tick.C:
		}
	}
}

// auditLog is the stack's audit log, for the backing key ids of keys.
type auditLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (a *auditLog) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.b.Write(p)
}

// backingKey reads a key's backingKeyId from its CreateKey event.
func (a *auditLog) backingKey(t *testing.T, keyArn string) string {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, line := range strings.Split(a.b.String(), "\n") {
		var ev struct {
			EventName string `json:"eventName"`
			Resources []struct {
				ARN string `json:"ARN"`
			} `json:"resources"`
			Extra map[string]any `json:"additionalEventData"`
		}
		if json.Unmarshal([]byte(line), &ev) != nil || ev.EventName != "CreateKey" || len(ev.Resources) != 1 || ev.Resources[0].ARN != keyArn {
			continue
		}
		if id, _ := ev.Extra["backingKeyId"].(string); id != "" {
			return id
		}
	}
	t.Fatalf("no CreateKey event with a backingKeyId for %s", keyArn)
	return ""
}
