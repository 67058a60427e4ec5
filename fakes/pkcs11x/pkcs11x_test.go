package pkcs11x_test

import (
	"context"
	"errors"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/keystorm/keystorm/fakes/pkcs11x"
	"github.com/keystorm/keystorm/fakes/softhsm"
)

func TestCreateObjectStoresTheNestedTemplate(t *testing.T) {
	m, err := softhsm.Open()
	if err != nil {
		t.Fatalf("open SoftHSM: %v", err)
	}
	defer m.Close()
	ctx := context.Background()
	tok, err := m.NewToken(ctx, "ks-pkcs11x-test", "userpin1")
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Release()
	c := m.Ctx
	sh, err := c.OpenSession(tok.Slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseSession(sh)
	if err := c.Login(sh, pkcs11.CKU_USER, "userpin1"); err != nil {
		t.Fatal(err)
	}
	defer c.Logout(sh)
	inner := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
	}
	h, err := m.X.CreateObject(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, make([]byte, 32)),
	}, pkcs11x.Nested{Type: pkcs11.CKA_UNWRAP_TEMPLATE, Template: inner})
	if err != nil {
		t.Fatalf("create with a nested template: %v", err)
	}
	// Reading it back gives the raw CK_ATTRIBUTE array: one per inner
	// attribute (type, pointer, length: 24 bytes each on LP64).
	attrs, err := c.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_UNWRAP_TEMPLATE, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(attrs[0].Value), 24*len(inner); got != want {
		t.Errorf("CKA_UNWRAP_TEMPLATE is %d bytes, want %d", got, want)
	}
	// Errors come back as pkcs11.Error, as miekg/pkcs11's do.
	_, err = m.X.CreateObject(sh+1000, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA)})
	if !errors.Is(err, pkcs11.Error(pkcs11.CKR_SESSION_HANDLE_INVALID)) {
		t.Errorf("bad session: %v, want CKR_SESSION_HANDLE_INVALID", err)
	}
}

func TestFromCtxRefusesADestroyedCtx(t *testing.T) {
	if _, err := pkcs11x.FromCtx(nil); err == nil {
		t.Error("FromCtx(nil) succeeded")
	}
	if _, err := pkcs11x.FromCtx(new(pkcs11.Ctx)); err == nil {
		t.Error("FromCtx of a Ctx with no library succeeded")
	}
}
