package sessionpool_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/keystorm/keystorm/fakes/aesgcm"
	"github.com/keystorm/keystorm/fakes/sessionpool"
	"github.com/keystorm/keystorm/fakes/softhsm"
)

// TestMain fails a passing run that leaves goroutines behind, then releases
// the benchmarks' token.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		closeBenchFixture()
		os.Exit(code)
	}))
}

const (
	userPIN = "pool-user-pin"
	// patience is how long a test waits for something that should happen at
	// once (a grant, a failure, a queue forming) before it calls it missing;
	// far above any scheduling delay, so tests do not hinge on timing.
	patience = 10 * time.Second
	// longBudget is a wait budget no test should ever reach: a call that
	// returns under it returned for another reason than the budget.
	longBudget = time.Minute
)

var tokenSeq atomic.Int64

// hsm is a fresh SoftHSM token pooled as one HSM, holding an AES-256 token
// key labelled keyLabel.
//
// Work looks the key up in the session it runs in rather than keeping a
// handle: SoftHSM invalidates every object handle of a token, token objects
// included, when the token's last session closes (and private ones when the
// user logs out), and session objects die with the session that made them.
type hsm struct {
	slot *sessionpool.ModuleSlot
}

const keyLabel = "pool-key"

func openModule(tb testing.TB) *softhsm.Module {
	tb.Helper()
	m, err := softhsm.Open()
	if err != nil {
		tb.Fatalf("open SoftHSM: %v", err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("close SoftHSM: %v", err)
		}
	})
	return m
}

// newHSM makes a token whose pool id is name, released when the test ends.
func newHSM(tb testing.TB, name string) hsm {
	tb.Helper()
	h, tok, err := makeHSM(openModule(tb), name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := tok.Release(); err != nil {
			tb.Errorf("release token %s: %v", tok.Label, err)
		}
	})
	return h
}

// makeHSM initialises a token whose pool id is name and generates its key;
// the caller releases the token. Labels are unique in the process, since
// tests share the one SoftHSM module.
func makeHSM(m *softhsm.Module, name string) (hsm, *softhsm.Token, error) {
	label := fmt.Sprintf("ks-pool-%d-%s", tokenSeq.Add(1), name)
	if len(label) > 32 {
		label = label[:32]
	}
	tok, err := m.NewToken(context.Background(), label, userPIN)
	if err != nil {
		return hsm{}, nil, err
	}
	slot := &sessionpool.ModuleSlot{Name: name, Ctx: m.Ctx, Slot: tok.Slot, PIN: userPIN}
	sh, err := slot.OpenSession(context.Background())
	if err != nil {
		tok.Release()
		return hsm{}, nil, err
	}
	defer slot.CloseSession(sh)
	_, err = m.Ctx.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, keyLabel),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
	})
	if err != nil {
		slot.CloseSession(sh)
		tok.Release()
		return hsm{}, nil, fmt.Errorf("generate key on %s: %w", label, err)
	}
	return hsm{slot: slot}, tok, nil
}

// breakSessions closes every session of the token behind the pool's back, as
// an HSM that restarts or drops its connections would.
func (h hsm) breakSessions(tb testing.TB) {
	tb.Helper()
	if err := h.slot.Ctx.CloseAllSessions(h.slot.Slot); err != nil {
		tb.Fatal(err)
	}
}

// alive tells whether a session handle is still open in the module. SoftHSM
// never reuses handles, so a closed one stays invalid.
func (h hsm) alive(sh pkcs11.SessionHandle) bool {
	_, err := h.slot.Ctx.GetSessionInfo(sh)
	return err == nil
}

// findKey looks the token key up in session sh.
func (h hsm) findKey(sh pkcs11.SessionHandle) (pkcs11.ObjectHandle, error) {
	c := h.slot.Ctx
	if err := c.FindObjectsInit(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, keyLabel),
	}); err != nil {
		return 0, fmt.Errorf("find key: %w", err)
	}
	objs, _, err := c.FindObjects(sh, 2)
	if ferr := c.FindObjectsFinal(sh); err == nil {
		err = ferr
	}
	if err != nil {
		return 0, fmt.Errorf("find key: %w", err)
	}
	if len(objs) != 1 {
		return 0, fmt.Errorf("find key: %d objects labelled %s, want 1", len(objs), keyLabel)
	}
	return objs[0], nil
}

// seal is work for a lease: AES-GCM encryption with the key of the lease's
// HSM, so it fails when the session is not fit for use.
func seal(hsms ...hsm) func(sessionpool.Lease) error {
	byID := make(map[string]hsm, len(hsms))
	for _, h := range hsms {
		byID[h.slot.Name] = h
	}
	return func(l sessionpool.Lease) error {
		h, ok := byID[l.HSM.ID()]
		if !ok {
			return fmt.Errorf("lease from unknown HSM %q", l.HSM.ID())
		}
		key, err := h.findKey(l.Session)
		if err != nil {
			return err
		}
		_, err = aesgcm.Seal(h.slot.Ctx, l.Session, key, []byte("pooled work"), []byte("aad"))
		return err
	}
}

