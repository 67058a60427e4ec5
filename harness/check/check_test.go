package check_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keystorm/keystorm/harness/check"
	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/harness/scenario"
)

const s = time.Second

// writeHistory writes events to a History file.
func writeHistory(t *testing.T, events ...history.Event) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.jsonl")
	w, err := history.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		w.Add(e)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func req(at time.Duration, op, exception string, latency time.Duration) history.Event {
	r := &history.Request{Op: op, Intended: at, Sent: at, Done: at + latency, Status: 200}
	if exception != "" {
		r.Status, r.Exception = 400, exception
	}
	return history.Event{Request: r}
}

func tr(at time.Duration, subject, to, code string) history.Event {
	return history.Event{Transition: &history.Transition{At: at, Subject: subject, To: to, Code: code}}
}

func i64(v int64) *int64     { return &v }
func f64(v float64) *float64 { return &v }

// timeline: the load runs 0..60s; "kill" ran 10s..11s, "heal" 30s..31s,
// "missing" could not run on the target, "never" did not run.
var timeline = check.Timeline{
	LoadStart: 0, LoadEnd: 60 * s,
	Entries: map[string]check.Span{
		"kill":    {Start: 10 * s, End: 11 * s, Ran: true},
		"heal":    {Start: 30 * s, End: 31 * s, Ran: true},
		"missing": {NotApplicable: true},
		"never":   {},
	},
	Faults: []string{"kill", "missing"}, Steps: []string{"heal"},
}

