// Package hsm is keystorm's HSM node: one real SoftHSM token with the users,
// logins and key handling of a CloudHSM HSM.
//
// The key owner (kmsuser) is the token's PKCS#11 user: its password is the
// token's user PIN, checked by the token. The crypto officer and other crypto
// users are accounts of the node. The node enforces what SoftHSM does not:
// five consecutive failed logins lock a user out (SoftHSM answers
// CKR_PIN_INCORRECT forever), and only a crypto officer's password change
// unlocks.
//
// PKCS#11 keeps one login per token and process, and the security officer
// cannot log in while the user is. The node therefore owns the token's login:
// crypto calls hold a read lock on it, and whatever changes it (a key owner's
// login or logout, a password change through the security officer, the
// cluster key's installation) takes the write lock, logs the user out, does
// its work and logs the user back in, so no call ever sees a half-changed
// token.
package hsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/miekg/pkcs11"

	"github.com/keystorm/keystorm/fakes/softhsm"
)

var (
	ErrWrongPassword = errors.New("incorrect password")
	ErrLockedOut     = errors.New("user is locked out")
	ErrUserNotFound  = errors.New("user not found")
	ErrUserExists    = errors.New("user already exists")
	ErrUserLoggedIn  = errors.New("user is logged in")
	ErrNotLoggedIn   = errors.New("key owner is not logged in")
	ErrNotPermitted  = errors.New("operation not permitted for this user")
	ErrBadPassword   = errors.New("password does not meet the policy")
	ErrKeyNotFound   = errors.New("key not found")
	ErrDeleted       = errors.New("HSM deleted")
	ErrLoggedOut     = errors.New("login already ended")
	ErrNoWrappingKey = errors.New("HSM has no cluster wrapping key")
	ErrOwnerHasKeys  = errors.New("user owns keys")
)

// Config describes a new node.
type Config struct {
	// ID is the HSM id ("hsm-..."); the token is labelled with it.
	ID string
	// AdminPassword is the crypto officer's ("admin") password, for a node
	// of a new cluster.
	AdminPassword string
	// Users, when set, are the users of a node cloned from another HSM of
	// the cluster or from a backup (ExportUsers); AdminPassword is then
	// unused.
	Users []UserRecord
	// KeyOwner names the crypto user who owns the keys (default "kmsuser");
	// KeyOwnerPassword is its password, the token's user PIN. Empty creates
	// no key owner yet.
	KeyOwner         string
	KeyOwnerPassword string
}

// Node is one HSM. It is safe for concurrent use.
type Node struct {
	id    string
	token *softhsm.Token
	c     *pkcs11.Ctx
	owner string // the key owner's name

	// ops is the token's login: crypto calls hold it for reading, every
	// change of login state holds it for writing. Fields marked (ops) are
	// written only under ops.Lock, so readers under RLock see them settled.
	ops         sync.RWMutex
	ctl         pkcs11.SessionHandle // keeps the token's login alive (PKCS#11 logs out with the last session)
	loggedIn    bool                 // (ops) the token's user is logged in
	ownerPIN    string               // (ops) the PIN of that login, to restore it after the security officer's work
	ownerLocked bool                 // (ops)
	deleted     bool                 // (ops)
	wrapKey     pkcs11.ObjectHandle  // (ops) the cluster's public wrapping key; a public object, so its handle survives logouts
	unwrapKey   pkcs11.ObjectHandle  // (ops) the cluster's private unwrapping key, also a public object
	handles     *sync.Map            // (ops) key id -> ObjectHandle, valid for the current login only

	mu    sync.Mutex // guards users and keys, and serialises use of ctl
	users map[string]*user
	// keys indexes the ids of the token's keys. They are private objects,
	// invisible without the owner's login, and every key enters or leaves the
	// token through the node, so the node can answer "does the owner still
	// own keys?" at any time.
	keys map[string]bool
}

