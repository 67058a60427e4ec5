package stack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	"go.uber.org/goleak"

	"github.com/keystorm/keystorm/fakes/cloudhsm"
	"github.com/keystorm/keystorm/fakes/hsm"
	kmssvc "github.com/keystorm/keystorm/fakes/kms"
	"github.com/keystorm/keystorm/fakes/stack"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// stack is closed and every client's idle connections dropped in t.Cleanup.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// speed runs the stack clock so that the real service's 20-minute connect
// takes 60 ms and its 30-second disconnect 1.5 ms.
const speed = 20000

// waitLimit bounds every poll for an asynchronous transition.
const waitLimit = 20 * time.Second

// env is one running stack and the SDK clients that talk to it.
type env struct {
	st   *stack.Stack
	info stack.Info
	kms  *kms.Client
	hsm  *cloudhsmv2.Client
	http *http.Client
	// audit is the KMS audit log (JSON lines).
	audit *syncBuffer
}

// newEnv starts a stack with opts (Speed defaults to speed, Audit to a
// buffer) and closes it when the test ends.
func newEnv(t *testing.T, opts stack.Options) *env {
	t.Helper()
	if opts.Speed == 0 {
		opts.Speed = speed
	}
	audit := &syncBuffer{}
	if opts.Audit == nil {
		opts.Audit = audit
	}
	st, err := stack.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	tr := &http.Transport{}
	// Cleanups run last-in first-out: the stack closes, then the idle
	// client connections it left are dropped.
	t.Cleanup(tr.CloseIdleConnections)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := st.Close(ctx); err != nil {
			t.Errorf("close stack: %v", err)
		}
	})
	info := st.Info()
	hc := &http.Client{Transport: bufferedBodies{tr}, Timeout: 30 * time.Second}
	cfg := aws.Config{
		Region:      info.Region,
		Credentials: credentials.NewStaticCredentialsProvider(info.AccessKeyID, info.SecretAccessKey, ""),
		// No retries: every exception reaches the test, once.
		Retryer:    func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient: hc,
	}
	return &env{
		st: st, info: info, http: hc, audit: audit,
		kms: kms.NewFromConfig(cfg, func(o *kms.Options) { o.BaseEndpoint = aws.String(info.KMSEndpoint) }),
		hsm: cloudhsmv2.NewFromConfig(cfg, func(o *cloudhsmv2.Options) { o.BaseEndpoint = aws.String(info.CloudHSMEndpoint) }),
	}
}

// bufferedBodies hands the transport a copy of each request body in memory.
// The SDK closes its own body as soon as the response headers arrive; under
// load net/http's write loop may still be finishing the request then, fail
// with EOF and close the connection while the SDK reads the response ("use
// of closed network connection", aws/aws-sdk-go-v2#1825 and #2737). A body
// the SDK cannot close under the transport avoids that client-side race;
// the bytes on the wire are the same.
type bufferedBodies struct{ rt http.RoundTripper }

func (b bufferedBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return b.rt.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return b.rt.RoundTrip(r)
}

// cluster returns seeded cluster i.
func (e *env) cluster(i int) stack.ClusterInfo { return e.info.Clusters[i] }

// createStore makes a store named name over seeded cluster i, with the
// cluster's kmsuser password.
func (e *env) createStore(t *testing.T, name string, i int) string {
	t.Helper()
	c := e.cluster(i)
	out, err := e.kms.CreateCustomKeyStore(t.Context(), &kms.CreateCustomKeyStoreInput{
		CustomKeyStoreName: aws.String(name), CloudHsmClusterId: aws.String(c.ClusterID),
		TrustAnchorCertificate: aws.String(c.TrustAnchorPEM), KeyStorePassword: aws.String(c.KmsuserPassword),
	})
	if err != nil {
		t.Fatalf("create store %s over %s: %v", name, c.ClusterID, err)
	}
	return aws.ToString(out.CustomKeyStoreId)
}

// describe returns a store as DescribeCustomKeyStores shows it by id.
func (e *env) describe(t *testing.T, id string) types.CustomKeyStoresListEntry {
	t.Helper()
	out, err := e.kms.DescribeCustomKeyStores(t.Context(), &kms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
	if err != nil {
		t.Fatalf("describe store %s: %v", id, err)
	}
	if len(out.CustomKeyStores) != 1 {
		t.Fatalf("describe store %s: %d entries, want 1", id, len(out.CustomKeyStores))
	}
	return out.CustomKeyStores[0]
}

// eventually polls cond until it holds or waitLimit passes; cond returns
// what it saw, for the failure message.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last saw %s", waitLimit, what, saw)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("waiting for %s: %v", what, t.Context().Err())
		case <-tick.C:
		}
	}
}

