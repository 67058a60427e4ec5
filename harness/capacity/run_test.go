package capacity_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	"go.uber.org/goleak"

	"github.com/keystorm/keystorm/fakes/sessionpool"
	"github.com/keystorm/keystorm/harness/capacity"
)

// TestMain fails the package if any goroutine outlives the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// embedded builds a target of real SoftHSM tokens, closed when t ends.
func embedded(t *testing.T, tokens int, pc capacity.PoolConfig) *capacity.Target {
	t.Helper()
	tgt, err := capacity.Embedded(context.Background(), tokens, pc)
	if err != nil {
		t.Fatalf("embedded target: %v", err) // SoftHSM is a hard requirement: never skip
	}
	t.Cleanup(func() {
		if err := tgt.Close(); err != nil {
			t.Errorf("close target: %v", err)
		}
	})
	return tgt
}

// hog holds one of the pool's sessions from when it returns until release
// is called or d passes, leaving callers with one session fewer. It is how
// the tests make sessions scarce on demand: SoftHSM serves a call in
// microseconds, far too fast to exhaust a pool by load alone on a CI box.
func hog(t *testing.T, ctx context.Context, pool *sessionpool.Pool, d time.Duration) (release func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	held := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- pool.Do(ctx, "hog", func(sessionpool.Lease) error {
			close(held)
			timer := time.NewTimer(d)
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
			return nil
		})
	}()
	select {
	case <-held:
	case err := <-done:
		cancel()
		t.Fatalf("hog got no session: %v", err)
	}
	var released bool
	release = func() {
		if released {
			return
		}
		released = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hog: %v", err)
		}
	}
	t.Cleanup(release)
	return release
}

func TestRunConstantRateSucceeds(t *testing.T) {
	tgt := embedded(t, 2, capacity.PoolConfig{})
	const rate, duration = 500, 300 * time.Millisecond
	res, err := capacity.Run(context.Background(), capacity.Config{
		Pacer:    vegeta.ConstantPacer{Freq: rate, Per: time.Second},
		Duration: duration,
	}, tgt)
	if err != nil {
		t.Fatal(err)
	}
	want := uint64(rate * duration.Seconds()) // 150
	if res.Arrivals < want*9/10 || res.Arrivals > want+1 {
		t.Errorf("arrivals = %d, want about %d", res.Arrivals, want)
	}
	if n := res.Total.Failed(); n > 0 {
		t.Errorf("%d operations failed: %+v, errors %v", n, res.Total, res.Errors)
	}
	// Generous: a stalled CI box may make some arrivals late, but most run.
	if res.Total.OK < want*7/10 || res.Total.OK+res.Late != res.Arrivals {
		t.Errorf("ok = %d, late = %d of %d arrivals, want about %d ok", res.Total.OK, res.Late, res.Arrivals, want)
	}
	for _, op := range []capacity.Op{capacity.Encrypt, capacity.Decrypt} {
		s := res.Ops[op]
		if s == nil || s.OK < want/3 {
			t.Errorf("%s: %+v, want about %d ok (mix 1:1)", op, s, want/2)
			continue
		}
		if s.Latency.Samples != s.Count || s.Latency.P50 <= 0 || s.Latency.P50 > s.Latency.P99 || s.Latency.P99 > s.Latency.Max {
			t.Errorf("%s latency %+v: want samples = count and 0 < p50 <= p99 <= max", op, s.Latency)
		}
	}
	if res.Interrupted {
		t.Error("run marked interrupted")
	}
	if len(res.Pool.HSMs) != 2 {
		t.Fatalf("pool stats of %d HSMs, want 2: %+v", len(res.Pool.HSMs), res.Pool)
	}
	for id, h := range res.Pool.HSMs {
		if h.Open < 1 || h.Open > sessionpool.DefaultMaxSessions || h.InUse != 0 || h.Idle != h.Open {
			t.Errorf("HSM %s after the run: %+v, want 1..%d open, all idle", id, h, sessionpool.DefaultMaxSessions)
		}
	}
	if res.Throughput <= 0 || res.Offered <= 0 {
		t.Errorf("throughput %v, offered %v: want both above 0", res.Throughput, res.Offered)
	}
}

