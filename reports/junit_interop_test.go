package reports_test

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	junit "github.com/joshdk/go-junit"

	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/reports"
)

// These tests read keystorm's JUnit back with github.com/joshdk/go-junit,
// the parser CI tools build on, instead of with the writer's own types: what
// it finds is what a CI server shows.

// interopRuns are runs that exercise every mapping: the fixture (one
// expectation of each status), a run with every status and no details
// (the fallback messages), an invalid and aborted one whose details hold
// markup, line breaks and a control character, and a long one.
func interopRuns(t *testing.T) []*result.Result {
	t.Helper()
	started := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	bare := &result.Result{Scenario: "bare", Stack: "embedded", Seed: 1, Started: started, Duration: 0.0004, Status: result.Fail, ExitCode: result.ExitFail}
	for _, s := range allStatuses {
		bare.Expectations = append(bare.Expectations, result.Expectation{ID: "no-detail-" + string(s), Kind: "throughput", Status: s})
	}
	odd := &result.Result{
		Scenario: "odd-text", Stack: "containers", Seed: 99, Started: started, Duration: 1234.5678,
		Description: "a description\nover two lines & <markup>",
		Status:      result.Unknown, ExitCode: result.ExitInvalid,
		Invalid: "the load generator fell behind:\n12% of sends late",
		Aborted: "error rate > 50% for 5s",
		Expectations: []result.Expectation{
			{ID: "markup", Kind: "errors", Description: `only "KMSInvalidStateException" <&>`, Status: result.Fail,
				Detail: "]]> & <b>bold</b>\nsecond line\twith a tab", Window: &result.Window{Name: "a..b", Start: 1, End: 2}},
			{ID: "unicode", Kind: "state", Description: "café ✓ goes DISCONNECTED", Status: result.Unknown, Detail: "only 9.9 s of load after reconnect.end+10s"},
			{ID: "control", Kind: "errors", Description: "a transport error", Status: result.Fail, Detail: "dial tcp: \x1b[31mrefused\x1b[0m"},
			{ID: "skipped", Kind: "state", Description: "needs a network", Status: result.NotApplicable, Detail: "the embedded stack lacks the network capability"},
			{ID: "abort", Kind: "abort", Description: "no abort condition is met", Status: result.Fail, Detail: "error rate > 50% for 5s"},
		},
	}
	long := &result.Result{Scenario: "soak", Stack: "external", Endpoint: "https://kms.example", Seed: 3, Started: started, Duration: 86400.0215, Status: result.Pass,
		Expectations: []result.Expectation{{ID: "steady", Kind: "steady-state", Description: "error rate under 1%", Status: result.Pass, Detail: "0.01% of 8640000"}}}
	return []*result.Result{fixture(t), bare, odd, long}
}

// oneLineOf is how a JUnit name or message shows a multi-line text.
func oneLineOf(s string) string { return strings.Join(strings.Fields(s), " ") }

// inXML is s as an XML 1.0 document can carry it: a character XML forbids
// (an escape sequence from a terminal) becomes U+FFFD.
func inXML(s string) string { return strings.ReplaceAll(s, "\x1b", "\uFFFD") }

func TestJUnitReadByGoJUnit(t *testing.T) {
	t.Parallel()
	for _, r := range interopRuns(t) {
		t.Run(r.Scenario, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := reports.JUnit(&b, r); err != nil {
				t.Fatal(err)
			}
			suites, err := junit.Ingest(b.Bytes())
			if err != nil {
				t.Fatalf("go-junit cannot read it: %v\n%s", err, b.Bytes())
			}
			checkSuites(t, []*result.Result{r}, suites)
		})
	}
}

func TestJUnitSuitesReadByGoJUnit(t *testing.T) {
	t.Parallel()
	rs := interopRuns(t)
	var b bytes.Buffer
	if err := reports.JUnitSuites(&b, rs); err != nil {
		t.Fatal(err)
	}
	suites, err := junit.Ingest(b.Bytes())
	if err != nil {
		t.Fatalf("go-junit cannot read it: %v\n%s", err, b.Bytes())
	}
	checkSuites(t, rs, suites)
}

// checkSuites compares what go-junit read with the runs it was written
// from, one suite per run in order.
func checkSuites(t *testing.T, rs []*result.Result, suites []junit.Suite) {
	t.Helper()
	if len(suites) != len(rs) {
		t.Fatalf("go-junit found %d suites, want %d", len(suites), len(rs))
	}
	for i, r := range rs {
		checkSuite(t, r, suites[i])
	}
}

