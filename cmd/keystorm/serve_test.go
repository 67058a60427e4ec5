package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keystorm/keystorm/fakes/stack"
)

// awsCLI finds the aws CLI. A missing CLI fails the test (never skips it):
// it is the first client the spec names, and make deps installs it.
func awsCLI(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("aws")
	if err != nil {
		t.Fatalf("the aws CLI is not on PATH (make deps installs it): %v", err)
	}
	return path
}

// serving runs `keystorm serve` in-process until the test ends and returns
// what it wrote with --info.
func serving(t *testing.T, args ...string) (stack.Info, *lockedBuffer) {
	t.Helper()
	infoPath := filepath.Join(t.TempDir(), "info.json")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--info", infoPath}, args...), &out, &errb)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("serve exited %d; stderr:\n%s", code, errb.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(infoPath); err == nil {
			var info stack.Info
			if err := json.Unmarshal(b, &info); err != nil {
				t.Fatalf("--info file: %v\n%s", err, b)
			}
			return info, &out
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("serve exited %d before it was ready; stderr:\n%s", code, errb.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("serve did not write --info in time")
		}
	}
}

// cli runs the aws CLI against the stack and returns its stdout; it fails
// the test if the command fails unless wantErr names the exception expected
// in stderr.
func cli(t *testing.T, aws string, info stack.Info, endpoint, wantErr string, args ...string) string {
	t.Helper()
	cmd := exec.Command(aws, append(args, "--endpoint-url", endpoint, "--output", "json")...)
	cmd.Env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+info.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+info.SecretAccessKey,
		"AWS_DEFAULT_REGION="+info.Region, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	case wantErr != "" && (err == nil || !strings.Contains(stderr.String(), wantErr)):
		t.Fatalf("aws %s: %v, stderr %q, want %s", strings.Join(args, " "), err, stderr.String(), wantErr)
	}
	return stdout.String()
}

