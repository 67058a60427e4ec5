package check

import (
	"fmt"
	"strings"
	"time"

	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/harness/scenario"
)

// transitions reads the History's transitions of one subject.
func transitions(path, subject string) ([]history.Transition, error) {
	var out []history.Transition
	err := history.Scan(path, func(e history.Event) error {
		if t := e.Transition; t != nil && t.Subject == subject {
			out = append(out, *t)
		}
		return nil
	})
	return out, err
}

func subjectOf(store, key string) string {
	if store != "" {
		return "store:" + store
	}
	return "key:" + key
}

func describeStates(ts []history.Transition, t Timeline) string {
	if len(ts) == 0 {
		return "never observed"
	}
	var b strings.Builder
	for i, tr := range ts {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == 12 && len(ts) > 14 {
			fmt.Fprintf(&b, "... (%d more)", len(ts)-i)
			break
		}
		b.WriteString(tr.To)
		if tr.Code != "" {
			b.WriteString("/" + tr.Code)
		}
		b.WriteString(" at " + fmtAt(tr.At-t.LoadStart))
	}
	return b.String()
}

func checkState(e scenario.StateExpect, in Input) result.Expectation {
	subject := subjectOf(e.Store, e.Key)
	desc := fmt.Sprintf("%s reaches %s", subject, e.To)
	if e.Code != "" {
		desc += " with " + e.Code
	}
	after := e.After
	if after == "" {
		after = "start"
	}
	if e.Within > 0 {
		desc += fmt.Sprintf(" within %s of %s", e.Within, after)
	} else {
		desc += " after " + after
	}
	if e.Stays {
		desc += " and stays there"
	}
	r := result.Expectation{Kind: "state", Description: desc}
	from, err := in.Timeline.Resolve(e.After, "start")
	if err != nil {
		r.Status, r.Detail = refStatus(err), err.Error()
		return r
	}
	// A state already held when the reference happened counts: the
	// observer stamps a state when first seen.
	ts, err := transitions(in.History, subject)
	if err != nil {
		r.Status, r.Detail = result.Unknown, err.Error()
		return r
	}
	deadline := time.Duration(1<<63 - 1)
	if e.Within > 0 {
		deadline = from + e.Within
	}
	r.Window = &result.Window{Name: after, Start: result.Seconds(from - in.Timeline.LoadStart)}
	if e.Within > 0 {
		r.Window.End = result.Seconds(deadline - in.Timeline.LoadStart)
	}
	held := -1 // the state in force at from
	for i, tr := range ts {
		if tr.At <= from {
			held = i
		}
	}
	match := func(tr history.Transition) bool { return tr.To == e.To && (e.Code == "" || tr.Code == e.Code) }
	found := -1
	if held >= 0 && match(ts[held]) {
		found = held
	}
	for i := held + 1; found < 0 && i < len(ts); i++ {
		if ts[i].At > deadline {
			break
		}
		if match(ts[i]) {
			found = i
		}
	}
	if found < 0 {
		r.Status = result.Fail
		r.Detail = "observed: " + describeStates(ts, in.Timeline)
		return r
	}
	at := ts[found].At
	if at < from {
		at = from
	}
	r.Status, r.Detail = result.Pass, fmt.Sprintf("reached %s %s after %s", e.To, fmtDur(at-from), after)
	if e.Stays {
		// Stays means never leaves again, not "is back by the end".
		for _, tr := range ts[found+1:] {
			if !match(tr) {
				r.Status = result.Fail
				r.Detail += fmt.Sprintf(", but left it: %s at %s", describeOne(tr), fmtAt(tr.At-in.Timeline.LoadStart))
				break
			}
		}
	}
	return r
}

func checkSequence(e scenario.SequenceExpect, in Input) result.Expectation {
	subject := subjectOf(e.Store, e.Key)
	after := e.After
	if after == "" {
		after = "start"
	}
	r := result.Expectation{Kind: "sequence", Description: fmt.Sprintf("%s goes through %s after %s", subject, strings.Join(e.States, " -> "), after)}
	from, err := in.Timeline.Resolve(e.After, "start")
	if err != nil {
		r.Status, r.Detail = refStatus(err), err.Error()
		return r
	}
	ts, err := transitions(in.History, subject)
	if err != nil {
		r.Status, r.Detail = result.Unknown, err.Error()
		return r
	}
	var seen []history.Transition
	for i, tr := range ts {
		// The state in force at from counts as the first one seen.
		if tr.At > from || (i+1 < len(ts) && ts[i+1].At > from) || i == len(ts)-1 {
			seen = append(seen, tr)
		}
	}
	next := 0
	for _, tr := range seen {
		if next < len(e.States) && tr.To == e.States[next] {
			next++
		}
	}
	if next == len(e.States) {
		r.Status, r.Detail = result.Pass, "observed: "+describeStates(seen, in.Timeline)
		return r
	}
	r.Status = result.Fail
	r.Detail = fmt.Sprintf("never saw %s (after %s); observed: %s", e.States[next], strings.Join(e.States[:next], " -> "), describeStates(seen, in.Timeline))
	if next == 0 {
		r.Detail = "observed: " + describeStates(seen, in.Timeline)
	}
	return r
}

func fmtDur(d time.Duration) string {
	return d.Round(time.Millisecond).String()
}

func describeOne(tr history.Transition) string {
	if tr.Code != "" {
		return tr.To + "/" + tr.Code
	}
	return tr.To
}
