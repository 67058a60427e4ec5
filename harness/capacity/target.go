package capacity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/keystorm/keystorm/fakes/sessionpool"
	"github.com/keystorm/keystorm/fakes/softhsm"
)

// Target is what a run works on: a session pool over tokens of one PKCS#11
// module, and the AES key to use on each of them.
type Target struct {
	// Pool lends the sessions; its HSMs' sessions belong to Module.
	Pool *sessionpool.Pool
	// Module is the initialised module the sessions and keys belong to.
	Module *pkcs11.Ctx
	// Keys holds the AES key handle to use on each HSM, by HSM id.
	Keys map[string]pkcs11.ObjectHandle
	// MaxSessions and WaitBudget are what Pool was built with, copied into
	// the result for the report (the pool does not tell); 0 if unknown.
	MaxSessions int
	WaitBudget  time.Duration

	closers []func() error // last first
}

// Close closes the pool and whatever the constructor opened, last opened
// first. It is safe to call on a Target built by hand (it then closes
// nothing but the pool).
func (t *Target) Close() error {
	var errs []error
	if t.Pool != nil {
		errs = append(errs, t.Pool.Close())
	}
	for i := len(t.closers) - 1; i >= 0; i-- {
		errs = append(errs, t.closers[i]())
	}
	t.closers = nil
	return errors.Join(errs...)
}

// PoolConfig sizes the pool a constructor builds. Zero fields take the
// sessionpool defaults.
type PoolConfig struct {
	MaxSessions int           // cap on open sessions per HSM
	WaitBudget  time.Duration // how long a call waits for a session
}

func (pc PoolConfig) pool() (*sessionpool.Pool, int, time.Duration) {
	if pc.MaxSessions <= 0 {
		pc.MaxSessions = sessionpool.DefaultMaxSessions
	}
	if pc.WaitBudget <= 0 {
		pc.WaitBudget = sessionpool.DefaultWaitBudget
	}
	return sessionpool.New(sessionpool.MaxSessions(pc.MaxSessions), sessionpool.WaitBudget(pc.WaitBudget)),
		pc.MaxSessions, pc.WaitBudget
}

// EmbeddedLabel is the token label of the i-th (from 1) embedded HSM.
func EmbeddedLabel(i int) string { return fmt.Sprintf("ks-cap-%d", i) }

// embeddedKeyLabel is the CKA_LABEL of the key generated in embedded tokens.
const embeddedKeyLabel = "ks-cap-key"

// Embedded builds a target on the process's private SoftHSM module: tokens
// fresh tokens (labelled EmbeddedLabel(1..tokens)), each with one AES-256 key
// generated in it (sensitive, not extractable), pooled as ModuleSlots. Close
// wipes the tokens and drops the module.
func Embedded(ctx context.Context, tokens int, pc PoolConfig) (_ *Target, err error) {
	if tokens < 1 {
		return nil, fmt.Errorf("embedded target: %d tokens, want at least 1", tokens)
	}
	m, err := softhsm.Open()
	if err != nil {
		return nil, fmt.Errorf("embedded target: %w", err)
	}
	pool, maxSessions, waitBudget := pc.pool()
	t := &Target{Pool: pool, Module: m.Ctx, Keys: map[string]pkcs11.ObjectHandle{},
		MaxSessions: maxSessions, WaitBudget: waitBudget}
	t.closers = append(t.closers, m.Close)
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	for i := 1; i <= tokens; i++ {
		label := EmbeddedLabel(i)
		pin := randomPIN()
		tok, err := m.NewToken(ctx, label, pin)
		if err != nil {
			return nil, fmt.Errorf("embedded target: %w", err)
		}
		t.closers = append(t.closers, tok.Release)
		anchor, err := t.anchor(ctx, tok.Slot, pin, label)
		if err != nil {
			return nil, fmt.Errorf("embedded target: %w", err)
		}
		key, err := m.Ctx.GenerateKey(anchor, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, embeddedKeyLabel),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		})
		if err != nil {
			return nil, fmt.Errorf("embedded target: generate AES key in %s: %w", label, err)
		}
		if err := t.add(&sessionpool.ModuleSlot{Name: label, Ctx: m.Ctx, Slot: tok.Slot, PIN: pin}, key); err != nil {
			return nil, fmt.Errorf("embedded target: %w", err)
		}
	}
	return t, nil
}

// ModuleSpec names an existing AES key in a token of a PKCS#11 module.
type ModuleSpec struct {
	Path       string // the module's library, e.g. /usr/lib/softhsm/libsofthsm2.so
	TokenLabel string // CKA_LABEL of the token (its CK_TOKEN_INFO label)
	PIN        string // the token's user PIN
	KeyLabel   string // CKA_LABEL of the AES secret key to use
}