func TestExpectations(t *testing.T) {
	t.Parallel()
	// A store that connects, fails NETWORK_ERRORS after kill, and comes
	// back; requests fail only between 11s and 30s.
	var events []history.Event
	events = append(events,
		tr(0, "store:s1", "DISCONNECTED", ""), tr(1*s, "store:s1", "CONNECTING", ""), tr(2*s, "store:s1", "CONNECTED", ""),
		tr(12*s, "store:s1", "FAILED", "NETWORK_ERRORS"), tr(32*s, "store:s1", "CONNECTED", ""),
	)
	for at := time.Duration(0); at < 60*s; at += 100 * time.Millisecond {
		switch {
		case at >= 11*s && at < 30*s:
			events = append(events, req(at, "Encrypt", "KMSInvalidStateException", 5*time.Millisecond))
		case at >= 40*s && at < 41*s:
			events = append(events, req(at, "Encrypt", "", 900*time.Millisecond)) // a slow second
		default:
			events = append(events, req(at, "Encrypt", "", 5*time.Millisecond))
		}
	}
	path := writeHistory(t, events...)
	in := check.Input{History: path, Timeline: timeline,
		PlannedRate: func(from, to time.Duration) float64 { return 10 }}

	for _, tc := range []struct {
		name   string
		e      scenario.Expectation
		want   result.Status
		detail string // a part of the detail
	}{
		{"state - reached with the right code in time - pass",
			scenario.Expectation{State: &scenario.StateExpect{Store: "s1", To: "FAILED", Code: "NETWORK_ERRORS", After: "kill", Within: 5 * s}}, result.Pass, "reached FAILED"},
		{"state - the wrong code - fail",
			scenario.Expectation{State: &scenario.StateExpect{Store: "s1", To: "FAILED", Code: "CLUSTER_NOT_FOUND", After: "kill", Within: 5 * s}}, result.Fail, "FAILED/NETWORK_ERRORS at 12.0s"},
		{"state - too late - fail",
			scenario.Expectation{State: &scenario.StateExpect{Store: "s1", To: "FAILED", After: "kill", Within: 500 * time.Millisecond}}, result.Fail, "observed"},
		{"state - already held at the reference counts - pass",
			scenario.Expectation{State: &scenario.StateExpect{Store: "s1", To: "CONNECTED", After: "start+5s", Within: s}}, result.Pass, ""},
		{"state - stays, but it left - fail",
			scenario.Expectation{State: &scenario.StateExpect{Store: "s1", To: "FAILED", After: "kill", Stays: true}}, result.Fail, "left it"},
		{"state - stays and it did - pass",
			scenario.Expectation{State: &scenario.StateExpect{Store: "s1", To: "CONNECTED", After: "heal", Stays: true}}, result.Pass, ""},
		{"state - after a fault the target could not do - not applicable",
			scenario.Expectation{State: &scenario.StateExpect{Store: "s1", To: "FAILED", After: "missing"}}, result.NotApplicable, "could not be done"},
		{"state - after an entry that never ran - unknown",
			scenario.Expectation{State: &scenario.StateExpect{Store: "s1", To: "FAILED", After: "never"}}, result.Unknown, "never ran"},
		{"state - a subject never observed - fail",
			scenario.Expectation{State: &scenario.StateExpect{Store: "s2", To: "CONNECTED"}}, result.Fail, "never observed"},
		{"sequence - in order - pass",
			scenario.Expectation{Sequence: &scenario.SequenceExpect{Store: "s1", States: []string{"CONNECTING", "CONNECTED", "FAILED", "CONNECTED"}}}, result.Pass, ""},
		{"sequence - out of order - fail",
			scenario.Expectation{Sequence: &scenario.SequenceExpect{Store: "s1", States: []string{"FAILED", "CONNECTING"}}}, result.Fail, "never saw CONNECTING"},
		{"errors - at least N of the exception in the window - pass",
			scenario.Expectation{Errors: &scenario.ErrorsExpect{Exception: "KMSInvalidStateException", Min: i64(150), Window: scenario.Window{From: "kill.end", To: "heal"}, Only: true}}, result.Pass, "190 ×"},
		{"errors - the wrong exception - fail",
			scenario.Expectation{Errors: &scenario.ErrorsExpect{Exception: "KMSInternalException", Min: i64(1), Window: scenario.Window{From: "kill.end", To: "heal"}}}, result.Fail, "0 ×"},
		{"errors - only, but the window also holds successes - pass (only counts failures)",
			scenario.Expectation{Errors: &scenario.ErrorsExpect{Exception: "KMSInvalidStateException", Max: i64(1000), Only: true}}, result.Pass, ""},
		{"errors - any failure at most 0 before the fault - pass",
			scenario.Expectation{Errors: &scenario.ErrorsExpect{Exception: "any", Max: i64(0), Window: scenario.Window{To: "kill"}}}, result.Pass, ""},
		{"errors - an empty window - unknown, never pass",
			scenario.Expectation{Errors: &scenario.ErrorsExpect{Exception: "any", Max: i64(0), Window: scenario.Window{From: "end", To: "end"}}}, result.Unknown, "no requests"},
		{"latency - p99 within budget before the fault - pass",
			scenario.Expectation{Latency: &scenario.LatencyExpect{P99: 10 * time.Millisecond, Window: scenario.Window{To: "kill"}}}, result.Pass, "p99"},
		{"latency - a slow second blows p99 over the run - fail",
			scenario.Expectation{Latency: &scenario.LatencyExpect{P99: 100 * time.Millisecond}}, result.Fail, "over budget"},
		{"latency - max over budget - fail",
			scenario.Expectation{Latency: &scenario.LatencyExpect{Max: 500 * time.Millisecond, Window: scenario.Window{From: "heal"}}}, result.Fail, "max"},
		{"error-rate - under the budget after recovery - pass",
			scenario.Expectation{ErrorRate: &scenario.ErrorRateExpect{Max: f64(0), Window: scenario.Window{From: "heal.end"}}}, result.Pass, "0 of"},
		{"error-rate - over the budget during the fault - fail",
			scenario.Expectation{ErrorRate: &scenario.ErrorRateExpect{Max: f64(0.5), Window: scenario.Window{From: "kill", To: "heal"}}}, result.Fail, ""},
		{"error-rate - at least, during the fault - pass",
			scenario.Expectation{ErrorRate: &scenario.ErrorRateExpect{Min: f64(0.9), Window: scenario.Window{From: "kill.end", To: "heal"}}}, result.Pass, ""},
		{"throughput - successes per second before the fault - pass",
			scenario.Expectation{Throughput: &scenario.ThroughputExpect{Min: 9, Window: scenario.Window{To: "kill"}}}, result.Pass, "10.0/s"},
		{"throughput - against the plan during the fault - fail",
			scenario.Expectation{Throughput: &scenario.ThroughputExpect{MinOfTarget: 0.5, Window: scenario.Window{From: "kill.end", To: "heal"}}}, result.Fail, "planned 10.0/s"},
		{"steady-state - both sides within budget - pass",
			scenario.Expectation{SteadyState: &scenario.SteadyExpect{ErrorRate: f64(0.01), P99: 50 * time.Millisecond, Settle: 11 * s, MinRequests: 20}}, result.Pass, "after (42.0s..60.0s)"},
		{"steady-state - the slow second inside the after window - fail",
			scenario.Expectation{SteadyState: &scenario.SteadyExpect{ErrorRate: f64(0.01), P99: 50 * time.Millisecond, Settle: 2 * s, MinRequests: 20}}, result.Fail, ""},
		{"steady-state - too little traffic to judge - unknown",
			scenario.Expectation{SteadyState: &scenario.SteadyExpect{ErrorRate: f64(0.01), MinRequests: 1000}}, result.Unknown, "needed to judge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := check.Evaluate([]scenario.Expectation{tc.e}, in)[0]
			if got.Status != tc.want || !strings.Contains(got.Detail, tc.detail) {
				t.Errorf("got %s %q (%s), want %s with %q", got.Status, got.Detail, got.Description, tc.want, tc.detail)
			}
			if got.ID != "expect[1]" {
				t.Errorf("id %q, want expect[1]", got.ID)
			}
		})
	}
}

