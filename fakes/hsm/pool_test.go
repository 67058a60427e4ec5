package hsm_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/keystorm/keystorm/fakes/hsm"
	"github.com/keystorm/keystorm/fakes/sessionpool"
)

// TestDeletingAnHSMUnderLoadFailsOnlyItsCalls runs encryptions from several
// goroutines through a pool over two HSMs, deletes one, and checks that every
// failure names the deleted HSM, that work goes on on the other, and that no
// goroutine is left behind.
func TestDeletingAnHSMUnderLoadFailsOnlyItsCalls(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, nodes := cluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	survivor, victim := nodes[0], nodes[1]
	lsurv, lvict := ownerLogin(t, survivor), ownerLogin(t, victim)
	keyID, err := survivor.GenerateKey(ctx, lsurv)
	if err != nil {
		t.Fatal(err)
	}
	if err := hsm.Replicate(ctx, keyID, lsurv, lvict); err != nil {
		t.Fatal(err)
	}
	pool := sessionpool.New(sessionpool.MaxSessions(4), sessionpool.WaitBudget(time.Second))
	defer pool.Close()
	for _, n := range nodes {
		if err := pool.Add(n); err != nil {
			t.Fatal(err)
		}
	}

	var (
		removed       atomic.Bool
		okOn          sync.Map // HSM id -> *atomic.Int64, before and after removal
		okAfter, errs atomic.Int64
		mu            sync.Mutex
		wrongErrs     []error
		stop          = make(chan struct{})
		wg            sync.WaitGroup
	)
	count := func(id string) {
		v, _ := okOn.LoadOrStore(id, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				wasRemoved := removed.Load()
				var on string
				err := pool.Do(ctx, "encrypt", func(l sessionpool.Lease) error {
					on = l.HSM.ID()
					_, err := l.HSM.(*hsm.Node).Encrypt(l.Session, keyID, []byte("payload"), nil)
					return err
				})
				if err == nil {
					count(on)
					if wasRemoved {
						if on != survivor.ID() {
							mu.Lock()
							wrongErrs = append(wrongErrs, errors.New("work went to the removed HSM "+on))
							mu.Unlock()
						}
						okAfter.Add(1)
					}
					continue
				}
				errs.Add(1)
				var opErr *sessionpool.OpError
				if !errors.As(err, &opErr) || opErr.HSM != victim.ID() || !errors.Is(err, hsm.ErrDeleted) {
					mu.Lock()
					wrongErrs = append(wrongErrs, err)
					mu.Unlock()
				}
			}
		}()
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				close(stop)
				wg.Wait()
				t.Fatalf("timed out waiting for %s", what)
			case <-time.After(time.Millisecond):
			}
		}
	}
	onVictim := func() int64 {
		v, ok := okOn.Load(victim.ID())
		if !ok {
			return 0
		}
		return v.(*atomic.Int64).Load()
	}
	waitFor("work on both HSMs", func() bool { return onVictim() > 50 })
	if err := victim.Delete(); err != nil {
		t.Fatal(err)
	}
	// Until the pool hears of it, calls that land on the deleted HSM fail.
	waitFor("a call to fail on the deleted HSM", func() bool { return errs.Load() > 0 })
	pool.Remove(victim.ID())
	removed.Store(true)
	waitFor("work to go on without it", func() bool { return okAfter.Load() > 200 })
	close(stop)
	wg.Wait()

	if len(wrongErrs) > 0 {
		t.Fatalf("%d failures not on the deleted HSM, first: %v", len(wrongErrs), wrongErrs[0])
	}
	if st := pool.Stats(); len(st.HSMs) != 1 || st.HSMs[victim.ID()] != (sessionpool.HSMStats{}) {
		t.Errorf("pool still holds the deleted HSM: %+v", st)
	}
	t.Logf("%d calls failed on %s, %d succeeded on %s after its removal", errs.Load(), victim.ID(), okAfter.Load(), survivor.ID())
}
