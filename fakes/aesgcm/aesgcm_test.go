package aesgcm_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/keystorm/keystorm/fakes/aesgcm"
	"github.com/keystorm/keystorm/fakes/softhsm"
)

// session opens a logged-in session on a fresh token holding one AES-256 key.
func session(t *testing.T) (*pkcs11.Ctx, pkcs11.SessionHandle, pkcs11.ObjectHandle) {
	t.Helper()
	m, err := softhsm.Open()
	if err != nil {
		t.Fatalf("open SoftHSM: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	tok, err := m.NewToken(context.Background(), "ks-aesgcm-test", "userpin1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tok.Release() })
	c := m.Ctx
	sh, err := c.OpenSession(tok.Slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(sh, pkcs11.CKU_USER, "userpin1"); err != nil {
		t.Fatal(err)
	}
	key, err := c.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, sh, key
}

func TestSealOpenRoundTripAndTampering(t *testing.T) {
	c, sh, key := session(t)
	pt := []byte("attack at dawn")
	aad := []byte("context")
	sealed, err := aesgcm.Seal(c, sh, key, pt, aad)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != len(pt)+aesgcm.Overhead {
		t.Fatalf("sealed %d bytes, want %d", len(sealed), len(pt)+aesgcm.Overhead)
	}
	again, err := aesgcm.Seal(c, sh, key, pt, aad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(sealed[:aesgcm.IVSize], again[:aesgcm.IVSize]) {
		t.Error("two seals share an IV")
	}
	got, err := aesgcm.Open(c, sh, key, sealed, aad)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, pt) {
		t.Fatalf("opened %q, want %q", got, pt)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for _, tc := range []struct {
		name   string
		sealed []byte
		aad    []byte
	}{
		{"flipped tag bit", tampered, aad},
		{"other additional data", sealed, []byte("other")},
		{"truncated", sealed[:aesgcm.Overhead-1], aad},
	} {
		if _, err := aesgcm.Open(c, sh, key, tc.sealed, tc.aad); !errors.Is(err, aesgcm.ErrAuth) {
			t.Errorf("%s: err = %v, want ErrAuth", tc.name, err)
		}
	}
	// A failed decryption must not leave the session unusable.
	if _, err := aesgcm.Open(c, sh, key, sealed, aad); err != nil {
		t.Errorf("open after a failed one: %v", err)
	}
}