// newPool returns a pool of hsms registered on a pedantic registry. It is
// closed before the tokens are released (cleanups run last-in first-out, and
// the tokens are made first).
func newPool(tb testing.TB, hsms []hsm, opts ...sessionpool.Option) (*sessionpool.Pool, *prometheus.Registry) {
	tb.Helper()
	p := sessionpool.New(opts...)
	tb.Cleanup(func() { p.Close() })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(p)
	for _, h := range hsms {
		if err := p.Add(h.slot); err != nil {
			tb.Fatal(err)
		}
	}
	return p, reg
}

// call is one p.Do running in its own goroutine. Its work reports the lease,
// then holds the session until let, then runs the given work (nil: succeed).
type call struct {
	leased  chan sessionpool.Lease
	release chan struct{}
	once    sync.Once
	done    chan struct{}
	err     error         // valid once done is closed
	took    time.Duration // valid once done is closed
}

func start(tb testing.TB, p *sessionpool.Pool, ctx context.Context, work func(sessionpool.Lease) error) *call {
	c := &call{leased: make(chan sessionpool.Lease, 1), release: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		t0 := time.Now()
		c.err = p.Do(ctx, "encrypt", func(l sessionpool.Lease) error {
			c.leased <- l
			<-c.release
			if work == nil {
				return nil
			}
			return work(l)
		})
		c.took = time.Since(t0)
	}()
	// Never leave the goroutine behind, even when the test stops early.
	tb.Cleanup(func() {
		c.let()
		select {
		case <-c.done:
		case <-time.After(patience):
			tb.Errorf("a call of Do did not return within %v of its release", patience)
		}
	})
	return c
}

// run is start for a call that gives its session back as soon as it has one.
func run(tb testing.TB, p *sessionpool.Pool, ctx context.Context, work func(sessionpool.Lease) error) *call {
	c := start(tb, p, ctx, work)
	c.let()
	return c
}

func (c *call) let() { c.once.Do(func() { close(c.release) }) }

// lease waits for the call to get its session.
func (c *call) lease(tb testing.TB) sessionpool.Lease {
	tb.Helper()
	select {
	case l := <-c.leased:
		c.leased <- l // keep it for later looks
		return l
	case <-c.done:
		// The lease is sent before Do returns, so it is there if it ever came.
		select {
		case l := <-c.leased:
			c.leased <- l
			return l
		default:
		}
		tb.Fatalf("call ended without a session: %v", c.err)
	case <-time.After(patience):
		tb.Fatalf("call got no session within %v", patience)
	}
	panic("unreachable")
}

// returned tells, without waiting, whether Do has returned.
func (c *call) returned() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// hasLease tells, without waiting, whether the call has got a session.
func (c *call) hasLease() bool { return len(c.leased) > 0 }

// wait waits for the call to return and gives its error.
func (c *call) wait(tb testing.TB) error {
	tb.Helper()
	select {
	case <-c.done:
		return c.err
	case <-time.After(patience):
		tb.Fatalf("call did not return within %v", patience)
	}
	panic("unreachable")
}

// finish lets the call give its session back and gives its error.
func (c *call) finish(tb testing.TB) error {
	tb.Helper()
	c.let()
	return c.wait(tb)
}

// eventually polls cond until it holds, failing the test after patience.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not so after %v", what, patience)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

func waiters(p *sessionpool.Pool, n int) func() bool {
	return func() bool { return p.Stats().Waiters == n }
}

// metric gathers reg and sums the samples of the family name whose labels
// include labels (name, value pairs): counter and gauge values, histogram
// sample counts. prometheus/testutil would do, but it needs
// github.com/kylelemons/godebug, which go.sum does not list.
func metric(tb testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatalf("gather: %v", err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := make(map[string]string)
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			default:
				tb.Fatalf("%s: unexpected metric type %v", name, mf.GetType())
			}
		}
	}
	return sum
}

