package check

import (
	"time"

	"github.com/keystorm/keystorm/harness/scenario"
)

// Mutants returns variants of an expectation that must fail on a History
// where the expectation passed: the documented outcome swapped for another
// (another ConnectionErrorCode, another exception, states in the other
// order), or a bound turned around. Judging them on the same History shows
// that a scenario does not pass vacuously: its windows hold the traffic
// and the transitions that decide it. Integrity has no mutant here: a
// History with a lost ciphertext is its test.
func Mutants(e scenario.Expectation) []scenario.Expectation {
	var out []scenario.Expectation
	add := func(m scenario.Expectation) {
		m.ID = e.ID + "~mutant"
		out = append(out, m)
	}
	switch {
	case e.State != nil:
		m := *e.State
		if m.Code != "" {
			m.Code = otherOf(scenario.ConnectionErrorCodes, m.Code)
		} else {
			m.To = opposite(m.To)
		}
		add(scenario.Expectation{State: &m})
	case e.Sequence != nil && len(e.Sequence.States) > 1:
		m := *e.Sequence
		m.States = make([]string, len(e.Sequence.States))
		for i, s := range e.Sequence.States {
			m.States[len(m.States)-1-i] = s
		}
		add(scenario.Expectation{Sequence: &m})
	case e.Errors != nil:
		m := *e.Errors
		switch {
		case m.Exception != scenario.AnyException:
			m.Exception = otherException(m.Exception)
		case m.Max != nil:
			n := *m.Max + 1
			m.Min, m.Max = &n, nil
		default:
			n := *m.Min - 1
			m.Min, m.Max = nil, &n
		}
		add(scenario.Expectation{Errors: &m})
	case e.Latency != nil:
		m := *e.Latency
		for _, d := range []*time.Duration{&m.P50, &m.P95, &m.P99, &m.Max} {
			if *d > 0 {
				*d = time.Nanosecond
			}
		}
		add(scenario.Expectation{Latency: &m})
	case e.ErrorRate != nil:
		m := *e.ErrorRate
		if m.Max != nil {
			v := *m.Max + 1e-6
			m.Min, m.Max = &v, nil
		} else {
			v := *m.Min - 1e-6
			m.Min, m.Max = nil, &v
		}
		add(scenario.Expectation{ErrorRate: &m})
	case e.Throughput != nil:
		m := *e.Throughput
		m.Min, m.MinOfTarget = 1e9, 0
		add(scenario.Expectation{Throughput: &m})
	case e.SteadyState != nil:
		m := *e.SteadyState
		m.P99 = time.Nanosecond
		add(scenario.Expectation{SteadyState: &m})
	case e.Audit != nil:
		m := *e.Audit
		switch m.DeletionStatus {
		case "SUCCESS":
			m.DeletionStatus = "FAILURE"
		case "FAILURE":
			m.DeletionStatus = "SUCCESS"
		default:
			m.Event = "Never" + m.Event
		}
		add(scenario.Expectation{Audit: &m})
	case e.Outcome != nil:
		m := *e.Outcome
		if m.Exception == "" {
			m.Exception = "KMSInternalException"
		} else {
			m.Exception = otherException(m.Exception)
		}
		add(scenario.Expectation{Outcome: &m})
	}
	return out
}

func otherOf(list []string, v string) string {
	for _, s := range list {
		if s != v {
			return s
		}
	}
	return v
}

// otherException is a plausible wrong answer for an expected exception.
func otherException(x string) string {
	if x == "KMSInternalException" {
		return "KMSInvalidStateException"
	}
	return "KMSInternalException"
}

// opposite is a state a subject would be in if the documented one were
// wrong.
func opposite(state string) string {
	switch state {
	case "CONNECTED":
		return "FAILED"
	case "Enabled":
		return "Disabled"
	case "Disabled", "Unavailable", "PendingDeletion":
		return "Enabled"
	}
	return "CONNECTED"
}
