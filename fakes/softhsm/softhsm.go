// Package softhsm gives this process its own SoftHSM v2 module, with a private
// token directory, and hands out tokens in it; Dial reaches a SoftHSM that
// another machine serves over p11-kit's RPC, with the same token calls.
//
// SoftHSM reads its configuration when the module is initialised, and its
// object store and slot list live in the process, so every stack in a process
// shares one module and one token directory. Each stack's tokens are still its
// own: a token is initialised for one owner under its label and wiped when the
// owner releases it. SoftHSM cannot forget a slot while loaded (it numbers new
// slots by its token count), so a released token is wiped with C_InitToken and
// kept for the next owner rather than deleted; the whole directory goes when
// the last user of the module closes it.
package softhsm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/miekg/pkcs11"

	"github.com/keystorm/keystorm/fakes/pkcs11x"
)

// ModuleEnv names the environment variable that overrides where the SoftHSM
// library is looked for.
const ModuleEnv = "KEYSTORM_SOFTHSM_MODULE"

// candidates are the places distributions install libsofthsm2.so.
var candidates = []string{
	"/usr/lib/softhsm/libsofthsm2.so",                   // Debian, Ubuntu
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",  // multiarch layouts
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", // multiarch layouts
	"/usr/lib64/pkcs11/libsofthsm2.so",                  // Fedora, RHEL
	"/usr/local/lib/softhsm/libsofthsm2.so",             // built from source
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",          // macOS Homebrew
}

// ErrNotInstalled is returned by Open when no SoftHSM library can be found.
var ErrNotInstalled = errors.New("softhsm: libsofthsm2.so not found (install softhsm2: make deps)")

// freeLabel marks a wiped token waiting for its next owner.
const freeLabel = "keystorm-free"

// Module is the process's SoftHSM library, initialised with a private token
// directory. Obtain it with Open; it is safe for concurrent use.
type Module struct {
	// Path is the library that was loaded.
	Path string
	// Ctx is the miekg/pkcs11 handle on the library, initialised.
	Ctx *pkcs11.Ctx
	// X makes the calls miekg/pkcs11 cannot (nested templates).
	X *pkcs11x.Module

	dir    string
	soPIN  string
	remote bool // a module of Dial: another process's SoftHSM

	mu   sync.Mutex // serialises slot-list changes and guards free
	free []uint     // slots of wiped tokens
}

var shared struct {
	mu   sync.Mutex
	m    *Module
	refs int
}

// Open returns the process's module, loading and initialising it on first use.
// Each Open must be paired with a Close.
func Open() (*Module, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.m != nil {
		shared.refs++
		return shared.m, nil
	}
	m, err := load()
	if err != nil {
		return nil, err
	}
	shared.m, shared.refs = m, 1
	return m, nil
}

// Close drops one reference; the last one finalises the library and removes
// the token directory.
func (m *Module) Close() error {
	if m.remote {
		return m.closeRemote()
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.m != m || shared.refs == 0 {
		return errors.New("softhsm: module closed twice")
	}
	shared.refs--
	if shared.refs > 0 {
		return nil
	}
	shared.m = nil
	m.X.Close()
	err := m.Ctx.Finalize()
	m.Ctx.Destroy()
	if rmErr := os.RemoveAll(m.dir); rmErr != nil && err == nil {
		err = rmErr
	}
	if err != nil {
		return fmt.Errorf("softhsm: close: %w", err)
	}
	return nil
}

// LibraryPath finds libsofthsm2.so: $KEYSTORM_SOFTHSM_MODULE, else the usual
// install locations.
func LibraryPath() (string, error) {
	if p := os.Getenv(ModuleEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("softhsm: %s=%s: %w", ModuleEnv, p, err)
		}
		return p, nil
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (looked in %v; set %s to its path)", ErrNotInstalled, candidates, ModuleEnv)
}

func load() (*Module, error) {
	path, err := LibraryPath()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "keystorm-softhsm-")
	if err != nil {
		return nil, fmt.Errorf("softhsm: token directory: %w", err)
	}
	fail := func(err error) (*Module, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		return fail(fmt.Errorf("softhsm: token directory: %w", err))
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return fail(fmt.Errorf("softhsm: config: %w", err))
	}
	// SoftHSM takes its configuration from the environment when the module
	// initialises; the variable is ours for the life of the module.
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		return fail(fmt.Errorf("softhsm: SOFTHSM2_CONF: %w", err))
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return fail(fmt.Errorf("softhsm: cannot load %s", path))
	}
	if err := ctx.Initialize(); err != nil {
		ctx.Destroy()
		return fail(fmt.Errorf("softhsm: initialise %s: %w", path, err))
	}
	x, err := pkcs11x.FromCtx(ctx)
	if err != nil {
		ctx.Finalize()
		ctx.Destroy()
		return fail(err)
	}
	return &Module{Path: path, Ctx: ctx, X: x, dir: dir, soPIN: randomPIN()}, nil
}

