package scenario

import (
	"time"

	"gopkg.in/yaml.v3"

	"github.com/keystorm/keystorm/harness/faults"
	"github.com/keystorm/keystorm/harness/load"
)

// Scenario is one scenario file, decoded and validated: the Plan a run
// carries out.
type Scenario struct {
	// File is where the scenario came from (set by Load, not by YAML).
	File string `yaml:"-"`

	Name        string `yaml:"name" doc:"the scenario's name: lower-case letters, digits and dashes"`
	Description string `yaml:"description" doc:"what fails, the documented cause and the documented fix"`
	// Covers lists the spec items the scenario asserts (see the library's
	// coverage test), such as "code:NETWORK_ERRORS" or "procedure:6".
	Covers []string `yaml:"covers" doc:"spec items this scenario covers, such as code:NETWORK_ERRORS, exception:DisabledException, procedure:3"`
	// Seed makes random choices (payloads, mixes, Poisson arrivals, the
	// soak's faults) replayable; 0 picks one and reports it.
	Seed int64 `yaml:"seed" doc:"seed for every random choice; 0 picks one and reports it"`
	// Timeout bounds the whole run (default: the load's duration plus 2m).
	Timeout time.Duration `yaml:"timeout" doc:"hard bound on the whole run (default: load duration + 2m)"`

	Stack    StackConfig     `yaml:"stack" doc:"the embedded stack's settings (ignored by external targets)"`
	Setup    Setup           `yaml:"setup" doc:"clusters, stores, keys and ciphertexts made before the load starts"`
	Load     load.Config     `yaml:"load" doc:"the load"`
	Timeline []TimelineEntry `yaml:"timeline" doc:"faults and recovery steps, at a time or when a condition holds"`
	// Chaos adds faults that arrive and heal at random (seeded) to the
	// timeline: a soak.
	Chaos  *Chaos        `yaml:"chaos" doc:"faults arriving and healing at random times drawn from the seed (a soak)"`
	Expect []Expectation `yaml:"expect" doc:"what must hold"`
	Abort  []Abort       `yaml:"abort" doc:"conditions that stop the run early"`

	// positions records where Parse found each field, so that Validate can
	// locate its errors and ApplyDefaults can tell a field left out from
	// one set to zero; nil for a scenario built in Go.
	positions positions `yaml:"-"`
}

// StackConfig tunes the embedded stack.
type StackConfig struct {
	Clusters int     `yaml:"clusters" doc:"seeded clusters (default: as many as setup.clusters names)"`
	Speed    float64 `yaml:"speed" doc:"stack clock speed: 60 makes a minute of stack time pass in a second (default 1)"`
	// ConnectDuration is a connection attempt's length in stack time.
	ConnectDuration time.Duration `yaml:"connect-duration" doc:"a connection attempt's length in stack time (default 20m, the real service's)"`
}

// Setup is what exists before the load starts.
type Setup struct {
	// Clusters names the target's clusters, in the order its info lists
	// them.
	Clusters    []string         `yaml:"clusters" doc:"names for the target's clusters, in its order"`
	Stores      []StoreSetup     `yaml:"stores" doc:"custom key stores to create"`
	Keys        []KeySetup       `yaml:"keys" doc:"KMS keys to create"`
	Ciphertexts []CiphertextKeep `yaml:"ciphertexts" doc:"ciphertexts made before the load and checked to decrypt at the end"`
}

// StoreSetup creates a custom key store.
type StoreSetup struct {
	Name    string `yaml:"name" doc:"the store's name in the scenario"`
	Cluster string `yaml:"cluster" doc:"the cluster that backs it"`
	// Connect connects it and waits for CONNECTED before the load.
	Connect bool `yaml:"connect" doc:"connect it and wait for CONNECTED"`
}

// KeySetup creates a KMS key: in a store, or a software key without one.
type KeySetup struct {
	Name  string `yaml:"name" doc:"the key's name in the scenario"`
	Store string `yaml:"store" doc:"its custom key store; empty for an AWS_KMS (software) key"`
}