func wantMetric(tb testing.TB, reg *prometheus.Registry, want float64, name string, labels ...string) {
	tb.Helper()
	if got := metric(tb, reg, name, labels...); got != want {
		tb.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

func wantStats(tb testing.TB, p *sessionpool.Pool, id string, want sessionpool.HSMStats) {
	tb.Helper()
	if got := p.Stats().HSMs[id]; got != want {
		tb.Errorf("stats of %s = %+v, want %+v", id, got, want)
	}
}

const (
	mOps       = "keystorm_pkcs11_operations_total"
	mWait      = "keystorm_pkcs11_session_wait_seconds"
	mExhausted = "keystorm_pkcs11_session_exhausted_total"
	mSessions  = "keystorm_pkcs11_sessions"
	mWaiters   = "keystorm_pkcs11_session_waiters"
)

// Not parallel: the waiters give up after a short budget, and the test must
// see all of them queued before the first one does. Parallel tests start only
// once the sequential ones are done, so this one has the CPUs to itself.
func TestCallersBeyondTheCapWaitTheBudgetThenFailExhausted(t *testing.T) {
	const budget = 150 * time.Millisecond
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("cap of %d sessions and %d callers", n, 4*n), func(t *testing.T) {
			a := newHSM(t, "a")
			p, reg := newPool(t, []hsm{a}, sessionpool.MaxSessions(n), sessionpool.WaitBudget(budget))
			ctx := context.Background()

			holders := make([]*call, n)
			for i := range holders {
				holders[i] = start(t, p, ctx, seal(a))
				holders[i].lease(t)
			}
			late := make([]*call, 3*n)
			for i := range late {
				late[i] = start(t, p, ctx, seal(a))
			}
			eventually(t, fmt.Sprintf("%d callers wait, in Stats and in the waiters gauge", 3*n), func() bool {
				return p.Stats().Waiters == 3*n && metric(t, reg, mWaiters) == float64(3*n)
			})
			wantMetric(t, reg, float64(n), mSessions, "hsm", "a", "state", "in_use")
			wantMetric(t, reg, 0, mSessions, "hsm", "a", "state", "idle")

			for i, c := range late {
				err := c.wait(t)
				var ex *sessionpool.ExhaustedError
				switch {
				case !errors.Is(err, sessionpool.ErrExhausted):
					t.Errorf("waiter %d: err = %v, want ErrExhausted", i, err)
				case !errors.As(err, &ex):
					t.Errorf("waiter %d: err = %T %v, want an *ExhaustedError", i, err, err)
				default:
					if ex.Waited < budget || c.took < budget {
						t.Errorf("waiter %d: gave up after %v (error says %v), before the budget %v", i, c.took, ex.Waited, budget)
					}
					if ex.MaxSessions != n || ex.HSMs != 1 {
						t.Errorf("waiter %d: error says %d HSM(s) at %d sessions, want 1 at %d", i, ex.HSMs, ex.MaxSessions, n)
					}
				}
				if c.hasLease() {
					t.Errorf("waiter %d ran its work although it failed", i)
				}
			}
			wantMetric(t, reg, 0, mWaiters)
			wantMetric(t, reg, float64(3*n), mExhausted)
			wantMetric(t, reg, float64(3*n), mOps, "op", "encrypt", "hsm", "", "result", "exhausted")
			wantMetric(t, reg, float64(n), mSessions, "hsm", "a", "state", "in_use")

			for i, c := range holders {
				if err := c.finish(t); err != nil {
					t.Errorf("holder %d: %v", i, err)
				}
			}
			wantMetric(t, reg, 0, mSessions, "hsm", "a", "state", "in_use")
			wantMetric(t, reg, float64(n), mSessions, "hsm", "a", "state", "idle")
			wantMetric(t, reg, float64(4*n), mWait)
			wantMetric(t, reg, float64(n), mOps, "op", "encrypt", "hsm", "a", "result", "ok")
			wantStats(t, p, "a", sessionpool.HSMStats{Open: n, Idle: n})
		})
	}
}

func TestReleasedSessionGoesStraightToTheLongestWaiter(t *testing.T) {
	t.Parallel()
	a := newHSM(t, "a")
	p, reg := newPool(t, []hsm{a}, sessionpool.MaxSessions(1), sessionpool.WaitBudget(longBudget))
	ctx := context.Background()

	first := start(t, p, ctx, seal(a))
	sh := first.lease(t).Session
	second := start(t, p, ctx, seal(a))
	eventually(t, "the second caller waits", waiters(p, 1))
	third := start(t, p, ctx, seal(a))
	eventually(t, "the third caller waits", waiters(p, 2))

	if err := first.finish(t); err != nil {
		t.Fatal(err)
	}
	if got := second.lease(t).Session; got != sh {
		t.Errorf("the second caller got session %d, want %d handed over", got, sh)
	}
	if third.hasLease() || p.Stats().Waiters != 1 {
		t.Errorf("the third caller jumped the queue (has a session: %v, waiters: %d)", third.hasLease(), p.Stats().Waiters)
	}
	if err := second.finish(t); err != nil {
		t.Fatal(err)
	}
	if got := third.lease(t).Session; got != sh {
		t.Errorf("the third caller got session %d, want %d handed over", got, sh)
	}
	if err := third.finish(t); err != nil {
		t.Fatal(err)
	}
	// Had they waited for the budget, they would have failed ErrExhausted.
	for i, c := range []*call{second, third} {
		if c.took >= longBudget {
			t.Errorf("waiter %d took %v, the whole budget", i, c.took)
		}
	}
	wantStats(t, p, "a", sessionpool.HSMStats{Open: 1, Idle: 1})
	wantMetric(t, reg, 3, mWait)
	wantMetric(t, reg, 0, mExhausted)
	wantMetric(t, reg, 3, mOps, "result", "ok")
}

