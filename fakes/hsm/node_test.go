package hsm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/keystorm/keystorm/fakes/aesgcm"
	"github.com/keystorm/keystorm/fakes/hsm"
	"github.com/keystorm/keystorm/fakes/softhsm"
)

const (
	adminPW = "adminPass1"
	ownerPW = "kmsPass123"
)

var (
	nodeSeq atomic.Int64
	domains sync.Map // node id -> *hsm.KeyDomain
)

func domainOf(t *testing.T, n *hsm.Node) *hsm.KeyDomain {
	t.Helper()
	d, ok := domains.Load(n.ID())
	if !ok {
		t.Fatalf("no key domain for %s", n.ID())
	}
	return d.(*hsm.KeyDomain)
}

// cluster makes n nodes that share one key domain, each with kmsuser, and
// removes them when the test ends.
func cluster(t *testing.T, n int) (*softhsm.Module, []*hsm.Node) {
	t.Helper()
	m, err := softhsm.Open()
	if err != nil {
		t.Fatalf("open SoftHSM: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	ctx := context.Background()
	d := hsm.NewKeyDomain()
	nodes := make([]*hsm.Node, n)
	for i := range nodes {
		id := fmt.Sprintf("hsm-test%07d", nodeSeq.Add(1))
		node, err := hsm.New(ctx, m, hsm.Config{ID: id, AdminPassword: adminPW, KeyOwnerPassword: ownerPW})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Delete() })
		if err := node.Join(ctx, d); err != nil {
			t.Fatal(err)
		}
		domains.Store(id, d)
		nodes[i] = node
	}
	return m, nodes
}

func login(t *testing.T, n *hsm.Node, user string, role hsm.Role, pw string) *hsm.Login {
	t.Helper()
	l, err := n.Login(context.Background(), user, role, pw)
	if err != nil {
		t.Fatalf("login %s on %s: %v", user, n.ID(), err)
	}
	t.Cleanup(func() { l.Logout() })
	return l
}

func ownerLogin(t *testing.T, n *hsm.Node) *hsm.Login {
	return login(t, n, "kmsuser", hsm.RoleCryptoUser, ownerPW)
}

func session(t *testing.T, n *hsm.Node) pkcs11.SessionHandle {
	t.Helper()
	sh, err := n.OpenSession(context.Background())
	if err != nil {
		t.Fatalf("session on %s: %v", n.ID(), err)
	}
	t.Cleanup(func() { n.CloseSession(sh) })
	return sh
}

// findKey returns the handle of a key by id, searching as the session sees.
func findKey(t *testing.T, c *pkcs11.Ctx, sh pkcs11.SessionHandle, keyID string) pkcs11.ObjectHandle {
	t.Helper()
	var id []byte
	fmt.Sscanf(keyID, "%x", &id)
	if err := c.FindObjectsInit(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, id)}); err != nil {
		t.Fatal(err)
	}
	defer c.FindObjectsFinal(sh)
	hs, _, err := c.FindObjects(sh, 2)
	if err != nil || len(hs) != 1 {
		t.Fatalf("find key %s: %v, %d found", keyID, err, len(hs))
	}
	return hs[0]
}

