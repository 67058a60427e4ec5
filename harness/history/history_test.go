package history_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keystorm/keystorm/harness/history"
)

// TestRoundTrip writes every kind of event from many goroutines and reads
// them back whole, in a file, never held in memory by the writer.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "h.jsonl")
	w, err := history.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				w.Request(history.Request{Seq: uint64(g*1000 + i), Op: "Encrypt", Intended: time.Duration(i), Done: time.Duration(i) + time.Millisecond, Status: 200, Ciphertext: []byte{byte(i)}})
			}
		}(g)
	}
	w.Transition(history.Transition{At: time.Second, Subject: "store:s1", From: "CONNECTED", To: "FAILED", Code: "NETWORK_ERRORS"})
	w.Injection(history.Injection{ID: "kill", Kind: "fault", Action: "delete-hsm", Start: time.Second, End: 2 * time.Second})
	w.Sample(history.Sample{At: time.Second, Name: "m", Value: 3})
	w.Note(history.Note{At: 0, Kind: "load-start", Text: "constant 10/s"})
	wg.Wait()
	if got := w.Len(); got != 8004 {
		t.Errorf("Len %d, want 8004", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	seqs := map[uint64]bool{}
	err = history.Scan(path, func(e history.Event) error {
		switch {
		case e.Request != nil:
			counts["req"]++
			seqs[e.Request.Seq] = true
			if e.Request.Latency() != time.Millisecond || !e.Request.OK() || e.Request.Outcome() != "ok" {
				t.Errorf("request %+v: latency %s ok %v", e.Request, e.Request.Latency(), e.Request.OK())
			}
		case e.Transition != nil:
			counts["tr"]++
			if e.Transition.Code != "NETWORK_ERRORS" {
				t.Errorf("transition %+v", e.Transition)
			}
		case e.Injection != nil:
			counts["inj"]++
		case e.Sample != nil:
			counts["sample"]++
		case e.Note != nil:
			counts["note"]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if counts["req"] != 8000 || len(seqs) != 8000 || counts["tr"] != 1 || counts["inj"] != 1 || counts["sample"] != 1 || counts["note"] != 1 {
		t.Errorf("read back %v (%d distinct requests)", counts, len(seqs))
	}
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		r    history.Request
		want string
		ok   bool
	}{
		{history.Request{Status: 200}, "ok", true},
		{history.Request{Status: 400, Exception: "DisabledException"}, "DisabledException", false},
		{history.Request{Error: "timeout"}, "error", false},
		{history.Request{Status: 503}, "http-503", false},
	} {
		if got := tc.r.Outcome(); got != tc.want || tc.r.OK() != tc.ok {
			t.Errorf("%+v: outcome %q ok %v, want %q %v", tc.r, got, tc.r.OK(), tc.want, tc.ok)
		}
	}
}

func TestScanErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := history.Scan(filepath.Join(dir, "missing"), func(history.Event) error { return nil }); err == nil {
		t.Error("a missing file scanned without error")
	}
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"note\":{\"kind\":\"x\"}}\n{not json\n"), 0o644)
	err := history.Scan(bad, func(history.Event) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "event 2") {
		t.Errorf("a corrupt line: %v, want an error naming event 2", err)
	}
	stop := errors.New("stop")
	if err := history.Scan(bad, func(history.Event) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("the callback's error: %v", err)
	}
}
