package run

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keystorm/keystorm/harness/history"
)

// metrics are the harness's own Prometheus metrics during a run, for a
// dashboard watching a long run (a soak, a capacity run) live.
type metrics struct {
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	state      *prometheus.GaugeVec
	injections *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, scenario string) (*metrics, error) {
	labels := prometheus.Labels{"scenario": scenario}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keystorm_load_requests_total", Help: "Requests of the load answered, by operation and outcome (ok, an exception, error).",
			ConstLabels: labels,
		}, []string{"op", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keystorm_load_latency_seconds", Help: "Latency of the load's requests from their intended send time.",
			ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"op"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "keystorm_observed_state", Help: "1 for the state each observed subject (store:, key:, pool:) is in now.",
			ConstLabels: labels,
		}, []string{"subject", "state"}),
		injections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keystorm_injections_total", Help: "Faults, recovery steps and setup actions done, by kind, action and result.",
			ConstLabels: labels,
		}, []string{"kind", "action", "result"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.state, m.injections} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// unregister removes the metrics so the next scenario can register its own.
func (m *metrics) unregister(reg prometheus.Registerer) {
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.state, m.injections} {
		reg.Unregister(c)
	}
}

// observe updates the metrics from one History event.
func (m *metrics) observe(e history.Event) {
	switch {
	case e.Request != nil && !strings.HasPrefix(e.Request.Op, "Setup") && e.Request.Op != "Verify":
		r := e.Request
		m.requests.WithLabelValues(r.Op, r.Outcome()).Inc()
		m.latency.WithLabelValues(r.Op).Observe(r.Latency().Seconds())
	case e.Transition != nil:
		t := e.Transition
		if t.From != "" {
			m.state.WithLabelValues(t.Subject, t.From).Set(0)
		}
		m.state.WithLabelValues(t.Subject, t.To).Set(1)
	case e.Injection != nil:
		i := e.Injection
		res := "ok"
		switch {
		case i.NotApplicable:
			res = "not-applicable"
		case i.Error != "":
			res = "error"
		}
		m.injections.WithLabelValues(i.Kind, i.Action, res).Inc()
	}
}