func TestIntegrity(t *testing.T) {
	t.Parallel()
	enc := func(seq uint64, ok bool) history.Event {
		r := &history.Request{Seq: seq, Op: "Encrypt", Status: 200, PlaintextID: seq, Ciphertext: []byte{1, 2, 3}}
		if !ok {
			r.Status, r.Ciphertext, r.Error = 0, nil, "timeout"
		}
		return history.Event{Request: r}
	}
	verify := func(seq uint64, exception string, wrong bool) history.Event {
		r := &history.Request{Seq: seq, Op: check.OpVerify, Status: 200, WrongPlaintext: wrong}
		if exception != "" {
			r.Status, r.Exception = 400, exception
		}
		return history.Event{Request: r}
	}
	wrongDecrypt := history.Event{Request: &history.Request{Seq: 9, Op: "Decrypt", Status: 200, WrongPlaintext: true}}
	for _, tc := range []struct {
		name   string
		events []history.Event
		want   result.Status
		detail string
	}{
		{"every acknowledged ciphertext verified - pass",
			[]history.Event{enc(1, true), enc(2, true), verify(1, "", false), verify(2, "", false)}, result.Pass, "0 lost"},
		{"a timed-out encrypt is indeterminate, not lost - pass",
			[]history.Event{enc(1, true), enc(2, false), verify(1, "", false)}, result.Pass, "1 acknowledged"},
		{"an acknowledged ciphertext that no longer decrypts - fail",
			[]history.Event{enc(1, true), enc(2, true), verify(1, "", false), verify(2, "InvalidCiphertextException", false)}, result.Fail, "1 lost"},
		{"a verify answering a wrong plaintext - fail",
			[]history.Event{enc(1, true), verify(1, "", true)}, result.Fail, "1 wrong"},
		{"a decrypt during the load with a wrong plaintext - fail",
			[]history.Event{enc(1, true), verify(1, "", false), wrongDecrypt}, result.Fail, "1 wrong plaintexts during the load"},
		{"nothing verified - unknown, never pass",
			[]history.Event{enc(1, true)}, result.Unknown, "no acknowledged ciphertext was verified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := check.Input{History: writeHistory(t, tc.events...), Timeline: timeline}
			got := check.Evaluate([]scenario.Expectation{{Integrity: &scenario.IntegrityExpect{}}}, in)[0]
			if got.Status != tc.want || !strings.Contains(got.Detail, tc.detail) {
				t.Errorf("got %s %q, want %s with %q", got.Status, got.Detail, tc.want, tc.detail)
			}
		})
	}
}