// Token is one SoftHSM token owned by one caller until Release.
type Token struct {
	Slot  uint
	Label string

	m        *Module
	released bool // guarded by m.mu
}

// Module returns the module the token lives in.
func (t *Token) Module() *Module { return t.m }

// NewToken initialises a token labelled label (at most 32 bytes) with the
// given user PIN. The security officer's PIN is the module's own.
func (m *Module) NewToken(ctx context.Context, label, userPIN string) (*Token, error) {
	if len(label) == 0 || len(label) > 32 {
		return nil, fmt.Errorf("softhsm: token label %q: want 1..32 bytes", label)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("softhsm: new token %s: %w", label, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	slot, reused := uint(0), false
	if n := len(m.free); n > 0 {
		slot, reused = m.free[n-1], true
		m.free = m.free[:n-1]
	} else {
		var err error
		if slot, err = m.emptySlot(); err != nil {
			return nil, fmt.Errorf("softhsm: new token %s: %w", label, err)
		}
	}
	if err := m.Ctx.InitToken(slot, m.soPIN, label); err != nil {
		if reused {
			m.free = append(m.free, slot)
		}
		return nil, fmt.Errorf("softhsm: init token %s in slot %d: %w", label, slot, err)
	}
	t := &Token{Slot: slot, Label: label, m: m}
	if err := t.AsSO(ctx, func(sh pkcs11.SessionHandle) error { return m.Ctx.InitPIN(sh, userPIN) }); err != nil {
		m.wipe(slot)
		return nil, fmt.Errorf("softhsm: user PIN of %s: %w", label, err)
	}
	return t, nil
}

// emptySlot returns the slot holding SoftHSM's one uninitialised token.
func (m *Module) emptySlot() (uint, error) {
	slots, err := m.Ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("slot list: %w", err)
	}
	for _, s := range slots {
		info, err := m.Ctx.GetTokenInfo(s)
		if err != nil {
			return 0, fmt.Errorf("token info of slot %d: %w", s, err)
		}
		if info.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			return s, nil
		}
	}
	return 0, errors.New("no uninitialised token slot")
}

// AsSO runs fn in a read-write session logged in as the security officer.
// No user may be logged in to the token meanwhile (PKCS#11 keeps one login per
// token and application): the token's owner quiesces its user first.
func (t *Token) AsSO(ctx context.Context, fn func(pkcs11.SessionHandle) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := t.m.Ctx
	sh, err := c.OpenSession(t.Slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return fmt.Errorf("open SO session on %s: %w", t.Label, err)
	}
	defer c.CloseSession(sh)
	if err := c.Login(sh, pkcs11.CKU_SO, t.m.soPIN); err != nil {
		return fmt.Errorf("SO login on %s: %w", t.Label, err)
	}
	defer c.Logout(sh)
	return fn(sh)
}

// Release closes every session on the token, wipes it and keeps it for reuse.
func (t *Token) Release() error {
	m := t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.released {
		return nil
	}
	t.released = true
	return m.wipe(t.Slot)
}

// wipe destroys every object of the token in slot and puts it on the free
// list; m.mu is held.
func (m *Module) wipe(slot uint) error {
	if err := m.Ctx.CloseAllSessions(slot); err != nil {
		return fmt.Errorf("softhsm: close sessions of slot %d: %w", slot, err)
	}
	if err := m.Ctx.InitToken(slot, m.soPIN, freeLabel); err != nil {
		return fmt.Errorf("softhsm: wipe slot %d: %w", slot, err)
	}
	m.free = append(m.free, slot)
	return nil
}

func randomPIN() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("softhsm: random PIN: %v", err))
	}
	return hex.EncodeToString(b)
}