// OpenModule builds a target on one token of any PKCS#11 module, such as a
// real HSM's library: the token is found by label and pooled as a
// ModuleSlot, and the AES key labelled spec.KeyLabel in it is used. Close
// finalises the module.
func OpenModule(ctx context.Context, spec ModuleSpec, pc PoolConfig) (_ *Target, err error) {
	if spec.Path == "" || spec.TokenLabel == "" || spec.KeyLabel == "" {
		return nil, errors.New("module target: path, token label and key label are required")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("module target: %w", err)
	}
	c := pkcs11.New(spec.Path)
	if c == nil {
		return nil, fmt.Errorf("module target: cannot load %s", spec.Path)
	}
	if err := c.Initialize(); err != nil {
		c.Destroy()
		return nil, fmt.Errorf("module target: initialise %s: %w", spec.Path, err)
	}
	pool, maxSessions, waitBudget := pc.pool()
	t := &Target{Pool: pool, Module: c, Keys: map[string]pkcs11.ObjectHandle{},
		MaxSessions: maxSessions, WaitBudget: waitBudget}
	t.closers = append(t.closers, func() error {
		err := c.Finalize()
		c.Destroy()
		if err != nil {
			return fmt.Errorf("finalise %s: %w", spec.Path, err)
		}
		return nil
	})
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	slot, err := findToken(c, spec.TokenLabel)
	if err != nil {
		return nil, fmt.Errorf("module target %s: %w", spec.Path, err)
	}
	anchor, err := t.anchor(ctx, slot, spec.PIN, spec.TokenLabel)
	if err != nil {
		return nil, fmt.Errorf("module target %s: %w", spec.Path, err)
	}
	key, err := findKey(c, anchor, spec.KeyLabel)
	if err != nil {
		return nil, fmt.Errorf("module target %s, token %q: %w", spec.Path, spec.TokenLabel, err)
	}
	if err := t.add(&sessionpool.ModuleSlot{Name: spec.TokenLabel, Ctx: c, Slot: slot, PIN: spec.PIN}, key); err != nil {
		return nil, fmt.Errorf("module target: %w", err)
	}
	return t, nil
}

// anchor opens a logged-in session on slot that stays open until Close. A
// token logs its user out when its last session closes, and modules such as
// SoftHSM then forget the handles of private objects; the anchor keeps the
// key handle valid however the pool opens and closes its own sessions.
func (t *Target) anchor(ctx context.Context, slot uint, pin, label string) (pkcs11.SessionHandle, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c := t.Module
	sh, err := c.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return 0, fmt.Errorf("open session on %s: %w", label, err)
	}
	if err := c.Login(sh, pkcs11.CKU_USER, pin); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		c.CloseSession(sh)
		return 0, fmt.Errorf("log in to %s: %w", label, err)
	}
	t.closers = append(t.closers, func() error {
		if err := c.CloseSession(sh); err != nil {
			return fmt.Errorf("close session on %s: %w", label, err)
		}
		return nil
	})
	return sh, nil
}

func (t *Target) add(h *sessionpool.ModuleSlot, key pkcs11.ObjectHandle) error {
	if err := t.Pool.Add(h); err != nil {
		return err
	}
	t.Keys[h.ID()] = key
	return nil
}

// findToken returns the slot of the one token labelled label.
func findToken(c *pkcs11.Ctx, label string) (uint, error) {
	slots, err := c.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("slot list: %w", err)
	}
	var found []uint
	var seen []string
	for _, s := range slots {
		info, err := c.GetTokenInfo(s)
		if err != nil {
			return 0, fmt.Errorf("token info of slot %d: %w", s, err)
		}
		// Labels are blank-padded to 32 bytes; some modules pad with NULs.
		l := strings.TrimRight(info.Label, " \x00")
		seen = append(seen, fmt.Sprintf("%q", l))
		if l == label {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("no token labelled %q (tokens: %s)", label, strings.Join(seen, ", "))
	case 1:
		return found[0], nil
	}
	return 0, fmt.Errorf("%d tokens labelled %q (slots %v): labels must be unique", len(found), label, found)
}

// findKey returns the one AES secret key labelled label.
func findKey(c *pkcs11.Ctx, sh pkcs11.SessionHandle, label string) (pkcs11.ObjectHandle, error) {
	if err := c.FindObjectsInit(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}); err != nil {
		return 0, fmt.Errorf("find key %q: %w", label, err)
	}
	objs, _, err := c.FindObjects(sh, 2)
	if ferr := c.FindObjectsFinal(sh); err == nil && ferr != nil {
		err = ferr
	}
	if err != nil {
		return 0, fmt.Errorf("find key %q: %w", label, err)
	}
	switch len(objs) {
	case 0:
		return 0, fmt.Errorf("no AES secret key labelled %q", label)
	case 1:
		return objs[0], nil
	}
	return 0, fmt.Errorf("more than one AES secret key labelled %q", label)
}

func randomPIN() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("capacity: random PIN: %v", err)) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}
