package hsm

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sort"

	"github.com/miekg/pkcs11"

	"github.com/keystorm/keystorm/fakes/aesgcm"
	"github.com/keystorm/keystorm/fakes/pkcs11x"
)

// The cluster's keys travel between its HSMs wrapped under an RSA key pair
// with OAEP (SHA-1, as SoftHSM implements it): SoftHSM unwraps only with AES
// key wrap or RSA, and p11-kit's RPC, which carries the containers stack's
// PKCS#11 calls to its HSMs, cannot forward AES key wrap.
var oaepParams = pkcs11.NewOAEPParams(pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1, pkcs11.CKZ_DATA_SPECIFIED, nil)

// WrapMechanism is the one mechanism the cluster wrapping keys allow.
func WrapMechanism() []*pkcs11.Mechanism {
	return []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_OAEP, oaepParams)}
}

// wrap wraps key h under the cluster's public wrapping key.
func (n *Node) wrap(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle) ([]byte, error) {
	return n.c.WrapKey(sh, WrapMechanism(), n.wrapKey, h)
}

// unwrap unwraps a blob of wrap with the cluster's private unwrapping key.
func (n *Node) unwrap(sh pkcs11.SessionHandle, blob []byte, template []*pkcs11.Attribute) error {
	_, err := n.c.UnwrapKey(sh, WrapMechanism(), n.unwrapKey, blob, template)
	return err
}

const wrappingKeyLabel = "keystorm-cluster-wrapping-key"

// A KeyDomain is the cluster wrapping key pair shared by HSMs that may pass
// keys to one another: the HSMs of one cluster, and those of clusters
// restored from its backups (related clusters). It enters each token once,
// put there by the security officer: the public key trusted and wrap-only,
// the private key unwrap-only, sensitive and unextractable. Backing keys
// then leave a token only wrapped under it. The domain keeps the pair in
// memory to install it in HSMs added later, as CloudHSM carries its
// cluster's keys in its backups.
type KeyDomain struct {
	id  []byte
	key *rsa.PrivateKey
}

// wrapKeyBits is the size of the cluster wrapping key pair.
const wrapKeyBits = 2048

// NewKeyDomain draws a fresh cluster wrapping key pair.
func NewKeyDomain() *KeyDomain {
	d := &KeyDomain{id: make([]byte, 8)}
	if _, err := rand.Read(d.id); err != nil {
		panic(fmt.Sprintf("hsm: key domain: %v", err))
	}
	key, err := rsa.GenerateKey(rand.Reader, wrapKeyBits)
	if err != nil {
		panic(fmt.Sprintf("hsm: key domain: %v", err))
	}
	key.Precompute()
	d.key = key
	return d
}

// ID names the domain (the wrapping keys' CKA_ID, in hex).
func (d *KeyDomain) ID() string { return hex.EncodeToString(d.id) }