func TestGCMRoundTripOnEveryHSMAfterReplication(t *testing.T) {
	_, nodes := cluster(t, 3)
	ctx := context.Background()
	logins := make([]*hsm.Login, len(nodes))
	for i, n := range nodes {
		logins[i] = ownerLogin(t, n)
	}
	keyID, err := nodes[0].GenerateKey(ctx, logins[0])
	if err != nil {
		t.Fatal(err)
	}
	if nodes[1].HasKey(keyID) {
		t.Fatal("key on the second HSM before replication")
	}
	if err := hsm.Replicate(ctx, keyID, logins[0], logins[1:]...); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		keys, err := n.Keys(ctx, logins[i])
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || keys[0] != keyID {
			t.Errorf("%s holds keys %v, want [%s]", n.ID(), keys, keyID)
		}
	}
	// Sealed on each HSM, opened on every HSM: all hold the same key value.
	for _, from := range nodes {
		pt := []byte("plaintext sealed on " + from.ID())
		sealed, err := from.Encrypt(session(t, from), keyID, pt, []byte("ctx"))
		if err != nil {
			t.Fatalf("encrypt on %s: %v", from.ID(), err)
		}
		for _, to := range nodes {
			got, err := to.Decrypt(session(t, to), keyID, sealed, []byte("ctx"))
			if err != nil {
				t.Fatalf("sealed on %s, open on %s: %v", from.ID(), to.ID(), err)
			}
			if !bytes.Equal(got, pt) {
				t.Fatalf("sealed on %s, opened on %s: %q, want %q", from.ID(), to.ID(), got, pt)
			}
		}
	}
	// And the tag check holds: another context does not open.
	sealed, _ := nodes[0].Encrypt(session(t, nodes[0]), keyID, []byte("x"), []byte("ctx"))
	if _, err := nodes[1].Decrypt(session(t, nodes[1]), keyID, sealed, []byte("other")); !errors.Is(err, aesgcm.ErrAuth) {
		t.Errorf("decrypt with other context: %v, want ErrAuth", err)
	}
}

func TestBackingKeyValueNeverLeavesTheTokenInClear(t *testing.T) {
	m, nodes := cluster(t, 1)
	n := nodes[0]
	ctx := context.Background()
	owner := ownerLogin(t, n)
	keyID, err := n.GenerateKey(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Ctx
	sh := session(t, n)
	key := findKey(t, c, sh, keyID)

	t.Run("CKA_VALUE cannot be read", func(t *testing.T) {
		_, err := c.GetAttributeValue(sh, key, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
		if !errors.Is(err, pkcs11.Error(pkcs11.CKR_ATTRIBUTE_SENSITIVE)) {
			t.Fatalf("read CKA_VALUE: %v, want CKR_ATTRIBUTE_SENSITIVE", err)
		}
	})

	t.Run("it cannot be wrapped under an untrusted key", func(t *testing.T) {
		untrusted, err := c.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
			pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
			pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, mech := range []uint{pkcs11.CKM_AES_KEY_WRAP_PAD, pkcs11.CKM_AES_KEY_WRAP} {
			_, err := c.WrapKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, untrusted, key)
			if !errors.Is(err, pkcs11.Error(pkcs11.CKR_KEY_NOT_WRAPPABLE)) {
				t.Errorf("wrap under an untrusted key (mechanism %#x): %v, want CKR_KEY_NOT_WRAPPABLE", mech, err)
			}
		}
	})

	blob, err := n.WrapKey(ctx, owner, keyID)
	if err != nil {
		t.Fatal(err)
	}
	unwrapKey := unwrappingKey(t, c, sh)
	readable := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
	}
	unwrap := func(sh pkcs11.SessionHandle) (pkcs11.ObjectHandle, error) {
		return c.UnwrapKey(sh, hsm.WrapMechanism(), unwrapKey, blob, readable)
	}

	t.Run("its blob cannot be unwrapped as a readable key by the user", func(t *testing.T) {
		h, err := unwrap(sh)
		if err != nil {
			return // refused outright: what we want
		}
		if _, err := c.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)}); err == nil {
			t.Fatal("unwrapped a readable copy of the backing key")
		}
	})

	t.Run("nor in a session with no login", func(t *testing.T) {
		owner.Logout()
		pub, err := c.OpenSession(tokenSlot(t, c, n.ID()), pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseSession(pub)
		if h, err := unwrap(pub); err == nil {
			if _, err := c.GetAttributeValue(pub, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)}); err == nil {
				t.Fatal("a session with no login unwrapped a readable copy of the backing key")
			}
		}
		// Even a template that agrees with the unwrap template makes a
		// private object, which a session with no login cannot.
		conforming := append(backingKeyAttrs(), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false))
		if _, err := c.UnwrapKey(pub, hsm.WrapMechanism(), unwrapKey, blob, conforming); err == nil {
			t.Fatal("a session with no login unwrapped the backing key")
		}
	})
}

