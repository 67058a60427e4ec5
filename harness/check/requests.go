package check

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/harness/scenario"
)

// windowName prints a window for descriptions.
func windowName(w scenario.Window) string {
	from, to := w.From, w.To
	if from == "" {
		from = "start"
	}
	if to == "" {
		to = "end"
	}
	return from + ".." + to
}

// tally is what one pass over a window's requests gathers.
type tally struct {
	total, ok, failed int64
	byOutcome         map[string]int64
	latency           Latencies
}

func newTally() *tally { return &tally{byOutcome: map[string]int64{}} }

func (t *tally) add(r *history.Request, okOnly bool) {
	t.total++
	if r.OK() {
		t.ok++
	} else {
		t.failed++
		t.byOutcome[r.Outcome()]++
	}
	if !okOnly || r.OK() {
		t.latency.Add(r.Latency())
	}
}

func (t *tally) outcomes() string {
	if len(t.byOutcome) == 0 {
		return "no failures"
	}
	keys := make([]string, 0, len(t.byOutcome))
	for k := range t.byOutcome {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, t.byOutcome[k]))
	}
	return strings.Join(parts, ", ")
}

// gather makes one pass over the window's requests of op (all when "").
func gather(in Input, from, to time.Duration, op, key string, okOnly bool) (*tally, error) {
	t := newTally()
	err := scanRequests(in.History, from, to, func(r *history.Request) {
		if (op == "" || r.Op == op) && (key == "" || r.Key == key) {
			t.add(r, okOnly)
		}
	})
	return t, err
}

func checkErrors(e scenario.ErrorsExpect, in Input) result.Expectation {
	what := e.Exception
	if what == "any" {
		what = "any failure"
	}
	desc := what
	if e.Op != "" {
		desc += " on " + e.Op
	}
	if e.Key != "" {
		desc += " with key " + e.Key
	}
	if e.Message != "" {
		desc += fmt.Sprintf(" saying %q", e.Message)
	}
	switch {
	case e.Min != nil && e.Max != nil:
		desc = fmt.Sprintf("%d to %d × %s", *e.Min, *e.Max, desc)
	case e.Min != nil:
		desc = fmt.Sprintf("at least %d × %s", *e.Min, desc)
	case e.Max != nil:
		desc = fmt.Sprintf("at most %d × %s", *e.Max, desc)
	}
	desc += " in " + windowName(e.Window)
	if e.Only {
		desc += ", and no other failure"
	}
	r := result.Expectation{Kind: "errors", Description: desc}
	from, to, err := in.Timeline.window(e.Window)
	if err != nil {
		r.Status, r.Detail = refStatus(err), err.Error()
		return r
	}
	r.Window = in.Timeline.resultWindow(windowName(e.Window), from, to)
	t, err := gather(in, from, to, e.Op, e.Key, false)
	if err != nil {
		r.Status, r.Detail = result.Unknown, err.Error()
		return r
	}
	var n int64
	switch {
	case e.Message != "":
		err = scanRequests(in.History, from, to, func(q *history.Request) {
			if (e.Op == "" || q.Op == e.Op) && (e.Key == "" || q.Key == e.Key) && !q.OK() &&
				(e.Exception == "any" || q.Outcome() == e.Exception) && strings.Contains(q.Message, e.Message) {
				n++
			}
		})
		if err != nil {
			r.Status, r.Detail = result.Unknown, err.Error()
			return r
		}
		what += fmt.Sprintf(" (message %q)", e.Message)
	case e.Exception == "any":
		n = t.failed
	default:
		n = t.byOutcome[e.Exception]
	}
	r.Detail = fmt.Sprintf("%d × %s of %d requests (%s)", n, what, t.total, t.outcomes())
	r.Status = result.Pass
	if t.total == 0 {
		r.Status, r.Detail = result.Unknown, "no requests in the window"
		return r
	}
	if (e.Min != nil && n < *e.Min) || (e.Max != nil && n > *e.Max) {
		r.Status = result.Fail
	}
	if e.Only && (e.Message != "" || e.Exception != "any") && t.failed > n {
		r.Status = result.Fail
		r.Detail += "; other failures appeared"
	}
	return r
}