// Join installs the domain's wrapping key pair in the node's token. The
// unwrap template of its private key makes every key unwrapped with it
// private, sensitive and wrappable only under a trusted key, whatever the
// caller's template asks: without it a user, or even a session with no
// login, could unwrap a blob as a readable key.
func (n *Node) Join(ctx context.Context, d *KeyDomain) error {
	n.ops.Lock()
	defer n.ops.Unlock()
	if n.deleted {
		return ErrDeleted
	}
	if n.wrapKey != 0 {
		return fmt.Errorf("hsm %s: already in a key domain", n.id)
	}
	x := n.token.Module().X
	k := d.key
	allowed := pkcs11.NewAttribute(pkcs11.CKA_ALLOWED_MECHANISMS, mechanismList(pkcs11.CKM_RSA_PKCS_OAEP))
	common := func(class uint) []*pkcs11.Attribute {
		return []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			// Only the security officer may set CKA_TRUSTED, and only on a
			// public object; both halves are public objects so that their
			// handles survive the key owner's logins.
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
			pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
			pkcs11.NewAttribute(pkcs11.CKA_MODIFIABLE, false),
			pkcs11.NewAttribute(pkcs11.CKA_DESTROYABLE, false),
			allowed,
			pkcs11.NewAttribute(pkcs11.CKA_ID, d.id),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, wrappingKeyLabel),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, k.N.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, big.NewInt(int64(k.E)).Bytes()),
		}
	}
	public := append(common(pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TRUSTED, true),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, false),
	)
	private := append(common(pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, false),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE_EXPONENT, k.D.Bytes()),
		pkcs11.NewAttribute(pkcs11.CKA_PRIME_1, k.Primes[0].Bytes()),
		pkcs11.NewAttribute(pkcs11.CKA_PRIME_2, k.Primes[1].Bytes()),
		pkcs11.NewAttribute(pkcs11.CKA_EXPONENT_1, k.Precomputed.Dp.Bytes()),
		pkcs11.NewAttribute(pkcs11.CKA_EXPONENT_2, k.Precomputed.Dq.Bytes()),
		pkcs11.NewAttribute(pkcs11.CKA_COEFFICIENT, k.Precomputed.Qinv.Bytes()),
	)
	unwrapTemplate := pkcs11x.Nested{Type: pkcs11.CKA_UNWRAP_TEMPLATE, Template: []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP_WITH_TRUSTED, true),
	}}
	var wrapKey, unwrapKey pkcs11.ObjectHandle
	err := n.asSO(ctx, func(sh pkcs11.SessionHandle) error {
		var err error
		if wrapKey, err = n.c.CreateObject(sh, public); err != nil {
			return fmt.Errorf("public key: %w", err)
		}
		if unwrapKey, err = x.CreateObject(sh, private, unwrapTemplate); err != nil {
			return fmt.Errorf("private key: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("hsm %s: install cluster wrapping keys: %w", n.id, err)
	}
	// A public object's handle stays valid across logins, and SoftHSM keeps
	// a slot's handles while any session of it is open: ctl is, for the
	// node's life.
	n.wrapKey, n.unwrapKey = wrapKey, unwrapKey
	return nil
}

// mechanismList encodes CKA_ALLOWED_MECHANISMS: an array of CK_ULONG.
func mechanismList(mechs ...uint) []byte {
	b := make([]byte, 0, 8*len(mechs))
	for _, m := range mechs {
		b = binary.NativeEndian.AppendUint64(b, uint64(m))
	}
	return b
}

// ownerOp runs fn in the control session for a login of the key owner, with
// the token's login steady (read lock) and the control session to itself.
func (n *Node) ownerOp(l *Login, what string, fn func(sh pkcs11.SessionHandle) error) error {
	n.ops.RLock()
	defer n.ops.RUnlock()
	if n.deleted {
		return fmt.Errorf("hsm %s: %s: %w", n.id, what, ErrDeleted)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.check(l); err != nil {
		return err
	}
	if l.user != n.owner {
		return fmt.Errorf("hsm %s: %s: %s owns no keys: %w", n.id, what, l.user, ErrNotPermitted)
	}
	if n.ownerLocked {
		return fmt.Errorf("hsm %s: %s: %w", n.id, what, ErrLockedOut)
	}
	if err := fn(n.ctl); err != nil {
		return fmt.Errorf("hsm %s: %s: %w", n.id, what, err)
	}
	return nil
}

// backingKeyTemplate is what every backing key is: AES-256 in the token,
// private to the owner, sensitive, and extractable only wrapped under a
// trusted key, so it can reach the cluster's other HSMs and backups and
// nowhere else.
func backingKeyTemplate(id []byte) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP_WITH_TRUSTED, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}
}

// GenerateKey makes a new AES-256 backing key in the token and returns its id
// (the CKA_ID in hex: the backingKeyId). Only the key owner may.
func (n *Node) GenerateKey(ctx context.Context, l *Login) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return "", fmt.Errorf("hsm %s: key id: %w", n.id, err)
	}
	keyID := hex.EncodeToString(id)
	tmpl := append(backingKeyTemplate(id), pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32))
	err := n.ownerOp(l, "generate key", func(sh pkcs11.SessionHandle) error {
		if _, err := n.c.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, tmpl); err != nil {
			return err
		}
		n.keys[keyID] = true
		return nil
	})
	return keyID, err
}

