package load_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"go.uber.org/goleak"

	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/load"
)

// allOps is every operation at the same weight.
var allOps = []load.MixEntry{
	{Op: "Encrypt", Weight: 1}, {Op: "Decrypt", Weight: 1}, {Op: "ReEncrypt", Weight: 1}, {Op: "GenerateDataKey", Weight: 1},
}

// collect is a Sink that keeps every request; read it after Run returns.
type collect struct{ reqs []history.Request }

func (c *collect) sink(r history.Request) { c.reqs = append(c.reqs, r) }

// bySeq returns the requests in Seq order.
func (c *collect) bySeq() []history.Request {
	out := slices.Clone(c.reqs)
	slices.SortFunc(out, func(a, b history.Request) int { return int(a.Seq) - int(b.Seq) })
	return out
}

// TestRunConstant runs the full mix against the embedded stack, on a key
// of a connected custom key store and on a software key, and checks the
// History it makes: one request per hit, intended times exactly on the
// schedule, every answer OK, and every acknowledged ciphertext decrypting
// (with the AWS SDK, not the load's own code) to its plaintext.
func TestRunConstant(t *testing.T) {
	t.Parallel()
	env := sharedStack(t)
	const seed = 7
	// One ciphertext per key before the load, as the run's setup makes.
	var seeds []load.Ciphertext
	for i, name := range []string{"hsm", "soft"} {
		id := uint64(1<<62 + i)
		out, err := env.kms.Encrypt(t.Context(), &kms.EncryptInput{KeyId: aws.String(env.keys[name]), Plaintext: load.Plaintext(seed, id, 48)})
		if err != nil {
			t.Fatalf("seed ciphertext under %s: %v", name, err)
		}
		seeds = append(seeds, load.Ciphertext{Key: name, PlaintextID: id, Size: 48, Blob: out.CiphertextBlob})
	}
	cfg := load.Config{
		Duration: 2 * time.Second, Shape: load.Shape{Constant: &load.Constant{Rate: 200}},
		Mix: allOps, Keys: []string{"hsm", "soft"}, Sizes: []int{1, 32, 300},
		// Generous: the machine is shared, and timing is not what this
		// test is about (TestRunFallsBehind is).
		LateTolerance: 250 * time.Millisecond, MaxLateFraction: 0.05,
	}
	schedule, err := load.NewSchedule(cfg.Shape, cfg.Duration, seed)
	if err != nil {
		t.Fatal(err)
	}
	var got collect
	var prog load.Progress
	base := time.Now()
	sum, err := load.Run(t.Context(), load.Options{
		Config: cfg, Schedule: schedule, Endpoint: env.info.KMSEndpoint, Region: env.info.Region,
		AccessKeyID: env.info.AccessKeyID, SecretAccessKey: env.info.SecretAccessKey,
		Keys: env.keys, Seed: seed, Seeds: seeds, Sink: got.sink, Base: base, Progress: &prog,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	reqs := got.bySeq()
	if len(reqs) < 396 || len(reqs) > 400 {
		t.Fatalf("%d requests, want 400 (at least 396)", len(reqs))
	}
	if sum.Planned != 400 || sum.Sent != int64(len(reqs)) || sum.OK != sum.Sent || sum.Errors != 0 {
		t.Errorf("summary %+v, want 400 planned and %d sent, all OK", sum, len(reqs))
	}
	if why := sum.Invalid(); why != "" {
		t.Errorf("Invalid: %s", why)
	}
	if p := [...]int64{prog.Sent.Load(), prog.OK.Load(), prog.Errors.Load()}; p != [...]int64{sum.Sent, sum.OK, 0} {
		t.Errorf("progress sent, ok, errors = %v, want %d, %d, 0", p, sum.Sent, sum.OK)
	}
	start := reqs[0].Intended
	ops, keys := map[string]int{}, map[string]int{}
	for i, r := range reqs {
		if r.Seq != uint64(i) {
			t.Fatalf("request %d has seq %d: a hit is missing or doubled", i, r.Seq)
		}
		if !r.OK() || r.WrongPlaintext {
			t.Errorf("%s #%d on %s: %s %s %s %s (wrong plaintext %v)", r.Op, r.Seq, r.Key, r.Outcome(), r.Exception, r.Message, r.Error, r.WrongPlaintext)
		}
		if want := start + schedule.Due(r.Seq); r.Intended != want {
			t.Errorf("#%d intended at %v, want %v (the schedule's %v after the first)", r.Seq, r.Intended, want, schedule.Due(r.Seq))
		}
		if r.Sent < r.Intended || r.Done < r.Sent || r.Latency() != r.Done-r.Intended {
			t.Errorf("#%d: intended %v, sent %v, done %v, latency %v", r.Seq, r.Intended, r.Sent, r.Done, r.Latency())
		}
		ops[r.Op]++
		keys[r.Key]++
	}
	for _, m := range allOps {
		if ops[m.Op] < 40 {
			t.Errorf("%d %s requests of %d, want about a quarter", ops[m.Op], m.Op, len(reqs))
		}
	}
	if keys["hsm"] < 100 || keys["soft"] < 100 {
		t.Errorf("requests per key %v, want about half each", keys)
	}

	// Integrity, the way the run's verification does it.
	verified := 0
	for _, r := range reqs {
		if len(r.Ciphertext) == 0 {
			if r.Op == "Encrypt" || r.Op == "ReEncrypt" {
				t.Errorf("acknowledged %s #%d kept no ciphertext", r.Op, r.Seq)
			}
			continue
		}
		out, err := env.kms.Decrypt(t.Context(), &kms.DecryptInput{CiphertextBlob: r.Ciphertext})
		if err != nil {
			t.Fatalf("decrypt the ciphertext of %s #%d: %v", r.Op, r.Seq, err)
		}
		if want := load.Plaintext(seed, r.PlaintextID, r.Size); !bytes.Equal(out.Plaintext, want) {
			t.Errorf("%s #%d: ciphertext decrypts to %x, want plaintext %d (%x)", r.Op, r.Seq, out.Plaintext, r.PlaintextID, want)
		}
		if aws.ToString(out.KeyId) == "" || !strings.HasSuffix(aws.ToString(out.KeyId), env.keys[r.Key]) {
			t.Errorf("%s #%d on %s: sealed under %s, want %s", r.Op, r.Seq, r.Key, aws.ToString(out.KeyId), env.keys[r.Key])
		}
		verified++
	}
	if verified < 100 {
		t.Errorf("%d ciphertexts verified, want the Encrypts' and ReEncrypts' (about 200)", verified)
	}
}

// TestRunWrongCredentials proves that the requests are really signed and
// really checked: with a key the stack does not know, a wrong secret or
// the wrong region, every request is refused.
func TestRunWrongCredentials(t *testing.T) {
	t.Parallel()
	env := sharedStack(t)
	tests := []struct {
		name                  string
		keyID, secret, region string
		want                  string
	}{
		{name: "Unknown access key - UnrecognizedClientException", keyID: "AKIAUNKNOWNKEY000000", want: "UnrecognizedClientException"},
		{name: "Wrong secret - InvalidSignatureException", secret: "not-the-secret", want: "InvalidSignatureException"},
		{name: "Wrong region - InvalidSignatureException", region: "eu-west-3", want: "InvalidSignatureException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := load.Options{
				Config: load.Config{
					Duration: 500 * time.Millisecond, Shape: load.Shape{Constant: &load.Constant{Rate: 20}},
					Mix: allOps, Keys: []string{"hsm", "soft"},
				},
				Endpoint: env.info.KMSEndpoint, Region: env.info.Region,
				AccessKeyID: env.info.AccessKeyID, SecretAccessKey: env.info.SecretAccessKey, Keys: env.keys,
			}
			if tt.keyID != "" {
				o.AccessKeyID = tt.keyID
			}
			if tt.secret != "" {
				o.SecretAccessKey = tt.secret
			}
			if tt.region != "" {
				o.Region = tt.region
			}
			var got collect
			o.Sink = got.sink
			sum, err := load.Run(t.Context(), o)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(got.reqs) < 9 || sum.OK != 0 {
				t.Fatalf("%d requests, %d OK; want 10, none OK", len(got.reqs), sum.OK)
			}
			for _, r := range got.reqs {
				if r.Exception != tt.want || r.Status != http.StatusBadRequest || r.OK() {
					t.Errorf("%s #%d: status %d %q %q, want 400 %s", r.Op, r.Seq, r.Status, r.Exception, r.Message, tt.want)
				}
			}
		})
	}
}

