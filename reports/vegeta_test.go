package reports_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/reports"
)

// decodeVegeta reads vegeta JSON results back with vegeta's own decoder.
func decodeVegeta(t *testing.T, b []byte) []vegeta.Result {
	t.Helper()
	dec := vegeta.NewJSONDecoder(bytes.NewReader(b))
	var out []vegeta.Result
	for {
		var r vegeta.Result
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decode result %d: %v", len(out), err)
		}
		out = append(out, r)
	}
}

// countRequests counts the request events of a history file.
func countRequests(t *testing.T, path string) int {
	t.Helper()
	n := 0
	if err := history.Scan(path, func(e history.Event) error {
		if e.Request != nil {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestVegetaDecodes(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := reports.Vegeta(&b, historyFixture, base); err != nil {
		t.Fatal(err)
	}
	rs := decodeVegeta(t, b.Bytes())
	if want := countRequests(t, historyFixture); len(rs) != want || want != 5 {
		t.Fatalf("%d results from %d requests, want 5", len(rs), want)
	}
	tests := []struct {
		i       int
		attack  string
		code    uint16
		at      time.Duration
		latency time.Duration
		err     string
	}{
		{0, "Encrypt", 200, 1 * time.Millisecond, 3200 * time.Microsecond, ""},                            // latency from intended, not sent
		{2, "Encrypt", 400, 20500 * time.Millisecond, 3 * time.Millisecond, "KMSInvalidStateException"},   // the exception, not its message
		{3, "GenerateDataKey", 0, 20510 * time.Millisecond, 5 * time.Second, "context deadline exceeded"}, // no answer
		{4, "Decrypt", 200, 50300 * time.Millisecond, 6 * time.Millisecond, ""},
	}
	for _, tt := range tests {
		r := rs[tt.i]
		if r.Attack != tt.attack || r.Code != tt.code || !r.Timestamp.Equal(base.Add(tt.at)) || r.Latency != tt.latency || r.Error != tt.err {
			t.Errorf("result %d = %+v, want attack %s code %d at +%v latency %v error %q", tt.i, r, tt.attack, tt.code, tt.at, tt.latency, tt.err)
		}
	}

	// vegeta's own report agrees with keystorm's outcomes.
	var m vegeta.Metrics
	for i := range rs {
		m.Add(&rs[i])
	}
	m.Close()
	if m.Requests != 5 || m.Success != 0.6 || len(m.Errors) != 2 {
		t.Errorf("vegeta metrics: %d requests, success %v, errors %v", m.Requests, m.Success, m.Errors)
	}
}

func TestVegetaStreamsALongHistory(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w, err := history.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	for i := range n {
		w.Request(history.Request{Seq: uint64(i), Op: "Encrypt", Intended: time.Duration(i) * time.Millisecond, Done: time.Duration(i)*time.Millisecond + 2*time.Millisecond, Status: 200, Size: 32})
		if i%1000 == 0 {
			w.Note(history.Note{At: time.Duration(i) * time.Millisecond, Kind: "progress", Text: fmt.Sprint(i)})
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := reports.Vegeta(&b, path, base); err != nil {
		t.Fatal(err)
	}
	lines := 0
	sc := bufio.NewScanner(&b)
	for sc.Scan() {
		if !json.Valid(sc.Bytes()) {
			t.Fatalf("line %d is not JSON", lines+1)
		}
		lines++
	}
	if lines != n {
		t.Errorf("%d results, want %d", lines, n)
	}
}

func TestVegetaBadHistory(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := os.WriteFile(path, []byte("{\"req\":{\"seq\":1}}\nnot json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := reports.Vegeta(io.Discard, path, base); err == nil {
		t.Error("no error for a corrupt history")
	}
	if err := reports.Vegeta(io.Discard, filepath.Join(t.TempDir(), "missing"), base); err == nil {
		t.Error("no error for a missing history")
	}
}
