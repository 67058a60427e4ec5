package target_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keystorm/keystorm/harness/target"
)

func TestReadInfo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, body, wantErr string
	}{
		{"complete", `{"region":"us-east-1","access_key_id":"AKIA","secret_access_key":"s","kms_endpoint":"http://127.0.0.1:1"}`, ""},
		{"missing fields are named", `{"region":"us-east-1","kms_endpoint":"http://x"}`, "missing access_key_id, secret_access_key"},
		{"not JSON", `region: us-east-1`, "target file"},
	} {
		_, err := target.ReadInfo(write(tc.name+".json", tc.body))
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.wantErr)
		}
	}
	if _, err := target.ReadInfo(filepath.Join(dir, "absent.json")); err == nil {
		t.Error("an absent file read without error")
	}
}

// TestExternalCapabilities: a target has what its info names, and Require
// names what it lacks.
func TestExternalCapabilities(t *testing.T) {
	t.Parallel()
	kmsOnly := target.External(target.Info{Region: "us-east-1", AccessKeyID: "a", SecretAccessKey: "s", KMSEndpoint: "http://127.0.0.1:1"})
	if !kmsOnly.Has(target.KMS) || kmsOnly.Has(target.Admin) || kmsOnly.Has(target.ControlPlane) || kmsOnly.CloudHSM() != nil || kmsOnly.Admin() != nil {
		t.Errorf("a KMS-only target has more than KMS")
	}
	err := target.Require(kmsOnly, target.KMS, target.ControlPlane)
	var missing *target.MissingError
	if !errors.Is(err, target.ErrMissing) || !errors.As(err, &missing) || missing.Capability != target.ControlPlane {
		t.Errorf("Require: %v", err)
	}
	full := target.External(target.Info{Region: "us-east-1", AccessKeyID: "a", SecretAccessKey: "s", KMSEndpoint: "http://k",
		CloudHSMEndpoint: "http://c", AdminEndpoint: "http://a", MetricsEndpoint: "http://m/metrics", Machines: true})
	for _, c := range target.Capabilities {
		if !full.Has(c) {
			t.Errorf("a full target lacks %s", c)
		}
	}
	if err := target.Require(full, target.Capabilities...); err != nil {
		t.Errorf("Require on a full target: %v", err)
	}
	// HSMs in the stack's own process have no machines to kill or pause.
	inProcess := target.External(target.Info{Region: "us-east-1", AccessKeyID: "a", SecretAccessKey: "s", KMSEndpoint: "http://k", AdminEndpoint: "http://a"})
	if !inProcess.Has(target.Admin) || inProcess.Has(target.Machines) {
		t.Errorf("a target whose info has no machines: admin %v, machines %v", inProcess.Has(target.Admin), inProcess.Has(target.Machines))
	}
}
