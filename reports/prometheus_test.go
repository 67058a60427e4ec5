package reports_test

import (
	"bytes"
	"math"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/keystorm/keystorm/reports"
)

// parseProm reads text exposition back as Prometheus itself would.
func parseProm(t *testing.T, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, b)
	}
	return mfs
}

// value finds the sample of family name whose labels include want.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Errorf("no %s", name)
		return math.NaN()
	}
next:
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		}
	}
	t.Errorf("no %s%v", name, want)
	return math.NaN()
}

func TestPrometheusValues(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := reports.Prometheus(&b, fixture(t)); err != nil {
		t.Fatal(err)
	}
	mfs := parseProm(t, b.Bytes())
	sc := map[string]string{"scenario": "flagship"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"scenario": "flagship"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"keystorm_run_status", with("status", "fail"), 1},
		{"keystorm_run_status", with("status", "pass"), 0},
		{"keystorm_run_exit_code", sc, 1},
		{"keystorm_run_invalid", sc, 0},
		{"keystorm_run_duration_seconds", sc, 60},
		{"keystorm_run_start_timestamp_seconds", sc, 1748779200},
		// one series per status, 1 for the current one
		{"keystorm_expectation_status", with("expectation", "beta-latency", "kind", "latency", "status", "fail"), 1},
		{"keystorm_expectation_status", with("expectation", "beta-latency", "kind", "latency", "status", "pass"), 0},
		{"keystorm_expectation_status", with("expectation", "secondary-partition", "status", "not-applicable"), 1},
		{"keystorm_expectations", with("status", "pass"), 4},
		{"keystorm_load_requests_total", with("outcome", "ok"), 4503},
		{"keystorm_load_requests_total", with("outcome", "KMSInvalidStateException"), 1476},
		{"keystorm_load_operations_total", with("operation", "GenerateDataKey"), 600},
		{"keystorm_load_sent_total", sc, 5998},
		{"keystorm_load_planned_total", sc, 6000},
		{"keystorm_load_achieved_rate", sc, 99.967},
		{"keystorm_load_target_rate", sc, 100},
		{"keystorm_load_late_total", sc, 3},
		{"keystorm_load_max_late_seconds", sc, 0.0142},
		{"keystorm_load_latency_max_seconds", sc, 5.003},
		{"keystorm_injection_start_seconds", with("id", "kill-hsms", "action", "delete-hsm"), 20},
		{"keystorm_injection_failed", with("id", "cut-secondary"), 1},
	}
	for _, tt := range tests {
		if got := value(t, mfs, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}

	lat := mfs["keystorm_load_latency_seconds"]
	if lat.GetType() != dto.MetricType_SUMMARY {
		t.Fatalf("keystorm_load_latency_seconds is a %v, want a summary", lat.GetType())
	}
	s := lat.GetMetric()[0].GetSummary()
	q := map[float64]float64{}
	for _, x := range s.GetQuantile() {
		q[x.GetQuantile()] = x.GetValue()
	}
	if q[0.5] != 0.0034 || q[0.99] != 0.612 || s.GetSampleCount() != 5998 {
		t.Errorf("latency summary %v, count %d", q, s.GetSampleCount())
	}
}

func TestPrometheusOddLabelValues(t *testing.T) {
	t.Parallel()
	r := fixture(t)
	r.Scenario = "quotes \" and\nnewlines \\ é"
	r.Expectations[0].ID = `id with "quotes"`
	var b bytes.Buffer
	if err := reports.Prometheus(&b, r); err != nil {
		t.Fatal(err)
	}
	mfs := parseProm(t, b.Bytes())
	if got := value(t, mfs, "keystorm_expectation_status", map[string]string{"scenario": r.Scenario, "expectation": r.Expectations[0].ID, "status": "pass"}); got != 1 {
		t.Errorf("status of an oddly named expectation = %v", got)
	}
}

func TestPrometheusDuplicateIDsFail(t *testing.T) {
	t.Parallel()
	// Two expectations with one id would be two series with the same
	// labels, which Prometheus rejects; better said here than at scrape.
	r := fixture(t)
	r.Expectations[1].ID = r.Expectations[0].ID
	r.Expectations[1].Kind = r.Expectations[0].Kind
	if err := reports.Prometheus(&bytes.Buffer{}, r); err == nil {
		t.Error("no error for duplicate expectation ids")
	}
}