// CiphertextKeep encrypts Count plaintexts of Size bytes under Key during
// setup; the integrity check decrypts them at the end.
type CiphertextKeep struct {
	Key   string `yaml:"key" doc:"the key's name"`
	Count int    `yaml:"count" doc:"how many (default 10)"`
	Size  int    `yaml:"size" doc:"plaintext bytes, 1 to 4096 (default 64)"`
}

// TimelineEntry is one fault or recovery step. Exactly one of Fault and
// Step names the action; exactly one of At and When says when.
type TimelineEntry struct {
	ID string `yaml:"id" doc:"name other entries and expectations refer to (default: the action's name)"`
	// At is a time since the load started.
	At    *time.Duration `yaml:"at" doc:"time since the load started"`
	When  *Condition     `yaml:"when" doc:"a condition to wait for"`
	Fault string         `yaml:"fault" doc:"a fault of the catalog (keystorm faults)"`
	Step  string         `yaml:"step" doc:"a recovery step of the catalog (keystorm faults)"`
	// With holds the action's parameters; decoded into Action.
	With yaml.Node `yaml:"with" doc:"the action's parameters"`
	// Timeout bounds waiting for When and running the action (default 2m).
	Timeout time.Duration `yaml:"timeout" doc:"bound on waiting for 'when' plus the action (default 2m)"`

	// Action is the decoded action (set by Load).
	Action faults.Action `yaml:"-"`
	// Line and Column locate the entry in its file.
	Line, Column int `yaml:"-"`
}

// Chaos draws a timeline from the scenario's seed: from Start, a fault
// picked from Faults (by weight), healed by its step after a Hold, then a
// Gap, and again, until End. The drawn entries join the timeline with ids
// chaos-<n> and chaos-<n>-heal, so expectations can refer to them and
// steady-state sees them; the same seed draws the same timeline.
type Chaos struct {
	Start  time.Duration `yaml:"start" doc:"no fault before this time since the load started (default 0)"`
	End    time.Duration `yaml:"end" doc:"no fault starts after this time (default: the load's duration minus the longest hold)"`
	Hold   Span          `yaml:"hold" doc:"how long a fault lasts before its heal (default 2s..5s)"`
	Gap    Span          `yaml:"gap" doc:"time from a heal to the next fault (default 3s..8s)"`
	Faults []ChaosFault  `yaml:"faults" doc:"the faults to draw from, each with the step that heals it"`
}

// Span is a range of durations a time is drawn from, uniformly.
type Span struct {
	Min time.Duration `yaml:"min" doc:"shortest"`
	Max time.Duration `yaml:"max" doc:"longest"`
}

// ChaosFault is a fault of the catalog and the recovery step that heals it.
type ChaosFault struct {
	Fault    string    `yaml:"fault" doc:"a fault of the catalog"`
	With     yaml.Node `yaml:"with" doc:"its parameters"`
	Heal     string    `yaml:"heal" doc:"the recovery step that undoes it"`
	HealWith yaml.Node `yaml:"heal-with" doc:"the step's parameters"`
	Weight   int       `yaml:"weight" doc:"relative weight when drawing (default 1)"`
}

// Condition is what a `when:` waits for: all its set fields must hold.
type Condition struct {
	// After is a reference (another entry's id, "start", or "<id>.end")
	// plus an optional delay: "kill+5s".
	After string `yaml:"after" doc:"a reference plus optional delay: 'kill+5s', 'kill.end'"`
	Store string `yaml:"store" doc:"a store's name; with state (and code)"`
	Key   string `yaml:"key" doc:"a key's name; with state"`
	State string `yaml:"state" doc:"the state the store or key must be in"`
	Code  string `yaml:"code" doc:"the store's ConnectionErrorCode"`
	// Errors waits until the load has seen this exception.
	Errors string `yaml:"errors" doc:"an exception the load must have seen (since 'after', if given)"`
}

