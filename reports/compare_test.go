package reports_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/reports"
)

// loadRun is a hand-built run of scenario "s": rate requests/s achieved
// (of 100/s asked), a p99 of p99 ms, and sent requests of which failed
// ended in KMSInternalException.
func loadRun(rate, p99 float64, sent, failed int64, exps ...result.Expectation) *result.Result {
	return &result.Result{
		Schema: result.Schema, Scenario: "s", Stack: "embedded", Status: result.Pass,
		Started:      time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC),
		Expectations: exps,
		Load: result.Load{
			Sent: sent, OK: sent - failed, TargetRate: 100, AchievedRate: rate,
			Latency:   result.Latencies{P50: p99 / 4, P90: p99 / 2, P99: p99, Max: 2 * p99},
			ByOutcome: map[string]int64{"ok": sent - failed, "KMSInternalException": failed},
		},
	}
}

func exp(id string, s result.Status) result.Expectation {
	return result.Expectation{ID: id, Kind: "errors", Status: s}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	base := loadRun(100, 8, 1000, 10, exp("a", result.Pass))
	for _, tc := range []struct {
		name     string
		old, new *result.Result
		tol      reports.Tolerances
		want     []string // breached checks, in order
		wantKind []string // expectation change kinds, when given
		wantWarn string   // in a warning, when given
	}{
		{"Same run - nothing breached", base, base, reports.Tolerances{}, nil, []string{reports.Unchanged}, ""},
		// 100/s to 95/s: within the default 10%.
		{"Throughput down 5% - within the default", base, loadRun(95, 8, 1000, 10), reports.Tolerances{}, nil, nil, ""},
		// Exactly the tolerance is still within it.
		{"Throughput down exactly 10% - within", base, loadRun(90, 8, 1000, 10), reports.Tolerances{}, nil, nil, ""},
		{"Throughput down 15% - breached", base, loadRun(85, 8, 1000, 10), reports.Tolerances{}, []string{reports.CheckThroughput}, nil, ""},
		{"Throughput down 5% past a tolerance of 3%", base, loadRun(95, 8, 1000, 10), reports.Tolerances{ThroughputDrop: 0.03}, []string{reports.CheckThroughput}, nil, ""},
		{"Throughput up - never breached", base, loadRun(150, 8, 1000, 10), reports.Tolerances{ThroughputDrop: 0.001}, nil, nil, ""},
		// 8 ms to 10.5 ms is +31.25%, past 25%.
		{"p99 up 31% - breached", base, loadRun(100, 10.5, 1000, 10), reports.Tolerances{}, []string{reports.CheckP99}, nil, ""},
		{"p99 up 20% - within the default", base, loadRun(100, 9.6, 1000, 10), reports.Tolerances{}, nil, nil, ""},
		{"p99 up 20% past a tolerance of 10%", base, loadRun(100, 9.6, 1000, 10), reports.Tolerances{P99Rise: 0.10}, []string{reports.CheckP99}, nil, ""},
		{"Old p99 of zero - nothing to scale by, skipped", loadRun(100, 0, 1000, 10), loadRun(100, 50, 1000, 10), reports.Tolerances{}, nil, nil, ""},
		// 1% to 3% is 2 points, past 1.
		{"Error rate up 2 points - breached", base, loadRun(100, 8, 1000, 30), reports.Tolerances{}, []string{reports.CheckErrorRate}, nil, ""},
		{"Error rate up half a point - within", base, loadRun(100, 8, 1000, 15), reports.Tolerances{}, nil, nil, ""},
		// 6% to 7% in floating point is 0.010000000000000009: the
		// rounding must not breach.
		{"Error rate up exactly 1 point - within", loadRun(100, 8, 100, 6), loadRun(100, 8, 100, 7), reports.Tolerances{}, nil, nil, ""},
		{"Error rate down - never breached", loadRun(100, 8, 100, 50), loadRun(100, 8, 100, 0), reports.Tolerances{}, nil, nil, ""},
		{"Throughput, p99 and error rate at once - in that order", base, loadRun(50, 80, 1000, 500), reports.Tolerances{},
			[]string{reports.CheckThroughput, reports.CheckP99, reports.CheckErrorRate}, nil, ""},
		{"Pass to fail - a regression", base, loadRun(100, 8, 1000, 10, exp("a", result.Fail)), reports.Tolerances{},
			[]string{reports.CheckExpectation}, []string{reports.Regressed}, ""},
		{"Pass to unknown - a regression", base, loadRun(100, 8, 1000, 10, exp("a", result.Unknown)), reports.Tolerances{},
			[]string{reports.CheckExpectation}, []string{reports.Regressed}, ""},
		{"Fail to pass - fixed, no breach", loadRun(100, 8, 1000, 10, exp("a", result.Fail)), base, reports.Tolerances{}, nil, []string{reports.Fixed}, ""},
		{"Unknown to fail - changed, no breach", loadRun(100, 8, 1000, 10, exp("a", result.Unknown)), loadRun(100, 8, 1000, 10, exp("a", result.Fail)),
			reports.Tolerances{}, nil, []string{reports.Changed}, ""},
		{"Pass to not-applicable - changed, no breach", base, loadRun(100, 8, 1000, 10, exp("a", result.NotApplicable)), reports.Tolerances{},
			nil, []string{reports.Changed}, ""},
		{"Expectations matched by id, whatever their order", loadRun(100, 8, 1000, 10, exp("a", result.Pass), exp("b", result.Fail)),
			loadRun(100, 8, 1000, 10, exp("b", result.Pass), exp("c", result.Fail)), reports.Tolerances{},
			nil, []string{reports.Removed, reports.Fixed, reports.Added}, ""},
		{"Different scenario names - a warning, not a breach", base, func() *result.Result {
			r := loadRun(100, 8, 1000, 10, exp("a", result.Pass))
			r.Scenario = "t"
			return r
		}(),
			reports.Tolerances{}, nil, []string{reports.Unchanged}, `different scenarios: old "s", new "t"`},
		{"An invalid new run - a warning", base, func() *result.Result {
			r := loadRun(100, 8, 1000, 10)
			r.Invalid = "the load generator fell behind"
			return r
		}(),
			reports.Tolerances{}, nil, nil, "new run is invalid: the load generator fell behind"},
		// Negative tolerances turn the measures' checks off; an
		// expectation's regression still counts.
		{"Every check disabled - only the regression is left", base, loadRun(10, 800, 1000, 900, exp("a", result.Fail)),
			reports.Tolerances{ThroughputDrop: -1, P99Rise: -1, ErrorRateRise: -1}, []string{reports.CheckExpectation}, nil, ""},
		{"One check disabled - the others hold", base, loadRun(10, 800, 1000, 10),
			reports.Tolerances{P99Rise: -1}, []string{reports.CheckThroughput}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := reports.Compare(tc.old, tc.new, tc.tol)
			var got []string
			for _, b := range c.Breaches {
				got = append(got, b.Check)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("breaches %q, want %q", got, tc.want)
			}
			if c.Breached() != (len(tc.want) > 0) {
				t.Errorf("Breached() = %v with breaches %q", c.Breached(), got)
			}
			if tc.wantKind != nil {
				var kinds []string
				for _, e := range c.Expectations {
					kinds = append(kinds, e.Kind)
				}
				if !slices.Equal(kinds, tc.wantKind) {
					t.Errorf("expectation changes %q, want %q", kinds, tc.wantKind)
				}
			}
			if tc.wantWarn != "" && !slices.ContainsFunc(c.Warnings, func(w string) bool { return strings.Contains(w, tc.wantWarn) }) {
				t.Errorf("warnings %q lack %q", c.Warnings, tc.wantWarn)
			}
			if tc.wantWarn == "" && len(c.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", c.Warnings)
			}
		})
	}
}