// WrapKey returns the key wrapped under the cluster wrapping key, for another
// HSM of the domain or a backup. The value never leaves the token in clear.
func (n *Node) WrapKey(ctx context.Context, l *Login, keyID string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var blob []byte
	err := n.ownerOp(l, "wrap key "+keyID, func(sh pkcs11.SessionHandle) error {
		if n.wrapKey == 0 {
			return ErrNoWrappingKey
		}
		h, err := n.findKey(sh, keyID)
		if err != nil {
			return err
		}
		blob, err = n.wrap(sh, h)
		return err
	})
	return blob, err
}

// UnwrapKey puts a key that WrapKey returned (on an HSM of the same domain)
// into this token under the same id. A key already there is left alone.
func (n *Node) UnwrapKey(ctx context.Context, l *Login, keyID string, blob []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return n.ownerOp(l, "unwrap key "+keyID, func(sh pkcs11.SessionHandle) error {
		if n.wrapKey == 0 {
			return ErrNoWrappingKey
		}
		return n.unwrapInto(sh, keyID, blob)
	})
}

// unwrapInto unwraps a key under the cluster wrapping key into the token,
// unless a key with its id is there already; n.mu is held.
func (n *Node) unwrapInto(sh pkcs11.SessionHandle, keyID string, blob []byte) error {
	id, err := hex.DecodeString(keyID)
	if err != nil || len(id) == 0 {
		return fmt.Errorf("bad key id %q", keyID)
	}
	if _, err := n.findKey(sh, keyID); err == nil {
		return nil
	} else if !errors.Is(err, ErrKeyNotFound) {
		return err
	}
	if err := n.unwrap(sh, blob, backingKeyTemplate(id)); err != nil {
		return err
	}
	n.keys[keyID] = true
	return nil
}

// DeleteKey destroys a key in the token; only its owner may.
func (n *Node) DeleteKey(ctx context.Context, l *Login, keyID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return n.ownerOp(l, "delete key "+keyID, func(sh pkcs11.SessionHandle) error {
		h, err := n.findKey(sh, keyID)
		if err != nil {
			return err
		}
		if err := n.c.DestroyObject(sh, h); err != nil {
			return err
		}
		n.handles.Delete(keyID)
		delete(n.keys, keyID)
		return nil
	})
}

// Keys lists the ids of the owner's keys in the token, sorted.
func (n *Node) Keys(ctx context.Context, l *Login) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ids []string
	err := n.ownerOp(l, "list keys", func(sh pkcs11.SessionHandle) error {
		var err error
		ids, err = n.findKeys(sh)
		return err
	})
	sort.Strings(ids)
	return ids, err
}

// HasKey reports whether the token holds the key, as far as the node's index
// knows; it needs no login.
func (n *Node) HasKey(keyID string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.keys[keyID]
}

// findKeys lists the ids of the private secret keys the session sees.
func (n *Node) findKeys(sh pkcs11.SessionHandle) ([]string, error) {
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
	}
	if err := n.c.FindObjectsInit(sh, tmpl); err != nil {
		return nil, err
	}
	defer n.c.FindObjectsFinal(sh)
	var ids []string
	for {
		hs, _, err := n.c.FindObjects(sh, 64)
		if err != nil {
			return nil, err
		}
		if len(hs) == 0 {
			return ids, nil
		}
		for _, h := range hs {
			attrs, err := n.c.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, nil)})
			if err != nil {
				return nil, err
			}
			ids = append(ids, hex.EncodeToString(attrs[0].Value))
		}
	}
}