// New creates a node on a fresh token of module m.
func New(ctx context.Context, m *softhsm.Module, cfg Config) (*Node, error) {
	if cfg.ID == "" {
		return nil, errors.New("hsm: new node: empty ID")
	}
	if cfg.KeyOwner == "" {
		cfg.KeyOwner = "kmsuser"
	}
	users, err := newUsers(cfg)
	if err != nil {
		return nil, fmt.Errorf("hsm: new node %s: %w", cfg.ID, err)
	}
	pin := cfg.KeyOwnerPassword
	if pin == "" {
		// No key owner yet: a PIN nobody knows until CreateUser sets one.
		pin = randomSecret()
	}
	tok, err := m.NewToken(ctx, cfg.ID, pin)
	if err != nil {
		return nil, fmt.Errorf("hsm: new node %s: %w", cfg.ID, err)
	}
	ctl, err := m.Ctx.OpenSession(tok.Slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		tok.Release()
		return nil, fmt.Errorf("hsm: new node %s: control session: %w", cfg.ID, err)
	}
	return &Node{id: cfg.ID, token: tok, c: m.Ctx, owner: cfg.KeyOwner, ctl: ctl, handles: new(sync.Map), users: users, keys: map[string]bool{}}, nil
}

// newUsers builds the user table of a new node from cfg.
func newUsers(cfg Config) (map[string]*user, error) {
	users := map[string]*user{}
	if cfg.KeyOwnerPassword != "" {
		if err := checkPassword(cfg.KeyOwnerPassword); err != nil {
			return nil, fmt.Errorf("%s password: %w", cfg.KeyOwner, err)
		}
		users[cfg.KeyOwner] = &user{name: cfg.KeyOwner, role: RoleCryptoUser, owner: true}
	}
	if len(cfg.Users) == 0 {
		if err := checkPassword(cfg.AdminPassword); err != nil {
			return nil, fmt.Errorf("admin password: %w", err)
		}
		admin := &user{name: "admin", role: RoleAdmin}
		admin.setPassword(cfg.AdminPassword)
		users[admin.name] = admin
		return users, nil
	}
	for _, r := range cfg.Users {
		if r.Name == cfg.KeyOwner {
			if cfg.KeyOwnerPassword == "" {
				return nil, fmt.Errorf("user %s: the key owner's password is needed to clone it", r.Name)
			}
			continue
		}
		users[r.Name] = &user{name: r.Name, role: r.Role, salt: bytes.Clone(r.Salt), digest: bytes.Clone(r.Digest)}
	}
	return users, nil
}

// UserRecord is a user as a clone of an HSM carries it: the salted digest of
// the password, never the password itself. The key owner's password is the
// token's PIN and is not in it.
type UserRecord struct {
	Name         string
	Role         Role
	Salt, Digest []byte
}

