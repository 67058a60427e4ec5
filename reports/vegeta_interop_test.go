package reports_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/reports"
)

// vegetaModule is the vegeta command's package: the module go.mod requires
// for vegeta's library, so the CLI reads the format the library writes.
// go.mod lists it as a tool, which keeps its dependencies in go.sum.
const vegetaModule = "github.com/tsenart/vegeta/v12"

// buildVegeta builds the vegeta command into dir with the go command that
// runs the tests (go test puts its GOROOT/bin first on the PATH), from the
// module cache or the module proxy. Without a go command it skips, except
// in CI, where every test must run.
func buildVegeta(t *testing.T, dir string) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no go command to build vegeta with: %v", err)
		}
		t.Skipf("no go command to build vegeta with: %v", err)
	}
	bin := filepath.Join(dir, "vegeta")
	cmd := exec.CommandContext(t.Context(), goCmd, "build", "-o", bin, vegetaModule)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", vegetaModule, err, out)
	}
	return bin
}

// runVegeta runs the CLI and returns its standard output; it fails the test
// unless the command exits 0 with nothing on standard error.
func runVegeta(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("vegeta %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Errorf("vegeta %s wrote to standard error:\n%s", strings.Join(args, " "), stderr.Bytes())
	}
	return stdout.Bytes()
}

