// Package result is the outcome of one scenario run, in the shape that
// `keystorm run --out` writes as result.json and that every report is made
// from. The JSON form is documented (schema "keystorm.result/v1") and kept
// stable: times are seconds since the run's start, latencies milliseconds.
package result

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Schema names this version of the result format.
const Schema = "keystorm.result/v1"

// Status is the verdict of an expectation or of the whole run.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail"
	// Unknown: the check could not tell (it erred, or its assumptions, such
	// as enough traffic before the fault, did not hold).
	Unknown Status = "unknown"
	// NotApplicable: what the expectation depends on could not be done on
	// this target. Never counted as passed.
	NotApplicable Status = "not-applicable"
)

// Merge combines statuses as jepsen's compose does: Fail beats Unknown
// beats Pass; NotApplicable counts only when nothing else is there.
func Merge(ss ...Status) Status {
	out := NotApplicable
	for _, s := range ss {
		switch {
		case s == Fail:
			return Fail
		case s == Unknown:
			out = Unknown
		case s == Pass && out == NotApplicable:
			out = Pass
		}
	}
	return out
}

// Exit codes of `keystorm run`.
const (
	ExitPass    = 0 // every applicable expectation held
	ExitFail    = 1 // an expectation failed (or could not be decided)
	ExitInvalid = 2 // bad input, the stack or the load generator failed, or nothing applicable was left
)

// Expectation is the verdict on one expectation of the scenario.
type Expectation struct {
	// ID is the expectation's id in the scenario (or "expect[N]").
	ID string `json:"id"`
	// Kind is transition, sequence, errors, latency, error-rate,
	// throughput, integrity or steady-state.
	Kind string `json:"kind"`
	// Description says what was expected, in words.
	Description string `json:"description"`
	Status      Status `json:"status"`
	// Detail says what was observed, or why the status is what it is.
	Detail string  `json:"detail,omitempty"`
	Window *Window `json:"window,omitempty"`
}

// Window is a time span of the run, in seconds since its start.
type Window struct {
	Name  string  `json:"name,omitempty"`
	Start float64 `json:"start_s"`
	End   float64 `json:"end_s"`
}

// Latencies are percentiles in milliseconds.
type Latencies struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// Load summarises the load of the run.
type Load struct {
	// Shape describes the pacer, such as "constant 100/s".
	Shape string `json:"shape"`
	// Planned is how many requests the schedule asked for; Sent how many
	// went out.
	Planned int64 `json:"planned"`
	Sent    int64 `json:"sent"`
	OK      int64 `json:"ok"`
	// TargetRate and AchievedRate are requests per second over the load's
	// duration.
	TargetRate   float64 `json:"target_rate"`
	AchievedRate float64 `json:"achieved_rate"`
	// Late counts requests sent more than the lateness tolerance after
	// their intended time: the load generator's own delay.
	Late        int64            `json:"late"`
	MaxLateMS   float64          `json:"max_late_ms"`
	Latency     Latencies        `json:"latency"`
	ByOutcome   map[string]int64 `json:"by_outcome"`
	ByOperation map[string]int64 `json:"by_operation"`
}

// Injection is one fault, step or setup action as it happened.
type Injection struct {
	ID            string  `json:"id"`
	Kind          string  `json:"kind"`
	Action        string  `json:"action"`
	Detail        string  `json:"detail,omitempty"`
	Start         float64 `json:"start_s"`
	End           float64 `json:"end_s"`
	Error         string  `json:"error,omitempty"`
	NotApplicable bool    `json:"not_applicable,omitempty"`
}

// Transition is an observed state change.
type Transition struct {
	At      float64 `json:"at_s"`
	Subject string  `json:"subject"`
	From    string  `json:"from,omitempty"`
	To      string  `json:"to"`
	Code    string  `json:"code,omitempty"`
}

// Bucket is one second (or one Step) of the run, for plots.
type Bucket struct {
	Start    float64          `json:"start_s"`
	Requests int64            `json:"requests"`
	OK       int64            `json:"ok"`
	Errors   map[string]int64 `json:"errors,omitempty"`
	P50      float64          `json:"p50_ms"`
	P99      float64          `json:"p99_ms"`
}

// Result is one run.
type Result struct {
	Schema      string    `json:"schema"`
	Scenario    string    `json:"scenario"`
	File        string    `json:"file,omitempty"`
	Description string    `json:"description,omitempty"`
	Stack       string    `json:"stack"`
	Endpoint    string    `json:"endpoint,omitempty"`
	Seed        int64     `json:"seed"`
	Started     time.Time `json:"started"`
	Duration    float64   `json:"duration_s"`
	// Status is the run's verdict; ExitCode what `keystorm run` exits with.
	Status   Status `json:"status"`
	ExitCode int    `json:"exit_code"`
	// Invalid says why the run cannot be trusted (the load generator fell
	// behind, the stack failed, nothing applicable was left); empty
	// otherwise.
	Invalid string `json:"invalid,omitempty"`
	// Aborted says which abort condition stopped the run early, if one did.
	Aborted      string        `json:"aborted,omitempty"`
	Expectations []Expectation `json:"expectations"`
	Load         Load          `json:"load"`
	Timeline     []Injection   `json:"timeline"`
	Transitions  []Transition  `json:"transitions"`
	// Step is the width of a Series bucket in seconds.
	Step   float64  `json:"step_s"`
	Series []Bucket `json:"series"`
	// History is the file holding every event of the run.
	History string `json:"history,omitempty"`
}

// Seconds converts a time since the run's start for the JSON form.
func Seconds(d time.Duration) float64 { return d.Seconds() }

// Millis converts a latency for the JSON form.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Counts tallies expectations by status.
func (r *Result) Counts() map[Status]int {
	m := map[Status]int{}
	for _, e := range r.Expectations {
		m[e.Status]++
	}
	return m
}

// Read loads a result.json.
func Read(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read result %s: %w", path, err)
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("read result %s: schema %q, want %q", path, r.Schema, Schema)
	}
	return &r, nil
}