// settle polls until the store leaves CONNECTING and DISCONNECTING.
func (e *env) settle(t *testing.T, id string) types.CustomKeyStoresListEntry {
	t.Helper()
	var st types.CustomKeyStoresListEntry
	eventually(t, "store "+id+" to leave CONNECTING/DISCONNECTING", func() (bool, string) {
		st = e.describe(t, id)
		s := st.ConnectionState
		return s != types.ConnectionStateTypeConnecting && s != types.ConnectionStateTypeDisconnecting, string(s)
	})
	return st
}

// connect asks to connect a store and returns the state it settles in.
func (e *env) connect(t *testing.T, id string) types.CustomKeyStoresListEntry {
	t.Helper()
	if _, err := e.kms.ConnectCustomKeyStore(t.Context(), &kms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		t.Fatalf("connect store %s: %v", id, err)
	}
	return e.settle(t, id)
}

// mustConnect connects a store and fails unless it ends CONNECTED.
func (e *env) mustConnect(t *testing.T, id string) {
	t.Helper()
	if st := e.connect(t, id); st.ConnectionState != types.ConnectionStateTypeConnected {
		t.Fatalf("connect store %s: %s %s, want CONNECTED", id, st.ConnectionState, st.ConnectionErrorCode)
	}
}

// wantFailed connects a store and fails unless it ends FAILED with code.
func (e *env) wantFailed(t *testing.T, id string, code types.ConnectionErrorCodeType) {
	t.Helper()
	if st := e.connect(t, id); st.ConnectionState != types.ConnectionStateTypeFailed || st.ConnectionErrorCode != code {
		t.Fatalf("connect store %s: %s %q, want FAILED %s", id, st.ConnectionState, st.ConnectionErrorCode, code)
	}
}

// disconnect disconnects a store and waits until it is DISCONNECTED with
// no error code.
func (e *env) disconnect(t *testing.T, id string) {
	t.Helper()
	if _, err := e.kms.DisconnectCustomKeyStore(t.Context(), &kms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		t.Fatalf("disconnect store %s: %v", id, err)
	}
	if st := e.settle(t, id); st.ConnectionState != types.ConnectionStateTypeDisconnected || st.ConnectionErrorCode != "" {
		t.Fatalf("disconnect store %s: %s %q, want DISCONNECTED without a code", id, st.ConnectionState, st.ConnectionErrorCode)
	}
}

// removeStore disconnects a store if it must and deletes it, so that the
// next ones fit in the Region's quota.
func (e *env) removeStore(t *testing.T, id string) {
	t.Helper()
	if st := e.settle(t, id); st.ConnectionState != types.ConnectionStateTypeDisconnected {
		e.disconnect(t, id)
	}
	if _, err := e.kms.DeleteCustomKeyStore(t.Context(), &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		t.Fatalf("delete store %s: %v", id, err)
	}
}

// update calls UpdateCustomKeyStore; empty strings leave fields out.
func (e *env) update(ctx context.Context, id, name, password, clusterID string) error {
	in := &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}
	if name != "" {
		in.NewCustomKeyStoreName = aws.String(name)
	}
	if password != "" {
		in.KeyStorePassword = aws.String(password)
	}
	if clusterID != "" {
		in.CloudHsmClusterId = aws.String(clusterID)
	}
	_, err := e.kms.UpdateCustomKeyStore(ctx, in)
	return err
}

// mustUpdate is update that fails the test on error.
func (e *env) mustUpdate(t *testing.T, id, name, password, clusterID string) {
	t.Helper()
	if err := e.update(t.Context(), id, name, password, clusterID); err != nil {
		t.Fatalf("update store %s: %v", id, err)
	}
}

// adminCall posts a JSON body to the admin API and returns the status and
// the decoded answer.
func (e *env) adminCall(t *testing.T, path string, body any) (int, map[string]any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	// Not t.Context(): cleanups restore faults after it is cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.info.AdminEndpoint+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.info.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatalf("admin %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("admin %s: answer %q: %v", path, raw, err)
	}
	return resp.StatusCode, out
}

// admin is adminCall that fails the test unless the answer is 200.
func (e *env) admin(t *testing.T, path string, body any) map[string]any {
	t.Helper()
	status, out := e.adminCall(t, path, body)
	if status != http.StatusOK {
		t.Fatalf("admin %s %v: %d %v", path, body, status, out)
	}
	return out
}

// setSpeed sets the stack clock's speed through the admin API.
func (e *env) setSpeed(t *testing.T, s float64) {
	t.Helper()
	e.admin(t, "/v1/clock", map[string]any{"speed": s})
}