func TestSequentialCallsReuseOneIdleSession(t *testing.T) {
	t.Parallel()
	a := newHSM(t, "a")
	p, reg := newPool(t, []hsm{a})
	work := seal(a)
	const calls = 50
	var first pkcs11.SessionHandle
	for i := range calls {
		var got pkcs11.SessionHandle
		if err := p.Do(context.Background(), "encrypt", func(l sessionpool.Lease) error {
			got = l.Session
			return work(l)
		}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if i == 0 {
			first = got
		} else if got != first {
			t.Fatalf("call %d used session %d, want the idle %d", i, got, first)
		}
	}
	wantStats(t, p, "a", sessionpool.HSMStats{Open: 1, Idle: 1})
	wantMetric(t, reg, calls, mOps, "op", "encrypt", "hsm", "a", "result", "ok")
	wantMetric(t, reg, 1, mSessions, "hsm", "a", "state", "idle")
	wantMetric(t, reg, calls, mWait)
}

func TestWorkGoesToTheHSMWithFewestCallsInFlight(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		before       int // callers holding sessions while only a is in the pool
		after        int // callers holding sessions once b has joined
		wantA, wantB int
	}{
		// Ties rotate, so equal HSMs share the work.
		{"four callers on two idle HSMs split two and two", 0, 4, 2, 2},
		{"six callers on two idle HSMs split three and three", 0, 6, 3, 3},
		// b has nothing in flight: it takes every new call until it catches up.
		{"an HSM that joins under load takes new calls until it catches up", 3, 3, 3, 3},
		{"then the two take turns", 2, 6, 4, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := newHSM(t, "a"), newHSM(t, "b")
			p, reg := newPool(t, []hsm{a})
			count := map[string]int{}
			holdN := func(n int) {
				calls := make([]*call, n)
				for i := range calls {
					calls[i] = start(t, p, context.Background(), seal(a, b))
				}
				for _, c := range calls {
					count[c.lease(t).HSM.ID()]++
				}
			}
			holdN(tc.before)
			if err := p.Add(b.slot); err != nil {
				t.Fatal(err)
			}
			holdN(tc.after)
			if count["a"] != tc.wantA || count["b"] != tc.wantB {
				t.Errorf("sessions held: a %d, b %d; want a %d, b %d", count["a"], count["b"], tc.wantA, tc.wantB)
			}
			wantStats(t, p, "a", sessionpool.HSMStats{Open: tc.wantA, InUse: tc.wantA})
			wantStats(t, p, "b", sessionpool.HSMStats{Open: tc.wantB, InUse: tc.wantB})
			wantMetric(t, reg, float64(tc.wantB), mSessions, "hsm", "b", "state", "in_use")
		})
	}
}

func TestHSMAddedWhileCallersWaitServesThemAtOnce(t *testing.T) {
	t.Parallel()
	a, b := newHSM(t, "a"), newHSM(t, "b")
	p, _ := newPool(t, []hsm{a}, sessionpool.MaxSessions(1), sessionpool.WaitBudget(longBudget))
	held := start(t, p, context.Background(), seal(a, b))
	held.lease(t)
	w := start(t, p, context.Background(), seal(a, b))
	eventually(t, "a caller waits", waiters(p, 1))
	if err := p.Add(b.slot); err != nil {
		t.Fatal(err)
	}
	if id := w.lease(t).HSM.ID(); id != "b" {
		t.Errorf("the waiter got a session of %s, want b", id)
	}
	for _, c := range []*call{held, w} {
		if err := c.finish(t); err != nil {
			t.Error(err)
		}
	}
	wantStats(t, p, "b", sessionpool.HSMStats{Open: 1, Idle: 1})
}

func TestAddRefusesADuplicateAndRemoveIgnoresAStranger(t *testing.T) {
	t.Parallel()
	a := newHSM(t, "a")
	p, _ := newPool(t, []hsm{a})
	if err := p.Add(a.slot); err == nil {
		t.Error("adding a twice: no error")
	}
	p.Remove("stranger")
	if err := p.Do(context.Background(), "encrypt", seal(a)); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats(); len(s.HSMs) != 1 || s.HSMs["a"] != (sessionpool.HSMStats{Open: 1, Idle: 1}) {
		t.Errorf("stats = %+v, want just a with one idle session", s)
	}
}