func TestServeWalkThroughWithTheAWSCLI(t *testing.T) {
	aws := awsCLI(t)
	info, banner := serving(t, "--speed", "20000")
	if len(info.Clusters) != 1 || info.KMSEndpoint == "" || info.CloudHSMEndpoint == "" || info.AdminEndpoint == "" || info.MetricsEndpoint == "" {
		t.Fatalf("--info: %+v", info)
	}
	for _, want := range []string{info.KMSEndpoint, info.AccessKeyID, "aws kms create-custom-key-store", info.Clusters[0].ClusterID} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("banner lacks %q", want)
		}
	}
	c := info.Clusters[0]
	ca := filepath.Join(t.TempDir(), "customerCA.crt")
	if err := os.WriteFile(ca, []byte(c.TrustAnchorPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	kmsCLI := func(wantErr string, args ...string) string {
		return cli(t, aws, info, info.KMSEndpoint, wantErr, append([]string{"kms"}, args...)...)
	}
	var clusters struct {
		Clusters []struct{ ClusterId, State string }
	}
	json.Unmarshal([]byte(cli(t, aws, info, info.CloudHSMEndpoint, "", "cloudhsmv2", "describe-clusters")), &clusters)
	if len(clusters.Clusters) != 1 || clusters.Clusters[0].State != "ACTIVE" {
		t.Fatalf("describe-clusters: %+v", clusters)
	}

	var created struct{ CustomKeyStoreId string }
	json.Unmarshal([]byte(kmsCLI("", "create-custom-key-store", "--custom-key-store-name", "ExampleCKS",
		"--cloud-hsm-cluster-id", c.ClusterID, "--key-store-password", c.KmsuserPassword,
		"--trust-anchor-certificate", "file://"+ca)), &created)
	id := created.CustomKeyStoreId
	if !strings.HasPrefix(id, "cks-") {
		t.Fatalf("create-custom-key-store gave id %q", id)
	}
	// The documented runs: connect, disconnect and update print nothing.
	if out := kmsCLI("", "connect-custom-key-store", "--custom-key-store-id", id); strings.TrimSpace(out) != "" {
		t.Errorf("connect-custom-key-store printed %q, want nothing", out)
	}
	state := func(args ...string) (string, string) {
		var out struct {
			CustomKeyStores []struct{ ConnectionState, ConnectionErrorCode string }
		}
		json.Unmarshal([]byte(kmsCLI("", append([]string{"describe-custom-key-stores"}, args...)...)), &out)
		if len(out.CustomKeyStores) != 1 {
			t.Fatalf("describe-custom-key-stores %v: %d stores", args, len(out.CustomKeyStores))
		}
		return out.CustomKeyStores[0].ConnectionState, out.CustomKeyStores[0].ConnectionErrorCode
	}
	waitConnected := func() {
		deadline := time.Now().Add(30 * time.Second)
		for {
			s, code := state("--custom-key-store-id", id)
			if s == "CONNECTED" {
				return
			}
			if s != "CONNECTING" || time.Now().After(deadline) {
				t.Fatalf("store %s %s, want CONNECTED", s, code)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitConnected()
	if s, _ := state("--custom-key-store-name", "ExampleCKS"); s != "CONNECTED" {
		t.Fatalf("by name: %s", s)
	}
	var key struct {
		KeyMetadata struct{ KeyId, KeyState, Origin string }
	}
	json.Unmarshal([]byte(kmsCLI("", "create-key", "--origin", "AWS_CLOUDHSM", "--custom-key-store-id", id)), &key)
	if key.KeyMetadata.Origin != "AWS_CLOUDHSM" || key.KeyMetadata.KeyState != "Enabled" {
		t.Fatalf("create-key: %+v", key)
	}
	pt := filepath.Join(t.TempDir(), "plaintext")
	os.WriteFile(pt, []byte("hello, HSM"), 0o600)
	var enc struct{ CiphertextBlob string }
	json.Unmarshal([]byte(kmsCLI("", "encrypt", "--key-id", key.KeyMetadata.KeyId, "--plaintext", "fileb://"+pt)), &enc)
	blob, err := base64.StdEncoding.DecodeString(enc.CiphertextBlob)
	if err != nil || len(blob) == 0 {
		t.Fatalf("encrypt: blob %q: %v", enc.CiphertextBlob, err)
	}
	ct := filepath.Join(t.TempDir(), "ciphertext")
	os.WriteFile(ct, blob, 0o600)
	var dec struct{ Plaintext string }
	json.Unmarshal([]byte(kmsCLI("", "decrypt", "--ciphertext-blob", "fileb://"+ct)), &dec)
	if got, _ := base64.StdEncoding.DecodeString(dec.Plaintext); string(got) != "hello, HSM" {
		t.Fatalf("decrypt: %q", got)
	}

	if out := kmsCLI("", "disconnect-custom-key-store", "--custom-key-store-id", id); strings.TrimSpace(out) != "" {
		t.Errorf("disconnect-custom-key-store printed %q, want nothing", out)
	}
	var described struct{ KeyMetadata struct{ KeyState string } }
	json.Unmarshal([]byte(kmsCLI("", "describe-key", "--key-id", key.KeyMetadata.KeyId)), &described)
	if described.KeyMetadata.KeyState != "Unavailable" {
		t.Fatalf("key after disconnect: %s, want Unavailable", described.KeyMetadata.KeyState)
	}
	kmsCLI("KMSInvalidStateException", "encrypt", "--key-id", key.KeyMetadata.KeyId, "--plaintext", "fileb://"+pt)
	// While DISCONNECTING a connect is refused; wait for DISCONNECTED.
	deadline := time.Now().Add(30 * time.Second)
	for s, _ := state("--custom-key-store-id", id); s != "DISCONNECTED"; s, _ = state("--custom-key-store-id", id) {
		if time.Now().After(deadline) {
			t.Fatalf("store %s, want DISCONNECTED", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A wrong password: update prints nothing, the connect ends FAILED
	// INVALID_CREDENTIALS.
	if out := kmsCLI("", "update-custom-key-store", "--custom-key-store-id", id, "--key-store-password", "tempPassword"); strings.TrimSpace(out) != "" {
		t.Errorf("update-custom-key-store printed %q, want nothing", out)
	}
	kmsCLI("", "connect-custom-key-store", "--custom-key-store-id", id)
	deadline = time.Now().Add(30 * time.Second)
	for {
		s, code := state("--custom-key-store-id", id)
		if s == "FAILED" {
			if code != "INVALID_CREDENTIALS" {
				t.Fatalf("FAILED with %s, want INVALID_CREDENTIALS", code)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store %s, want FAILED", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Bad input gets the real service's errors.
	kmsCLI("CustomKeyStoreNotFoundException", "describe-custom-key-stores", "--custom-key-store-id", "cks-doesnotexist0000")
	big := filepath.Join(t.TempDir(), "big")
	os.WriteFile(big, make([]byte, 4097), 0o600)
	kmsCLI("ValidationException", "encrypt", "--key-id", key.KeyMetadata.KeyId, "--plaintext", "fileb://"+big)
	bad := info
	bad.SecretAccessKey = "not-the-secret"
	cli(t, aws, bad, info.KMSEndpoint, "InvalidSignatureException", "kms", "list-keys")
}

// lockedBuffer is a bytes.Buffer safe for the server's goroutine and the
// test's.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestServeRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--clusters", "0"}, "--clusters 0: want 1..64"},
		{[]string{"--speed", "-1"}, "--speed -1: want > 0"},
		{[]string{"--access-key-id", "AKIAONLY"}, "give both --access-key-id and --secret-access-key"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		code, _, errOut := keystorm(t, append([]string{"serve"}, tc.args...)...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want exit %d naming %q", tc.args, code, errOut, exitUsage, tc.want)
		}
	}
}
