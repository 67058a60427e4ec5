package check

import (
	"fmt"

	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/harness/scenario"
)

// checkOutcome judges a timeline entry's own answer: the exception its API
// call failed with, or its success.
func checkOutcome(e scenario.OutcomeExpect, in Input) result.Expectation {
	r := result.Expectation{Kind: "outcome", Description: e.Entry + " succeeds"}
	if e.Exception != "" {
		r.Description = e.Entry + " fails with " + e.Exception
	}
	var inj *history.Injection
	err := history.Scan(in.History, func(ev history.Event) error {
		if i := ev.Injection; i != nil && i.ID == e.Entry {
			inj = i
		}
		return nil
	})
	switch {
	case err != nil:
		r.Status, r.Detail = result.Unknown, err.Error()
	case inj == nil:
		r.Status, r.Detail = result.Unknown, e.Entry+" never ran"
	case inj.NotApplicable:
		r.Status, r.Detail = result.NotApplicable, inj.Error
	case e.Exception == "" && inj.Error == "":
		r.Status, r.Detail = result.Pass, "it succeeded"
	case e.Exception == "":
		r.Status, r.Detail = result.Fail, "it failed: "+inj.Error
	case inj.Exception == e.Exception:
		r.Status, r.Detail = result.Pass, "it failed: "+inj.Error
	case inj.Error == "":
		r.Status, r.Detail = result.Fail, "it succeeded"
	default:
		r.Status, r.Detail = result.Fail, fmt.Sprintf("it failed with %s: %s", orNone(inj.Exception), inj.Error)
	}
	return r
}

func orNone(s string) string {
	if s == "" {
		return "no AWS exception"
	}
	return s
}
