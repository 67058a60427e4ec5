// Package sessionpool lends PKCS#11 sessions of a set of HSMs to concurrent
// callers.
//
// Sessions are a scarce HSM resource: each HSM has a cap on open sessions, and
// opening one (and logging it in) costs far more than using it. The pool keeps
// idle logged-in sessions, opens new ones up to the cap, spreads work over its
// HSMs least-in-flight first, makes callers wait up to a budget when every
// session is busy and then fails them with ErrExhausted. An HSM that leaves
// (Remove) has its sessions dropped; calls that were using them end with
// ErrHSMGone, and no caller is left waiting on it.
//
// The pool knows nothing of SoftHSM or of keystorm's HSM nodes: anything that
// opens and closes sessions (HSM) can be pooled, so it also measures the
// session capacity of any PKCS#11 module (see ModuleSlot).
package sessionpool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/miekg/pkcs11"
)

// HSM is one HSM the pool draws sessions from. It must be safe for
// concurrent use.
type HSM interface {
	// ID names the HSM in errors and metrics.
	ID() string
	// OpenSession opens a session ready for work (logged in as needed).
	OpenSession(ctx context.Context) (pkcs11.SessionHandle, error)
	// CloseSession closes a session OpenSession returned.
	CloseSession(pkcs11.SessionHandle) error
}

// Lease is a session lent to one call of Do.
type Lease struct {
	HSM     HSM
	Session pkcs11.SessionHandle
}

// Defaults of New.
const (
	DefaultMaxSessions = 16
	DefaultWaitBudget  = 250 * time.Millisecond
)

var (
	// ErrExhausted is returned (as *ExhaustedError) when no session came free
	// within the wait budget.
	ErrExhausted = errors.New("no PKCS#11 session available")
	// ErrHSMGone marks errors of calls whose HSM left the pool.
	ErrHSMGone = errors.New("HSM left the pool")
	// ErrNoHSM is returned when the pool has no HSM to draw from.
	ErrNoHSM = errors.New("no active HSM in the pool")
	// ErrClosed is returned once the pool is closed.
	ErrClosed = errors.New("session pool closed")
)

// ExhaustedError says that every session was busy for the whole wait budget.
type ExhaustedError struct {
	Waited      time.Duration
	MaxSessions int // per HSM
	HSMs        int
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("%v: waited %v, %d HSM(s) at %d sessions each", ErrExhausted, e.Waited, e.HSMs, e.MaxSessions)
}

// Is makes errors.Is(err, ErrExhausted) hold.
func (e *ExhaustedError) Is(target error) bool { return target == ErrExhausted }

// OpError is an error that happened on one HSM: opening a session there or
// the caller's work in one of its sessions.
type OpError struct {
	Op  string
	HSM string
	Err error
}

func (e *OpError) Error() string { return fmt.Sprintf("%s on %s: %v", e.Op, e.HSM, e.Err) }
func (e *OpError) Unwrap() error { return e.Err }

// Pool lends sessions. The zero value is not usable; call New.
type Pool struct {
	waitBudget time.Duration
	metrics    *metrics

	mu          sync.Mutex
	maxSessions int
	members     []*member
	next        int // rotates ties in pick so equal HSMs share the work
	waiters     []*waiter
	closed      bool
}

type member struct {
	hsm      HSM
	id       string
	idle     []pkcs11.SessionHandle
	open     int // sessions open or being opened
	inFlight int // sessions lent
	gone     bool
}

// grant is what a waiter is handed: a session, or the right to open one.
type grant struct {
	m   *member
	sh  pkcs11.SessionHandle
	new bool
	err error
}

type waiter struct {
	ch chan grant // buffered: a grant never blocks the granter
}

// Option configures a Pool.
type Option func(*Pool)

// MaxSessions sets the cap on open sessions per HSM.
func MaxSessions(n int) Option { return func(p *Pool) { p.maxSessions = n } }

// WaitBudget sets how long a caller waits for a session before ErrExhausted.
func WaitBudget(d time.Duration) Option { return func(p *Pool) { p.waitBudget = d } }

// New returns an empty pool; add HSMs with Add.
func New(opts ...Option) *Pool {
	p := &Pool{maxSessions: DefaultMaxSessions, waitBudget: DefaultWaitBudget}
	for _, o := range opts {
		o(p)
	}
	if p.maxSessions < 1 {
		p.maxSessions = 1
	}
	if p.metrics == nil {
		p.metrics = newMetrics(nil)
	}
	return p
}

// Add puts an HSM in service. Its sessions are opened on demand.
func (p *Pool) Add(h HSM) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	for _, m := range p.members {
		if m.id == h.ID() {
			return fmt.Errorf("sessionpool: HSM %s already in the pool", h.ID())
		}
	}
	p.members = append(p.members, &member{hsm: h, id: h.ID()})
	p.serveWaiters()
	return nil
}

