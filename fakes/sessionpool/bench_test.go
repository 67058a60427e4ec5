package sessionpool_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/keystorm/keystorm/fakes/aesgcm"
	"github.com/keystorm/keystorm/fakes/sessionpool"
	"github.com/keystorm/keystorm/fakes/softhsm"
)

// The benchmarks compare AES-GCM straight on sessions of one token (Raw)
// with the same work through the pool over that token (Pool): same token,
// same token key, same payloads, same goroutine counts. Each goroutine count
// is exact: G goroutines share b.N operations.

// benchFixture is the one token both benchmarks work on; it lives until
// TestMain ends.
type benchFixture struct {
	mod *softhsm.Module
	tok *softhsm.Token
	hsm hsm
	// keeper stays open so that key stays valid: SoftHSM drops a token's
	// object handles when its last session closes.
	keeper pkcs11.SessionHandle
	key    pkcs11.ObjectHandle
}

var benchShared struct {
	once sync.Once
	f    *benchFixture
	err  error
}

func fixture(b *testing.B) *benchFixture {
	b.Helper()
	benchShared.once.Do(func() {
		m, err := softhsm.Open()
		if err != nil {
			benchShared.err = fmt.Errorf("open SoftHSM: %w", err)
			return
		}
		h, tok, err := makeHSM(m, "bench")
		if err != nil {
			m.Close()
			benchShared.err = err
			return
		}
		f := &benchFixture{mod: m, tok: tok, hsm: h}
		if f.keeper, err = h.slot.OpenSession(context.Background()); err == nil {
			f.key, err = h.findKey(f.keeper)
		}
		if err != nil {
			tok.Release()
			m.Close()
			benchShared.err = err
			return
		}
		benchShared.f = f
	})
	if benchShared.err != nil {
		b.Fatal(benchShared.err)
	}
	return benchShared.f
}

// closeBenchFixture releases the benchmarks' token; TestMain calls it.
func closeBenchFixture() {
	if f := benchShared.f; f != nil {
		f.hsm.slot.CloseSession(f.keeper)
		f.tok.Release()
		f.mod.Close()
	}
}

var benchAAD = []byte("keystorm-bench")

// benchWork is one operation on a session, named as the pool's op label.
type benchWork struct {
	op string
	do func(pkcs11.SessionHandle) error
}

// benchMatrix runs bench for every operation, payload size and goroutine
// count.
func benchMatrix(b *testing.B, bench func(b *testing.B, f *benchFixture, goroutines int, w benchWork)) {
	f := fixture(b)
	c, key := f.hsm.slot.Ctx, f.key
	for _, op := range []string{"encrypt", "decrypt"} {
		b.Run(op, func(b *testing.B) {
			for _, size := range []struct {
				name string
				n    int
			}{{"32B", 32}, {"4KiB", 4 << 10}} {
				b.Run(size.name, func(b *testing.B) {
					w := benchWork{op: op}
					payload := bytes.Repeat([]byte{0xA5}, size.n)
					switch op {
					case "encrypt":
						w.do = func(sh pkcs11.SessionHandle) error {
							_, err := aesgcm.Seal(c, sh, key, payload, benchAAD)
							return err
						}
					case "decrypt":
						sealed := sealOnce(b, f, payload)
						w.do = func(sh pkcs11.SessionHandle) error {
							pt, err := aesgcm.Open(c, sh, key, sealed, benchAAD)
							if err == nil && len(pt) != len(payload) {
								err = fmt.Errorf("opened %d bytes, want %d", len(pt), len(payload))
							}
							return err
						}
					}
					for _, g := range []int{1, 8, 64} {
						b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
							b.SetBytes(int64(size.n))
							bench(b, f, g, w)
						})
					}
				})
			}
		})
	}
}

func sealOnce(b *testing.B, f *benchFixture, payload []byte) []byte {
	b.Helper()
	sh, err := f.hsm.slot.OpenSession(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer f.hsm.slot.CloseSession(sh)
	sealed, err := aesgcm.Seal(f.hsm.slot.Ctx, sh, f.key, payload, benchAAD)
	if err != nil {
		b.Fatal(err)
	}
	return sealed
}

// drive runs b.N operations over exactly g goroutines, worker w calling
// op(w), and reports the throughput. Setup belongs before it: it resets the
// timer.
func drive(b *testing.B, g int, op func(worker int) error) {
	var (
		next   atomic.Int64
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	b.ResetTimer()
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := op(w); err != nil {
					if failed.CompareAndSwap(false, true) {
						b.Error(err)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkRaw: each goroutine has its own logged-in session.
func BenchmarkRaw(b *testing.B) {
	benchMatrix(b, func(b *testing.B, f *benchFixture, g int, w benchWork) {
		shs := make([]pkcs11.SessionHandle, g)
		for i := range shs {
			sh, err := f.hsm.slot.OpenSession(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			defer f.hsm.slot.CloseSession(sh)
			shs[i] = sh
		}
		drive(b, g, func(worker int) error { return w.do(shs[worker]) })
	})
}

// BenchmarkPool: every operation borrows a session through Do. The pool is
// warmed to g open sessions first, as Raw opens its g sessions before the
// clock starts.
func BenchmarkPool(b *testing.B) {
	benchMatrix(b, func(b *testing.B, f *benchFixture, g int, w benchWork) {
		p := sessionpool.New(sessionpool.MaxSessions(64), sessionpool.WaitBudget(time.Minute))
		defer p.Close()
		if err := p.Add(f.hsm.slot); err != nil {
			b.Fatal(err)
		}
		warm(b, p, g)
		ctx := context.Background()
		drive(b, g, func(int) error {
			return p.Do(ctx, w.op, func(l sessionpool.Lease) error { return w.do(l.Session) })
		})
	})
}

// warm makes g callers hold sessions at once, so the pool has g open.
func warm(b *testing.B, p *sessionpool.Pool, g int) {
	b.Helper()
	var arrived, done sync.WaitGroup
	arrived.Add(g)
	errs := make(chan error, g)
	for range g {
		done.Add(1)
		go func() {
			defer done.Done()
			errs <- p.Do(context.Background(), "warm", func(sessionpool.Lease) error {
				arrived.Done()
				arrived.Wait()
				return nil
			})
		}()
	}
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	if s := p.Stats(); s.HSMs["bench"].Idle != g {
		b.Fatalf("warmed pool has %+v, want %d idle sessions", s.HSMs["bench"], g)
	}
}