func backingKeyAttrs() []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP_WITH_TRUSTED, true),
	}
}

// TestWithoutTheUnwrapTemplateABlobUnwrapsAsAReadableKey is the control of
// the test above: the same token calls, with a trusted wrapping key that lacks
// CKA_UNWRAP_TEMPLATE, hand a session with no login the key's value. It is
// why Join installs the template.
func TestWithoutTheUnwrapTemplateABlobUnwrapsAsAReadableKey(t *testing.T) {
	m, err := softhsm.Open()
	if err != nil {
		t.Fatalf("open SoftHSM: %v", err)
	}
	defer m.Close()
	ctx := context.Background()
	tok, err := m.NewToken(ctx, "ks-control-no-template", ownerPW)
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Release()
	c := m.Ctx
	// Opened first: SoftHSM drops a slot's object handles when its last
	// session closes, as AsSO's would.
	sh, err := c.OpenSession(tok.Slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseSession(sh)
	// The same key pair as Join installs, less the unwrap template.
	var wrapKey, unwrapKey pkcs11.ObjectHandle
	err = tok.AsSO(ctx, func(sh pkcs11.SessionHandle) error {
		var err error
		wrapKey, unwrapKey, err = c.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)},
			[]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
				pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
				pkcs11.NewAttribute(pkcs11.CKA_TRUSTED, true),
				pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
				pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 2048),
				pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
			},
			[]*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
				pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
				pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true),
				pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(sh, pkcs11.CKU_USER, ownerPW); err != nil {
		t.Fatal(err)
	}
	key, err := c.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, append(backingKeyAttrs(),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32)))
	if err != nil {
		t.Fatal(err)
	}
	blob, err := c.WrapKey(sh, hsm.WrapMechanism(), wrapKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c.Logout(sh)
	h, err := c.UnwrapKey(sh, hsm.WrapMechanism(), unwrapKey, blob, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
	})
	if err != nil {
		t.Fatalf("control: unwrap without the template was refused (%v); the protection test above proves nothing new", err)
	}
	attrs, err := c.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	if err != nil || len(attrs[0].Value) != 32 {
		t.Fatalf("control: value of the unwrapped key: %v", err)
	}
}

// wrappingKey finds the cluster wrapping key: a public object.
// unwrappingKey finds the private half of the cluster's wrapping key pair.
func unwrappingKey(t *testing.T, c *pkcs11.Ctx, sh pkcs11.SessionHandle) pkcs11.ObjectHandle {
	t.Helper()
	if err := c.FindObjectsInit(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true),
	}); err != nil {
		t.Fatal(err)
	}
	defer c.FindObjectsFinal(sh)
	hs, _, err := c.FindObjects(sh, 2)
	if err != nil || len(hs) != 1 {
		t.Fatalf("find the cluster's unwrapping key: %v, %d found", err, len(hs))
	}
	return hs[0]
}

func tokenSlot(t *testing.T, c *pkcs11.Ctx, label string) uint {
	t.Helper()
	slots, err := c.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if info, err := c.GetTokenInfo(s); err == nil && info.Label == label {
			return s
		}
	}
	t.Fatalf("no token labelled %s", label)
	return 0
}