// Expectation is one `expect:` item: exactly one kind is set.
type Expectation struct {
	ID           string            `yaml:"id" doc:"name in reports (default expect[N])"`
	State        *StateExpect      `yaml:"state" doc:"a store or key reaches a state"`
	Sequence     *SequenceExpect   `yaml:"sequence" doc:"a store or key goes through states in order"`
	Errors       *ErrorsExpect     `yaml:"errors" doc:"how many requests fail with an exception in a window"`
	Latency      *LatencyExpect    `yaml:"latency" doc:"latency percentiles in a window"`
	ErrorRate    *ErrorRateExpect  `yaml:"error-rate" doc:"the fraction of failed requests in a window"`
	Throughput   *ThroughputExpect `yaml:"throughput" doc:"successful requests per second in a window"`
	Integrity    *IntegrityExpect  `yaml:"integrity" doc:"every acknowledged ciphertext decrypts to its plaintext; no wrong plaintext ever"`
	SteadyState  *SteadyExpect     `yaml:"steady-state" doc:"budgets before the first fault and after the last recovery"`
	Outcome      *OutcomeExpect    `yaml:"outcome" doc:"a timeline entry's own answer: it succeeds, or fails with an exception"`
	Audit        *AuditExpect      `yaml:"audit" doc:"an event of the target's audit log (CloudTrail's shape)"`
	Line, Column int               `yaml:"-"`
}

// Window is a span of the run between two references; each is "start"
// (the load's start), "end" (its end), a timeline id (when the entry
// started), "<id>.end" (when it ended), with an optional "+5s" or "-5s".
type Window struct {
	From string `yaml:"from" doc:"start reference (default start)"`
	To   string `yaml:"to" doc:"end reference (default end)"`
}

// StateExpect: Subject reaches To (with Code) within Within of After.
type StateExpect struct {
	Store  string        `yaml:"store" doc:"the store's name"`
	Key    string        `yaml:"key" doc:"the key's name"`
	To     string        `yaml:"to" doc:"the state it must reach"`
	Code   string        `yaml:"code" doc:"the ConnectionErrorCode it must show (stores)"`
	After  string        `yaml:"after" doc:"reference the time counts from (default start)"`
	Within time.Duration `yaml:"within" doc:"how long it may take (default: until the end)"`
	// Stays asks that it is still in To at the end of the run.
	Stays bool `yaml:"stays" doc:"it must still be in that state at the end"`
}

// SequenceExpect: Subject goes through States in this order after After.
type SequenceExpect struct {
	Store  string   `yaml:"store" doc:"the store's name"`
	Key    string   `yaml:"key" doc:"the key's name"`
	States []string `yaml:"states" doc:"states in the order they must appear"`
	After  string   `yaml:"after" doc:"reference to look from (default start)"`
}

// ErrorsExpect bounds the count of requests failing with Exception.
type ErrorsExpect struct {
	Exception string `yaml:"exception" doc:"the KMS exception, such as KMSInvalidStateException; 'any' for every failure"`
	Op        string `yaml:"op" doc:"only this operation"`
	Key       string `yaml:"key" doc:"only this key"`
	// Message narrows Exception to answers whose message contains it: the
	// spec tells KMSInvalidStateException's causes apart by message.
	Message string `yaml:"message" doc:"only failures whose message contains this text"`
	Window  Window `yaml:"window" doc:"where to count"`
	Min     *int64 `yaml:"min" doc:"at least this many"`
	Max     *int64 `yaml:"max" doc:"at most this many"`
	// Only asks that no other exception appears in the window.
	Only bool `yaml:"only" doc:"no other failure may appear in the window"`
}

