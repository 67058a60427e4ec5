package load

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// testLoader is a loader for an endpoint nobody serves: these tests drive
// its targeter and results by hand.
func testLoader(t *testing.T, seed int64, mix []MixEntry) *loader {
	t.Helper()
	l, err := newLoader(context.Background(), Options{
		Config: Config{
			Duration: time.Second, Shape: Shape{Constant: &Constant{Rate: 10}},
			Mix: mix, Keys: []string{"a", "b"}, Sizes: []int{16, 32, 64},
		},
		Endpoint: "http://127.0.0.1:1", Region: "us-east-1", AccessKeyID: "AKIA", SecretAccessKey: "s",
		Keys: map[string]string{"a": "key-a", "b": "key-b"}, Seed: seed,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.close)
	return l
}

// TestChoose checks that a hit's operation, key and size depend on the
// seed and the hit alone, and follow the weights.
func TestChoose(t *testing.T) {
	t.Parallel()
	mix := []MixEntry{{Op: "Encrypt", Weight: 3}, {Op: "GenerateDataKey", Weight: 1}}
	one, again, other := testLoader(t, 1, mix).targeter, testLoader(t, 1, mix).targeter, testLoader(t, 2, mix).targeter
	const n = 4000
	same, encrypts := 0, 0
	for hit := range uint64(n) {
		c := one.choose(hit)
		if c != again.choose(hit) {
			t.Fatalf("hit %d: %+v, then %+v with the same seed", hit, c, again.choose(hit))
		}
		if c == other.choose(hit) {
			same++
		}
		if c.op == "Encrypt" {
			encrypts++
		}
	}
	if same > n/4 {
		t.Errorf("%d of %d hits chose the same with another seed", same, n)
	}
	if encrypts < n*70/100 || encrypts > n*80/100 {
		t.Errorf("%d of %d hits are Encrypts, want 3 in 4", encrypts, n)
	}
}

// TestLedgerClears checks that every hit's entry leaves the ledger with
// its result, a hit whose request was never built included, and that a
// Decrypt with no ciphertext to decrypt is recorded as the Encrypt it
// became.
func TestLedgerClears(t *testing.T) {
	t.Parallel()
	l := testLoader(t, 3, []MixEntry{{Op: "Decrypt", Weight: 1}})
	l.pacer.began.Store(new(time.Now()))
	for seq := range uint64(3) {
		var tgt vegeta.Target
		if err := l.targeter.target(&tgt); err != nil {
			t.Fatal(err)
		}
		// vegeta's result when building the request fails: the URL, an
		// error, no transport call.
		res := &vegeta.Result{Seq: seq, URL: tgt.URL, Timestamp: time.Now(), Error: `parse "` + tgt.URL + `": bad`}
		req := l.record(res)
		if req.Op != "Encrypt" || req.Key == "" || req.Error != `parse "http://127.0.0.1:1/": bad` || req.OK() {
			t.Errorf("recorded %+v, want a failed Encrypt without the op id in its error", req)
		}
		// No Base: times are since the attack began.
		if want := l.schedule.Due(seq); req.Intended != want {
			t.Errorf("#%d intended at %v, want %v", seq, req.Intended, want)
		}
	}
	// The targeter failed: nothing was put, the result has no URL.
	if req := l.record(&vegeta.Result{Seq: 3, Timestamp: time.Now(), Error: "targeter failed"}); req.Op != "" || req.Error != "targeter failed" {
		t.Errorf("recorded %+v for a targeter failure", req)
	}
	if n := l.ledger.len(); n != 0 {
		t.Errorf("%d calls left in the ledger", n)
	}
	if l.sum.Sent != 4 || l.sum.Errors != 4 {
		t.Errorf("summary %+v, want 4 sent, 4 errors", l.sum)
	}
}

// TestTransport checks what the service sees of a hit: a SigV4
// Authorization of KMS in the run's region, the KMS JSON 1.1 headers, no
// vegeta headers and no op id; and that the transport tells the ledger the
// hit was sent and when it was due.
func TestTransport(t *testing.T) {
	t.Parallel()
	seen := make(chan *http.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		seen <- r
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	l, err := newLoader(context.Background(), Options{
		Config:   Config{Duration: time.Second, Shape: Shape{Constant: &Constant{Rate: 10}}, Keys: []string{"a"}},
		Endpoint: srv.URL, Region: "eu-west-1", AccessKeyID: "AKIATEST", SecretAccessKey: "s",
		Keys: map[string]string{"a": "key-a"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	var tgt vegeta.Target
	if err := l.targeter.target(&tgt); err != nil {
		t.Fatal(err)
	}
	req, err := tgt.Request()
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vegeta-Seq", "7")
	resp, err := l.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := <-seen
	if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIATEST/") || !strings.Contains(auth, "/eu-west-1/kms/aws4_request") {
		t.Errorf("Authorization %q, want SigV4 for kms in eu-west-1", auth)
	}
	if r.Header.Get("X-Amz-Date") == "" || r.Header.Get("X-Vegeta-Seq") != "" || r.RequestURI != "/" {
		t.Errorf("the service got %s with headers %v", r.RequestURI, r.Header)
	}
	if got := r.Header.Get("X-Amz-Target"); got != "TrentService.Encrypt" && got != "TrentService.Decrypt" {
		t.Errorf("X-Amz-Target %q", got)
	}
	id, _ := opID(tgt.URL)
	c, ok := l.ledger.take(id)
	if !ok || !c.sent || c.due != l.schedule.Due(7) {
		t.Errorf("ledger has %+v for the hit, want it sent and due at %v", c, l.schedule.Due(7))
	}
}
