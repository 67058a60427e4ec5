package reports

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"

	"github.com/keystorm/keystorm/harness/result"
)

//go:embed templates/report.html
var reportHTML string

// commonCSS is the style report.html and index.html share; the pages
// carry it inline, so that each stays one self-contained file.
//
//go:embed templates/common.css
var commonCSS string

// trustedCSS hands commonCSS to html/template as the stylesheet it is
// (our own file, never input).
func trustedCSS() template.CSS { return template.CSS(commonCSS) }

// reportTemplate is parsed once; html/template escapes every value by its
// context, so a scenario's text (scenario input) cannot inject markup.
var reportTemplate = template.Must(template.New("report.html").Funcs(template.FuncMap{
	"commonCSS":   trustedCSS,
	"ms":          ms,
	"secs":        secs,
	"rate":        rate,
	"pct":         func(part, whole any) string { return pct(toFloat(part), toFloat(whole)) },
	"status":      statusWord,
	"statusClass": statusClass,
	"window":      func(w *result.Window) string { return window(w, "–") },
	"span":        func(a, b float64) string { return span(a, b, "–") },
	"outcome":     injectionOutcome,
}).Parse(reportHTML))

// HTML writes r as one self-contained HTML page: the verdict, the
// expectations, four charts (throughput, latency, errors by exception, the
// state timeline; each with the faults and steps marked), the load and the
// timeline. It loads nothing: no script, no stylesheet, no font, no image
// from anywhere, so it opens from a CI artifact, an e-mail or a laptop
// offline, and prints.
func HTML(w io.Writer, r *result.Result) error {
	v := htmlView{
		R:            r,
		Verdict:      verdict(r),
		VerdictClass: strings.ToLower(strings.ReplaceAll(verdict(r), " ", "-")),
		Outcomes:     shares(r.Load.ByOutcome, r.Load.Sent),
		Ops:          shares(r.Load.ByOperation, r.Load.Sent),
	}
	var err error
	if v.Charts, err = charts(r); err != nil {
		return fmt.Errorf("reports: HTML: %w", err)
	}
	if !r.Started.IsZero() {
		v.Started = r.Started.Format(time.RFC3339)
	}
	if err := reportTemplate.Execute(w, v); err != nil {
		return fmt.Errorf("reports: HTML: %w", err)
	}
	return nil
}

// htmlView is what the template sees: the result, plus what is easier
// to compute in Go than to express in a template (sorted tallies, charts).
type htmlView struct {
	R             *result.Result
	Verdict       string
	VerdictClass  string
	Started       string
	Outcomes, Ops []share
	Charts        []htmlChart
}

type htmlChart struct {
	ID, Title, Caption string
	SVG                template.HTML
}

type share struct {
	Name  string
	Count int64
	Share string
}

// shares is a tally as table rows, largest first, with each one's share of
// whole.
func shares(m map[string]int64, whole int64) []share {
	var out []share
	for _, c := range byCount(m) {
		out = append(out, share{c.Name, c.Count, pct(float64(c.Count), float64(whole))})
	}
	return out
}

// statusClass is the CSS class of a status cell; the word is printed too,
// so that colour is never the only sign.
func statusClass(s result.Status) string {
	switch s {
	case result.Pass, result.Fail, result.Unknown:
		return string(s)
	}
	return "na"
}

// charts draws the report's four charts over one time axis.
func charts(r *result.Result) ([]htmlChart, error) {
	step := r.Step
	if step <= 0 {
		step = 1
		if len(r.Series) > 1 && r.Series[1].Start > r.Series[0].Start {
			step = r.Series[1].Start - r.Series[0].Start
		}
	}
	xmax := r.Duration
	for _, b := range r.Series {
		xmax = max(xmax, b.Start+step)
	}
	for _, in := range r.Timeline {
		xmax = max(xmax, in.End)
	}
	for _, t := range r.Transitions {
		xmax = max(xmax, t.At)
	}
	f := newFrame(xmax, r.Timeline)

	throughput, err := throughputChart(f, r, step)
	if err != nil {
		return nil, fmt.Errorf("throughput chart: %w", err)
	}
	latency, err := latencyChart(f, r, step)
	if err != nil {
		return nil, fmt.Errorf("latency chart: %w", err)
	}
	svgs, err := renderCharts(f, []*chart{throughput, latency, errorsChart(f, r, step), statesChart(f, r)})
	if err != nil {
		return nil, err
	}
	out := []htmlChart{
		{ID: "throughput", Title: "Throughput",
			Caption: fmt.Sprintf("Requests and successful requests per second, in %s buckets.", secs(step))},
		{ID: "latency", Title: "Latency",
			Caption: "p50 and p99 latency per bucket, from each request's intended send time; log scale, gaps where nothing was sent."},
		{ID: "errors", Title: "Errors by exception",
			Caption: "Failed requests per second, stacked by KMS exception (error: no answer)."},
		{ID: "states", Title: "State timeline",
			Caption: "Observed states of each store, key, cluster and HSM set, with the store's connection error code under the state."},
	}
	for i := range out {
		out[i].SVG = svgs[i]
	}
	return out, nil
}

// toFloat lets the template take a share of counts and of rates alike.
func toFloat(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case float64:
		return n
	}
	return math.NaN()
}
