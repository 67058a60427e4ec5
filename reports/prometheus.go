package reports

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/keystorm/keystorm/harness/result"
)

// statuses are every expectation status, in the order a state set lists
// them.
var statuses = []result.Status{result.Pass, result.Fail, result.Unknown, result.NotApplicable}

// Prometheus writes r in the Prometheus text exposition format, for
// node_exporter's textfile collector or a Pushgateway, so that runs kept
// over time (nightly soaks, CI) can be graphed and alerted on.
//
// A finished run is a snapshot, so every value is a const metric collected
// from a fresh registry: nothing global is touched and two calls never
// interfere. Every metric carries a "scenario" label so that the files of
// several scenarios can sit in one textfile directory. Enumerations
// (statuses) are state sets, one series per possible value with 1 for the
// current one, so that a query such as
// keystorm_expectation_status{status="fail"} == 1 finds the failures and
// the series stay the same from run to run. Times are in seconds, as
// Prometheus conventions ask.
func Prometheus(w io.Writer, r *result.Result) error {
	s, err := snapshotOf(r)
	if err != nil {
		return fmt.Errorf("reports: Prometheus: %w", err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(s); err != nil {
		return fmt.Errorf("reports: Prometheus: %w", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("reports: Prometheus: %w", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("reports: Prometheus: %w", err)
		}
	}
	return nil
}

// snapshotOf makes the collector of r's metrics.
func snapshotOf(r *result.Result) (*snapshot, error) {
	s := &snapshot{scenario: r.Scenario}

	runStatus := s.desc("keystorm_run_status", "The run's status: 1 for the current one of pass, fail, unknown, not-applicable.", "status")
	for _, st := range statuses {
		s.gauge(runStatus, b2f(r.Status == st), string(st))
	}
	s.gauge(s.desc("keystorm_run_exit_code", "What keystorm run exited with: 0 pass, 1 an expectation failed or was undecided, 2 invalid."), float64(r.ExitCode))
	s.gauge(s.desc("keystorm_run_invalid", "1 when the run cannot be trusted (see the result's invalid field)."), b2f(r.Invalid != ""))
	s.gauge(s.desc("keystorm_run_aborted", "1 when an abort condition stopped the run early."), b2f(r.Aborted != ""))
	s.gauge(s.desc("keystorm_run_info", "The run's stack and seed, as labels; always 1.", "stack", "seed"), 1, r.Stack, fmt.Sprint(r.Seed))
	if !r.Started.IsZero() {
		s.gauge(s.desc("keystorm_run_start_timestamp_seconds", "When the run started, in seconds since the Unix epoch."), float64(r.Started.UnixNano())/1e9)
	}
	s.gauge(s.desc("keystorm_run_duration_seconds", "How long the run took."), r.Duration)

	expStatus := s.desc("keystorm_expectation_status", "An expectation's status: 1 for the current one of pass, fail, unknown, not-applicable.", "expectation", "kind", "status")
	for _, e := range r.Expectations {
		for _, st := range statuses {
			s.gauge(expStatus, b2f(e.Status == st), e.ID, e.Kind, string(st))
		}
	}
	expCount := s.desc("keystorm_expectations", "How many expectations have each status.", "status")
	counts := r.Counts()
	for _, st := range statuses {
		s.gauge(expCount, float64(counts[st]), string(st))
	}

	l := &r.Load
	s.counter(s.desc("keystorm_load_planned_total", "Requests the load's schedule asked for."), float64(l.Planned))
	s.counter(s.desc("keystorm_load_sent_total", "Requests sent."), float64(l.Sent))
	byOutcome := s.desc("keystorm_load_requests_total", "Requests by outcome: ok, a KMS exception, error (no answer) or http-NNN.", "outcome")
	for _, c := range byCount(l.ByOutcome) {
		s.counter(byOutcome, float64(c.Count), c.Name)
	}
	byOp := s.desc("keystorm_load_operations_total", "Requests by KMS operation.", "operation")
	for _, c := range byCount(l.ByOperation) {
		s.counter(byOp, float64(c.Count), c.Name)
	}
	s.gauge(s.desc("keystorm_load_target_rate", "The rate the load's schedule asked for, in requests per second."), l.TargetRate)
	s.gauge(s.desc("keystorm_load_achieved_rate", "The rate achieved over the load's duration, in requests per second."), l.AchievedRate)
	s.counter(s.desc("keystorm_load_late_total", "Requests sent later than the lateness tolerance after their intended time."), float64(l.Late))
	s.gauge(s.desc("keystorm_load_max_late_seconds", "The most a request was sent behind its intended time."), seconds(l.MaxLateMS))
	// A summary is the type Prometheus has for precomputed quantiles; its
	// sum is the mean times the count, exact up to rounding.
	lat := l.Latency
	s.summary(s.desc("keystorm_load_latency_seconds", "Request latency from the intended send time."),
		uint64(max(l.Sent, 0)), seconds(lat.Mean*float64(l.Sent)),
		map[float64]float64{0.5: seconds(lat.P50), 0.9: seconds(lat.P90), 0.95: seconds(lat.P95), 0.99: seconds(lat.P99)})
	s.gauge(s.desc("keystorm_load_latency_max_seconds", "The slowest request's latency from its intended send time."), seconds(lat.Max))

	injStart := s.desc("keystorm_injection_start_seconds", "When a fault, step or setup action started, in seconds since the run's start.", "id", "kind", "action")
	injEnd := s.desc("keystorm_injection_end_seconds", "When a fault, step or setup action ended, in seconds since the run's start.", "id", "kind", "action")
	injFailed := s.desc("keystorm_injection_failed", "1 when a fault, step or setup action failed or was not applicable.", "id", "kind", "action")
	for _, in := range r.Timeline {
		s.gauge(injStart, in.Start, in.ID, in.Kind, in.Action)
		s.gauge(injEnd, in.End, in.ID, in.Kind, in.Action)
		s.gauge(injFailed, b2f(in.Error != "" || in.NotApplicable), in.ID, in.Kind, in.Action)
	}
	if s.err != nil {
		return nil, s.err
	}
	return s, nil
}

// snapshot is a prometheus.Collector of const metrics: the values of a
// run that is over. The first error (a bad label value, say) sticks.
type snapshot struct {
	scenario string
	descs    []*prometheus.Desc
	metrics  []prometheus.Metric
	err      error
}

var _ prometheus.Collector = (*snapshot)(nil)

func (s *snapshot) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range s.descs {
		ch <- d
	}
}

func (s *snapshot) Collect(ch chan<- prometheus.Metric) {
	for _, m := range s.metrics {
		ch <- m
	}
}

// desc declares a metric with the scenario as a constant label.
func (s *snapshot) desc(name, help string, labels ...string) *prometheus.Desc {
	d := prometheus.NewDesc(name, help, labels, prometheus.Labels{"scenario": s.scenario})
	s.descs = append(s.descs, d)
	return d
}

func (s *snapshot) gauge(d *prometheus.Desc, v float64, labels ...string) {
	s.add(prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...))
}

func (s *snapshot) counter(d *prometheus.Desc, v float64, labels ...string) {
	s.add(prometheus.NewConstMetric(d, prometheus.CounterValue, v, labels...))
}

func (s *snapshot) summary(d *prometheus.Desc, count uint64, sum float64, q map[float64]float64, labels ...string) {
	s.add(prometheus.NewConstSummary(d, count, sum, q, labels...))
}

func (s *snapshot) add(m prometheus.Metric, err error) {
	if err != nil {
		s.err = errors.Join(s.err, err)
		return
	}
	s.metrics = append(s.metrics, m)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// seconds converts milliseconds, rounded to the nanosecond so that 9.8 ms
// prints as 0.0098 and not as the float error of a division.
func seconds(ms float64) float64 { return math.Round(ms*1e6) / 1e9 }
