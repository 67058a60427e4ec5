package reports_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/keystorm/keystorm/reports"
)

// pushgateway records what a Pushgateway would get, and answers as one does.
type pushgateway struct {
	mu     sync.Mutex
	method string
	path   string
	fams   map[string]*dto.MetricFamily
	status int
}

func (g *pushgateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.method, g.path = r.Method, r.URL.Path
	g.fams = map[string]*dto.MetricFamily{}
	dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err != nil {
			if err != io.EOF {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			break
		}
		g.fams[mf.GetName()] = mf
	}
	if g.status != 0 {
		http.Error(w, "refused", g.status)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func TestPushSendsTheRunsMetricsToItsScenariosGroup(t *testing.T) {
	r := fixture(t)
	g := &pushgateway{}
	srv := httptest.NewServer(g)
	defer srv.Close()
	if err := reports.Push(context.Background(), srv.URL, r); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.method != http.MethodPut {
		t.Errorf("method %s, want PUT (the run's metrics replace the group's)", g.method)
	}
	if want := "/metrics/job/" + reports.PushJob + "/instance/" + r.Scenario; g.path != want {
		t.Errorf("path %q, want %q", g.path, want)
	}
	// What was pushed is what metrics.prom holds.
	var prom strings.Builder
	if err := reports.Prometheus(&prom, r); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	want, err := parser.TextToMetricFamilies(strings.NewReader(prom.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.fams) != len(want) {
		t.Errorf("pushed %d metric families, want the %d of the Prometheus report", len(g.fams), len(want))
	}
	for name, mf := range want {
		got, ok := g.fams[name]
		if !ok {
			t.Errorf("%s not pushed", name)
			continue
		}
		if len(got.GetMetric()) != len(mf.GetMetric()) {
			t.Errorf("%s: %d series pushed, want %d", name, len(got.GetMetric()), len(mf.GetMetric()))
		}
	}
	code := g.fams["keystorm_run_exit_code"]
	if code == nil || code.GetMetric()[0].GetGauge().GetValue() != float64(r.ExitCode) {
		t.Errorf("keystorm_run_exit_code pushed as %v, want %d", code, r.ExitCode)
	}
}

func TestPushReportsARefusal(t *testing.T) {
	g := &pushgateway{status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(g)
	defer srv.Close()
	err := reports.Push(context.Background(), srv.URL, fixture(t))
	if err == nil || !strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("push to a refusing gateway: %v, want an error naming it", err)
	}
}