// advance moves the stack clock forward through the admin API.
func (e *env) advance(t *testing.T, d time.Duration) {
	t.Helper()
	e.admin(t, "/v1/clock", map[string]any{"advance": d.String()})
}

// backup takes an on-demand backup of a cluster through the admin API and
// returns its id and the backing key ids it holds.
func (e *env) backup(t *testing.T, clusterID string) (string, []string) {
	t.Helper()
	out := e.admin(t, "/v1/backups", map[string]any{"cluster_id": clusterID})
	var keys []string
	if ks, ok := out["keys"].([]any); ok {
		for _, k := range ks {
			keys = append(keys, k.(string))
		}
	}
	return out["backup_id"].(string), keys
}

// createKey makes a KMS key in a store.
func (e *env) createKey(t *testing.T, storeID string) types.KeyMetadata {
	t.Helper()
	out, err := e.kms.CreateKey(t.Context(), &kms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(storeID)})
	if err != nil {
		t.Fatalf("create key in store %s: %v", storeID, err)
	}
	return *out.KeyMetadata
}

// createSoftwareKey makes an AWS_KMS key, for comparison.
func (e *env) createSoftwareKey(t *testing.T) types.KeyMetadata {
	t.Helper()
	out, err := e.kms.CreateKey(t.Context(), &kms.CreateKeyInput{})
	if err != nil {
		t.Fatalf("create AWS_KMS key: %v", err)
	}
	return *out.KeyMetadata
}

// keyState returns the state DescribeKey shows.
func (e *env) keyState(t *testing.T, keyID string) types.KeyState {
	t.Helper()
	out, err := e.kms.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		t.Fatalf("describe key %s: %v", keyID, err)
	}
	return out.KeyMetadata.KeyState
}

// wantKeyState fails unless DescribeKey shows want.
func (e *env) wantKeyState(t *testing.T, keyID string, want types.KeyState) {
	t.Helper()
	if got := e.keyState(t, keyID); got != want {
		t.Fatalf("key %s is %s, want %s", keyID, got, want)
	}
}

// encrypt encrypts plaintext under a key, failing the test on error.
func (e *env) encrypt(t *testing.T, keyID string, plaintext []byte, ec map[string]string) []byte {
	t.Helper()
	out, err := e.kms.Encrypt(t.Context(), &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: plaintext, EncryptionContext: ec})
	if err != nil {
		t.Fatalf("encrypt under %s: %v", keyID, err)
	}
	return out.CiphertextBlob
}

