package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hsmCLIResult is the CloudHSM CLI's answer.
type hsmCLIResult struct {
	ErrorCode int             `json:"error_code"`
	Data      json.RawMessage `json:"data"`
}

// cloudhsmCLI runs `keystorm cloudhsm-cli` in-process with env set and
// returns its exit code and answer.
func cloudhsmCLI(t *testing.T, env map[string]string, args ...string) (int, hsmCLIResult) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"cloudhsm-cli"}, args...), &out, &errb)
	var res hsmCLIResult
	if code != exitUsage {
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("cloudhsm-cli %v: answer %q: %v (stderr %s)", args, out.String(), err, errb.String())
		}
	}
	return code, res
}

// TestCloudHSMCLIRunbooks runs the troubleshooting guide's runbooks with
// keystorm cloudhsm-cli and the aws CLI: a kmsuser login held by the CLI
// fails the connection USER_LOGGED_IN until logout; the crypto officer resets
// a locked-out kmsuser's password; kmsuser deletes a key's backing key by id.
func TestCloudHSMCLIRunbooks(t *testing.T) {
	aws := awsCLI(t)
	info, _ := serving(t, "--speed", "20000")
	dir := t.TempDir()
	infoPath := filepath.Join(dir, "info.json")
	b, _ := json.Marshal(info)
	os.WriteFile(infoPath, b, 0o600)
	env := map[string]string{infoEnv: infoPath, sessionFileEnv: filepath.Join(dir, "session.json"), pinEnvCloudHSM: "", roleEnv: ""}
	c := info.Clusters[0]
	ca := filepath.Join(dir, "customerCA.crt")
	os.WriteFile(ca, []byte(c.TrustAnchorPEM), 0o600)
	kmsCLI := func(wantErr string, args ...string) string {
		return cli(t, aws, info, info.KMSEndpoint, wantErr, append([]string{"kms"}, args...)...)
	}
	storeState := func(id string) (string, string) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			var out struct {
				CustomKeyStores []struct{ ConnectionState, ConnectionErrorCode string }
			}
			json.Unmarshal([]byte(kmsCLI("", "describe-custom-key-stores", "--custom-key-store-id", id)), &out)
			s := out.CustomKeyStores[0]
			if s.ConnectionState != "CONNECTING" && s.ConnectionState != "DISCONNECTING" {
				return s.ConnectionState, s.ConnectionErrorCode
			}
			if time.Now().After(deadline) {
				t.Fatalf("store %s still %s", id, s.ConnectionState)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var created struct{ CustomKeyStoreId string }
	json.Unmarshal([]byte(kmsCLI("", "create-custom-key-store", "--custom-key-store-name", "RunbookCKS",
		"--cloud-hsm-cluster-id", c.ClusterID, "--key-store-password", c.KmsuserPassword,
		"--trust-anchor-certificate", "file://"+ca)), &created)
	id := created.CustomKeyStoreId

	// kmsuser logged in with the CLI: the connection fails USER_LOGGED_IN.
	if code, res := cloudhsmCLI(t, env, "login", "--username", "kmsuser", "--role", "crypto-user", "--password", c.KmsuserPassword); code != exitOK || res.ErrorCode != 0 {
		t.Fatalf("login kmsuser: exit %d, %s", code, res.Data)
	}
	kmsCLI("", "connect-custom-key-store", "--custom-key-store-id", id)
	if s, code := storeState(id); s != "FAILED" || code != "USER_LOGGED_IN" {
		t.Fatalf("connect while kmsuser is logged in: %s %s, want FAILED USER_LOGGED_IN", s, code)
	}
	if code, res := cloudhsmCLI(t, env, "logout"); code != exitOK || !strings.Contains(string(res.Data), "Logout successful") {
		t.Fatalf("logout: exit %d, %s", code, res.Data)
	}
	kmsCLI("", "disconnect-custom-key-store", "--custom-key-store-id", id)
	storeState(id)
	kmsCLI("", "connect-custom-key-store", "--custom-key-store-id", id)
	if s, code := storeState(id); s != "CONNECTED" {
		t.Fatalf("connect after logout: %s %s", s, code)
	}
	var key struct{ KeyMetadata struct{ KeyId string } }
	json.Unmarshal([]byte(kmsCLI("", "create-key", "--origin", "AWS_CLOUDHSM", "--custom-key-store-id", id)), &key)

	// Procedure 4 "in": disconnect; as admin set kmsuser's password; log in
	// as kmsuser. Then delete the key's backing key by id.
	kmsCLI("", "disconnect-custom-key-store", "--custom-key-store-id", id)
	storeState(id)
	admin := map[string]string{pinEnvCloudHSM: "admin:" + c.AdminPassword, roleEnv: "admin"}
	if code, res := cloudhsmCLI(t, admin, "user", "change-password", "--username", "kmsuser", "--role", "crypto-user", "--password", "newPass123"); code != exitOK {
		t.Fatalf("admin change-password: exit %d, %s", code, res.Data)
	}
	t.Setenv(pinEnvCloudHSM, "")
	if code, res := cloudhsmCLI(t, env, "login", "--username", "kmsuser", "--role", "crypto-user", "--password", "newPass123"); code != exitOK {
		t.Fatalf("login with the new password: exit %d, %s", code, res.Data)
	}
	code, res := cloudhsmCLI(t, env, "key", "list")
	var list struct {
		MatchedKeys []struct {
			KeyReference string `json:"key-reference"`
		} `json:"matched_keys"`
	}
	json.Unmarshal(res.Data, &list)
	if code != exitOK || len(list.MatchedKeys) != 1 {
		t.Fatalf("key list: exit %d, %s", code, res.Data)
	}
	ref := list.MatchedKeys[0].KeyReference
	if code, res := cloudhsmCLI(t, env, "key", "delete", "--filter", `attr.id="`+ref+`"`); code != exitOK || !strings.Contains(string(res.Data), "Key deleted successfully") {
		t.Fatalf("key delete: exit %d, %s", code, res.Data)
	}
	if code, _ := cloudhsmCLI(t, env, "logout"); code != exitOK {
		t.Fatal("logout")
	}
	// Procedure 4 "out": update the password KMS holds, reconnect.
	kmsCLI("", "update-custom-key-store", "--custom-key-store-id", id, "--key-store-password", "newPass123")
	kmsCLI("", "connect-custom-key-store", "--custom-key-store-id", id)
	if s, code := storeState(id); s != "CONNECTED" {
		t.Fatalf("reconnect after the runbook: %s %s", s, code)
	}
	pt := filepath.Join(dir, "pt")
	os.WriteFile(pt, []byte("x"), 0o600)
	kmsCLI("KMSInvalidStateException", "encrypt", "--key-id", key.KeyMetadata.KeyId, "--plaintext", "fileb://"+pt)

	// Five bad logins lock kmsuser; user list shows it.
	kmsCLI("", "disconnect-custom-key-store", "--custom-key-store-id", id)
	storeState(id)
	for i := 0; i < 5; i++ {
		if code, _ := cloudhsmCLI(t, env, "login", "--username", "kmsuser", "--role", "crypto-user", "--password", "wrongPass"); code != exitFailed {
			t.Fatalf("bad login %d: exit %d, want %d", i+1, code, exitFailed)
		}
	}
	code, res = cloudhsmCLI(t, admin, "user", "list")
	if code != exitOK || !strings.Contains(string(res.Data), `"locked": "true"`) {
		t.Fatalf("user list after 5 bad logins: exit %d, %s", code, res.Data)
	}
}