func checkSuite(t *testing.T, r *result.Result, s junit.Suite) {
	t.Helper()
	class := "keystorm." + r.Scenario
	if s.Name != r.Scenario {
		t.Errorf("suite %q, want %q", s.Name, r.Scenario)
	}
	props := map[string]string{
		"stack": r.Stack, "seed": strconv.FormatInt(r.Seed, 10), "status": string(r.Status), "exit_code": strconv.Itoa(r.ExitCode),
		"description": r.Description, "endpoint": r.Endpoint, "invalid": r.Invalid, "aborted": r.Aborted, "history": r.History,
	}
	for name, want := range props {
		if got, ok := s.Properties[name]; got != want || ok != (want != "") {
			t.Errorf("%s: property %s = %q (present %v), want %q", r.Scenario, name, got, ok, want)
		}
	}

	// One testcase per expectation, in order, then the run.
	if len(s.Tests) != len(r.Expectations)+1 {
		t.Fatalf("%s: go-junit found %d testcases, want %d expectations and the run", r.Scenario, len(s.Tests), len(r.Expectations))
	}
	var want junit.Totals
	for i, e := range r.Expectations {
		tc := s.Tests[i]
		where := fmt.Sprintf("%s testcase %d (%s)", r.Scenario, i, e.ID)
		name := e.ID
		if e.Description != "" {
			name += ": " + oneLineOf(e.Description)
		}
		if tc.Name != name || tc.Classname != class {
			t.Errorf("%s: name %q classname %q, want %q and %q", where, tc.Name, tc.Classname, name, class)
		}
		if tc.Duration.Abs() >= time.Millisecond {
			t.Errorf("%s: duration %v, want 0", where, tc.Duration)
		}
		status, msg, typ := junit.StatusPassed, "", ""
		switch e.Status {
		case result.Pass:
			want.Passed++
		case result.Fail:
			status, msg, typ = junit.StatusFailed, orText(e.Detail, "failed"), e.Kind
			want.Failed++
		case result.Unknown:
			status, msg, typ = junit.StatusError, orText(e.Detail, "could not be decided"), string(result.Unknown)
			want.Error++
		case result.NotApplicable:
			status, msg = junit.StatusSkipped, "not applicable: "+orText(e.Detail, "the target lacks what it needs")
			want.Skipped++
		}
		if tc.Status != status || tc.Message != inXML(oneLineOf(msg)) {
			t.Errorf("%s: %s %q, want %s %q", where, tc.Status, tc.Message, status, inXML(oneLineOf(msg)))
		}
		// The long form: under the failure or error, else the test's
		// output; what was expected and what was observed, whole.
		body := tc.SystemOut
		if typ != "" {
			jerr, ok := tc.Error.(junit.Error)
			if !ok {
				t.Errorf("%s: no failure or error body: %#v", where, tc.Error)
				continue
			}
			if jerr.Type != typ {
				t.Errorf("%s: type %q, want %q", where, jerr.Type, typ)
			}
			body = jerr.Body
		} else if tc.Error != nil {
			t.Errorf("%s: %s with an error %v", where, tc.Status, tc.Error)
		}
		if status == junit.StatusSkipped {
			continue
		}
		for _, line := range []string{fmt.Sprintf(" %s (%s)\n", e.ID, e.Kind), "expected: " + e.Description + "\n", "observed: " + e.Detail + "\n"} {
			if strings.HasSuffix(line, ": \n") {
				continue // omitted when empty
			}
			if !strings.Contains(body, inXML(line)) {
				t.Errorf("%s: the body lacks %q:\n%s", where, line, body)
			}
		}
	}

	run := s.Tests[len(s.Tests)-1]
	if run.Name != "run" || run.Classname != class {
		t.Errorf("%s: the last testcase is %q %q, want run", r.Scenario, run.Name, run.Classname)
	}
	if d := run.Duration - time.Duration(r.Duration*float64(time.Second)); d.Abs() >= time.Millisecond {
		t.Errorf("%s: the run's duration reads %v, want %vs", r.Scenario, run.Duration, r.Duration)
	}
	if r.Invalid != "" {
		want.Error++
		if run.Status != junit.StatusError || run.Message != "invalid: "+oneLineOf(r.Invalid) {
			t.Errorf("%s: the run of an invalid run is %s %q", r.Scenario, run.Status, run.Message)
		}
	} else {
		want.Passed++
		if run.Status != junit.StatusPassed {
			t.Errorf("%s: the run of a valid run is %s %q", r.Scenario, run.Status, run.Message)
		}
	}
	if r.Aborted != "" && run.SystemOut != "aborted: "+r.Aborted {
		t.Errorf("%s: the run's output %q does not say why it was aborted", r.Scenario, run.SystemOut)
	}

	want.Tests = len(r.Expectations) + 1
	got := s.Totals
	if d := got.Duration - time.Duration(r.Duration*float64(time.Second)); d.Abs() >= time.Millisecond {
		t.Errorf("%s: the suite's testcases add up to %v, want %vs", r.Scenario, got.Duration, r.Duration)
	}
	got.Duration = 0
	if got != want {
		t.Errorf("%s: go-junit totals %+v, want %+v", r.Scenario, got, want)
	}
}

func orText(s, word string) string {
	if s == "" {
		return word
	}
	return s
}
