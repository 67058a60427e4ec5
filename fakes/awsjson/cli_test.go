package awsjson_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// awsCLI finds the aws CLI. A missing CLI fails the test (never skips it): the CLI is the
// client the spec names first, and make deps installs it.
func awsCLI(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("aws")
	if err != nil {
		t.Fatalf("the aws CLI is not on PATH (make deps installs it): %v", err)
	}
	return path
}

// runAWS runs the aws CLI against url with the given credentials and nothing from the
// user's own AWS configuration.
func runAWS(t *testing.T, url, accessKey, secret string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cli := awsCLI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, cli, append(args, "--endpoint-url", url, "--region", testRegion, "--output", "json")...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"AWS_ACCESS_KEY_ID="+accessKey,
		"AWS_SECRET_ACCESS_KEY="+secret,
		"AWS_CONFIG_FILE="+filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_RETRY_MODE=standard",
		"AWS_MAX_ATTEMPTS=1",
	)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

func TestAWSCLIDescribeCustomKeyStores(t *testing.T) {
	t.Parallel()
	url := newKMS(t)
	stdout, stderr, err := runAWS(t, url, testAccessKey, testSecret, "kms", "describe-custom-key-stores")
	if err != nil {
		t.Fatalf("aws kms describe-custom-key-stores: %v\n%s", err, stderr)
	}
	var out struct {
		CustomKeyStores []struct {
			CustomKeyStoreID   string `json:"CustomKeyStoreId"`
			CustomKeyStoreName string
			CloudHsmClusterID  string `json:"CloudHsmClusterId"`
			ConnectionState    string
			CreationDate       any
		}
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("CLI output is not JSON: %v\n%s", err, stdout)
	}
	if len(out.CustomKeyStores) != 1 {
		t.Fatalf("CLI printed %d stores:\n%s", len(out.CustomKeyStores), stdout)
	}
	got := out.CustomKeyStores[0]
	if got.CustomKeyStoreID != "cks-1234567890abcdef0" || got.CustomKeyStoreName != "ExampleKeyStore" ||
		got.CloudHsmClusterID != "cluster-1a23b4cdefg" || got.ConnectionState != "CONNECTED" {
		t.Errorf("CLI printed %+v", got)
	}
	// aws-cli v1 prints timestamps as they came over the wire (epoch seconds),
	// v2 (Debian's awscli) as ISO 8601 in UTC or local time.
	switch v := got.CreationDate.(type) {
	case float64:
		if v != 1700000000.123 {
			t.Errorf("CreationDate = %v, want 1700000000.123", v)
		}
	case string:
		ts, err := time.Parse(time.RFC3339Nano, v)
		if err != nil || !ts.Equal(time.UnixMilli(1700000000123)) {
			t.Errorf("CreationDate = %q (%v), want 2023-11-14T22:13:20.123Z", v, err)
		}
	default:
		t.Errorf("CreationDate = %#v, want epoch seconds or ISO 8601", v)
	}
}

func TestAWSCLIWrongSecret(t *testing.T) {
	t.Parallel()
	url := newKMS(t)
	stdout, stderr, err := runAWS(t, url, testAccessKey, "not-the-secret", "kms", "describe-custom-key-stores")
	if err == nil {
		t.Fatalf("CLI succeeded with a wrong secret:\n%s", stdout)
	}
	if !strings.Contains(stderr, "InvalidSignatureException") ||
		!strings.Contains(stderr, "The request signature we calculated does not match the signature you provided.") {
		t.Errorf("stderr does not name InvalidSignatureException:\n%s", stderr)
	}
}

func TestAWSCLIValidationError(t *testing.T) {
	t.Parallel()
	url := newKMS(t)
	big := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(big, make([]byte, 4097), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := runAWS(t, url, testAccessKey, testSecret, "kms", "encrypt", "--key-id", "alias/toy", "--plaintext", "fileb://"+big)
	// The CLI may add "(reached max retries: 0)" between the operation and the message.
	for _, want := range []string{
		"An error occurred (ValidationException) when calling the Encrypt operation",
		": 1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096",
	} {
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("err = %v, stderr:\n%s\nwant it to contain %q", err, stderr, want)
		}
	}
}

func TestAWSCLICloudHSMDescribeClusters(t *testing.T) {
	t.Parallel()
	url, scopes := newCloudHSM(t)
	stdout, stderr, err := runAWS(t, url, testAccessKey, testSecret, "cloudhsmv2", "describe-clusters")
	if err != nil {
		t.Fatalf("aws cloudhsmv2 describe-clusters: %v\n%s", err, stderr)
	}
	var out struct {
		Clusters []struct{ ClusterId, State string }
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil || len(out.Clusters) != 1 ||
		out.Clusters[0].ClusterId != "cluster-1a23b4cdefg" || out.Clusters[0].State != "ACTIVE" {
		t.Errorf("CLI printed (%v):\n%s", err, stdout)
	}
	if s := scopes(); len(s) != 1 || !strings.HasSuffix(s[0], "/cloudhsm/aws4_request") {
		t.Errorf("botocore signed with scopes %q", s)
	}
}