// readRequests is every request event of a History, in order.
func readRequests(t *testing.T, path string) []history.Request {
	t.Helper()
	var out []history.Request
	if err := history.Scan(path, func(e history.Event) error {
		if e.Request != nil {
			out = append(out, *e.Request)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// edgeHistory writes a History holding every kind of outcome keystorm
// tells apart, among other events.
func edgeHistory(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w, err := history.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	w.Note(history.Note{At: 0, Kind: "load-start", Text: "constant 10/s"})
	w.Request(history.Request{Seq: 0, Op: "Encrypt", Intended: 100 * ms, Sent: 100 * ms, Done: 104 * ms, Status: 200, Size: 64})
	// An answer keystorm could not read: an error for keystorm, whatever its status.
	w.Request(history.Request{Seq: 1, Op: "Encrypt", Intended: 200 * ms, Sent: 201 * ms, Done: 209 * ms, Status: 200, Size: 64, Error: "decode Encrypt answer: unexpected end of JSON input"})
	w.Injection(history.Injection{ID: "kill", Kind: "fault", Action: "delete-hsm", Start: 250 * ms, End: 260 * ms})
	w.Request(history.Request{Seq: 2, Op: "Decrypt", Intended: 300 * ms, Sent: 300 * ms, Done: 303 * ms, Status: 400, Size: 64, Exception: "KMSInvalidStateException", Message: "key/alpha is unavailable"})
	w.Request(history.Request{Seq: 3, Op: "Decrypt", Intended: 400 * ms, Sent: 400 * ms, Done: 402 * ms, Status: 503, Size: 64, Message: "Service Unavailable"})
	w.Request(history.Request{Seq: 4, Op: "GenerateDataKey", Intended: 500 * ms, Sent: 502 * ms, Done: 5502 * ms, Size: 32, Error: "context deadline exceeded"})
	w.Request(history.Request{Seq: 5, Op: "ReEncrypt", Intended: 600 * ms, Sent: 600 * ms, Done: 650 * ms, Status: 500, Size: 64, Exception: "KMSInternalException"})
	w.Request(history.Request{Seq: 6, Op: "Decrypt", Intended: 700 * ms, Sent: 700 * ms, Done: 706 * ms, Status: 200, Size: 64, PlaintextID: 3})
	w.Note(history.Note{At: 800 * ms, Kind: "load-end"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// vegetaMetrics is what the test reads of `vegeta report -type=json`.
type vegetaMetrics struct {
	Requests  uint64  `json:"requests"`
	Success   float64 `json:"success"`
	Latencies struct {
		Max time.Duration `json:"max"`
		Min time.Duration `json:"min"`
	} `json:"latencies"`
	BytesOut struct {
		Total uint64 `json:"total"`
	} `json:"bytes_out"`
	Earliest    time.Time      `json:"earliest"`
	StatusCodes map[string]int `json:"status_codes"`
	Errors      []string       `json:"errors"`
}

// TestVegetaCLI runs the real vegeta command on results.vegeta.json and
// checks that its numbers are keystorm's: vegeta's status codes mirror
// keystorm's outcomes (0 for "error"), its success ratio is the requests
// keystorm counts as ok, its plot splits OK from ERROR as keystorm does.
// One test builds the command for every case (`go build` takes a while);
// the binary lives in its temporary directory until the cases are done.
func TestVegetaCLI(t *testing.T) {
	t.Parallel()
	bin := buildVegeta(t, t.TempDir())
	tests := []struct {
		name    string
		history func(t *testing.T) string
	}{
		{"the fixture's history", func(*testing.T) string { return historyFixture }},
		{"a history with every outcome", edgeHistory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hist := tt.history(t)
			reqs := readRequests(t, hist)
			if len(reqs) < 5 {
				t.Fatalf("%s has %d requests: too few to tell anything", hist, len(reqs))
			}
			file := filepath.Join(t.TempDir(), reports.FileVegeta)
			f, err := os.Create(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := reports.Vegeta(f, hist, base); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}

			// What keystorm says of the History.
			var ok int
			var bytesOut uint64
			codes := map[string]int{}
			var exceptions []string
			minLat, maxLat, earliest := time.Duration(math.MaxInt64), time.Duration(0), time.Duration(math.MaxInt64)
			for _, q := range reqs {
				if q.OK() {
					ok++
				}
				code := strconv.Itoa(q.Status)
				if q.Outcome() == "error" {
					code = "0"
				}
				codes[code]++
				if q.Exception != "" && !slices.Contains(exceptions, q.Exception) {
					exceptions = append(exceptions, q.Exception)
				}
				bytesOut += uint64(q.Size)
				minLat, maxLat, earliest = min(minLat, q.Latency()), max(maxLat, q.Latency()), min(earliest, q.Intended)
			}

			var m vegetaMetrics
			js := runVegeta(t, bin, "report", "-type=json", file)
			if err := json.Unmarshal(js, &m); err != nil {
				t.Fatalf("vegeta report -type=json: %v\n%s", err, js)
			}
			if m.Requests != uint64(len(reqs)) {
				t.Errorf("vegeta counts %d requests, the History has %d", m.Requests, len(reqs))
			}
			if want := float64(ok) / float64(len(reqs)); math.Abs(m.Success-want) > 1e-9 {
				t.Errorf("vegeta's success ratio is %v, keystorm's ok ratio %v (%d of %d)", m.Success, want, ok, len(reqs))
			}
			if !maps.Equal(m.StatusCodes, codes) {
				t.Errorf("vegeta's status codes are %v, keystorm's outcomes give %v", m.StatusCodes, codes)
			}
			for _, x := range exceptions {
				if !slices.Contains(m.Errors, x) {
					t.Errorf("vegeta's errors %q lack the exception %s", m.Errors, x)
				}
			}
			if m.Latencies.Min != minLat || m.Latencies.Max != maxLat {
				t.Errorf("vegeta's latencies run %v to %v, keystorm's %v to %v (from the intended send)", m.Latencies.Min, m.Latencies.Max, minLat, maxLat)
			}
			if !m.Earliest.Equal(base.Add(earliest)) {
				t.Errorf("vegeta's earliest request is at %v, want %v", m.Earliest, base.Add(earliest))
			}
			if m.BytesOut.Total != bytesOut {
				t.Errorf("vegeta's bytes out %d, payload bytes %d", m.BytesOut.Total, bytesOut)
			}

			text := runVegeta(t, bin, "report", file)
			for _, want := range []string{
				fmt.Sprintf("Requests      [total, rate, throughput]         %d, ", len(reqs)),
				fmt.Sprintf("Success       [ratio]                           %.2f%%", 100*float64(ok)/float64(len(reqs))),
			} {
				if !bytes.Contains(text, []byte(want)) {
					t.Errorf("vegeta report lacks %q:\n%s", want, text)
				}
			}

			// vegeta plot draws one series per operation and outcome,
			// OK or ERROR; keystorm's split must be the same.
			plot := runVegeta(t, bin, "plot", file)
			var got, want []string
			for _, m := range regexp.MustCompile(`"([A-Za-z]+): (OK|ERROR)"`).FindAllSubmatch(plot, -1) {
				if s := string(m[1]) + ": " + string(m[2]); !slices.Contains(got, s) {
					got = append(got, s)
				}
			}
			for _, q := range reqs {
				s := q.Op + ": ERROR"
				if q.OK() {
					s = q.Op + ": OK"
				}
				if !slices.Contains(want, s) {
					want = append(want, s)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("vegeta plot draws %q, keystorm's outcomes give %q", got, want)
			}
		})
	}
}
