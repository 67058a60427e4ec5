// Package check judges a run: each expectation of the scenario is a pure
// function of the run's History (and of its timeline of injections),
// returning Pass, Fail, Unknown or NotApplicable as jepsen's checkers do.
// Fail beats Unknown beats Pass; a check that cannot decide (no traffic
// where it looks, an error reading the History) is Unknown, never Pass;
// an expectation that depends on a fault the target could not perform is
// NotApplicable.
package check

import (
	"fmt"
	"time"

	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/harness/scenario"
)

// Span is when one timeline entry ran, since the run's base time.
type Span struct {
	Start, End time.Duration
	// Ran is false when the entry never started (its condition never held,
	// or the run ended first).
	Ran           bool
	NotApplicable bool
	Failed        bool
}

// Timeline is what the references of windows and `after:` resolve against.
type Timeline struct {
	LoadStart, LoadEnd time.Duration
	Entries            map[string]Span
	// Faults and Steps list the ids of the entries of each kind, in
	// timeline order (for steady-state windows).
	Faults, Steps []string
}

// Input is what the checks read.
type Input struct {
	History  string
	Timeline Timeline
	// PlannedRate is the schedule's mean rate over [from, to) since the
	// load's start, for throughput against the plan.
	PlannedRate func(from, to time.Duration) float64
}

// errNotApplicable marks a reference to an entry that could not run on
// this target.
type errNotApplicable struct{ id string }

func (e errNotApplicable) Error() string {
	return fmt.Sprintf("%s could not be done on this target", e.id)
}

// errNotRun marks a reference to an entry that never ran.
type errNotRun struct{ id string }

func (e errNotRun) Error() string { return fmt.Sprintf("%s never ran", e.id) }

// Resolve turns a reference ("start", "end", "<id>", "<id>.end", each with
// an optional offset) into a time since the base.
func (t Timeline) Resolve(ref string, dflt string) (time.Duration, error) {
	if ref == "" {
		ref = dflt
	}
	r, err := scenario.ParseRef(ref)
	if err != nil {
		return 0, err
	}
	var at time.Duration
	switch r.Name {
	case "start":
		at = t.LoadStart
	case "end":
		at = t.LoadEnd
	default:
		s, ok := t.Entries[r.Name]
		switch {
		case !ok:
			return 0, fmt.Errorf("unknown timeline entry %q", r.Name)
		case s.NotApplicable:
			return 0, errNotApplicable{r.Name}
		case !s.Ran:
			return 0, errNotRun{r.Name}
		}
		at = s.Start
		if r.End {
			at = s.End
		}
	}
	return at + r.Offset, nil
}

// window resolves a scenario window.
func (t Timeline) window(w scenario.Window) (from, to time.Duration, err error) {
	if from, err = t.Resolve(w.From, "start"); err != nil {
		return 0, 0, err
	}
	if to, err = t.Resolve(w.To, "end"); err != nil {
		return 0, 0, err
	}
	if to < from {
		return 0, 0, fmt.Errorf("window ends (%s) before it starts (%s)", fmtAt(to-t.LoadStart), fmtAt(from-t.LoadStart))
	}
	return from, to, nil
}

// refStatus is the status an expectation gets when a reference fails.
func refStatus(err error) result.Status {
	switch err.(type) {
	case errNotApplicable:
		return result.NotApplicable
	}
	return result.Unknown
}

// Evaluate judges every expectation.
func Evaluate(exps []scenario.Expectation, in Input) []result.Expectation {
	out := make([]result.Expectation, 0, len(exps))
	for i, e := range exps {
		id := e.ID
		if id == "" {
			id = fmt.Sprintf("expect[%d]", i+1)
		}
		r := evaluateOne(e, in)
		r.ID = id
		out = append(out, r)
	}
	return out
}

func evaluateOne(e scenario.Expectation, in Input) (r result.Expectation) {
	defer func() {
		// check-safe: a crashing check is Unknown, never Pass.
		if p := recover(); p != nil {
			r.Status, r.Detail = result.Unknown, fmt.Sprintf("the check crashed: %v", p)
		}
	}()
	switch {
	case e.State != nil:
		return checkState(*e.State, in)
	case e.Sequence != nil:
		return checkSequence(*e.Sequence, in)
	case e.Errors != nil:
		return checkErrors(*e.Errors, in)
	case e.Latency != nil:
		return checkLatency(*e.Latency, in)
	case e.ErrorRate != nil:
		return checkErrorRate(*e.ErrorRate, in)
	case e.Throughput != nil:
		return checkThroughput(*e.Throughput, in)
	case e.Integrity != nil:
		return checkIntegrity(*e.Integrity, in)
	case e.SteadyState != nil:
		return checkSteady(*e.SteadyState, in)
	case e.Outcome != nil:
		return checkOutcome(*e.Outcome, in)
	case e.Audit != nil:
		return checkAudit(*e.Audit, in)
	}
	return result.Expectation{Kind: "unknown", Status: result.Unknown, Detail: "empty expectation"}
}

// fmtAt prints a time since the load's start.
func fmtAt(d time.Duration) string {
	return fmt.Sprintf("%.1fs", d.Seconds())
}

func (t Timeline) resultWindow(name string, from, to time.Duration) *result.Window {
	return &result.Window{Name: name, Start: result.Seconds(from - t.LoadStart), End: result.Seconds(to - t.LoadStart)}
}

// scanRequests calls fn for every load request (not setup or verify ones)
// whose intended time is in [from, to).
func scanRequests(path string, from, to time.Duration, fn func(*history.Request)) error {
	return history.Scan(path, func(e history.Event) error {
		if r := e.Request; r != nil && isLoad(r) && r.Intended >= from && r.Intended < to {
			fn(r)
		}
		return nil
	})
}

// Operations recorded outside the load.
const (
	OpSetupEncrypt = "SetupEncrypt"
	OpVerify       = "Verify"
)

func isLoad(r *history.Request) bool { return r.Op != OpSetupEncrypt && r.Op != OpVerify }
