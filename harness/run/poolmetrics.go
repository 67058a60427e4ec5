package run

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// PoolMetrics serves, next to the harness's own metrics, the stack's
// session-pool metrics (keystorm_pkcs11_*: calls by HSM and result,
// session waits, exhaustion, sessions open) as the run's observer last
// scraped them from the stack, with the scenario as a label. A dashboard
// that watches keystorm run --metrics-addr then sees the pool too, also
// when the stack is in containers or is someone else's endpoint.
//
// One PoolMetrics is registered once on a registry and lives as long as
// it; each run attaches its observer for its duration. It is an unchecked
// collector (it describes nothing): which metrics and labels it has is up
// to the stack, and an unchecked collector cannot be unregistered, hence
// one for the registry's life rather than one per run.
type PoolMetrics struct {
	mu       sync.Mutex
	scenario string
	source   func() []*dto.MetricFamily
}

// NewPoolMetrics returns a PoolMetrics with no run attached: it collects
// nothing until a run with it in its Options starts.
func NewPoolMetrics() *PoolMetrics { return &PoolMetrics{} }

// attach makes source the metrics collected, labelled with scenario, until
// the returned func is called.
func (p *PoolMetrics) attach(scenario string, source func() []*dto.MetricFamily) (detach func()) {
	p.mu.Lock()
	p.scenario, p.source = scenario, source
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		p.scenario, p.source = "", nil
		p.mu.Unlock()
	}
}

// Describe implements prometheus.Collector; it describes nothing, which
// makes PoolMetrics an unchecked collector.
func (p *PoolMetrics) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (p *PoolMetrics) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	scenario, source := p.scenario, p.source
	p.mu.Unlock()
	if source == nil {
		return
	}
	for _, f := range source() {
		for _, m := range f.GetMetric() {
			metric, err := constMetric(f, m, scenario)
			if err != nil {
				ch <- prometheus.NewInvalidMetric(prometheus.NewDesc(f.GetName(), f.GetHelp(), nil, nil), err)
				continue
			}
			ch <- metric
		}
	}
}

// constMetric turns one scraped sample back into a metric of the same name,
// type, help and labels, plus the scenario (unless the stack has a label of
// that name already).
func constMetric(f *dto.MetricFamily, m *dto.Metric, scenario string) (prometheus.Metric, error) {
	var names, values []string
	own := false
	for _, l := range m.GetLabel() {
		names = append(names, l.GetName())
		values = append(values, l.GetValue())
		own = own || l.GetName() == "scenario"
	}
	var constLabels prometheus.Labels
	if !own {
		constLabels = prometheus.Labels{"scenario": scenario}
	}
	desc := prometheus.NewDesc(f.GetName(), f.GetHelp(), names, constLabels)
	switch f.GetType() {
	case dto.MetricType_COUNTER:
		return prometheus.NewConstMetric(desc, prometheus.CounterValue, m.GetCounter().GetValue(), values...)
	case dto.MetricType_GAUGE:
		return prometheus.NewConstMetric(desc, prometheus.GaugeValue, m.GetGauge().GetValue(), values...)
	case dto.MetricType_UNTYPED:
		return prometheus.NewConstMetric(desc, prometheus.UntypedValue, m.GetUntyped().GetValue(), values...)
	case dto.MetricType_HISTOGRAM:
		h := m.GetHistogram()
		buckets := make(map[float64]uint64, len(h.GetBucket()))
		for _, b := range h.GetBucket() {
			buckets[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		return prometheus.NewConstHistogram(desc, h.GetSampleCount(), h.GetSampleSum(), buckets, values...)
	case dto.MetricType_SUMMARY:
		s := m.GetSummary()
		quantiles := make(map[float64]float64, len(s.GetQuantile()))
		for _, q := range s.GetQuantile() {
			quantiles[q.GetQuantile()] = q.GetValue()
		}
		return prometheus.NewConstSummary(desc, s.GetSampleCount(), s.GetSampleSum(), quantiles, values...)
	}
	return nil, fmt.Errorf("%s: metric type %s not re-exported", f.GetName(), f.GetType())
}
