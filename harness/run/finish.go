package run

import (
	"fmt"
	"sort"
	"time"

	"github.com/keystorm/keystorm/harness/check"
	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/result"
)

// finish judges the run and fills in the result from its History.
func (r *runner) finish(res *result.Result, invalid, aborted string) {
	res.Duration = result.Seconds(r.since())
	res.Invalid, res.Aborted = invalid, aborted
	// The checks judge from the History alone, as a re-check later would.
	tl, err := check.ReadTimeline(r.hist.Path(), r.sc)
	if err != nil && res.Invalid == "" {
		res.Invalid = "read history: " + err.Error()
	}
	if err := r.summarise(res); err != nil && res.Invalid == "" {
		res.Invalid = "read history: " + err.Error()
	}
	if res.Invalid == "" || aborted != "" {
		res.Expectations = check.Evaluate(r.sc.Expect, check.Input{
			History: r.hist.Path(), Timeline: tl,
			PlannedRate: func(from, to time.Duration) float64 {
				if to <= from {
					return 0
				}
				s, err := r.schedule()
				if err != nil {
					return 0
				}
				return (s.Hits(to) - s.Hits(from)) / (to - from).Seconds()
			},
		})
	}
	if aborted != "" {
		res.Expectations = append(res.Expectations, result.Expectation{
			ID: "abort", Kind: "abort", Description: "no abort condition is met", Status: result.Fail, Detail: aborted,
		})
	}
	var statuses []result.Status
	for _, e := range res.Expectations {
		statuses = append(statuses, e.Status)
	}
	switch {
	case res.Invalid != "":
		res.Status, res.ExitCode = result.Unknown, result.ExitInvalid
	case len(res.Expectations) == 0:
		res.Status, res.ExitCode = result.NotApplicable, result.ExitInvalid
		res.Invalid = "the scenario has no expectations"
	default:
		res.Status = result.Merge(statuses...)
		switch res.Status {
		case result.Pass:
			res.ExitCode = result.ExitPass
		case result.NotApplicable:
			res.ExitCode = result.ExitInvalid
			res.Invalid = "no expectation was applicable on this target"
		default:
			res.ExitCode = result.ExitFail
		}
	}
}

// seriesStep is the width of a plot bucket.
const seriesStep = time.Second

// summarise makes the load summary, the timeline, the transitions and the
// per-second series in one pass over the History.
func (r *runner) summarise(res *result.Result) error {
	sum := r.summary
	ld := result.Load{
		Planned: sum.Planned, Sent: sum.Sent, OK: sum.OK, Late: sum.Late, MaxLateMS: result.Millis(sum.MaxLate),
		ByOutcome: map[string]int64{}, ByOperation: map[string]int64{},
	}
	if s, err := r.schedule(); err == nil {
		ld.Shape = s.String()
	}
	if d := r.sc.Load.Duration.Seconds(); d > 0 {
		ld.TargetRate = float64(sum.Planned) / d
		ld.AchievedRate = float64(sum.Sent) / d
	}
	var all check.Latencies
	type acc struct {
		b   result.Bucket
		lat check.Latencies
	}
	buckets := map[int64]*acc{}
	err := history.Scan(r.hist.Path(), func(ev history.Event) error {
		switch {
		case ev.Request != nil && ev.Request.Op != check.OpVerify && ev.Request.Op != check.OpSetupEncrypt:
			q := ev.Request
			ld.ByOperation[q.Op]++
			ld.ByOutcome[q.Outcome()]++
			all.Add(q.Latency())
			i := int64((q.Intended - r.loadStart) / seriesStep)
			a := buckets[i]
			if a == nil {
				a = &acc{b: result.Bucket{Start: float64(i) * seriesStep.Seconds(), Errors: map[string]int64{}}}
				buckets[i] = a
			}
			a.b.Requests++
			if q.OK() {
				a.b.OK++
			} else {
				a.b.Errors[q.Outcome()]++
			}
			a.lat.Add(q.Latency())
		case ev.Injection != nil:
			in := ev.Injection
			res.Timeline = append(res.Timeline, result.Injection{
				ID: in.ID, Kind: in.Kind, Action: in.Action, Detail: in.Detail,
				Start: result.Seconds(in.Start - r.loadStart), End: result.Seconds(in.End - r.loadStart),
				Error: in.Error, NotApplicable: in.NotApplicable,
			})
		case ev.Transition != nil:
			t := ev.Transition
			res.Transitions = append(res.Transitions, result.Transition{
				At: result.Seconds(t.At - r.loadStart), Subject: t.Subject, From: t.From, To: t.To, Code: t.Code,
			})
		}
		return nil
	})
	if all.N > 0 {
		ld.Latency = result.Latencies{
			P50: result.Millis(all.Quantile(0.5)), P90: result.Millis(all.Quantile(0.9)), P95: result.Millis(all.Quantile(0.95)),
			P99: result.Millis(all.Quantile(0.99)), Max: result.Millis(all.Max()), Mean: result.Millis(all.Mean()),
		}
	}
	keys := make([]int64, 0, len(buckets))
	for k := range buckets {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		a := buckets[k]
		a.b.P50, a.b.P99 = result.Millis(a.lat.Quantile(0.5)), result.Millis(a.lat.Quantile(0.99))
		if len(a.b.Errors) == 0 {
			a.b.Errors = nil
		}
		res.Series = append(res.Series, a.b)
	}
	res.Step = seriesStep.Seconds()
	sort.SliceStable(res.Timeline, func(i, j int) bool { return res.Timeline[i].Start < res.Timeline[j].Start })
	res.Load = ld
	if err != nil {
		return fmt.Errorf("summarise: %w", err)
	}
	return nil
}