func TestFifthBadPasswordLocksAndAdminPasswordChangeUnlocks(t *testing.T) {
	_, nodes := cluster(t, 1)
	n := nodes[0]
	ctx := context.Background()
	for i := 1; i < hsm.MaxFailedLogins; i++ {
		if _, err := n.Login(ctx, "kmsuser", hsm.RoleCryptoUser, "wrongPass"); !errors.Is(err, hsm.ErrWrongPassword) {
			t.Fatalf("bad login %d: %v, want ErrWrongPassword", i, err)
		}
		if u, _ := n.User("kmsuser"); u.LockedOut {
			t.Fatalf("locked out after %d bad logins", i)
		}
	}
	if _, err := n.Login(ctx, "kmsuser", hsm.RoleCryptoUser, "wrongPass"); !errors.Is(err, hsm.ErrWrongPassword) {
		t.Fatalf("5th bad login: %v, want ErrWrongPassword", err)
	}
	if u, _ := n.User("kmsuser"); !u.LockedOut {
		t.Fatal("not locked out after 5 bad logins")
	}
	if _, err := n.Login(ctx, "kmsuser", hsm.RoleCryptoUser, ownerPW); !errors.Is(err, hsm.ErrLockedOut) {
		t.Fatalf("right password while locked: %v, want ErrLockedOut", err)
	}
	admin := login(t, n, "admin", hsm.RoleAdmin, adminPW)
	if err := n.ChangePassword(ctx, admin, "kmsuser", "newPass456"); err != nil {
		t.Fatal(err)
	}
	if u, _ := n.User("kmsuser"); u.LockedOut {
		t.Fatal("still locked out after the admin's password change")
	}
	if _, err := n.Login(ctx, "kmsuser", hsm.RoleCryptoUser, ownerPW); !errors.Is(err, hsm.ErrWrongPassword) {
		t.Fatalf("old password after the change: %v, want ErrWrongPassword", err)
	}
	l := login(t, n, "kmsuser", hsm.RoleCryptoUser, "newPass456")
	if _, err := n.GenerateKey(ctx, l); err != nil {
		t.Fatalf("generate a key after unlocking: %v", err)
	}
}

func TestASuccessfulLoginResetsTheFailureCount(t *testing.T) {
	_, nodes := cluster(t, 1)
	n := nodes[0]
	ctx := context.Background()
	for round := 0; round < 2; round++ {
		for i := 1; i < hsm.MaxFailedLogins; i++ {
			n.Login(ctx, "kmsuser", hsm.RoleCryptoUser, "wrongPass")
		}
		l, err := n.Login(ctx, "kmsuser", hsm.RoleCryptoUser, ownerPW)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		l.Logout()
	}
	if u, _ := n.User("kmsuser"); u.LockedOut {
		t.Fatal("locked out although no 5 failures were consecutive")
	}
}

func TestLockoutWhileLoggedInStopsCryptoUntilTheAdminResetsThePassword(t *testing.T) {
	_, nodes := cluster(t, 1)
	n := nodes[0]
	ctx := context.Background()
	kms := ownerLogin(t, n)
	keyID, err := n.GenerateKey(ctx, kms)
	if err != nil {
		t.Fatal(err)
	}
	sh := session(t, n)
	if _, err := n.Encrypt(sh, keyID, []byte("before"), nil); err != nil {
		t.Fatal(err)
	}
	// Someone else tries kmsuser's password while it is logged in: the token
	// still checks it.
	if l, err := n.Login(ctx, "kmsuser", hsm.RoleCryptoUser, ownerPW); err != nil {
		t.Fatalf("second login with the right password: %v", err)
	} else {
		l.Logout()
	}
	for i := 0; i < hsm.MaxFailedLogins; i++ {
		if _, err := n.Login(ctx, "kmsuser", hsm.RoleCryptoUser, "wrongPass"); !errors.Is(err, hsm.ErrWrongPassword) {
			t.Fatalf("bad login %d: %v", i+1, err)
		}
	}
	if _, err := n.Encrypt(sh, keyID, []byte("during"), nil); !errors.Is(err, hsm.ErrLockedOut) {
		t.Fatalf("encrypt while kmsuser is locked out: %v, want ErrLockedOut", err)
	}
	admin := login(t, n, "admin", hsm.RoleAdmin, adminPW)
	if err := n.ChangePassword(ctx, admin, "kmsuser", "newPass456"); err != nil {
		t.Fatal(err)
	}
	// The password changed under the security officer; the logged-in session
	// goes on, its login restored with the new PIN.
	if _, err := n.Encrypt(sh, keyID, []byte("after"), nil); err != nil {
		t.Fatalf("encrypt after the reset: %v", err)
	}
}