func TestRemovedHSMFailsTheCallsInItsSessionsWithErrHSMGone(t *testing.T) {
	t.Parallel()
	a, b := newHSM(t, "a"), newHSM(t, "b")
	p, reg := newPool(t, []hsm{a})
	ctx := context.Background()

	// a has two sessions: one idle, one held by a call.
	held, other := start(t, p, ctx, seal(a, b)), start(t, p, ctx, seal(a, b))
	heldSh, idleSh := held.lease(t).Session, other.lease(t).Session
	if err := other.finish(t); err != nil {
		t.Fatal(err)
	}
	wantStats(t, p, "a", sessionpool.HSMStats{Open: 2, Idle: 1, InUse: 1})
	if err := p.Add(b.slot); err != nil {
		t.Fatal(err)
	}

	p.Remove("a")
	if _, ok := p.Stats().HSMs["a"]; ok {
		t.Error("a is still in the stats after Remove")
	}
	if a.alive(idleSh) {
		t.Error("Remove left a's idle session open")
	}
	if !a.alive(heldSh) {
		t.Error("Remove closed a session in use; it should wait for the call to return")
	}

	a.breakSessions(t) // a goes away for real: its call fails
	err := held.finish(t)
	var opErr *sessionpool.OpError
	if !errors.As(err, &opErr) {
		t.Fatalf("held call: err = %T %v, want an *OpError", err, err)
	}
	if opErr.HSM != "a" || opErr.Op != "encrypt" {
		t.Errorf("OpError names op %q on %q, want encrypt on a", opErr.Op, opErr.HSM)
	}
	if !errors.Is(err, sessionpool.ErrHSMGone) {
		t.Errorf("held call: err = %v, want it to match ErrHSMGone", err)
	}
	if !errors.Is(err, pkcs11.Error(pkcs11.CKR_SESSION_HANDLE_INVALID)) {
		t.Errorf("held call: err = %v, want it to keep the PKCS#11 cause", err)
	}
	wantMetric(t, reg, 1, mOps, "hsm", "a", "result", "error")

	for i := range 10 {
		c := run(t, p, ctx, seal(a, b))
		if id := c.lease(t).HSM.ID(); id != "b" {
			t.Errorf("call %d after Remove went to %s, want b", i, id)
		}
		if err := c.wait(t); err != nil {
			t.Errorf("call %d after Remove: %v", i, err)
		}
	}
	wantStats(t, p, "b", sessionpool.HSMStats{Open: 1, Idle: 1})
}

func TestRemovingTheLastHSMFailsWaitersAtOnceWithErrNoHSM(t *testing.T) {
	t.Parallel()
	a := newHSM(t, "a")
	p, reg := newPool(t, []hsm{a}, sessionpool.MaxSessions(1), sessionpool.WaitBudget(longBudget))
	ctx := context.Background()

	held := start(t, p, ctx, nil)
	sh := held.lease(t).Session
	w1 := start(t, p, ctx, nil)
	w2 := start(t, p, ctx, nil)
	eventually(t, "two callers wait", waiters(p, 2))

	p.Remove("a")
	for i, w := range []*call{w1, w2} {
		if err := w.wait(t); !errors.Is(err, sessionpool.ErrNoHSM) {
			t.Errorf("waiter %d: err = %v, want ErrNoHSM", i, err)
		}
		if w.took >= longBudget {
			t.Errorf("waiter %d failed after the whole budget (%v)", i, w.took)
		}
	}
	if err := p.Do(ctx, "encrypt", func(sessionpool.Lease) error { return nil }); !errors.Is(err, sessionpool.ErrNoHSM) {
		t.Errorf("Do on an emptied pool: err = %v, want ErrNoHSM", err)
	}
	wantMetric(t, reg, 3, mOps, "result", "no_hsm")

	// The call that held a's session is not cut short; its session is closed
	// when it returns.
	if !a.alive(sh) {
		t.Error("Remove closed a session in use")
	}
	if err := held.finish(t); err != nil {
		t.Errorf("held call: %v", err)
	}
	if a.alive(sh) {
		t.Error("the session of a removed HSM stayed open after its call returned")
	}
}

func TestDoOnAPoolWithoutHSMsFailsWithErrNoHSM(t *testing.T) {
	t.Parallel()
	p, reg := newPool(t, nil)
	ran := false
	if err := p.Do(context.Background(), "decrypt", func(sessionpool.Lease) error { ran = true; return nil }); !errors.Is(err, sessionpool.ErrNoHSM) {
		t.Errorf("err = %v, want ErrNoHSM", err)
	}
	if ran {
		t.Error("work ran without an HSM")
	}
	wantMetric(t, reg, 1, mOps, "op", "decrypt", "hsm", "", "result", "no_hsm")
}

func TestSessionBrokenUnderThePoolIsDroppedNotReused(t *testing.T) {
	t.Parallel()
	a := newHSM(t, "a")
	p, reg := newPool(t, []hsm{a}, sessionpool.MaxSessions(1))
	ctx := context.Background()
	first := run(t, p, ctx, seal(a))
	broken := first.lease(t).Session
	if err := first.wait(t); err != nil {
		t.Fatal(err)
	}

	a.breakSessions(t)
	err := p.Do(ctx, "encrypt", seal(a))
	var opErr *sessionpool.OpError
	if !errors.As(err, &opErr) || opErr.HSM != "a" {
		t.Fatalf("call in a broken session: err = %T %v, want an *OpError on a", err, err)
	}
	if !errors.Is(err, pkcs11.Error(pkcs11.CKR_SESSION_HANDLE_INVALID)) {
		t.Errorf("err = %v, want CKR_SESSION_HANDLE_INVALID", err)
	}
	if errors.Is(err, sessionpool.ErrHSMGone) {
		t.Errorf("err = %v matches ErrHSMGone, but a is still in the pool", err)
	}
	wantStats(t, p, "a", sessionpool.HSMStats{})

	next := run(t, p, ctx, seal(a))
	if got := next.lease(t).Session; got == broken {
		t.Errorf("the broken session %d was lent again", got)
	}
	if err := next.wait(t); err != nil {
		t.Errorf("call after the broken one: %v", err)
	}
	wantStats(t, p, "a", sessionpool.HSMStats{Open: 1, Idle: 1})
	wantMetric(t, reg, 1, mOps, "result", "error")
	wantMetric(t, reg, 2, mOps, "result", "ok") // before and after the break
}