// findKey returns the handle of a backing key, from the cache of the current
// login or by searching the token.
func (n *Node) findKey(sh pkcs11.SessionHandle, keyID string) (pkcs11.ObjectHandle, error) {
	if h, ok := n.handles.Load(keyID); ok {
		return h.(pkcs11.ObjectHandle), nil
	}
	id, err := hex.DecodeString(keyID)
	if err != nil || len(id) == 0 {
		return 0, fmt.Errorf("key %q: %w", keyID, ErrKeyNotFound)
	}
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}
	if err := n.c.FindObjectsInit(sh, tmpl); err != nil {
		return 0, fmt.Errorf("find key %s: %w", keyID, err)
	}
	hs, _, err := n.c.FindObjects(sh, 2)
	n.c.FindObjectsFinal(sh)
	if err != nil {
		return 0, fmt.Errorf("find key %s: %w", keyID, err)
	}
	if len(hs) == 0 {
		return 0, fmt.Errorf("key %s: %w", keyID, ErrKeyNotFound)
	}
	n.handles.Store(keyID, hs[0])
	return hs[0], nil
}

// OpenSession opens a session for crypto calls; the key owner must be logged
// in. It makes Node a sessionpool.HSM.
func (n *Node) OpenSession(ctx context.Context) (pkcs11.SessionHandle, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n.ops.RLock()
	defer n.ops.RUnlock()
	if err := n.usable(); err != nil {
		return 0, err
	}
	sh, err := n.c.OpenSession(n.token.Slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return 0, fmt.Errorf("hsm %s: open session: %w", n.id, err)
	}
	return sh, nil
}

// CloseSession closes a session OpenSession returned. A deleted node's
// sessions are gone already, and their handles are not ours to close.
func (n *Node) CloseSession(sh pkcs11.SessionHandle) error {
	n.ops.RLock()
	defer n.ops.RUnlock()
	if n.deleted {
		return nil
	}
	return n.c.CloseSession(sh)
}

// usable tells why crypto cannot run now, if it cannot; n.ops is held.
func (n *Node) usable() error {
	switch {
	case n.deleted:
		return fmt.Errorf("hsm %s: %w", n.id, ErrDeleted)
	case n.ownerLocked:
		return fmt.Errorf("hsm %s: %s: %w", n.id, n.owner, ErrLockedOut)
	case !n.loggedIn:
		return fmt.Errorf("hsm %s: %w", n.id, ErrNotLoggedIn)
	}
	return nil
}

// Encrypt seals plaintext with AES-GCM under a backing key, in a session of
// this node (from OpenSession): IV || ciphertext || tag.
func (n *Node) Encrypt(sh pkcs11.SessionHandle, keyID string, plaintext, aad []byte) ([]byte, error) {
	return n.crypt(sh, keyID, func(h pkcs11.ObjectHandle) ([]byte, error) {
		return aesgcm.Seal(n.c, sh, h, plaintext, aad)
	})
}

// Decrypt opens what Encrypt returned; a tag that does not verify gives
// aesgcm.ErrAuth.
func (n *Node) Decrypt(sh pkcs11.SessionHandle, keyID string, sealed, aad []byte) ([]byte, error) {
	return n.crypt(sh, keyID, func(h pkcs11.ObjectHandle) ([]byte, error) {
		return aesgcm.Open(n.c, sh, h, sealed, aad)
	})
}