// fakeKMS is an httptest server that answers every request as an Encrypt,
// after delay (or until the request is abandoned), one request at a time
// when serial is set.
func fakeKMS(t *testing.T, delay time.Duration, serial bool) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" || r.Header.Get("X-Vegeta-Seq") != "" {
			http.Error(w, `{"__type":"MissingAuthenticationTokenException"}`, http.StatusBadRequest)
			return
		}
		// Read the body as a KMS would; until it is read, the server does not
		// notice a client that went away, and r.Context() never ends.
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		if serial {
			mu.Lock()
			defer mu.Unlock()
		}
		if delay > 0 {
			timer := time.NewTimer(delay)
			defer timer.Stop()
			select {
			case <-r.Context().Done():
				return
			case <-timer.C:
			}
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Write([]byte(`{"CiphertextBlob":"c2VhbGVk","KeyId":"k"}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fakeOptions are Options for a fakeKMS: Encrypts only, one key.
func fakeOptions(srv *httptest.Server, cfg load.Config) load.Options {
	cfg.Mix = []load.MixEntry{{Op: "Encrypt", Weight: 1}}
	cfg.Keys = []string{"k"}
	return load.Options{
		Config: cfg, Endpoint: srv.URL, Region: "us-east-1", AccessKeyID: "AKIAFAKE", SecretAccessKey: "secret",
		Keys: map[string]string{"k": "key-id"},
	}
}

// TestRunSlowServer shows that a slow store does not slow the sending (an
// open model: a closed one would send the next request only when the last
// one answered) and that the queueing it causes shows in the latency,
// which counts from the intended time. The store answers one request at a
// time, in 100ms, while the schedule sends one every 50ms: the 20th
// answer comes about 2s after the first request, 1s after its own.
func TestRunSlowServer(t *testing.T) {
	t.Parallel()
	srv := fakeKMS(t, 100*time.Millisecond, true)
	var got collect
	o := fakeOptions(srv, load.Config{Duration: time.Second, Shape: load.Shape{Constant: &load.Constant{Rate: 20}}})
	o.Sink = got.sink
	sum, err := load.Run(t.Context(), o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(got.reqs) != 20 || sum.OK != 20 {
		t.Fatalf("%d requests, %d OK; want 20, all OK", len(got.reqs), sum.OK)
	}
	var worst time.Duration
	for _, r := range got.bySeq() {
		if late := r.Sent - r.Intended; late > 40*time.Millisecond {
			t.Errorf("#%d sent %v after it was due: the slow answers held it back", r.Seq, late)
		}
		if r.Latency() < 100*time.Millisecond {
			t.Errorf("#%d answered %v after it was due, faster than the store can", r.Seq, r.Latency())
		}
		worst = max(worst, r.Latency())
	}
	if worst < 950*time.Millisecond {
		t.Errorf("the slowest latency is %v, want about 1s: the queue at the store is hidden", worst)
	}
}

// slowSchedule is a schedule that takes 2ms to answer Due: a stand-in for
// a generator starved of CPU, which cannot keep up with 1000 hits a second.
type slowSchedule struct{ load.ConstantPacer }

func (s slowSchedule) Due(n uint64) time.Duration {
	time.Sleep(2 * time.Millisecond)
	return s.ConstantPacer.Due(n)
}

// TestRunFallsBehind checks that a generator that cannot keep up says so:
// its run is invalid, and its late sends keep their intended times (so
// latency still counts from when they were due).
func TestRunFallsBehind(t *testing.T) {
	t.Parallel()
	srv := fakeKMS(t, 0, false)
	var got collect
	o := fakeOptions(srv, load.Config{Duration: time.Second, Shape: load.Shape{Constant: &load.Constant{Rate: 1000}}})
	o.Schedule = slowSchedule{load.ConstantPacer{PerSecond: 1000}}
	o.Sink = got.sink
	sum, err := load.Run(t.Context(), o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	why := sum.Invalid()
	if !strings.HasPrefix(why, "the load generator fell behind its schedule: ") || sum.Sent > 600 || sum.Late < sum.Sent/2 {
		t.Fatalf("summary %+v, Invalid %q; want about 500 of 1000 sent, most late, and invalid", sum, why)
	}
	t.Logf("Invalid: %s", why)
	first := got.bySeq()[0].Intended
	for _, r := range got.reqs {
		if want := first + time.Duration(r.Seq)*time.Millisecond; r.Intended != want {
			t.Fatalf("#%d intended at %v, want %v: late sends keep their schedule", r.Seq, r.Intended, want)
		}
	}
}

// TestRunCancel cancels a load whose store never answers: Run must return
// at once, with every hit recorded, and leave no goroutine behind. It is
// not parallel so that goleak sees only its own goroutines.
func TestRunCancel(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv := fakeKMS(t, time.Hour, false)
	defer srv.Close()
	var got collect
	var prog load.Progress
	o := fakeOptions(srv, load.Config{Duration: time.Minute, Timeout: time.Minute, Shape: load.Shape{Constant: &load.Constant{Rate: 50}}})
	o.Sink, o.Progress = got.sink, &prog
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	sum, err := load.Run(ctx, o)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Run took %v to return after its ctx ended at 300ms", took)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v, want context.Canceled", err)
	}
	if !sum.Cancelled || sum.Duration < 250*time.Millisecond || sum.Duration > time.Second || sum.Invalid() != "" {
		t.Errorf("summary %+v (Invalid %q), want cancelled after about 300ms and valid", sum, sum.Invalid())
	}
	if len(got.reqs) < 10 || int64(len(got.reqs)) != sum.Sent || prog.Sent.Load() != sum.Sent {
		t.Fatalf("%d requests recorded, %d sent, %d built; want about 15 and all equal", len(got.reqs), sum.Sent, prog.Sent.Load())
	}
	for _, r := range got.reqs {
		if r.Error == "" || r.OK() || strings.Contains(r.Error, "#") {
			t.Errorf("#%d: %q, want the abandoned request's error (without the op id)", r.Seq, r.Error)
		}
	}
}

// TestRunOptions checks that Run refuses what it cannot run, before any
// request.
func TestRunOptions(t *testing.T) {
	t.Parallel()
	good := func() load.Options {
		return load.Options{
			Config:   load.Config{Duration: time.Second, Shape: load.Shape{Constant: &load.Constant{Rate: 1}}, Keys: []string{"k"}},
			Endpoint: "http://127.0.0.1:1", Region: "us-east-1", AccessKeyID: "AKIA", SecretAccessKey: "s",
			Keys: map[string]string{"k": "id"},
		}
	}
	tests := []struct {
		name   string
		change func(*load.Options)
		want   string
	}{
		{"No duration - fail", func(o *load.Options) { o.Config.Duration = 0 }, "duration"},
		{"Key without KeyId - fail", func(o *load.Options) { o.Config.Keys = []string{"other"} }, `key "other"`},
		{"No keys at all - fail", func(o *load.Options) { o.Config.Keys, o.Keys = nil, nil }, "no keys"},
		{"Unknown operation - fail", func(o *load.Options) { o.Config.Mix = []load.MixEntry{{Op: "Sign", Weight: 1}} }, `"Sign"`},
		{"Weights of zero - fail", func(o *load.Options) { o.Config.Mix = []load.MixEntry{{Op: "Encrypt"}} }, "add up to 0"},
		{"Plaintext too large - fail", func(o *load.Options) { o.Config.Sizes = []int{4097} }, "4097"},
		{"Endpoint without scheme - fail", func(o *load.Options) { o.Endpoint = "127.0.0.1:4566" }, "endpoint"},
		{"No secret - fail", func(o *load.Options) { o.SecretAccessKey = "" }, "secret"},
		{"No shape - fail", func(o *load.Options) { o.Config.Shape = load.Shape{} }, "none of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := good()
			tt.change(&o)
			sent := 0
			o.Sink = func(history.Request) { sent++ }
			_, err := load.Run(t.Context(), o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run: %v, want an error about %s", err, tt.want)
			}
			if sent > 0 {
				t.Fatalf("%d requests sent despite the error", sent)
			}
		})
	}
}

func TestSummaryInvalid(t *testing.T) {
	t.Parallel()
	limits := load.Summary{LateTolerance: 100 * time.Millisecond, MaxLateFraction: 0.01}
	with := func(f func(*load.Summary)) load.Summary {
		s := limits
		f(&s)
		return s
	}
	tests := []struct {
		name string
		sum  load.Summary
		want string // a part of Invalid(), "" for valid
	}{
		{"On schedule - valid", with(func(s *load.Summary) { s.Planned, s.Sent, s.Late = 1000, 1000, 10 }), ""},
		{"Nothing planned, nothing sent - valid", limits, ""},
		{"Too many late - invalid", with(func(s *load.Summary) { s.Planned, s.Sent, s.Late, s.MaxLate = 1000, 1000, 11, time.Second }), "11 of 1000 requests (1.1%) were sent more than 100ms after"},
		{"Short of the plan - invalid", with(func(s *load.Summary) { s.Planned, s.Sent = 1000, 989 }), "it sent 989 of the 1000 requests planned"},
		{"Short of the plan but cancelled - valid", with(func(s *load.Summary) { s.Planned, s.Sent, s.Cancelled = 1000, 300, true }), ""},
		{"Late and cancelled - invalid", with(func(s *load.Summary) { s.Planned, s.Sent, s.Late, s.Cancelled = 1000, 300, 100, true }), "100 of 300"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.sum.Invalid()
			switch {
			case tt.want == "" && got != "":
				t.Errorf("Invalid() = %q, want valid", got)
			case tt.want != "" && !strings.Contains(got, tt.want):
				t.Errorf("Invalid() = %q, want it to say %q", got, tt.want)
			case tt.want != "" && !strings.HasPrefix(got, "the load generator fell behind its schedule: "):
				t.Errorf("Invalid() = %q, want it to open with the generator falling behind", got)
			}
		})
	}
}

func TestPlaintext(t *testing.T) {
	t.Parallel()
	a := load.Plaintext(1, 42, 64)
	if !bytes.Equal(a, load.Plaintext(1, 42, 64)) {
		t.Fatal("Plaintext is not deterministic")
	}
	if len(a) != 64 || !bytes.Equal(a[:8], []byte{0, 0, 0, 0, 0, 0, 0, 42}) {
		t.Errorf("Plaintext(1, 42, 64) = %x, want 64 bytes opening with the id", a)
	}
	for _, other := range [][]byte{load.Plaintext(2, 42, 64), load.Plaintext(1, 43, 64)} {
		if bytes.Equal(a[8:], other[8:]) {
			t.Errorf("another seed or id gives the same plaintext %x", a)
		}
	}
	if short := load.Plaintext(1, 42, 3); len(short) != 3 {
		t.Errorf("Plaintext of 3 bytes is %d long", len(short))
	}
}