func TestCallerWhoseContextEndsWhileWaitingGetsItsErrorAndLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		end  func(context.CancelFunc) // ends the context once the caller waits
		want error
	}{
		{
			"canceled",
			func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			func(cancel context.CancelFunc) { cancel() },
			context.Canceled,
		},
		{
			"deadline passes long before the budget",
			func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			func(context.CancelFunc) {},
			context.DeadlineExceeded,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newHSM(t, "a")
			p, reg := newPool(t, []hsm{a}, sessionpool.MaxSessions(1), sessionpool.WaitBudget(longBudget))
			held := start(t, p, context.Background(), seal(a))
			sh := held.lease(t).Session

			ctx, cancel := tc.ctx()
			defer cancel()
			w := start(t, p, ctx, seal(a))
			// A deadline may pass before the poll sees the caller queued.
			eventually(t, "the caller waits", func() bool { return p.Stats().Waiters == 1 || w.returned() })
			tc.end(cancel)
			err := w.wait(t)
			if err != tc.want || err != ctx.Err() {
				t.Errorf("err = %v, want ctx.Err() = %v", err, tc.want)
			}
			if w.took >= longBudget || w.hasLease() {
				t.Errorf("the caller took %v and got a session: %v", w.took, w.hasLease())
			}
			if s := p.Stats(); s.Waiters != 0 {
				t.Errorf("%d waiter(s) left", s.Waiters)
			}
			wantMetric(t, reg, 1, mOps, "result", "canceled")

			// No reservation leaked: the session comes back and serves again.
			if err := held.finish(t); err != nil {
				t.Fatal(err)
			}
			later := run(t, p, context.Background(), seal(a))
			if got := later.lease(t).Session; got != sh {
				t.Errorf("later caller got session %d, want the idle %d", got, sh)
			}
			if err := later.wait(t); err != nil {
				t.Fatal(err)
			}
			wantStats(t, p, "a", sessionpool.HSMStats{Open: 1, Idle: 1})
		})
	}

	t.Run("a context already ended fails before any session is taken", func(t *testing.T) {
		t.Parallel()
		a := newHSM(t, "a")
		p, _ := newPool(t, []hsm{a})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		ran := false
		if err := p.Do(ctx, "encrypt", func(sessionpool.Lease) error { ran = true; return nil }); err != context.Canceled {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if ran {
			t.Error("work ran under a canceled context")
		}
		wantStats(t, p, "a", sessionpool.HSMStats{})
	})

	// The cancellation races a grant that would serve the caller; either may
	// win, and neither may strand the session or the right to open one.
	for _, grant := range []struct {
		name string
		give func(p *sessionpool.Pool, held *call, cancel context.CancelFunc) error
	}{
		{"a released session", func(_ *sessionpool.Pool, held *call, cancel context.CancelFunc) error {
			go cancel()
			return held.finish(t)
		}},
		// Both in this goroutine, back to back: the waiter often wakes to
		// find its context done and a grant in hand, and must give it back.
		{"a raised cap", func(p *sessionpool.Pool, _ *call, cancel context.CancelFunc) error {
			cancel()
			p.SetMaxSessions(2)
			return nil
		}},
	} {
		t.Run("a cancellation racing "+grant.name+" strands nothing", func(t *testing.T) {
			t.Parallel()
			a := newHSM(t, "a")
			p, _ := newPool(t, []hsm{a}, sessionpool.MaxSessions(1), sessionpool.WaitBudget(longBudget))
			var served, canceled int
			for i := range 200 {
				p.SetMaxSessions(1)
				held := start(t, p, context.Background(), nil)
				held.lease(t)
				ctx, cancel := context.WithCancel(context.Background())
				w := run(t, p, ctx, nil)
				eventually(t, "the caller waits", waiters(p, 1))
				if err := grant.give(p, held, cancel); err != nil {
					t.Fatal(err)
				}
				switch err := w.wait(t); {
				case err == nil:
					served++
				case errors.Is(err, context.Canceled):
					canceled++
				default:
					t.Fatalf("round %d: err = %v, want nil or context.Canceled", i, err)
				}
				cancel()
				if err := held.finish(t); err != nil {
					t.Fatal(err)
				}
				p.SetMaxSessions(1)
				if s := p.Stats(); s.Waiters != 0 || s.HSMs["a"] != (sessionpool.HSMStats{Open: 1, Idle: 1}) {
					t.Fatalf("round %d: stats = %+v, want one idle session and no waiter", i, s)
				}
			}
			t.Logf("served %d, canceled %d", served, canceled)
		})
	}
}