// TestDecryptsAreVerified swaps the key of the HSM after setup: the
// ciphertexts sealed under the old key must then fail to open. A driver that
// did not really decrypt (or ignored the result) would pass them.
func TestDecryptsAreVerified(t *testing.T) {
	ctx := context.Background()
	tgt := embedded(t, 1, capacity.PoolConfig{})
	d, err := capacity.New(capacity.Config{
		Pacer:    vegeta.ConstantPacer{Freq: 400, Per: time.Second},
		Duration: 150 * time.Millisecond,
		Mix:      capacity.Mix{capacity.Decrypt: 1},
	}, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Init(ctx); err != nil {
		t.Fatal(err)
	}
	id := capacity.EmbeddedLabel(1)
	err = tgt.Pool.Do(ctx, "test", func(l sessionpool.Lease) error {
		k, err := tgt.Module.GenerateKey(l.Session, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		})
		tgt.Keys[id] = k // before Run starts its goroutines
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Ops[capacity.Decrypt]
	if s == nil || s.Count == 0 || s.OK != 0 || s.Other != s.Count {
		t.Fatalf("decrypts under the wrong key: %+v, want every one to fail as other", s)
	}
	if len(res.Errors) == 0 || !strings.Contains(res.Errors[0].Message, "authentication failed") {
		t.Errorf("errors %v, want an authentication failure", res.Errors)
	}
	if res.Passed() {
		t.Error("a run of failed decrypts passed")
	}
}

// TestRunRecordsExhaustion gives the pool one session with a 1ms wait
// budget, holds that session for the first half of the run, and sends
// bursts: arrivals of the first half find no session in time.
func TestRunRecordsExhaustion(t *testing.T) {
	ctx := context.Background()
	tgt := embedded(t, 1, capacity.PoolConfig{MaxSessions: 1, WaitBudget: time.Millisecond})
	d, err := capacity.New(capacity.Config{
		Pacer: vegeta.SinePacer{
			Period: 100 * time.Millisecond,
			Mean:   vegeta.Rate{Freq: 1000, Per: time.Second},
			Amp:    vegeta.Rate{Freq: 800, Per: time.Second},
		},
		Duration: 300 * time.Millisecond,
	}, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Init(ctx); err != nil {
		t.Fatal(err)
	}
	hog(t, ctx, tgt.Pool, 150*time.Millisecond)
	res, err := d.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Total.Exhausted == 0 {
		t.Fatalf("no exhausted errors: %+v", res.Total)
	}
	if res.Total.Other != 0 || res.Total.HSMGone != 0 || res.Total.Canceled != 0 {
		t.Errorf("errors other than exhaustion: %+v %v", res.Total, res.Errors)
	}
	if res.Total.OK == 0 {
		t.Errorf("no arrival succeeded once the session was free: %+v", res.Total)
	}
	var sawExhausted bool
	for _, e := range res.Errors {
		if e.Outcome == capacity.Exhausted {
			sawExhausted = true
			if !strings.Contains(e.Message, sessionpool.ErrExhausted.Error()) {
				t.Errorf("exhausted sample %q does not say %q", e.Message, sessionpool.ErrExhausted)
			}
		}
	}
	if !sawExhausted {
		t.Errorf("no exhausted error sampled: %v", res.Errors)
	}
	if res.Passed() {
		t.Error("a run with exhausted errors passed")
	}
	if h := res.Pool.HSMs[capacity.EmbeddedLabel(1)]; h.Open > 1 || h.PeakInUse != 1 {
		t.Errorf("sessions %+v: want at most 1 open, peak in use 1", h)
	}
	if res.Pool.PeakWaiters == 0 {
		t.Error("no waiter seen while the only session was held")
	}
}

// TestRunReturnsPromptlyOnCancel cancels a minute-long run whose workers are
// all waiting for the one session (held elsewhere, 10s wait budget): Run
// must return at once, count the waits as cancelled, and leave no goroutine.
func TestRunReturnsPromptlyOnCancel(t *testing.T) {
	tgt := embedded(t, 1, capacity.PoolConfig{MaxSessions: 1, WaitBudget: 10 * time.Second})
	d, err := capacity.New(capacity.Config{
		Pacer:    vegeta.ConstantPacer{Freq: 200, Per: time.Second},
		Duration: time.Minute,
		Workers:  8,
	}, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	release := hog(t, context.Background(), tgt.Pool, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	stop := time.AfterFunc(200*time.Millisecond, cancel)
	defer stop.Stop()
	start := time.Now()
	res, err := d.Run(ctx)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	release()
	// Far below both the duration and the wait budget: not a performance
	// bound, a check that nothing waited them out.
	if took > 5*time.Second {
		t.Errorf("Run took %v after cancel at 200ms", took)
	}
	goleak.VerifyNone(t)
	if !res.Interrupted {
		t.Error("result not marked interrupted")
	}
	if res.Total.Canceled == 0 || res.Total.OK != 0 {
		t.Errorf("counts %+v: want cancelled waits and no ok", res.Total)
	}
	if res.Late == 0 {
		t.Error("no late arrivals with 8 workers stuck waiting at 200/s")
	}
	if p := res.Problems(); len(p) == 0 || !strings.Contains(p[0], "interrupted") {
		t.Errorf("problems %v, want interrupted first", p)
	}
}

func TestRunNeedsSetup(t *testing.T) {
	tgt := embedded(t, 1, capacity.PoolConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := capacity.Run(ctx, capacity.Config{
		Pacer:    vegeta.ConstantPacer{Freq: 10, Per: time.Second},
		Duration: time.Second,
	}, tgt)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("run with a cancelled context: err = %v, want context.Canceled from setup", err)
	}
}

func TestEmbeddedKeysAreSensitive(t *testing.T) {
	tgt := embedded(t, 2, capacity.PoolConfig{})
	if len(tgt.Keys) != 2 {
		t.Fatalf("keys %v, want 2", tgt.Keys)
	}
	// The pool picks the HSM; call until it has lent both.
	seen := map[string]bool{}
	for i := 0; i < 10 && len(seen) < 2; i++ {
		err := tgt.Pool.Do(context.Background(), "test", func(l sessionpool.Lease) error {
			attrs, err := tgt.Module.GetAttributeValue(l.Session, tgt.Keys[l.HSM.ID()], []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, nil),
				pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
				pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil),
				pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, nil),
			})
			if err != nil {
				return err
			}
			seen[l.HSM.ID()] = true
			want := [][]byte{{1}, {1}, {0}}
			for j, w := range want {
				if string(attrs[j].Value) != string(w) {
					t.Errorf("%s: attribute %#x = %v, want %v", l.HSM.ID(), attrs[j].Type, attrs[j].Value, w)
				}
			}
			if n := len(attrs[3].Value); n == 0 || attrs[3].Value[0] != 32 {
				t.Errorf("%s: CKA_VALUE_LEN = %v, want 32", l.HSM.ID(), attrs[3].Value)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 2 {
		t.Errorf("checked the keys of %v, want both HSMs", seen)
	}
}