func (n *Node) crypt(sh pkcs11.SessionHandle, keyID string, fn func(pkcs11.ObjectHandle) ([]byte, error)) ([]byte, error) {
	n.ops.RLock()
	defer n.ops.RUnlock()
	if err := n.usable(); err != nil {
		return nil, err
	}
	h, err := n.findKey(sh, keyID)
	if err != nil {
		return nil, fmt.Errorf("hsm %s: %w", n.id, err)
	}
	out, err := fn(h)
	if errors.Is(err, pkcs11.Error(pkcs11.CKR_KEY_HANDLE_INVALID)) || errors.Is(err, pkcs11.Error(pkcs11.CKR_OBJECT_HANDLE_INVALID)) {
		n.handles.Delete(keyID)
		return nil, fmt.Errorf("hsm %s: key %s: %w", n.id, keyID, ErrKeyNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("hsm %s: %w", n.id, err)
	}
	return out, nil
}

// Replicate copies a key from the HSM of login from to the HSMs of the other
// logins, wrapped under their shared cluster wrapping key. Every login must
// be the key owner's.
func Replicate(ctx context.Context, keyID string, from *Login, to ...*Login) error {
	blob, err := from.node.WrapKey(ctx, from, keyID)
	if err != nil {
		return fmt.Errorf("replicate %s: %w", keyID, err)
	}
	for _, l := range to {
		if err := l.node.UnwrapKey(ctx, l, keyID, blob); err != nil {
			return fmt.Errorf("replicate %s to %s: %w", keyID, l.node.id, err)
		}
	}
	return nil
}

func randomSecret() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("hsm: random secret: %v", err))
	}
	return hex.EncodeToString(b)
}

// WrappedKey is a backing key wrapped under the cluster wrapping key.
type WrappedKey struct {
	ID   string
	Blob []byte
}

// ExportKeys wraps every backing key of the token under the cluster wrapping
// key: the HSM's side of a backup or of cloning it. It is the service's own
// access, not a user's login: it needs the key owner's PIN, is not seen as
// the owner being logged in, ignores the lockout (as a backup would), and
// leaves the token's login as it found it.
func (n *Node) ExportKeys(ctx context.Context, ownerPIN string) ([]WrappedKey, error) {
	var out []WrappedKey
	err := n.asService(ctx, ownerPIN, "export keys", func(sh pkcs11.SessionHandle) error {
		ids, err := n.findKeys(sh)
		if err != nil {
			return err
		}
		sort.Strings(ids)
		for _, id := range ids {
			h, err := n.findKey(sh, id)
			if err != nil {
				return err
			}
			blob, err := n.wrap(sh, h)
			if err != nil {
				return fmt.Errorf("wrap %s: %w", id, err)
			}
			out = append(out, WrappedKey{ID: id, Blob: blob})
		}
		return nil
	})
	return out, err
}

// ImportKeys unwraps keys that ExportKeys returned on an HSM of the same key
// domain; keys already in the token are left alone. Like ExportKeys it is
// the service's own access.
func (n *Node) ImportKeys(ctx context.Context, ownerPIN string, keys []WrappedKey) error {
	return n.asService(ctx, ownerPIN, "import keys", func(sh pkcs11.SessionHandle) error {
		for _, k := range keys {
			if err := n.unwrapInto(sh, k.ID, k.Blob); err != nil {
				return fmt.Errorf("unwrap %s: %w", k.ID, err)
			}
		}
		return nil
	})
}

// asService runs fn in the control session with the token logged in as the
// key owner, logging it in with pin for the call if no one is; it holds the
// token's login still meanwhile.
func (n *Node) asService(ctx context.Context, pin, what string, fn func(sh pkcs11.SessionHandle) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n.ops.Lock()
	defer n.ops.Unlock()
	if n.deleted {
		return fmt.Errorf("hsm %s: %s: %w", n.id, what, ErrDeleted)
	}
	if n.wrapKey == 0 {
		return fmt.Errorf("hsm %s: %s: %w", n.id, what, ErrNoWrappingKey)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.loggedIn {
		if err := n.c.Login(n.ctl, pkcs11.CKU_USER, pin); err != nil {
			return fmt.Errorf("hsm %s: %s: log in as %s: %w", n.id, what, n.owner, err)
		}
		defer n.logoutToken()
	}
	if err := fn(n.ctl); err != nil {
		return fmt.Errorf("hsm %s: %s: %w", n.id, what, err)
	}
	return nil
}