func TestAnUnreadableHistoryIsUnknown(t *testing.T) {
	t.Parallel()
	in := check.Input{History: filepath.Join(t.TempDir(), "missing.jsonl"), Timeline: timeline}
	for _, e := range []scenario.Expectation{
		{Integrity: &scenario.IntegrityExpect{}},
		{ErrorRate: &scenario.ErrorRateExpect{Max: f64(0)}},
		{State: &scenario.StateExpect{Store: "s1", To: "CONNECTED"}},
	} {
		got := check.Evaluate([]scenario.Expectation{e}, in)[0]
		if got.Status != result.Unknown {
			t.Errorf("%s: %s (%s), want unknown", got.Kind, got.Status, got.Detail)
		}
	}
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	inj := func(id, exception, err string, na bool) history.Event {
		return history.Event{Injection: &history.Injection{ID: id, Kind: "step", Action: "connect-store", Error: err, Exception: exception, NotApplicable: na}}
	}
	path := writeHistory(t,
		inj("reconnect", "CustomKeyStoreInvalidStateException", "connect-store: api error CustomKeyStoreInvalidStateException: ...", false),
		inj("connect", "", "", false),
		inj("hook", "", "target lacks the admin capability", true),
		inj("broken", "", "connect-store: dial tcp: refused", false),
	)
	in := check.Input{History: path, Timeline: timeline}
	for _, tc := range []struct {
		name             string
		entry, exception string
		want             result.Status
	}{
		{"the documented exception - pass", "reconnect", "CustomKeyStoreInvalidStateException", result.Pass},
		{"another exception - fail", "reconnect", "CustomKeyStoreNotFoundException", result.Fail},
		{"an expected failure that succeeded - fail", "connect", "CustomKeyStoreInvalidStateException", result.Fail},
		{"an expected success - pass", "connect", "", result.Pass},
		{"an expected success that failed - fail", "reconnect", "", result.Fail},
		{"a failure that is no AWS exception - fail", "broken", "CustomKeyStoreInvalidStateException", result.Fail},
		{"an entry the target could not do - not applicable", "hook", "", result.NotApplicable},
		{"an entry that never ran - unknown", "absent", "", result.Unknown},
	} {
		got := check.Evaluate([]scenario.Expectation{{Outcome: &scenario.OutcomeExpect{Entry: tc.entry, Exception: tc.exception}}}, in)[0]
		if got.Status != tc.want {
			t.Errorf("%s: %s (%s)", tc.name, got.Status, got.Detail)
		}
	}
}

// TestErrorsByMessage: KMSInvalidStateException's causes differ only by
// message; a message filter tells them apart.
func TestErrorsByMessage(t *testing.T) {
	t.Parallel()
	msg := func(at time.Duration, m string) history.Event {
		return history.Event{Request: &history.Request{Op: "Encrypt", Intended: at, Done: at, Status: 400, Exception: "KMSInvalidStateException", Message: m}}
	}
	path := writeHistory(t, msg(1*s, "KMS cannot communicate with your CloudHSM cluster. This might be a transient network issue."),
		msg(2*s, "KMS cannot communicate with your CloudHSM cluster. This might be a transient network issue."),
		msg(3*s, "... because the kmsuser is locked out ..."))
	in := check.Input{History: path, Timeline: timeline}
	for _, tc := range []struct {
		name string
		e    scenario.ErrorsExpect
		want result.Status
	}{
		{"the network message twice - pass", scenario.ErrorsExpect{Exception: "KMSInvalidStateException", Message: "transient network issue", Min: i64(2)}, result.Pass},
		{"the network message only, but a lockout answer too - fail", scenario.ErrorsExpect{Exception: "KMSInvalidStateException", Message: "transient network issue", Min: i64(1), Only: true}, result.Fail},
		{"the lockout message three times - fail", scenario.ErrorsExpect{Exception: "KMSInvalidStateException", Message: "locked out", Min: i64(3)}, result.Fail},
	} {
		got := check.Evaluate([]scenario.Expectation{{Errors: &tc.e}}, in)[0]
		if got.Status != tc.want {
			t.Errorf("%s: %s (%s)", tc.name, got.Status, got.Detail)
		}
	}
}