// Remove takes an HSM out of service: its idle sessions are closed, sessions
// in use are closed when their call returns (whose error then matches
// ErrHSMGone), and it gets no new work. Removing an unknown HSM does nothing.
func (p *Pool) Remove(id string) {
	p.mu.Lock()
	var m *member
	for i, c := range p.members {
		if c.id == id {
			m = c
			p.members = append(p.members[:i:i], p.members[i+1:]...)
			break
		}
	}
	if m == nil {
		p.mu.Unlock()
		return
	}
	m.gone = true
	idle := m.idle
	m.idle = nil
	m.open -= len(idle)
	if len(p.members) == 0 {
		p.failWaiters(ErrNoHSM)
	}
	p.mu.Unlock()
	closeAll(m.hsm, idle)
}

// SetMaxSessions changes the per-HSM cap. Sessions over a lowered cap are
// closed as they come back; callers waiting under a raised one are served.
func (p *Pool) SetMaxSessions(n int) {
	if n < 1 {
		n = 1
	}
	p.mu.Lock()
	p.maxSessions = n
	var surplus []func()
	for _, m := range p.members {
		for m.open > n && len(m.idle) > 0 {
			sh := m.idle[len(m.idle)-1]
			m.idle = m.idle[:len(m.idle)-1]
			m.open--
			h := m.hsm
			surplus = append(surplus, func() { h.CloseSession(sh) })
		}
	}
	p.serveWaiters()
	p.mu.Unlock()
	for _, f := range surplus {
		f()
	}
}

// Close fails waiting callers with ErrClosed and closes idle sessions;
// sessions in use are closed when their call returns.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.failWaiters(ErrClosed)
	type idleOf struct {
		h   HSM
		shs []pkcs11.SessionHandle
	}
	var all []idleOf
	for _, m := range p.members {
		all = append(all, idleOf{m.hsm, m.idle})
		m.open -= len(m.idle)
		m.idle = nil
	}
	p.mu.Unlock()
	for _, i := range all {
		closeAll(i.h, i.shs)
	}
	return nil
}

// Do lends a session to fn and takes it back when fn returns. op names the
// work in metrics and errors ("encrypt", "decrypt"). Errors: *ExhaustedError,
// ErrNoHSM, ErrClosed, the context's error while waiting, or an *OpError
// naming the HSM (matching ErrHSMGone when that HSM left meanwhile).
func (p *Pool) Do(ctx context.Context, op string, fn func(Lease) error) error {
	m, sh, err := p.acquire(ctx, op)
	if err != nil {
		return err
	}
	returned := false
	defer func() {
		if !returned {
			// fn panicked: the session's state is unknown, so it is closed,
			// not lent again, and the panic goes on up.
			p.release(m, sh, true)
			p.metrics.count(op, m.id, resultError)
		}
	}()
	err = fn(Lease{HSM: m.hsm, Session: sh})
	returned = true
	gone := p.release(m, sh, err != nil && brokenSession(err))
	if err != nil {
		if gone {
			err = fmt.Errorf("%w: %w", ErrHSMGone, err)
		}
		p.metrics.count(op, m.id, resultError)
		return &OpError{Op: op, HSM: m.id, Err: err}
	}
	p.metrics.count(op, m.id, resultOK)
	return nil
}

// acquire returns a member and one of its sessions, lent to the caller.
func (p *Pool) acquire(ctx context.Context, op string) (*member, pkcs11.SessionHandle, error) {
	if err := ctx.Err(); err != nil {
		p.metrics.count(op, noHSM, resultCanceled)
		return nil, 0, err
	}
	start := time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.metrics.count(op, noHSM, resultClosed)
		return nil, 0, ErrClosed
	}
	if len(p.members) == 0 {
		p.mu.Unlock()
		p.metrics.count(op, noHSM, resultNoHSM)
		return nil, 0, ErrNoHSM
	}
	if g, ok := p.take(); ok {
		p.mu.Unlock()
		p.metrics.wait.Observe(0)
		return p.use(ctx, op, g)
	}
	w := &waiter{ch: make(chan grant, 1)}
	p.waiters = append(p.waiters, w)
	maxSessions, hsms := p.maxSessions, len(p.members)
	p.mu.Unlock()

	timer := time.NewTimer(p.waitBudget)
	defer timer.Stop()
	var g grant
	select {
	case g = <-w.ch:
	case <-timer.C:
		if !p.dropWaiter(w) {
			g = <-w.ch // granted while the timer fired
			break
		}
		waited := time.Since(start)
		p.metrics.wait.Observe(waited.Seconds())
		p.metrics.exhausted.Inc()
		p.metrics.count(op, noHSM, resultExhausted)
		return nil, 0, &ExhaustedError{Waited: waited, MaxSessions: maxSessions, HSMs: hsms}
	case <-ctx.Done():
		if !p.dropWaiter(w) {
			g = <-w.ch
			if g.err == nil {
				p.giveBack(g) // we hold it but no longer want it
			}
		}
		p.metrics.wait.Observe(time.Since(start).Seconds())
		p.metrics.count(op, noHSM, resultCanceled)
		return nil, 0, ctx.Err()
	}
	p.metrics.wait.Observe(time.Since(start).Seconds())
	if g.err != nil {
		p.metrics.count(op, noHSM, resultOf(g.err))
		return nil, 0, g.err
	}
	return p.use(ctx, op, g)
}

