package check

import (
	"time"

	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/scenario"
)

// ReadTimeline rebuilds a run's Timeline from its History: the load's
// start and end (its notes) and every timeline entry's span (its
// injection). The History alone is enough to judge a run again.
func ReadTimeline(path string, sc *scenario.Scenario) (Timeline, error) {
	tl := Timeline{Entries: map[string]Span{}}
	for _, e := range sc.Timeline {
		if e.Fault != "" {
			tl.Faults = append(tl.Faults, e.ID)
		} else {
			tl.Steps = append(tl.Steps, e.ID)
		}
	}
	ended := false
	err := history.Scan(path, func(ev history.Event) error {
		switch {
		case ev.Note != nil && ev.Note.Kind == "load-start":
			tl.LoadStart = ev.Note.At
		case ev.Note != nil && ev.Note.Kind == "load-end":
			tl.LoadEnd, ended = ev.Note.At, true
		case ev.Injection != nil && ev.Injection.Kind != "setup":
			i := ev.Injection
			tl.Entries[i.ID] = Span{
				Start: i.Start, End: i.End, Ran: !i.NotApplicable && !i.Skipped,
				NotApplicable: i.NotApplicable, Failed: i.Error != "" && !i.NotApplicable,
			}
		}
		return nil
	})
	if !ended {
		// A run cut short: judge up to the last thing it recorded.
		tl.LoadEnd = lastTime(path)
	}
	return tl, err
}

// lastTime is the latest time in a History.
func lastTime(path string) (last time.Duration) {
	history.Scan(path, func(ev history.Event) error {
		var at time.Duration
		switch {
		case ev.Request != nil:
			at = ev.Request.Done
		case ev.Transition != nil:
			at = ev.Transition.At
		case ev.Injection != nil:
			at = ev.Injection.End
		case ev.Note != nil:
			at = ev.Note.At
		}
		last = max(last, at)
		return nil
	})
	return last
}