// ExportUsers returns the node's users for cloning, sorted by name. The key
// owner is listed by name and role only.
func (n *Node) ExportUsers() []UserRecord {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]UserRecord, 0, len(n.users))
	for _, u := range n.users {
		out = append(out, UserRecord{Name: u.name, Role: u.role, Salt: bytes.Clone(u.salt), Digest: bytes.Clone(u.digest)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ID returns the HSM id.
func (n *Node) ID() string { return n.id }

// KeyOwner names the crypto user who owns the node's keys.
func (n *Node) KeyOwner() string { return n.owner }

// Delete takes the HSM out of service: every session closes, its token is
// wiped, and every later call fails with ErrDeleted. Calls in progress finish
// first. Deleting twice does nothing.
func (n *Node) Delete() error {
	n.ops.Lock()
	defer n.ops.Unlock()
	if n.deleted {
		return nil
	}
	n.deleted = true
	n.loggedIn = false
	n.handles = new(sync.Map)
	if err := n.token.Release(); err != nil {
		return fmt.Errorf("hsm: delete %s: %w", n.id, err)
	}
	return nil
}

// Deleted reports whether the HSM was deleted.
func (n *Node) Deleted() bool {
	n.ops.RLock()
	defer n.ops.RUnlock()
	return n.deleted
}

// Login is one user's login to a node, ended by Logout.
type Login struct {
	node  *Node
	user  string
	role  Role
	ended bool // guarded by node.mu
}

// User returns the name the login is for.
func (l *Login) User() string { return l.user }

// Role returns the role the login is for.
func (l *Login) Role() Role { return l.role }

// Node returns the node logged in to.
func (l *Login) Node() *Node { return l.node }

// Login logs a user in. A wrong password counts toward the lockout; a locked
// user cannot log in even with the right one. The key owner's password is
// checked by the token itself.
func (n *Node) Login(ctx context.Context, username string, role Role, password string) (*Login, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if username == n.owner {
		// The key owner's login changes the token's login state.
		n.ops.Lock()
		defer n.ops.Unlock()
	} else {
		n.ops.RLock()
		defer n.ops.RUnlock()
	}
	if n.deleted {
		return nil, ErrDeleted
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	u, ok := n.users[username]
	if !ok || u.role != role {
		return nil, fmt.Errorf("hsm %s: login %s as %s: %w", n.id, username, role, ErrUserNotFound)
	}
	if u.locked {
		return nil, fmt.Errorf("hsm %s: login %s: %w", n.id, username, ErrLockedOut)
	}
	if err := n.verify(u, password); err != nil {
		if errors.Is(err, ErrWrongPassword) && u.failure() && u.owner {
			n.ownerLocked = true
		}
		return nil, fmt.Errorf("hsm %s: login %s: %w", n.id, username, err)
	}
	u.failed = 0
	u.logins++
	return &Login{node: n, user: username, role: role}, nil
}

// verify checks a password; n.mu is held, and n.ops too for the key owner.
func (n *Node) verify(u *user, password string) error {
	if !u.owner {
		if !u.passwordIs(password) {
			return ErrWrongPassword
		}
		return nil
	}
	var err error
	if n.loggedIn {
		// The token's user is logged in already and C_Login would not look
		// at the PIN; C_SetPIN to the same PIN checks it.
		err = n.c.SetPIN(n.ctl, password, password)
	} else {
		err = n.c.Login(n.ctl, pkcs11.CKU_USER, password)
	}
	switch {
	case errors.Is(err, pkcs11.Error(pkcs11.CKR_PIN_INCORRECT)), errors.Is(err, pkcs11.Error(pkcs11.CKR_PIN_LEN_RANGE)):
		return ErrWrongPassword
	case err != nil:
		return fmt.Errorf("token login: %w", err)
	}
	n.loggedIn, n.ownerPIN = true, password
	return nil
}

// Logout ends a login. The key owner's last logout logs the token out.
func (l *Login) Logout() error {
	n := l.node
	if l.user == n.owner {
		n.ops.Lock()
		defer n.ops.Unlock()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if l.ended {
		return ErrLoggedOut
	}
	l.ended = true
	u, ok := n.users[l.user]
	if !ok {
		return nil
	}
	u.logins--
	if u.owner && u.logins == 0 && n.loggedIn && !n.deleted {
		n.logoutToken()
		n.ownerPIN = ""
	}
	return nil
}

// logoutToken logs the token's user out; n.ops is held for writing. PKCS#11
// invalidates every handle to a private object on logout.
func (n *Node) logoutToken() {
	n.c.Logout(n.ctl)
	n.loggedIn = false
	n.handles = new(sync.Map)
}

// asSO runs fn as the token's security officer; n.ops is held for writing.
// The key owner's login, if any, is suspended meanwhile and restored after.
func (n *Node) asSO(ctx context.Context, fn func(pkcs11.SessionHandle) error) error {
	was := n.loggedIn
	if was {
		n.logoutToken()
	}
	err := n.token.AsSO(ctx, fn)
	if was {
		if lerr := n.c.Login(n.ctl, pkcs11.CKU_USER, n.ownerPIN); lerr != nil {
			return errors.Join(err, fmt.Errorf("restore the key owner's login: %w", lerr))
		}
		n.loggedIn = true
	}
	return err
}

// check fails an ended login or one of another node.
func (n *Node) check(l *Login) error {
	if l == nil || l.node != n {
		return fmt.Errorf("hsm %s: %w", n.id, ErrNotLoggedIn)
	}
	if l.ended {
		return fmt.Errorf("hsm %s: %w", n.id, ErrLoggedOut)
	}
	return nil
}

// ChangePassword sets username's password. A crypto officer may set anyone's,
// which also unlocks a locked-out user; a crypto user only its own. The key
// owner's new password becomes the token's user PIN, set by the security
// officer; a login of the key owner goes on with the new PIN.
func (n *Node) ChangePassword(ctx context.Context, by *Login, username, password string) error {
	return n.userOp(by, "change password of "+username, func() error {
		if err := checkPassword(password); err != nil {
			return err
		}
		u, ok := n.users[username]
		if !ok {
			return ErrUserNotFound
		}
		if by.role != RoleAdmin && by.user != username {
			return fmt.Errorf("%s may not: %w", by.user, ErrNotPermitted)
		}
		if u.owner {
			if err := n.setOwnerPIN(ctx, password); err != nil {
				return err
			}
		} else {
			u.setPassword(password)
		}
		if by.role == RoleAdmin {
			u.failed, u.locked = 0, false
			if u.owner {
				n.ownerLocked = false
			}
		}
		return nil
	})
}

// userOp runs fn, which manages users, for a live login of this node, with
// the token's login and the user table held still; errors come back wrapped
// with the node and what was done.
func (n *Node) userOp(by *Login, what string, fn func() error) error {
	n.ops.Lock()
	defer n.ops.Unlock()
	if n.deleted {
		return fmt.Errorf("hsm %s: %s: %w", n.id, what, ErrDeleted)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.check(by); err != nil {
		return err
	}
	if err := fn(); err != nil {
		return fmt.Errorf("hsm %s: %s: %w", n.id, what, err)
	}
	return nil
}

// adminOnly refuses anyone but a crypto officer.
func adminOnly(by *Login) error {
	if by.role != RoleAdmin {
		return fmt.Errorf("%s is not a crypto officer: %w", by.user, ErrNotPermitted)
	}
	return nil
}

// setOwnerPIN sets the token's user PIN as security officer; n.ops is held
// for writing and n.mu too.
func (n *Node) setOwnerPIN(ctx context.Context, pin string) error {
	return n.asSO(ctx, func(sh pkcs11.SessionHandle) error {
		if err := n.c.InitPIN(sh, pin); err != nil {
			return err
		}
		if n.ownerPIN != "" { // a login to restore, now with the new PIN
			n.ownerPIN = pin
		}
		return nil
	})
}

// CreateUser adds a user; only a crypto officer may. Creating the key owner
// sets the token's user PIN.
func (n *Node) CreateUser(ctx context.Context, by *Login, username string, role Role, password string) error {
	return n.userOp(by, "create user "+username, func() error {
		if err := adminOnly(by); err != nil {
			return err
		}
		if err := checkPassword(password); err != nil {
			return err
		}
		if role != RoleAdmin && role != RoleCryptoUser {
			return fmt.Errorf("unknown role %q", role)
		}
		if _, ok := n.users[username]; ok {
			return ErrUserExists
		}
		u := &user{name: username, role: role}
		if username == n.owner {
			if role != RoleCryptoUser {
				return fmt.Errorf("the key owner must be a %s", RoleCryptoUser)
			}
			if err := n.setOwnerPIN(ctx, password); err != nil {
				return err
			}
			u.owner = true
		} else {
			u.setPassword(password)
		}
		n.users[username] = u
		return nil
	})
}

// DeleteUser removes a user; only a crypto officer may. A logged-in user, or
// a key owner whose keys are still in the token, cannot be deleted.
func (n *Node) DeleteUser(ctx context.Context, by *Login, username string) error {
	return n.userOp(by, "delete user "+username, func() error {
		if err := adminOnly(by); err != nil {
			return err
		}
		u, ok := n.users[username]
		if !ok {
			return ErrUserNotFound
		}
		if u.logins > 0 {
			return ErrUserLoggedIn
		}
		if u.owner {
			if k := len(n.keys); k > 0 {
				return fmt.Errorf("%w (%d)", ErrOwnerHasKeys, k)
			}
			// Nobody may log in as the deleted owner: a PIN nobody knows.
			if err := n.setOwnerPIN(ctx, randomSecret()); err != nil {
				return err
			}
			n.ownerLocked = false
		}
		delete(n.users, username)
		return nil
	})
}

// Users lists the node's users, sorted by name.
func (n *Node) Users() []UserInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]UserInfo, 0, len(n.users))
	for _, u := range n.users {
		out = append(out, u.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// User describes one user.
func (n *Node) User(name string) (UserInfo, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	u, ok := n.users[name]
	if !ok {
		return UserInfo{}, false
	}
	return u.info(), true
}