// LatencyExpect bounds latency percentiles (from intended send time).
type LatencyExpect struct {
	Window Window        `yaml:"window" doc:"where to measure"`
	Op     string        `yaml:"op" doc:"only this operation"`
	OKOnly bool          `yaml:"ok-only" doc:"only successful requests"`
	P50    time.Duration `yaml:"p50" doc:"bound on the median"`
	P95    time.Duration `yaml:"p95" doc:"bound on the 95th percentile"`
	P99    time.Duration `yaml:"p99" doc:"bound on the 99th percentile"`
	Max    time.Duration `yaml:"max" doc:"bound on the slowest"`
}

// ErrorRateExpect bounds the failed fraction.
type ErrorRateExpect struct {
	Window Window   `yaml:"window" doc:"where to measure"`
	Op     string   `yaml:"op" doc:"only this operation"`
	Max    *float64 `yaml:"max" doc:"at most this fraction failed, 0 to 1"`
	Min    *float64 `yaml:"min" doc:"at least this fraction failed, 0 to 1"`
}

// ThroughputExpect bounds successful requests per second.
type ThroughputExpect struct {
	Window Window  `yaml:"window" doc:"where to measure"`
	Min    float64 `yaml:"min" doc:"at least this many successful requests per second"`
	// MinOfTarget is Min as a fraction of the planned rate.
	MinOfTarget float64 `yaml:"min-of-target" doc:"at least this fraction of the planned rate, 0 to 1"`
}

// IntegrityExpect: every acknowledged Encrypt decrypts to its plaintext
// after the run; no Decrypt ever returned a wrong plaintext.
type IntegrityExpect struct {
	// Sample limits how many load ciphertexts are re-decrypted (0: all);
	// setup ciphertexts are always all checked.
	Sample int `yaml:"sample" doc:"re-decrypt at most this many of the load's ciphertexts (0: all)"`
	// Keys limits the check to these keys' ciphertexts (a scenario that
	// deletes a key on purpose loses its data by design).
	Keys []string `yaml:"keys" doc:"only these keys' ciphertexts (default: every key's)"`
}

// SteadyExpect holds the same budgets before the first fault and after the
// last recovery step (plus Settle).
type SteadyExpect struct {
	ErrorRate *float64      `yaml:"error-rate" doc:"at most this fraction failed"`
	P99       time.Duration `yaml:"p99" doc:"bound on the 99th percentile latency"`
	Settle    time.Duration `yaml:"settle" doc:"time after the last step before 'after' starts (default 5s)"`
	// MinRequests is the traffic each window needs to be judged at all.
	MinRequests int64 `yaml:"min-requests" doc:"requests each window needs to be judged (default 20)"`
}

// OutcomeExpect is a timeline entry's own answer: the API call of a step
// (a connect from the wrong state, an update of a connected store) fails
// with Exception, or, with no Exception, succeeds.
type OutcomeExpect struct {
	Entry     string `yaml:"entry" doc:"the timeline entry's id"`
	Exception string `yaml:"exception" doc:"the exception it must fail with; empty: it must succeed"`
}

// AuditExpect asks for an event of the audit log about a key: its name,
// and for DeleteKey the backing key's deletion status (SUCCESS, or
// FAILURE when the material is orphaned).
type AuditExpect struct {
	Event          string `yaml:"event" doc:"the event name, such as DeleteKey"`
	Key            string `yaml:"key" doc:"the key's name: the event is about it"`
	DeletionStatus string `yaml:"deletion-status" doc:"DeleteKey's backingKeysDeletionStatus: SUCCESS or FAILURE"`
}

// Abort stops the run early when, over the last Window of the load, the
// error rate or the p99 latency is above its bound.
type Abort struct {
	Window    time.Duration `yaml:"window" doc:"rolling window (default 5s)"`
	ErrorRate *float64      `yaml:"error-rate" doc:"abort above this failed fraction"`
	P99       time.Duration `yaml:"p99" doc:"abort above this p99 latency"`
	// After ignores the first part of the run (default: the window).
	After time.Duration `yaml:"after" doc:"ignore the run's first part (default: the window)"`
}
