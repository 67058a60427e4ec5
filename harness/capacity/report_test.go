package capacity_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keystorm/keystorm/harness/capacity"
)

// result is a hand-built result with distinct figures everywhere, so each
// check below can only pass on the field it means.
func result() *capacity.Result {
	enc := &capacity.OpStats{Count: 1001, OK: 990, Exhausted: 7, HSMGone: 3, Other: 1,
		Latency: capacity.Latency{Samples: 1001, Mean: 900 * time.Microsecond, P50: 812 * time.Microsecond,
			P90: 1500 * time.Microsecond, P99: 4321 * time.Microsecond, Max: 17 * time.Millisecond}}
	dec := &capacity.OpStats{Count: 998, OK: 998,
		Latency: capacity.Latency{Samples: 998, P50: 640 * time.Microsecond, P90: time.Millisecond,
			P99: 2 * time.Millisecond, Max: 3 * time.Millisecond}}
	return &capacity.Result{
		Pacer: "Constant{2000 hits/1s}", Duration: time.Second, Workers: 64, Payload: 32,
		Mix: "decrypt=1,encrypt=1", Elapsed: 1004 * time.Millisecond,
		Arrivals: 2002, Late: 3, Offered: 2002, Throughput: 1980.5, PeakBusyWorkers: 23,
		Ops:   map[capacity.Op]*capacity.OpStats{capacity.Encrypt: enc, capacity.Decrypt: dec},
		Total: capacity.OpStats{Count: 1999, OK: 1988, Exhausted: 7, HSMGone: 3, Other: 1, Latency: enc.Latency},
		Pool: capacity.PoolStats{MaxSessions: 16, WaitBudget: 250 * time.Millisecond, PeakWaiters: 5,
			HSMs: map[string]capacity.HSMStats{"ks-cap-1": {Open: 11, Idle: 11, PeakInUse: 9}}},
		Errors: []capacity.ErrorSample{{Op: capacity.Encrypt, Outcome: capacity.Exhausted, Message: "no PKCS#11 session available: waited 250ms"}},
	}
}

func TestWriteTextHasTheFigures(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := capacity.WriteText(&b, result()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Constant{2000 hits/1s} for 1s, 64 workers, payload 32 B, mix decrypt=1,encrypt=1",
		"arrivals    2002 (2002.0/s offered), 3 late",
		"throughput  1980.5 ok/s over 1.004s (peak 23 of 64 workers busy)",
		"at most 16 per HSM, wait budget 250ms, peak 5 waiting",
		"encrypt exhausted: no PKCS#11 session available: waited 250ms",
		"FAIL: 11 of 1999 operations failed; 3 of 2002 arrivals late",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// Table rows, compared cell by cell so column widths may change.
	rows := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && rows[f[0]] == "" {
			rows[f[0]] = strings.Join(f, " ")
		}
	}
	for _, want := range []string{
		"op count ok exhausted hsm_gone canceled other p50 p90 p99 max",
		"encrypt 1001 990 7 3 0 1 812µs 1.5ms 4.321ms 17ms",
		"decrypt 998 998 0 0 0 0 640µs 1ms 2ms 3ms",
		"total 1999 1988 7 3 0 1 812µs 1.5ms 4.321ms 17ms",
		"hsm open idle in_use peak_in_use",
		"ks-cap-1 11 11 0 9",
	} {
		name := strings.Fields(want)[0]
		if rows[name] != want {
			t.Errorf("row %s = %q, want %q; report:\n%s", name, rows[name], want, out)
		}
	}
}

func TestWriteTextPass(t *testing.T) {
	t.Parallel()
	r := result()
	r.Late, r.Errors = 0, nil
	r.Total = capacity.OpStats{Count: 10, OK: 10}
	var b bytes.Buffer
	if err := capacity.WriteText(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "PASS: every arrival ran and succeeded") || strings.Contains(b.String(), "errors (") {
		t.Errorf("clean run's report:\n%s", b.String())
	}
}

func TestWriteJSONRoundTrips(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := capacity.WriteJSON(&b, result()); err != nil {
		t.Fatal(err)
	}
	// Decode as plain JSON: the field names are the documented format.
	var got struct {
		Arrivals uint64 `json:"arrivals"`
		Late     uint64 `json:"late"`
		Ops      map[string]struct {
			OK        uint64 `json:"ok"`
			Exhausted uint64 `json:"exhausted"`
			HSMGone   uint64 `json:"hsm_gone"`
			Latency   struct {
				P99 int64 `json:"p99_ns"`
			} `json:"latency"`
		} `json:"ops"`
		Pool struct {
			HSMs map[string]struct {
				PeakInUse int `json:"peak_in_use"`
			} `json:"hsms"`
		} `json:"pool"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v in\n%s", err, b.String())
	}
	enc := got.Ops["encrypt"]
	if got.Arrivals != 2002 || got.Late != 3 || enc.OK != 990 || enc.Exhausted != 7 || enc.HSMGone != 3 ||
		enc.Latency.P99 != int64(4321*time.Microsecond) || got.Pool.HSMs["ks-cap-1"].PeakInUse != 9 {
		t.Errorf("decoded %+v from\n%s", got, b.String())
	}
}