// use turns a grant into a session, opening one if the grant is a right to.
func (p *Pool) use(ctx context.Context, op string, g grant) (*member, pkcs11.SessionHandle, error) {
	if !g.new {
		return g.m, g.sh, nil
	}
	sh, err := g.m.hsm.OpenSession(ctx)
	if err != nil {
		p.mu.Lock()
		g.m.open--
		g.m.inFlight--
		gone := g.m.gone
		p.serveWaiters()
		p.mu.Unlock()
		if gone {
			err = fmt.Errorf("%w: %w", ErrHSMGone, err)
		}
		p.metrics.count(op, g.m.id, resultError)
		return nil, 0, &OpError{Op: "open session", HSM: g.m.id, Err: err}
	}
	return g.m, sh, nil
}

// take lends an idle session, or the right to open one, from the HSM with the
// fewest calls in flight that has room; p.mu is held.
func (p *Pool) take() (grant, bool) {
	var best *member
	n := len(p.members)
	for i := 0; i < n; i++ {
		m := p.members[(p.next+i)%n]
		if len(m.idle) == 0 && m.open >= p.maxSessions {
			continue
		}
		if best == nil || m.inFlight < best.inFlight {
			best = m
		}
	}
	if best == nil {
		return grant{}, false
	}
	p.next++
	best.inFlight++
	if k := len(best.idle); k > 0 {
		sh := best.idle[k-1]
		best.idle = best.idle[:k-1]
		return grant{m: best, sh: sh}, true
	}
	best.open++
	return grant{m: best, new: true}, true
}

// release takes a session back; it reports whether its HSM has left.
func (p *Pool) release(m *member, sh pkcs11.SessionHandle, broken bool) (gone bool) {
	p.mu.Lock()
	m.inFlight--
	gone = m.gone
	if gone || broken || p.closed || m.open > p.maxSessions {
		m.open--
		p.serveWaiters()
		p.mu.Unlock()
		m.hsm.CloseSession(sh)
		return gone
	}
	if len(p.waiters) > 0 {
		// Hand the session straight to the longest waiter.
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		m.inFlight++
		w.ch <- grant{m: m, sh: sh}
		p.mu.Unlock()
		return false
	}
	m.idle = append(m.idle, sh)
	p.mu.Unlock()
	return false
}

// giveBack returns a grant its waiter no longer wants.
func (p *Pool) giveBack(g grant) {
	if g.new {
		p.mu.Lock()
		g.m.open--
		g.m.inFlight--
		p.serveWaiters()
		p.mu.Unlock()
		return
	}
	p.release(g.m, g.sh, false)
}

// serveWaiters hands out whatever room there is to waiters, oldest first;
// p.mu is held.
func (p *Pool) serveWaiters() {
	for len(p.waiters) > 0 {
		g, ok := p.take()
		if !ok {
			return
		}
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		w.ch <- g
	}
}

// failWaiters ends every wait with err; p.mu is held.
func (p *Pool) failWaiters(err error) {
	for _, w := range p.waiters {
		w.ch <- grant{err: err}
	}
	p.waiters = nil
}

// dropWaiter removes w from the queue; false means it was already granted.
func (p *Pool) dropWaiter(w *waiter) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, c := range p.waiters {
		if c == w {
			p.waiters = append(p.waiters[:i:i], p.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// brokenSession tells whether an error leaves the session unfit for reuse.
func brokenSession(err error) bool {
	var rv pkcs11.Error
	if !errors.As(err, &rv) {
		return false
	}
	switch rv {
	case pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED,
		pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_TOKEN_NOT_PRESENT,
		pkcs11.CKR_USER_NOT_LOGGED_IN, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED:
		return true
	}
	return false
}

func closeAll(h HSM, shs []pkcs11.SessionHandle) {
	for _, sh := range shs {
		// The HSM may already be gone with its sessions; nothing to do then.
		_ = h.CloseSession(sh)
	}
}

// Stats is a snapshot of the pool.
type Stats struct {
	HSMs    map[string]HSMStats
	Waiters int
}

// HSMStats counts the sessions of one HSM.
type HSMStats struct {
	Open, Idle, InUse int
}

// Stats returns a snapshot of sessions and waiters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{HSMs: make(map[string]HSMStats, len(p.members)), Waiters: len(p.waiters)}
	for _, m := range p.members {
		s.HSMs[m.id] = HSMStats{Open: m.open, Idle: len(m.idle), InUse: m.inFlight}
	}
	return s
}