func checkLatency(e scenario.LatencyExpect, in Input) result.Expectation {
	var bounds []string
	for _, b := range []struct {
		name string
		d    time.Duration
	}{{"p50", e.P50}, {"p95", e.P95}, {"p99", e.P99}, {"max", e.Max}} {
		if b.d > 0 {
			bounds = append(bounds, fmt.Sprintf("%s <= %s", b.name, b.d))
		}
	}
	desc := "latency " + strings.Join(bounds, ", ")
	if e.Op != "" {
		desc += " for " + e.Op
	}
	if e.OKOnly {
		desc += " (successes)"
	}
	desc += " in " + windowName(e.Window)
	r := result.Expectation{Kind: "latency", Description: desc}
	from, to, err := in.Timeline.window(e.Window)
	if err != nil {
		r.Status, r.Detail = refStatus(err), err.Error()
		return r
	}
	r.Window = in.Timeline.resultWindow(windowName(e.Window), from, to)
	t, err := gather(in, from, to, e.Op, "", e.OKOnly)
	if err != nil {
		r.Status, r.Detail = result.Unknown, err.Error()
		return r
	}
	if t.latency.N == 0 {
		r.Status, r.Detail = result.Unknown, "no requests in the window"
		return r
	}
	r.Status = result.Pass
	var got, over []string
	for _, b := range []struct {
		name  string
		limit time.Duration
		q     float64
	}{{"p50", e.P50, 0.50}, {"p95", e.P95, 0.95}, {"p99", e.P99, 0.99}, {"max", e.Max, 1}} {
		if b.limit <= 0 {
			continue
		}
		v := t.latency.Quantile(b.q)
		got = append(got, fmt.Sprintf("%s %s", b.name, fmtDur(v)))
		if v > b.limit {
			r.Status = result.Fail
			over = append(over, fmt.Sprintf("%s %s > %s", b.name, fmtDur(v), b.limit))
		}
	}
	r.Detail = fmt.Sprintf("%s over %d requests", strings.Join(got, ", "), t.latency.N)
	if len(over) > 0 {
		r.Detail = "over budget: " + strings.Join(over, ", ") + "; " + r.Detail
	}
	return r
}

func checkErrorRate(e scenario.ErrorRateExpect, in Input) result.Expectation {
	var bounds []string
	if e.Min != nil {
		bounds = append(bounds, fmt.Sprintf(">= %g", *e.Min))
	}
	if e.Max != nil {
		bounds = append(bounds, fmt.Sprintf("<= %g", *e.Max))
	}
	desc := "error rate " + strings.Join(bounds, " and ")
	if e.Op != "" {
		desc += " for " + e.Op
	}
	desc += " in " + windowName(e.Window)
	r := result.Expectation{Kind: "error-rate", Description: desc}
	from, to, err := in.Timeline.window(e.Window)
	if err != nil {
		r.Status, r.Detail = refStatus(err), err.Error()
		return r
	}
	r.Window = in.Timeline.resultWindow(windowName(e.Window), from, to)
	t, err := gather(in, from, to, e.Op, "", false)
	if err != nil {
		r.Status, r.Detail = result.Unknown, err.Error()
		return r
	}
	if t.total == 0 {
		r.Status, r.Detail = result.Unknown, "no requests in the window"
		return r
	}
	rate := float64(t.failed) / float64(t.total)
	r.Detail = fmt.Sprintf("%.4f (%d of %d failed: %s)", rate, t.failed, t.total, t.outcomes())
	r.Status = result.Pass
	if (e.Max != nil && rate > *e.Max) || (e.Min != nil && rate < *e.Min) {
		r.Status = result.Fail
	}
	return r
}

