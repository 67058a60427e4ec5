// Package aesgcm is AES-GCM inside a PKCS#11 token (CKM_AES_GCM), the one
// cipher keystorm's HSMs use: a fresh 12-byte IV per encryption, a 128-bit
// tag, and the IV carried in front of the ciphertext.
package aesgcm

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

const (
	// IVSize is the IV length: 96 bits, the size GCM is defined for.
	IVSize = 12
	// TagSize is the tag length in bytes.
	TagSize = 16
	// Overhead is what Seal adds to a plaintext.
	Overhead = IVSize + TagSize
)

// ErrAuth is returned by Open when the tag does not verify: the ciphertext,
// the additional data or the key is not the one it was sealed with. SoftHSM
// reports a failed tag check as CKR_GENERAL_ERROR; other modules as
// CKR_ENCRYPTED_DATA_INVALID.
var ErrAuth = errors.New("aesgcm: message authentication failed")

// Seal encrypts plaintext under key in session sh and returns IV || ciphertext
// || tag. The IV is random: with 96-bit random IVs a key stays safe for 2^32
// messages, far beyond any keystorm run.
func Seal(c *pkcs11.Ctx, sh pkcs11.SessionHandle, key pkcs11.ObjectHandle, plaintext, aad []byte) ([]byte, error) {
	iv := make([]byte, IVSize, IVSize+len(plaintext)+TagSize)
	if _, err := rand.Read(iv); err != nil {
		return nil, fmt.Errorf("aesgcm: IV: %w", err)
	}
	params := pkcs11.NewGCMParams(iv, aad, TagSize*8)
	defer params.Free()
	if err := c.EncryptInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, key); err != nil {
		return nil, fmt.Errorf("aesgcm: encrypt init: %w", err)
	}
	ct, err := c.Encrypt(sh, plaintext)
	if err != nil {
		return nil, fmt.Errorf("aesgcm: encrypt: %w", err)
	}
	return append(iv, ct...), nil
}

// Open decrypts what Seal returned. A tag that does not verify gives ErrAuth.
func Open(c *pkcs11.Ctx, sh pkcs11.SessionHandle, key pkcs11.ObjectHandle, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes is shorter than IV and tag", ErrAuth, len(sealed))
	}
	params := pkcs11.NewGCMParams(sealed[:IVSize], aad, TagSize*8)
	defer params.Free()
	if err := c.DecryptInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, key); err != nil {
		return nil, fmt.Errorf("aesgcm: decrypt init: %w", err)
	}
	pt, err := c.Decrypt(sh, sealed[IVSize:])
	if err != nil {
		if errors.Is(err, pkcs11.Error(pkcs11.CKR_GENERAL_ERROR)) || errors.Is(err, pkcs11.Error(pkcs11.CKR_ENCRYPTED_DATA_INVALID)) {
			return nil, fmt.Errorf("%w (%v)", ErrAuth, err)
		}
		return nil, fmt.Errorf("aesgcm: decrypt: %w", err)
	}
	return pt, nil
}