func TestCompareDefaultsAndValues(t *testing.T) {
	t.Parallel()
	old := loadRun(100, 8, 1000, 10)
	old.Load.ByOutcome["error"] = 5
	new := loadRun(80, 12, 2000, 100)
	new.Load.ByOutcome["http-503"] = 7
	c := reports.Compare(old, new, reports.Tolerances{P99Rise: 0.6})
	want := reports.Tolerances{ThroughputDrop: reports.DefaultThroughputDrop, P99Rise: 0.6, ErrorRateRise: reports.DefaultErrorRateRise}
	if c.Tolerances != want {
		t.Errorf("tolerances applied %+v, want %+v", c.Tolerances, want)
	}
	if c.ErrorRate != (reports.Pair{Old: 0.015, New: 0.0535}) {
		t.Errorf("error rate %+v, want 15/1000 then 107/2000", c.ErrorRate)
	}
	// Every failed outcome of either side, sorted, "ok" left out.
	wantErrs := []reports.ErrorCount{{"KMSInternalException", 10, 100}, {"error", 5, 0}, {"http-503", 0, 7}}
	if !slices.Equal(c.Errors, wantErrs) {
		t.Errorf("errors %+v, want %+v", c.Errors, wantErrs)
	}
	if d := c.Errors[1].Delta(); d != -5 {
		t.Errorf("delta of error %d, want -5", d)
	}
	var lines []string
	for _, b := range c.Breaches {
		lines = append(lines, b.String())
	}
	wantLines := []string{
		"throughput dropped 20.0% (> 10%): 100.0/s -> 80.0/s",
		"error rate rose 3.85 pp (> 1.00 pp): 1.50% -> 5.35%",
	}
	if !slices.Equal(lines, wantLines) {
		t.Errorf("breaches\n%q\nwant\n%q", lines, wantLines)
	}
}