func checkThroughput(e scenario.ThroughputExpect, in Input) result.Expectation {
	desc := "successful requests/s"
	if e.Min > 0 {
		desc += fmt.Sprintf(" >= %g", e.Min)
	}
	if e.MinOfTarget > 0 {
		desc += fmt.Sprintf(" >= %g of the planned rate", e.MinOfTarget)
	}
	desc += " in " + windowName(e.Window)
	r := result.Expectation{Kind: "throughput", Description: desc}
	from, to, err := in.Timeline.window(e.Window)
	if err != nil {
		r.Status, r.Detail = refStatus(err), err.Error()
		return r
	}
	r.Window = in.Timeline.resultWindow(windowName(e.Window), from, to)
	if to <= from {
		r.Status, r.Detail = result.Unknown, "empty window"
		return r
	}
	t, err := gather(in, from, to, "", "", false)
	if err != nil {
		r.Status, r.Detail = result.Unknown, err.Error()
		return r
	}
	secs := (to - from).Seconds()
	got := float64(t.ok) / secs
	r.Status = result.Pass
	r.Detail = fmt.Sprintf("%.1f/s (%d successes in %.1fs)", got, t.ok, secs)
	if e.Min > 0 && got < e.Min {
		r.Status = result.Fail
	}
	if e.MinOfTarget > 0 {
		if in.PlannedRate == nil {
			r.Status, r.Detail = result.Unknown, "the planned rate is not known"
			return r
		}
		planned := in.PlannedRate(from-in.Timeline.LoadStart, to-in.Timeline.LoadStart)
		r.Detail += fmt.Sprintf(", planned %.1f/s", planned)
		if got < e.MinOfTarget*planned {
			r.Status = result.Fail
		}
	}
	return r
}

func checkSteady(e scenario.SteadyExpect, in Input) result.Expectation {
	var bounds []string
	if e.ErrorRate != nil {
		bounds = append(bounds, fmt.Sprintf("error rate <= %g", *e.ErrorRate))
	}
	if e.P99 > 0 {
		bounds = append(bounds, fmt.Sprintf("p99 <= %s", e.P99))
	}
	r := result.Expectation{Kind: "steady-state", Description: "steady state before the first fault and after the last recovery (+" + e.Settle.String() + "): " + strings.Join(bounds, ", ")}
	tl := in.Timeline
	before, after := [2]time.Duration{tl.LoadStart, tl.LoadEnd}, [2]time.Duration{tl.LoadEnd, tl.LoadEnd}
	for _, id := range tl.Faults {
		if s := tl.Entries[id]; s.Ran && s.Start < before[1] {
			before[1] = s.Start
		}
	}
	last := time.Duration(-1)
	for _, id := range append(append([]string(nil), tl.Faults...), tl.Steps...) {
		if s := tl.Entries[id]; s.Ran && s.End > last {
			last = s.End
		}
	}
	if last >= 0 {
		after[0] = last + e.Settle
	}
	statuses := []result.Status{}
	var details []string
	for _, w := range []struct {
		name     string
		from, to time.Duration
	}{{"before", before[0], before[1]}, {"after", after[0], after[1]}} {
		if w.name == "after" && last < 0 {
			continue // no fault: one window says it all
		}
		t, err := gather(in, w.from, w.to, "", "", false)
		if err != nil {
			statuses = append(statuses, result.Unknown)
			details = append(details, w.name+": "+err.Error())
			continue
		}
		if t.total < e.MinRequests {
			statuses = append(statuses, result.Unknown)
			details = append(details, fmt.Sprintf("%s (%s..%s): only %d requests, %d needed to judge", w.name, fmtAt(w.from-tl.LoadStart), fmtAt(w.to-tl.LoadStart), t.total, e.MinRequests))
			continue
		}
		st := result.Pass
		rate := float64(t.failed) / float64(t.total)
		d := fmt.Sprintf("%s (%s..%s): error rate %.4f", w.name, fmtAt(w.from-tl.LoadStart), fmtAt(w.to-tl.LoadStart), rate)
		if e.ErrorRate != nil && rate > *e.ErrorRate {
			st = result.Fail
			d += " (" + t.outcomes() + ")"
		}
		if e.P99 > 0 {
			p99 := t.latency.Quantile(0.99)
			d += ", p99 " + fmtDur(p99)
			if p99 > e.P99 {
				st = result.Fail
			}
		}
		statuses = append(statuses, st)
		details = append(details, d)
	}
	r.Status, r.Detail = result.Merge(statuses...), strings.Join(details, "; ")
	return r
}
