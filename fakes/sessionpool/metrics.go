package sessionpool

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the result label of keystorm_pkcs11_operations_total.
const (
	resultOK        = "ok"
	resultError     = "error"
	resultExhausted = "exhausted"
	resultNoHSM     = "no_hsm"
	resultClosed    = "closed"
	resultCanceled  = "canceled"
	noHSM           = "" // hsm label of calls that never got one
)

type metrics struct {
	ops       *prometheus.CounterVec
	counters  sync.Map // opLabels to the prometheus.Counter of ops
	wait      prometheus.Histogram
	exhausted prometheus.Counter
	sessions  *prometheus.Desc
	waiters   *prometheus.Desc
}

// opLabels are the label values of an ops counter.
type opLabels struct{ op, hsm, result string }

// count adds a call to the operations counter. Every call counts, so the
// counters are kept: looking one up by its label values hashes and checks
// each label and takes the vector's lock.
func (m *metrics) count(op, hsm, result string) {
	l := opLabels{op, hsm, result}
	c, ok := m.counters.Load(l)
	if !ok {
		c, _ = m.counters.LoadOrStore(l, m.ops.WithLabelValues(op, hsm, result))
	}
	c.(prometheus.Counter).Inc()
}

func newMetrics(labels prometheus.Labels) *metrics {
	return &metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "keystorm_pkcs11_operations_total",
			Help:        "Calls made through the PKCS#11 session pool, by operation, HSM and result.",
			ConstLabels: labels,
		}, []string{"op", "hsm", "result"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "keystorm_pkcs11_session_wait_seconds",
			Help:        "Time callers waited for a PKCS#11 session (0 when one was free).",
			ConstLabels: labels,
			Buckets:     prometheus.ExponentialBuckets(1e-5, 4, 10),
		}),
		exhausted: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "keystorm_pkcs11_session_exhausted_total",
			Help:        "Callers that got no PKCS#11 session within the wait budget.",
			ConstLabels: labels,
		}),
		sessions: prometheus.NewDesc("keystorm_pkcs11_sessions",
			"PKCS#11 sessions open in the pool, by HSM and state (in_use, idle).",
			[]string{"hsm", "state"}, labels),
		waiters: prometheus.NewDesc("keystorm_pkcs11_session_waiters",
			"Callers waiting for a PKCS#11 session.", nil, labels),
	}
}

// Labels sets constant labels on every metric of the pool, so that several
// pools can share one registry.
func Labels(l prometheus.Labels) Option { return func(p *Pool) { p.metrics = newMetrics(l) } }

var _ prometheus.Collector = (*Pool)(nil)

// Describe implements prometheus.Collector.
func (p *Pool) Describe(ch chan<- *prometheus.Desc) {
	p.metrics.ops.Describe(ch)
	p.metrics.wait.Describe(ch)
	p.metrics.exhausted.Describe(ch)
	ch <- p.metrics.sessions
	ch <- p.metrics.waiters
}

// Collect implements prometheus.Collector. Session and waiter gauges are read
// from the pool at scrape time, so the hot path keeps no gauges up to date.
func (p *Pool) Collect(ch chan<- prometheus.Metric) {
	p.metrics.ops.Collect(ch)
	p.metrics.wait.Collect(ch)
	p.metrics.exhausted.Collect(ch)
	s := p.Stats()
	for id, h := range s.HSMs {
		ch <- prometheus.MustNewConstMetric(p.metrics.sessions, prometheus.GaugeValue, float64(h.InUse), id, "in_use")
		ch <- prometheus.MustNewConstMetric(p.metrics.sessions, prometheus.GaugeValue, float64(h.Idle), id, "idle")
	}
	ch <- prometheus.MustNewConstMetric(p.metrics.waiters, prometheus.GaugeValue, float64(s.Waiters))
}

func resultOf(err error) string {
	switch {
	case errors.Is(err, ErrNoHSM):
		return resultNoHSM
	case errors.Is(err, ErrClosed):
		return resultClosed
	}
	return resultError
}