// wantDecrypt fails unless blob decrypts to want.
func (e *env) wantDecrypt(t *testing.T, blob, want []byte, ec map[string]string) {
	t.Helper()
	out, err := e.kms.Decrypt(t.Context(), &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	if !bytes.Equal(out.Plaintext, want) {
		t.Fatalf("decrypt: %q, want %q", out.Plaintext, want)
	}
}

// clusterHandle returns the plane's cluster, to observe what no API shows
// (who is logged in, which HSM holds a key).
func (e *env) clusterHandle(t *testing.T, clusterID string) *cloudhsm.Cluster {
	t.Helper()
	c, err := e.st.Plane().Cluster(clusterID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// hsmSession is a login to a cluster held on the stack by the admin API's
// HSM client, what `keystorm cloudhsm-cli login` makes.
type hsmSession struct {
	e     *env
	token string
}

// hsmError is an action the HSMs refused: the admin API's status and words.
type hsmError struct {
	status int
	msg    string
}

func (e *hsmError) Error() string { return fmt.Sprintf("%d: %s", e.status, e.msg) }

// tryLogin is `login --username user --role role`; the session ends when
// the test does, if the test did not log out.
func (e *env) tryLogin(t *testing.T, clusterID, user string, role hsm.Role, password string) (*hsmSession, error) {
	t.Helper()
	status, out := e.adminCall(t, "/v1/cluster-sessions", map[string]any{"cluster_id": clusterID, "username": user, "role": string(role), "password": password})
	if status != http.StatusOK {
		return nil, &hsmError{status, fmt.Sprint(out["error"])}
	}
	s := &hsmSession{e: e, token: out["session"].(string)}
	t.Cleanup(func() { e.adminCall(t, "/v1/cluster-sessions/logout", map[string]any{"session": s.token}) })
	return s, nil
}

// login is tryLogin that fails the test on error.
func (e *env) login(t *testing.T, clusterID, user string, role hsm.Role, password string) *hsmSession {
	t.Helper()
	s, err := e.tryLogin(t, clusterID, user, role, password)
	if err != nil {
		t.Fatalf("login %s to %s: %v", user, clusterID, err)
	}
	return s
}

// run runs a CloudHSM CLI action (user-change-password, key-delete, ...) in
// the session.
func (s *hsmSession) run(t *testing.T, action string, fields map[string]any) (map[string]any, error) {
	t.Helper()
	body := map[string]any{"session": s.token, "action": action}
	for k, v := range fields {
		body[k] = v
	}
	status, out := s.e.adminCall(t, "/v1/cluster-sessions/run", body)
	if status != http.StatusOK {
		return nil, &hsmError{status, fmt.Sprint(out["error"])}
	}
	return out, nil
}

// mustRun is run that fails the test on error.
func (s *hsmSession) mustRun(t *testing.T, action string, fields map[string]any) map[string]any {
	t.Helper()
	out, err := s.run(t, action, fields)
	if err != nil {
		t.Fatalf("%s %v: %v", action, fields, err)
	}
	return out
}

// logout is `logout`.
func (s *hsmSession) logout(t *testing.T) {
	t.Helper()
	s.e.admin(t, "/v1/cluster-sessions/logout", map[string]any{"session": s.token})
}

// setKmsuserPassword is the crypto officer's `user change-password` of
// kmsuser: it sets (and unlocks) kmsuser's password.
func (e *env) setKmsuserPassword(t *testing.T, clusterID, adminPassword, password string) {
	t.Helper()
	admin := e.login(t, clusterID, "admin", hsm.RoleAdmin, adminPassword)
	defer admin.logout(t)
	admin.mustRun(t, "user-change-password", map[string]any{"username": kmssvc.KmsUser, "role": "crypto-user", "password": password})
}

// failLogins makes n kmsuser logins with a wrong password.
func (e *env) failLogins(t *testing.T, clusterID string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		_, err := e.tryLogin(t, clusterID, kmssvc.KmsUser, hsm.RoleCryptoUser, "notThePassword1")
		var he *hsmError
		if !errors.As(err, &he) || he.status != http.StatusUnprocessableEntity {
			t.Fatalf("bad login %d: %v, want the HSMs' refusal (422)", i+1, err)
		}
	}
}

// keyIDs lists the backing key ids of `key list` in a kmsuser session.
func (s *hsmSession) keyIDs(t *testing.T) []string {
	t.Helper()
	out := s.mustRun(t, "key-list", nil)
	var ids []string
	for _, k := range out["matched_keys"].([]any) {
		ids = append(ids, strings.TrimPrefix(k.(map[string]any)["attributes"].(map[string]any)["id"].(string), "0x"))
	}
	slices.Sort(ids)
	return ids
}

// kmsuser describes kmsuser as the cluster's HSMs know it.
func (e *env) kmsuser(t *testing.T, clusterID string) (hsm.UserInfo, bool) {
	t.Helper()
	u, found, err := e.clusterHandle(t, clusterID).User(kmssvc.KmsUser)
	if err != nil {
		t.Fatalf("kmsuser of %s: %v", clusterID, err)
	}
	return u, found
}

// hsmIDs lists the HSMs of a cluster as DescribeClusters shows them.
func (e *env) hsmIDs(t *testing.T, clusterID string) map[string]string {
	t.Helper()
	out, err := e.hsm.DescribeClusters(t.Context(), &cloudhsmv2.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {clusterID}}})
	if err != nil {
		t.Fatalf("describe cluster %s: %v", clusterID, err)
	}
	if len(out.Clusters) != 1 {
		t.Fatalf("describe cluster %s: %d clusters", clusterID, len(out.Clusters))
	}
	ids := map[string]string{} // HSM id -> AZ
	for _, h := range out.Clusters[0].Hsms {
		ids[aws.ToString(h.HsmId)] = aws.ToString(h.AvailabilityZone)
	}
	return ids
}

// deleteHsm deletes one HSM with the CloudHSM API.
func (e *env) deleteHsm(t *testing.T, clusterID, hsmID string) {
	t.Helper()
	if _, err := e.hsm.DeleteHsm(t.Context(), &cloudhsmv2.DeleteHsmInput{ClusterId: aws.String(clusterID), HsmId: aws.String(hsmID)}); err != nil {
		t.Fatalf("delete HSM %s of %s: %v", hsmID, clusterID, err)
	}
}

// deleteAllHsms deletes every HSM of a cluster and returns the AZs they
// were in.
func (e *env) deleteAllHsms(t *testing.T, clusterID string) []string {
	t.Helper()
	var azs []string
	for id, az := range e.hsmIDs(t, clusterID) {
		e.deleteHsm(t, clusterID, id)
		azs = append(azs, az)
	}
	return azs
}