func TestClosedPoolFailsWaitersAndLaterCallsWithErrClosed(t *testing.T) {
	t.Parallel()
	t.Run("waiters and later calls fail, calls in flight finish", func(t *testing.T) {
		t.Parallel()
		a, b := newHSM(t, "a"), newHSM(t, "b")
		p, reg := newPool(t, []hsm{a}, sessionpool.MaxSessions(1), sessionpool.WaitBudget(longBudget))
		ctx := context.Background()
		held := start(t, p, ctx, seal(a))
		sh := held.lease(t).Session
		w1, w2 := start(t, p, ctx, nil), start(t, p, ctx, nil)
		eventually(t, "two callers wait", waiters(p, 2))

		if err := p.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		for i, w := range []*call{w1, w2} {
			if err := w.wait(t); !errors.Is(err, sessionpool.ErrClosed) {
				t.Errorf("waiter %d: err = %v, want ErrClosed", i, err)
			}
			if w.took >= longBudget {
				t.Errorf("waiter %d failed after the whole budget", i)
			}
		}
		if err := p.Do(ctx, "encrypt", seal(a)); !errors.Is(err, sessionpool.ErrClosed) {
			t.Errorf("Do after Close: err = %v, want ErrClosed", err)
		}
		if err := p.Add(b.slot); !errors.Is(err, sessionpool.ErrClosed) {
			t.Errorf("Add after Close: err = %v, want ErrClosed", err)
		}
		if err := p.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		wantMetric(t, reg, 3, mOps, "result", "closed")

		if !a.alive(sh) {
			t.Fatal("Close closed a session in use")
		}
		if err := held.finish(t); err != nil {
			t.Errorf("call in flight at Close: %v", err)
		}
		if a.alive(sh) {
			t.Error("the session stayed open after its call returned to a closed pool")
		}
		wantStats(t, p, "a", sessionpool.HSMStats{})
	})

	t.Run("idle sessions close at once", func(t *testing.T) {
		t.Parallel()
		a := newHSM(t, "a")
		p, _ := newPool(t, []hsm{a})
		c := run(t, p, context.Background(), seal(a))
		sh := c.lease(t).Session
		if err := c.wait(t); err != nil {
			t.Fatal(err)
		}
		p.Close()
		if a.alive(sh) {
			t.Error("idle session still open after Close")
		}
		wantStats(t, p, "a", sessionpool.HSMStats{})
	})
}

func TestSetMaxSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// holdAll makes n callers hold sessions of a at once.
	holdAll := func(t *testing.T, p *sessionpool.Pool, a hsm, n int) ([]*call, []pkcs11.SessionHandle) {
		calls := make([]*call, n)
		shs := make([]pkcs11.SessionHandle, n)
		for i := range calls {
			calls[i] = start(t, p, ctx, seal(a))
		}
		for i, c := range calls {
			shs[i] = c.lease(t).Session
		}
		return calls, shs
	}
	countAlive := func(a hsm, shs []pkcs11.SessionHandle) int {
		n := 0
		for _, sh := range shs {
			if a.alive(sh) {
				n++
			}
		}
		return n
	}

	t.Run("a lowered cap closes idle surplus at once", func(t *testing.T) {
		t.Parallel()
		a := newHSM(t, "a")
		p, _ := newPool(t, []hsm{a}, sessionpool.MaxSessions(3))
		calls, shs := holdAll(t, p, a, 3)
		for _, c := range calls {
			if err := c.finish(t); err != nil {
				t.Fatal(err)
			}
		}
		wantStats(t, p, "a", sessionpool.HSMStats{Open: 3, Idle: 3})
		p.SetMaxSessions(1)
		wantStats(t, p, "a", sessionpool.HSMStats{Open: 1, Idle: 1})
		if n := countAlive(a, shs); n != 1 {
			t.Errorf("%d sessions open in the module, want 1", n)
		}
	})

	t.Run("a lowered cap closes busy surplus as it comes back", func(t *testing.T) {
		t.Parallel()
		a := newHSM(t, "a")
		p, _ := newPool(t, []hsm{a}, sessionpool.MaxSessions(3), sessionpool.WaitBudget(longBudget))
		calls, shs := holdAll(t, p, a, 3)
		p.SetMaxSessions(1)
		wantStats(t, p, "a", sessionpool.HSMStats{Open: 3, InUse: 3})
		if n := countAlive(a, shs); n != 3 {
			t.Fatalf("lowering the cap closed sessions in use: %d of 3 open", n)
		}
		// A newcomer must wait: the pool is over its cap.
		w := start(t, p, ctx, seal(a))
		eventually(t, "a newcomer waits", waiters(p, 1))
		for i, c := range calls[:2] {
			if err := c.finish(t); err != nil {
				t.Fatal(err)
			}
			if a.alive(shs[i]) {
				t.Errorf("surplus session %d stayed open after it came back", i)
			}
			if w.hasLease() {
				t.Errorf("the newcomer got a session while the pool was over its cap")
			}
		}
		wantStats(t, p, "a", sessionpool.HSMStats{Open: 1, InUse: 1})
		if err := calls[2].finish(t); err != nil {
			t.Fatal(err)
		}
		if got := w.lease(t).Session; got != shs[2] {
			t.Errorf("the newcomer got session %d, want the one under the cap, %d", got, shs[2])
		}
		if err := w.finish(t); err != nil {
			t.Fatal(err)
		}
		wantStats(t, p, "a", sessionpool.HSMStats{Open: 1, Idle: 1})
	})

	t.Run("a raised cap serves waiters at once", func(t *testing.T) {
		t.Parallel()
		a := newHSM(t, "a")
		p, _ := newPool(t, []hsm{a}, sessionpool.MaxSessions(1), sessionpool.WaitBudget(longBudget))
		held := start(t, p, ctx, seal(a))
		held.lease(t)
		w1, w2 := start(t, p, ctx, seal(a)), start(t, p, ctx, seal(a))
		eventually(t, "two callers wait", waiters(p, 2))
		p.SetMaxSessions(3)
		w1.lease(t)
		w2.lease(t)
		wantStats(t, p, "a", sessionpool.HSMStats{Open: 3, InUse: 3})
		for _, c := range []*call{held, w1, w2} {
			if err := c.finish(t); err != nil {
				t.Error(err)
			}
		}
		wantStats(t, p, "a", sessionpool.HSMStats{Open: 3, Idle: 3})
	})
}

