package capacity_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/keystorm/keystorm/fakes/softhsm"
	"github.com/keystorm/keystorm/harness/capacity"
)

// externalToken prepares, the way an operator would, a SoftHSM token of its
// own configuration holding an AES key, and leaves the module finalised for
// OpenModule to load. It must not run while the embedded module is loaded:
// SoftHSM reads its configuration once per initialisation.
func externalToken(t *testing.T, tokenLabel, pin, keyLabel string) string {
	t.Helper()
	path, err := softhsm.LibraryPath()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	body := "directories.tokendir = " + dir + "\nobjectstore.backend = file\nlog.level = ERROR\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)

	c := pkcs11.New(path)
	if c == nil {
		t.Fatalf("load %s", path)
	}
	defer c.Destroy()
	if err := c.Initialize(); err != nil {
		t.Fatalf("initialise %s: %v", path, err)
	}
	defer c.Finalize()
	slots, err := c.GetSlotList(true)
	if err != nil || len(slots) == 0 {
		t.Fatalf("slots %v: %v", slots, err)
	}
	const soPIN = "so-pin-1234"
	if err := c.InitToken(slots[0], soPIN, tokenLabel); err != nil {
		t.Fatal(err)
	}
	// SoftHSM moves an initialised token to a new slot id: find it again.
	slots, err = c.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	var slot uint
	found := false
	for _, s := range slots {
		if info, err := c.GetTokenInfo(s); err == nil && info.Label == tokenLabel {
			slot, found = s, true
		}
	}
	if !found {
		t.Fatalf("token %q not in slots %v", tokenLabel, slots)
	}
	sh, err := c.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseSession(sh)
	if err := c.Login(sh, pkcs11.CKU_SO, soPIN); err != nil {
		t.Fatal(err)
	}
	if err := c.InitPIN(sh, pin); err != nil {
		t.Fatal(err)
	}
	if err := c.Logout(sh); err != nil {
		t.Fatal(err)
	}
	if err := c.Login(sh, pkcs11.CKU_USER, pin); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, keyLabel),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
	}); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenModule(t *testing.T) {
	ctx := context.Background()
	path := externalToken(t, "ext-token", "user-pin-1", "ext-key")
	spec := capacity.ModuleSpec{Path: path, TokenLabel: "ext-token", PIN: "user-pin-1", KeyLabel: "ext-key"}

	for _, tc := range []struct {
		name string
		edit func(*capacity.ModuleSpec)
		want string
	}{
		{"Unknown token - error lists the tokens", func(s *capacity.ModuleSpec) { s.TokenLabel = "nope" }, `no token labelled "nope" (tokens: "ext-token"`},
		{"Unknown key - error", func(s *capacity.ModuleSpec) { s.KeyLabel = "nope" }, `no AES secret key labelled "nope"`},
		{"Wrong PIN - error", func(s *capacity.ModuleSpec) { s.PIN = "wrong" }, "log in to ext-token"},
		{"Missing library - error", func(s *capacity.ModuleSpec) { s.Path = filepath.Join(t.TempDir(), "none.so") }, "cannot load"},
	} {
		s := spec
		tc.edit(&s)
		tgt, err := capacity.OpenModule(ctx, s, capacity.PoolConfig{})
		if err == nil {
			tgt.Close()
			t.Errorf("%s: no error", tc.name)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}

	tgt, err := capacity.OpenModule(ctx, spec, capacity.PoolConfig{MaxSessions: 4})
	if err != nil {
		t.Fatal(err)
	}
	res, runErr := capacity.Run(ctx, capacity.Config{
		Pacer:    vegeta.ConstantPacer{Freq: 300, Per: time.Second},
		Duration: 200 * time.Millisecond,
	}, tgt)
	if err := tgt.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if runErr != nil {
		t.Fatal(runErr)
	}
	if res.Total.OK == 0 || res.Total.Failed() != 0 {
		t.Errorf("run on the module's token: %+v %v", res.Total, res.Errors)
	}
	if h, ok := res.Pool.HSMs["ext-token"]; !ok || h.Open < 1 || h.Open > 4 {
		t.Errorf("pool %+v: want ext-token with 1..4 sessions", res.Pool)
	}
}
