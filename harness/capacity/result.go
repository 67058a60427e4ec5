package capacity

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/keystorm/keystorm/fakes/sessionpool"
)

// Outcome says how one arrival's work ended.
type Outcome string

// The outcomes, in report order.
const (
	OK        Outcome = "ok"
	Exhausted Outcome = "exhausted" // no session within the wait budget (sessionpool.ErrExhausted)
	HSMGone   Outcome = "hsm_gone"  // the HSM left the pool during the call (sessionpool.ErrHSMGone)
	Canceled  Outcome = "canceled"  // the run was cancelled while the call was in flight
	Other     Outcome = "other"     // any other error, wrong plaintext included
)

var allOutcomes = []Outcome{OK, Exhausted, HSMGone, Canceled, Other}

// classify maps the error of one arrival to its outcome. Cancellation is
// told apart from failure only when the run's own context is done: a
// deadline inside the work is a failure like any other.
func classify(ctx context.Context, err error) Outcome {
	switch {
	case err == nil:
		return OK
	case errors.Is(err, sessionpool.ErrExhausted):
		return Exhausted
	case errors.Is(err, sessionpool.ErrHSMGone):
		return HSMGone
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		return Canceled
	}
	return Other
}

// Result is what a run measured. Its JSON encoding (WriteJSON) is the
// capacity run's documented result format; durations are in nanoseconds,
// rates per second.
type Result struct {
	// Pacer describes the arrival schedule as vegeta prints it, e.g.
	// "Constant{2000 hits/1s}".
	Pacer string `json:"pacer"`
	// Duration is the configured arrival window.
	Duration time.Duration `json:"duration_ns"`
	// Workers is the bound on arrivals in flight.
	Workers int `json:"workers"`
	// Payload is the plaintext size in bytes.
	Payload int `json:"payload_bytes"`
	// Mix is the operation mix, as "decrypt=1,encrypt=1".
	Mix string `json:"mix"`

	// Started is when the first arrival was scheduled from (after setup).
	Started time.Time `json:"started"`
	// Elapsed runs from Started until the last arrival's work ended.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Interrupted is true when the run's context ended it before Duration.
	Interrupted bool `json:"interrupted"`

	// Arrivals counts the arrivals scheduled, late ones included.
	Arrivals uint64 `json:"arrivals"`
	// Late counts arrivals that found every worker busy at their intended
	// time. They did not run (k6's dropped_iterations): a high count means
	// the workers, not the HSM, bounded the run.
	Late uint64 `json:"late"`
	// Offered is the arrival rate achieved by the schedule: Arrivals per
	// second of the arrival window (cut short if Interrupted).
	Offered float64 `json:"offered_per_second"`
	// Throughput is the HSMs' achieved rate: Total.OK per second of Elapsed.
	Throughput float64 `json:"throughput_per_second"`
	// Lag is the driver's own delay: from each arrival's intended time to a
	// worker starting it. It is part of every latency; a lag near the
	// latencies means the driver, not the HSM, is what was measured.
	Lag Latency `json:"lag"`
	// PeakBusyWorkers is the most arrivals that were in flight at once.
	PeakBusyWorkers int `json:"peak_busy_workers"`

	// Ops has the counts and latencies of each operation that ran.
	Ops map[Op]*OpStats `json:"ops"`
	// Total adds up Ops.
	Total OpStats `json:"total"`
	// Pool describes the sessions of the pool.
	Pool PoolStats `json:"pool"`
	// Errors has the first error message of each operation and outcome, as
	// examples of what went wrong.
	Errors []ErrorSample `json:"errors"`
}

// OpStats counts the arrivals of one operation that ran, by outcome.
// Count = OK + Exhausted + HSMGone + Canceled + Other.
type OpStats struct {
	Count     uint64 `json:"count"`
	OK        uint64 `json:"ok"`
	Exhausted uint64 `json:"exhausted"`
	HSMGone   uint64 `json:"hsm_gone"`
	Canceled  uint64 `json:"canceled"`
	Other     uint64 `json:"other"`
	// Latency is measured from each arrival's intended time to the end of
	// its work, over every outcome but Canceled (an error such as Exhausted
	// took that long too).
	Latency Latency `json:"latency"`
}

// Failed counts the arrivals that ran and did not succeed.
func (s OpStats) Failed() uint64 { return s.Count - s.OK }

func (s *OpStats) add(o Outcome) {
	s.Count++
	switch o {
	case OK:
		s.OK++
	case Exhausted:
		s.Exhausted++
	case HSMGone:
		s.HSMGone++
	case Canceled:
		s.Canceled++
	default:
		s.Other++
	}
}

// Of returns the count of one outcome.
func (s OpStats) Of(o Outcome) uint64 {
	switch o {
	case OK:
		return s.OK
	case Exhausted:
		return s.Exhausted
	case HSMGone:
		return s.HSMGone
	case Canceled:
		return s.Canceled
	}
	return s.Other
}

