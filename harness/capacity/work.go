package capacity

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"

	"github.com/miekg/pkcs11"

	"github.com/keystorm/keystorm/fakes/aesgcm"
	"github.com/keystorm/keystorm/fakes/sessionpool"
)

// ErrWrongPlaintext is the error of a Decrypt that opened (the tag verified)
// but did not give back the plaintext that was sealed: an integrity failure
// of the HSM, never an overload symptom.
var ErrWrongPlaintext = errors.New("wrong plaintext")

// samplesPerHSM is how many ciphertexts setup seals on each HSM; decrypts
// take them in turn, so not every decrypt opens the same bytes.
const samplesPerHSM = 8

// aad binds the run's ciphertexts to it; a ciphertext from elsewhere will
// not open by accident.
var aad = []byte("keystorm capacity")

// setupOp names the setup calls in the pool's metrics.
const setupOp = "capacity-setup"

// sample is a plaintext and what one HSM sealed it to.
type sample struct {
	plain, sealed []byte
}

// work is the per-arrival work of a Driver, shared by its workers; all of it
// is read-only once built, but for the sample counter.
type work struct {
	pool    *sessionpool.Pool
	module  *pkcs11.Ctx
	keys    map[string]pkcs11.ObjectHandle
	plain   []byte              // what Encrypt seals
	samples map[string][]sample // what Decrypt opens, by HSM id
	next    atomic.Uint64       // turns the samples
}

// newWork seals samplesPerHSM ciphertexts on every HSM of the pool. The pool
// chooses the HSM of each call, so setup calls it until every HSM has its
// share; with nothing else in flight the pool takes its HSMs in turn, so
// this takes samplesPerHSM calls per HSM.
func newWork(ctx context.Context, tgt *Target, payload int) (*work, error) {
	w := &work{
		pool:    tgt.Pool,
		module:  tgt.Module,
		keys:    tgt.Keys,
		plain:   randomBytes(payload),
		samples: map[string][]sample{},
	}
	hsms := tgt.Pool.Stats().HSMs
	if len(hsms) == 0 {
		return nil, sessionpool.ErrNoHSM
	}
	var ids []string
	for id := range hsms {
		if _, ok := tgt.Keys[id]; !ok {
			return nil, fmt.Errorf("HSM %s has no key in the target", id)
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	need := len(ids) * samplesPerHSM
	sealed := 0
	for try := 0; sealed < need && try < 4*need; try++ {
		err := tgt.Pool.Do(ctx, setupOp, func(l sessionpool.Lease) error {
			id := l.HSM.ID()
			if len(w.samples[id]) >= samplesPerHSM {
				return nil
			}
			key, ok := w.keys[id]
			if !ok {
				return fmt.Errorf("no key for HSM %s", id)
			}
			pt := randomBytes(payload)
			ct, err := aesgcm.Seal(w.module, l.Session, key, pt, aad)
			if err != nil {
				return err
			}
			// Open it once here: a key that cannot decrypt would otherwise
			// show up only as a run full of errors.
			back, err := aesgcm.Open(w.module, l.Session, key, ct, aad)
			if err != nil {
				return err
			}
			if !bytes.Equal(back, pt) {
				return ErrWrongPlaintext
			}
			w.samples[id] = append(w.samples[id], sample{plain: pt, sealed: ct})
			sealed++
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("seal a sample: %w", err)
		}
	}
	for _, id := range ids {
		if n := len(w.samples[id]); n < samplesPerHSM {
			return nil, fmt.Errorf("HSM %s: sealed %d of %d samples in %d calls (did the pool not turn to it?)", id, n, samplesPerHSM, 4*need)
		}
	}
	return w, nil
}

// do runs one op in a pooled session, counting the session in inUse (by HSM
// id; HSMs not in it go uncounted) while the op holds it. Errors come
// wrapped by the pool with the op and HSM (*sessionpool.OpError) or are the
// pool's own.
func (w *work) do(ctx context.Context, op Op, inUse map[string]*gauge) error {
	return w.pool.Do(ctx, string(op), func(l sessionpool.Lease) error {
		id := l.HSM.ID()
		if g := inUse[id]; g != nil {
			g.inc()
			defer g.dec()
		}
		key, ok := w.keys[id]
		if !ok {
			return fmt.Errorf("no key for HSM %s", id)
		}
		switch op {
		case Encrypt:
			ct, err := aesgcm.Seal(w.module, l.Session, key, w.plain, aad)
			if err != nil {
				return err
			}
			if len(ct) != len(w.plain)+aesgcm.Overhead {
				return fmt.Errorf("sealed %d bytes to %d, want %d", len(w.plain), len(ct), len(w.plain)+aesgcm.Overhead)
			}
			return nil
		case Decrypt:
			ss := w.samples[id]
			if len(ss) == 0 {
				return fmt.Errorf("no ciphertext sealed on HSM %s (it joined the pool after setup)", id)
			}
			s := ss[w.next.Add(1)%uint64(len(ss))]
			pt, err := aesgcm.Open(w.module, l.Session, key, s.sealed, aad)
			if err != nil {
				return err
			}
			if !bytes.Equal(pt, s.plain) {
				return ErrWrongPlaintext
			}
			return nil
		}
		return fmt.Errorf("unknown op %q", op)
	})
}

// gauge counts things in use and remembers the most at once, without a lock.
type gauge struct {
	now, peak atomic.Int64
}

func (g *gauge) inc() {
	n := g.now.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (g *gauge) dec() { g.now.Add(-1) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("capacity: random bytes: %v", err)) // crypto/rand does not fail on Linux
	}
	return b
}
