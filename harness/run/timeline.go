package run

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/smithy-go"

	"github.com/keystorm/keystorm/harness/check"
	"github.com/keystorm/keystorm/harness/faults"
	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/scenario"
)

// runEntry waits for a timeline entry's moment, then performs its action
// and stamps it. An entry whose action the target cannot perform is
// stamped not applicable at its moment and never run.
func (r *runner) runEntry(ctx context.Context, e *scenario.TimelineEntry) {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := r.waitFor(ctx, e); err != nil {
		if ctx.Err() != nil && r.loadEnded() {
			return // the load ended first: the entry never ran
		}
		inj := history.Injection{ID: e.ID, Kind: string(e.Action.Kind()), Action: e.Action.Name(), Start: r.since(), End: r.since(), Error: "never happened: " + err.Error(), Skipped: true}
		r.hist.Injection(inj)
		r.setSpan(e.ID, span{Span: check.Span{Start: inj.Start, End: inj.End, Failed: true}, done: true})
		return
	}
	inj := history.Injection{ID: e.ID, Kind: string(e.Action.Kind()), Action: e.Action.Name(), Detail: describeAction(e), Start: r.since()}
	if err := faults.Check(e.Action, r.stack); err != nil {
		inj.End, inj.NotApplicable, inj.Error = inj.Start, true, err.Error()
		r.hist.Injection(inj)
		r.setSpan(e.ID, span{Span: check.Span{Start: inj.Start, End: inj.End, NotApplicable: true}, done: true})
		return
	}
	r.setSpan(e.ID, span{Span: check.Span{Start: inj.Start, End: inj.Start, Ran: true}})
	err := e.Action.Inject(ctx, r.env)
	inj.End = r.since()
	if err != nil {
		inj.Error = err.Error()
		var api smithy.APIError
		if errors.As(err, &api) {
			inj.Exception = api.ErrorCode()
		}
	}
	r.hist.Injection(inj)
	r.setSpan(e.ID, span{Span: check.Span{Start: inj.Start, End: inj.End, Ran: true, Failed: err != nil}, done: true})
	r.watchBindings()
}

// watchBindings lets the observer see stores and keys steps may have
// bound (a key re-created, a store renamed keeps its id).
func (r *runner) watchBindings() {
	for _, name := range r.env.StoreNames() {
		if id, err := r.env.Store(name); err == nil {
			r.observer.Watch("store", name, id)
		}
	}
}

func (r *runner) loadEnded() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loadDone
}

// span is a timeline entry's Span while the run goes on: done once it
// ended.
type span struct {
	check.Span
	done bool
}

func (r *runner) setSpan(id string, s span) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans[id] = s
}

func (r *runner) span(id string) (span, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.spans[id]
	return s, ok
}

// waitFor blocks until the entry's `at` or `when` holds.
func (r *runner) waitFor(ctx context.Context, e *scenario.TimelineEntry) error {
	if e.At != nil {
		return sleepUntil(ctx, r.base.Add(r.loadStart+*e.At))
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := r.holds(e.When)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", describeCondition(e.When), context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// errCannot marks a condition that can never hold.
var errCannot = errors.New("cannot hold")

// holds evaluates a condition now.
func (r *runner) holds(c *scenario.Condition) (bool, error) {
	since := r.loadStart
	if c.After != "" {
		ref, err := scenario.ParseRef(c.After)
		if err != nil {
			return false, err
		}
		at := r.loadStart
		if ref.Name != "start" {
			s, ok := r.span(ref.Name)
			if !ok || (ref.End && !s.done) {
				return false, nil
			}
			if s.NotApplicable || (!s.Ran && s.Failed) {
				return false, fmt.Errorf("%s %w: %s did not run", describeCondition(c), errCannot, ref.Name)
			}
			at = s.Start
			if ref.End {
				at = s.End
			}
		}
		since = at + ref.Offset
		if r.since() < since {
			return false, nil
		}
	}
	if c.Store != "" || c.Key != "" {
		subject := "store:" + c.Store
		if c.Key != "" {
			subject = "key:" + c.Key
		}
		st, ok := r.observer.State(subject)
		if !ok || st.State != c.State || (c.Code != "" && st.Code != c.Code) {
			return false, nil
		}
	}
	if c.Errors != "" && !r.live.seen(c.Errors, since) {
		return false, nil
	}
	return true, nil
}

func describeCondition(c *scenario.Condition) string {
	var parts []string
	if c.After != "" {
		parts = append(parts, "after "+c.After)
	}
	if c.Store != "" {
		parts = append(parts, "store "+c.Store+" "+c.State)
	}
	if c.Key != "" {
		parts = append(parts, "key "+c.Key+" "+c.State)
	}
	if c.Code != "" {
		parts = append(parts, "code "+c.Code)
	}
	if c.Errors != "" {
		parts = append(parts, "load sees "+c.Errors)
	}
	return "when " + strings.Join(parts, ", ")
}

func describeAction(e *scenario.TimelineEntry) string {
	if s, ok := e.Action.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%+v", e.Action)
}

// sleepUntil waits for t or ctx.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-timer.C:
		return nil
	}
}