// createHsm adds an HSM in az with the CloudHSM API.
func (e *env) createHsm(t *testing.T, clusterID, az string) {
	t.Helper()
	if _, err := e.hsm.CreateHsm(t.Context(), &cloudhsmv2.CreateHsmInput{ClusterId: aws.String(clusterID), AvailabilityZone: aws.String(az)}); err != nil {
		t.Fatalf("create HSM in %s of %s: %v", az, clusterID, err)
	}
}

// latestBackup is the newest READY backup of a cluster (DescribeBackups
// filtered by clusterIds, as procedure 6 picks one).
func (e *env) latestBackup(t *testing.T, clusterID string) string {
	t.Helper()
	out, err := e.hsm.DescribeBackups(t.Context(), &cloudhsmv2.DescribeBackupsInput{
		Filters:       map[string][]string{"clusterIds": {clusterID}, "states": {"READY"}},
		SortAscending: aws.Bool(false),
	})
	if err != nil {
		t.Fatalf("describe backups of %s: %v", clusterID, err)
	}
	if len(out.Backups) == 0 {
		t.Fatalf("cluster %s has no READY backup", clusterID)
	}
	return aws.ToString(out.Backups[0].BackupId)
}

// clusterFromBackup creates a cluster from a backup in subnets (one per AZ)
// with one HSM in each AZ of azs; it is related to the backup's cluster.
func (e *env) clusterFromBackup(t *testing.T, backupID string, subnetIDs, azs []string) string {
	t.Helper()
	out, err := e.hsm.CreateCluster(t.Context(), &cloudhsmv2.CreateClusterInput{
		HsmType: aws.String(cloudhsm.DefaultHsmType), SubnetIds: subnetIDs, SourceBackupId: aws.String(backupID),
	})
	if err != nil {
		t.Fatalf("create cluster from %s: %v", backupID, err)
	}
	id := aws.ToString(out.Cluster.ClusterId)
	if out.Cluster.State != "ACTIVE" {
		t.Fatalf("cluster %s from backup %s is %s, want ACTIVE", id, backupID, out.Cluster.State)
	}
	for _, az := range azs {
		e.createHsm(t, id, az)
	}
	return id
}

// uninitializedCluster creates a cluster without a backup: UNINITIALIZED.
func (e *env) uninitializedCluster(t *testing.T, subnetIDs []string) string {
	t.Helper()
	out, err := e.hsm.CreateCluster(t.Context(), &cloudhsmv2.CreateClusterInput{HsmType: aws.String(cloudhsm.DefaultHsmType), SubnetIds: subnetIDs})
	if err != nil {
		t.Fatalf("create cluster: %v", err)
	}
	if out.Cluster.State != "UNINITIALIZED" {
		t.Fatalf("new cluster is %s, want UNINITIALIZED", out.Cluster.State)
	}
	return aws.ToString(out.Cluster.ClusterId)
}

// azs are the Availability Zones of the seeded clusters.
func (e *env) azs() []string { return []string{e.info.Region + "a", e.info.Region + "b"} }

// freeAddresses returns the free addresses of each subnet.
func (e *env) freeAddresses(t *testing.T, subnetIDs []string) []int {
	t.Helper()
	var out []int
	for _, id := range subnetIDs {
		s, err := e.st.Plane().Subnet(id)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s.FreeAddresses)
	}
	return out
}

// wantCode fails unless err is the AWS exception code; an exception the
// KMS model declares must also reach the caller as the SDK's typed error,
// not a generic one.
func wantCode(t *testing.T, err error, code string) smithy.APIError {
	t.Helper()
	if err == nil {
		t.Fatalf("call succeeded, want %s", code)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an AWS API error, want %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	var generic *smithy.GenericAPIError
	if modeled(code) && errors.As(err, &generic) {
		t.Fatalf("%s reached the SDK as a generic error, want its typed error", code)
	}
	return ae
}

// modeled reports whether the KMS model declares an exception, so that the
// SDK decodes it into its type.
func modeled(code string) bool { return code != "ValidationException" }

// as fails unless err unwraps to E, the SDK's typed exception.
func as[E error](t *testing.T, err error) E {
	t.Helper()
	var e E
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a %T", err, err, e)
	}
	return e
}

// httpStatus returns the HTTP status of an SDK error.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// syncBuffer is an audit sink safe for the service's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// events decodes the audit log so far.
func (s *syncBuffer) events(t *testing.T) []kmssvc.AuditEvent {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []kmssvc.AuditEvent
	for _, line := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if line == "" {
			continue
		}
		var ev kmssvc.AuditEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, ev)
	}
	return out
}