func TestOnlyTheAdminOrTheUserChangesAPassword(t *testing.T) {
	_, nodes := cluster(t, 1)
	n := nodes[0]
	ctx := context.Background()
	admin := login(t, n, "admin", hsm.RoleAdmin, adminPW)
	if err := n.CreateUser(ctx, admin, "alice", hsm.RoleCryptoUser, "alicePass1"); err != nil {
		t.Fatal(err)
	}
	alice := login(t, n, "alice", hsm.RoleCryptoUser, "alicePass1")
	if err := n.ChangePassword(ctx, alice, "kmsuser", "stolenPass1"); !errors.Is(err, hsm.ErrNotPermitted) {
		t.Errorf("a crypto user changing kmsuser's password: %v, want ErrNotPermitted", err)
	}
	if err := n.ChangePassword(ctx, alice, "alice", "short"); !errors.Is(err, hsm.ErrBadPassword) {
		t.Errorf("too short a password: %v, want ErrBadPassword", err)
	}
	if err := n.ChangePassword(ctx, alice, "alice", "alicePass2"); err != nil {
		t.Errorf("changing one's own password: %v", err)
	}
	if _, err := n.Login(ctx, "alice", hsm.RoleCryptoUser, "alicePass1"); !errors.Is(err, hsm.ErrWrongPassword) {
		t.Errorf("old password: %v, want ErrWrongPassword", err)
	}
	if _, err := n.Login(ctx, "alice", hsm.RoleAdmin, "alicePass2"); !errors.Is(err, hsm.ErrUserNotFound) {
		t.Errorf("login in the wrong role: %v, want ErrUserNotFound", err)
	}
	if _, err := n.GenerateKey(ctx, alice); !errors.Is(err, hsm.ErrNotPermitted) {
		t.Errorf("a crypto user who is not the key owner generating a key: %v, want ErrNotPermitted", err)
	}
}