// Many callers over two HSMs while one of them keeps leaving and coming back:
// every call succeeds (b's sessions stay valid in the module), and at the end
// the pool's books match the module: every session it counts open is open,
// and every other session it ever lent is closed.
func TestPoolUnderLoadWhileAnHSMLeavesAndReturnsKeepsItsBooks(t *testing.T) {
	t.Parallel()
	a, b := newHSM(t, "a"), newHSM(t, "b")
	p, reg := newPool(t, []hsm{a, b}, sessionpool.MaxSessions(2), sessionpool.WaitBudget(longBudget))
	work := seal(a, b)

	const workers, calls = 8, 40
	var (
		mu   sync.Mutex
		seen = map[pkcs11.SessionHandle]hsm{}
	)
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				errs <- p.Do(context.Background(), "encrypt", func(l sessionpool.Lease) error {
					mu.Lock()
					if l.HSM.ID() == "a" {
						seen[l.Session] = a
					} else {
						seen[l.Session] = b
					}
					mu.Unlock()
					return work(l)
				})
			}
		}()
	}
	loadDone := make(chan struct{})
	go func() { wg.Wait(); close(loadDone) }()
	churns := 0
churn:
	for {
		select {
		case <-loadDone:
			break churn
		default:
		}
		p.Remove("b")
		runtime.Gosched()
		if err := p.Add(b.slot); err != nil {
			t.Fatal(err)
		}
		churns++
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("call under churn: %v", err)
		}
	}
	t.Logf("b left and came back %d times", churns)

	s := p.Stats()
	open := 0
	for id, h := range s.HSMs {
		if h.InUse != 0 || h.Open != h.Idle || h.Open > 2 {
			t.Errorf("%s: %+v, want only idle sessions, at most 2", id, h)
		}
		open += h.Open
	}
	if s.Waiters != 0 {
		t.Errorf("%d waiter(s) left", s.Waiters)
	}
	alive := 0
	for sh, h := range seen {
		if h.alive(sh) {
			alive++
		}
	}
	if alive != open {
		t.Errorf("%d of the %d sessions lent are open in the module; the pool counts %d", alive, len(seen), open)
	}
	wantMetric(t, reg, workers*calls, mOps, "result", "ok")
}

func TestWorkThatPanicsGivesItsSessionBackClosed(t *testing.T) {
	a := newHSM(t, "a")
	p, _ := newPool(t, []hsm{a}, sessionpool.MaxSessions(1), sessionpool.WaitBudget(time.Second))
	ctx := context.Background()
	var panicked any
	func() {
		defer func() { panicked = recover() }()
		p.Do(ctx, "encrypt", func(sessionpool.Lease) error { panic("work failed") })
	}()
	if panicked != "work failed" {
		t.Fatalf("the panic did not reach the caller: recovered %v", panicked)
	}
	// Its state unknown, the session is closed rather than lent again.
	wantStats(t, p, "a", sessionpool.HSMStats{})
	if err := p.Do(ctx, "encrypt", seal(a)); err != nil {
		t.Fatalf("call after a panicking one: %v", err)
	}
}