// Latency summarises latencies, in nanoseconds in JSON. Percentiles are
// t-digest estimates (vegeta's LatencyMetrics); Max is exact.
type Latency struct {
	Samples uint64        `json:"samples"`
	Mean    time.Duration `json:"mean_ns"`
	P50     time.Duration `json:"p50_ns"`
	P90     time.Duration `json:"p90_ns"`
	P99     time.Duration `json:"p99_ns"`
	Max     time.Duration `json:"max_ns"`
}

// PoolStats describes the pool's sessions.
type PoolStats struct {
	// MaxSessions is the cap per HSM and WaitBudget how long a call waits
	// for a session; 0 when the Target did not say.
	MaxSessions int           `json:"max_sessions"`
	WaitBudget  time.Duration `json:"wait_budget_ns"`
	// HSMs has the sessions of each HSM, by HSM id.
	HSMs map[string]HSMStats `json:"hsms"`
	// PeakWaiters is the most callers seen waiting for a session at once,
	// sampled every sampleInterval (10ms): short waits can slip between
	// samples.
	PeakWaiters int `json:"peak_waiters"`
}

// HSMStats counts the sessions of one HSM.
type HSMStats struct {
	// Open, Idle and InUse are the pool's counts once the run ended; the
	// pool keeps the sessions it opened, so Open is also the most the HSM
	// needed (up to the cap).
	Open  int `json:"open"`
	Idle  int `json:"idle"`
	InUse int `json:"in_use"`
	// PeakInUse is the most of its sessions the run's work held at once,
	// counted exactly around each operation: the sessions the load needed.
	PeakInUse int `json:"peak_in_use"`
}

// ErrorSample is one error message of an operation and outcome.
type ErrorSample struct {
	Op      Op      `json:"op"`
	Outcome Outcome `json:"outcome"`
	Message string  `json:"message"`
}

// Problems says why a run does not count as a clean pass, one line per
// reason; none means every arrival ran and succeeded.
func (r *Result) Problems() []string {
	var p []string
	if r.Interrupted {
		p = append(p, fmt.Sprintf("interrupted after %v of %v", r.Elapsed.Round(time.Millisecond), r.Duration))
	}
	if r.Total.Count == 0 {
		p = append(p, "no operation ran")
	}
	if n := r.Total.Failed(); n > 0 {
		p = append(p, fmt.Sprintf("%d of %d operations failed", n, r.Total.Count))
	}
	if r.Late > 0 {
		p = append(p, fmt.Sprintf("%d of %d arrivals late (every worker busy)", r.Late, r.Arrivals))
	}
	return p
}

// Passed tells whether the run has no Problems.
func (r *Result) Passed() bool { return len(r.Problems()) == 0 }

// collector gathers the outcomes of a run's workers. One mutex is plenty:
// an HSM call costs tens of microseconds, a record a few hundred nanoseconds.
type collector struct {
	mu     sync.Mutex
	ops    map[Op]*opAcc
	total  opAcc
	lag    opAcc // only its latency is used
	errors []ErrorSample
	seen   map[[2]string]bool // op, outcome already sampled
}

// opAcc is an OpStats with the latency estimator behind it.
type opAcc struct {
	stats OpStats
	lat   vegeta.LatencyMetrics
}

func newCollector() *collector {
	return &collector{ops: map[Op]*opAcc{}, seen: map[[2]string]bool{}}
}

func (c *collector) record(op Op, o Outcome, lag, latency time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.ops[op]
	if a == nil {
		a = &opAcc{}
		c.ops[op] = a
	}
	for _, acc := range []*opAcc{a, &c.total} {
		acc.stats.add(o)
		if o != Canceled {
			acc.stats.Latency.Samples++
			acc.lat.Add(latency)
		}
	}
	c.lag.stats.Latency.Samples++
	c.lag.lat.Add(lag)
	if err != nil && !c.seen[[2]string{string(op), string(o)}] {
		c.seen[[2]string{string(op), string(o)}] = true
		c.errors = append(c.errors, ErrorSample{Op: op, Outcome: o, Message: err.Error()})
	}
}

// finish computes the latency summaries and fills r's op fields; the
// workers are done.
func (c *collector) finish(r *Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r.Ops = make(map[Op]*OpStats, len(c.ops))
	for op, a := range c.ops {
		s := a.summary()
		r.Ops[op] = &s
	}
	r.Total = c.total.summary()
	r.Lag = c.lag.summary().Latency
	r.Errors = append([]ErrorSample(nil), c.errors...)
}

func (a *opAcc) summary() OpStats {
	s := a.stats
	if n := s.Latency.Samples; n > 0 {
		// Quantile of an empty digest is NaN; only ask with samples.
		s.Latency.Mean = a.lat.Total / time.Duration(n)
		s.Latency.Max = a.lat.Max
		// The digest interpolates between centroids; keep its estimates
		// within the exact maximum.
		q := func(p float64) time.Duration { return min(a.lat.Quantile(p), a.lat.Max) }
		s.Latency.P50, s.Latency.P90, s.Latency.P99 = q(0.50), q(0.90), q(0.99)
	}
	return s
}