func TestKeyOwnerWithKeysCannotBeDeletedAndAMissingOneCannotLogIn(t *testing.T) {
	_, nodes := cluster(t, 1)
	n := nodes[0]
	ctx := context.Background()
	admin := login(t, n, "admin", hsm.RoleAdmin, adminPW)
	owner, err := n.Login(ctx, "kmsuser", hsm.RoleCryptoUser, ownerPW)
	if err != nil {
		t.Fatal(err)
	}
	keyID, err := n.GenerateKey(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.DeleteUser(ctx, admin, "kmsuser"); !errors.Is(err, hsm.ErrUserLoggedIn) {
		t.Fatalf("delete a logged-in user: %v, want ErrUserLoggedIn", err)
	}
	owner.Logout()
	if err := n.DeleteUser(ctx, admin, "kmsuser"); !errors.Is(err, hsm.ErrOwnerHasKeys) {
		t.Fatalf("delete the owner of a key: %v, want ErrOwnerHasKeys", err)
	}
	owner = login(t, n, "kmsuser", hsm.RoleCryptoUser, ownerPW)
	if err := n.DeleteKey(ctx, owner, keyID); err != nil {
		t.Fatal(err)
	}
	owner.Logout()
	if err := n.DeleteUser(ctx, admin, "kmsuser"); err != nil {
		t.Fatalf("delete an owner with no keys: %v", err)
	}
	if _, err := n.Login(ctx, "kmsuser", hsm.RoleCryptoUser, ownerPW); !errors.Is(err, hsm.ErrUserNotFound) {
		t.Fatalf("login of the deleted kmsuser: %v, want ErrUserNotFound", err)
	}
	if err := n.CreateUser(ctx, admin, "kmsuser", hsm.RoleCryptoUser, "againPass1"); err != nil {
		t.Fatal(err)
	}
	login(t, n, "kmsuser", hsm.RoleCryptoUser, "againPass1")
}

func TestDeletedHSMLeavesServiceAndItsTokenIsWiped(t *testing.T) {
	m, nodes := cluster(t, 1)
	n := nodes[0]
	ctx := context.Background()
	owner := ownerLogin(t, n)
	keyID, err := n.GenerateKey(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	sh := session(t, n)
	slot := tokenSlot(t, m.Ctx, n.ID())
	if err := n.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Encrypt(sh, keyID, []byte("x"), nil); !errors.Is(err, hsm.ErrDeleted) {
		t.Errorf("encrypt on a deleted HSM: %v, want ErrDeleted", err)
	}
	if _, err := n.OpenSession(ctx); !errors.Is(err, hsm.ErrDeleted) {
		t.Errorf("open session on a deleted HSM: %v, want ErrDeleted", err)
	}
	if _, err := n.Login(ctx, "kmsuser", hsm.RoleCryptoUser, ownerPW); !errors.Is(err, hsm.ErrDeleted) {
		t.Errorf("login on a deleted HSM: %v, want ErrDeleted", err)
	}
	if _, err := m.Ctx.GetSessionInfo(sh); err == nil {
		t.Error("a session of the deleted HSM is still open")
	}
	info, err := m.Ctx.GetTokenInfo(slot)
	if err != nil {
		t.Fatal(err)
	}
	if info.Label == n.ID() {
		t.Error("the deleted HSM's token still carries its label")
	}
}

func TestACloneHasTheUsersAndKeysOfItsSource(t *testing.T) {
	m, nodes := cluster(t, 1)
	src := nodes[0]
	ctx := context.Background()
	admin := login(t, src, "admin", hsm.RoleAdmin, adminPW)
	if err := src.CreateUser(ctx, admin, "alice", hsm.RoleCryptoUser, "alicePass1"); err != nil {
		t.Fatal(err)
	}
	owner, err := src.Login(ctx, "kmsuser", hsm.RoleCryptoUser, ownerPW)
	if err != nil {
		t.Fatal(err)
	}
	keyID, err := src.GenerateKey(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := src.Encrypt(session(t, src), keyID, []byte("made before the clone"), nil)
	if err != nil {
		t.Fatal(err)
	}
	owner.Logout()

	keys, err := src.ExportKeys(ctx, ownerPW)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].ID != keyID {
		t.Fatalf("exported %+v, want the one key %s", keys, keyID)
	}
	if u, _ := src.User("kmsuser"); u.LoggedIn {
		t.Error("the export left kmsuser logged in")
	}
	if _, err := src.ExportKeys(ctx, "wrongPass"); err == nil {
		t.Error("export with a wrong PIN succeeded")
	}

	clone, err := hsm.New(ctx, m, hsm.Config{ID: fmt.Sprintf("hsm-clone%06d", nodeSeq.Add(1)), Users: src.ExportUsers(), KeyOwnerPassword: ownerPW})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { clone.Delete() })
	if err := clone.ImportKeys(ctx, ownerPW, keys); !errors.Is(err, hsm.ErrNoWrappingKey) {
		t.Fatalf("import before joining the domain: %v, want ErrNoWrappingKey", err)
	}
	if err := clone.Join(ctx, domainOf(t, src)); err != nil {
		t.Fatal(err)
	}
	if err := clone.ImportKeys(ctx, ownerPW, keys); err != nil {
		t.Fatal(err)
	}
	login(t, clone, "admin", hsm.RoleAdmin, adminPW)
	login(t, clone, "alice", hsm.RoleCryptoUser, "alicePass1")
	ownerLogin(t, clone)
	got, err := clone.Decrypt(session(t, clone), keyID, sealed, nil)
	if err != nil || string(got) != "made before the clone" {
		t.Fatalf("decrypt on the clone: %q, %v", got, err)
	}
}
