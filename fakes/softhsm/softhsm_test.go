package softhsm_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/keystorm/keystorm/fakes/softhsm"
)

func openModule(t *testing.T) *softhsm.Module {
	t.Helper()
	m, err := softhsm.Open()
	if err != nil {
		t.Fatalf("open SoftHSM: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return m
}

func TestTokenIsLabelledAndTakesItsUserPIN(t *testing.T) {
	m := openModule(t)
	tok, err := m.NewToken(context.Background(), "ks-test-pin", "userpin1")
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Release()
	info, err := m.Ctx.GetTokenInfo(tok.Slot)
	if err != nil {
		t.Fatal(err)
	}
	if info.Label != "ks-test-pin" {
		t.Errorf("label = %q, want ks-test-pin", info.Label)
	}
	sh, err := m.Ctx.OpenSession(tok.Slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Ctx.CloseSession(sh)
	if err := m.Ctx.Login(sh, pkcs11.CKU_USER, "wrongpin"); !errors.Is(err, pkcs11.Error(pkcs11.CKR_PIN_INCORRECT)) {
		t.Fatalf("login with wrong PIN: %v, want CKR_PIN_INCORRECT", err)
	}
	if err := m.Ctx.Login(sh, pkcs11.CKU_USER, "userpin1"); err != nil {
		t.Fatalf("login with user PIN: %v", err)
	}
	m.Ctx.Logout(sh)
}

func TestReleasedTokenIsWipedAndReused(t *testing.T) {
	m := openModule(t)
	ctx := context.Background()
	tok, err := m.NewToken(ctx, "ks-test-a", "userpin1")
	if err != nil {
		t.Fatal(err)
	}
	sh, err := m.Ctx.OpenSession(tok.Slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Ctx.Login(sh, pkcs11.CKU_USER, "userpin1"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Ctx.CreateObject(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, []byte("secret")),
	}); err != nil {
		t.Fatal(err)
	}
	slot := tok.Slot
	if err := tok.Release(); err != nil {
		t.Fatal(err)
	}
	// Release closed the session it did not own.
	if _, err := m.Ctx.GetSessionInfo(sh); err == nil {
		t.Error("session survived Release")
	}
	next, err := m.NewToken(ctx, "ks-test-b", "userpin2")
	if err != nil {
		t.Fatal(err)
	}
	defer next.Release()
	if next.Slot != slot {
		t.Errorf("new token in slot %d, want the released slot %d", next.Slot, slot)
	}
	sh, err = m.Ctx.OpenSession(next.Slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Ctx.CloseSession(sh)
	if err := m.Ctx.Login(sh, pkcs11.CKU_USER, "userpin2"); err != nil {
		t.Fatal(err)
	}
	defer m.Ctx.Logout(sh)
	if err := m.Ctx.FindObjectsInit(sh, nil); err != nil {
		t.Fatal(err)
	}
	objs, _, err := m.Ctx.FindObjects(sh, 10)
	m.Ctx.FindObjectsFinal(sh)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 0 {
		t.Errorf("reused token holds %d objects of its previous owner", len(objs))
	}
}

func TestLastCloseRemovesTheTokenDirectoryAndOpenStartsAfresh(t *testing.T) {
	m, err := softhsm.Open()
	if err != nil {
		t.Fatal(err)
	}
	conf := os.Getenv("SOFTHSM2_CONF")
	if _, err := m.NewToken(context.Background(), "ks-test-gone", "userpin1"); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(conf); !os.IsNotExist(err) {
		t.Errorf("config %s still there after last close: %v", conf, err)
	}
	m = openModule(t)
	tok, err := m.NewToken(context.Background(), "ks-test-again", "userpin1")
	if err != nil {
		t.Fatalf("token after reopening: %v", err)
	}
	tok.Release()
}