// TestCompareFixture compares testdata/result.json with a copy changed as a
// worse release would be, and with itself.
func TestCompareFixture(t *testing.T) {
	t.Parallel()
	old := fixture(t)
	new := fixture(t)
	new.Started = new.Started.Add(51 * time.Minute)
	new.Load.AchievedRate = 85               // -15%
	new.Load.Latency.P99 = 803.2             // +31.2%
	new.Load.ByOutcome["http-500"] = 120     // a new failure
	new.Load.ByOutcome["ok"] -= 120          // of the same requests
	new.Expectations[0].Status = result.Fail // primary-disconnects regresses
	new.Expectations[5].Status = result.Pass // steady-after is fixed

	c := reports.Compare(old, new, reports.Tolerances{})
	var text bytes.Buffer
	if err := reports.CompareText(&text, c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"keystorm compare: flagship  old 2025-06-01T12:00:00Z  new 2025-06-01T12:51:00Z\n",
		"throughput   100.0/s   85.0/s    -15.0%     -10%   BREACHED\n",
		"p99          612 ms    803 ms    +31.2%     +25%   BREACHED\n",
		"p50          3.40 ms   3.40 ms   +0.0%\n",
		"error rate   24.92%    26.93%    +2.00 pp   +1.00 pp   BREACHED\n",
		"http-500                   0      120    +120\n",
		"KMSInvalidStateException   1476   1476   +0\n",
		"expectations: 5 unchanged, 1 regressed, 1 fixed\n",
		"  REGRESSED   primary-disconnects   PASS -> FAIL\n",
		"  FIXED       steady-after          UNKNOWN -> PASS\n",
		"verdict: BREACHED\n",
		"  p99 rose 31.2% (> 25%): 612 ms -> 803 ms\n",
		"  expectation primary-disconnects regressed: PASS -> FAIL\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	for _, line := range strings.Split(text.String(), "\n") {
		if strings.TrimRight(line, " ") != line {
			t.Errorf("trailing spaces: %q", line)
		}
	}

	var md bytes.Buffer
	if err := reports.CompareMarkdown(&md, c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"### keystorm compare `flagship`: BREACHED\n",
		"| p99 | 612 ms | 803 ms | **+31.2%** (breached) | +25% |\n",
		"| p90 | 9.80 ms | 9.80 ms | +0.0% |  |\n",
		"`http-500` 0 → 120",
		"- regressed `primary-disconnects`: PASS -> FAIL\n",
		"**Breaches:**\n- throughput dropped 15.0%",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}

	// The same comparison prints the same bytes: nothing depends on map
	// order.
	for range 5 {
		var again bytes.Buffer
		reports.CompareText(&again, reports.Compare(old, new, reports.Tolerances{}))
		if !bytes.Equal(again.Bytes(), text.Bytes()) {
			t.Fatalf("two renderings differ:\n%s\nthen\n%s", text.Bytes(), again.Bytes())
		}
	}

	same := reports.Compare(old, fixture(t), reports.Tolerances{})
	text.Reset()
	if err := reports.CompareText(&text, same); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"expectations: 7 unchanged, 0 regressed, 0 fixed\n", "verdict: within tolerances\n"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("a run against itself lacks %q:\n%s", want, text.String())
		}
	}
}

func TestCompareMarkdownEscapes(t *testing.T) {
	t.Parallel()
	old := loadRun(100, 8, 1000, 10, exp("a|b", result.Pass))
	new := loadRun(100, 8, 1000, 10, exp("a|b", result.Fail))
	new.Scenario = "<b>x</b>"
	var b bytes.Buffer
	if err := reports.CompareMarkdown(&b, reports.Compare(old, new, reports.Tolerances{})); err != nil {
		t.Fatal(err)
	}
	// The name is safe in a code span; everywhere else it is escaped, as
	// is a pipe, which would end a table cell even in a code span.
	md := b.String()
	if strings.Count(md, "<b>") != 1 || !strings.Contains(md, "`<b>x</b>`") || strings.Contains(md, "a|b") {
		t.Errorf("markup from the results is live:\n%s", md)
	}
}
