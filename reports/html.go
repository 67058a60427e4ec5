package reports

import (
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/keystorm/keystorm/harness/result"
)

//go:embed templates/report.html
var reportHTML string

// reportTemplate is parsed once; html/template escapes every value by its
// context, so a scenario's text (scenario input) cannot inject markup.
var reportTemplate = template.Must(template.New("report.html").Funcs(template.FuncMap{
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
		Charts:       charts(r),
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

// charts draws the report's four charts in one frame.
func charts(r *result.Result) []htmlChart {
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
	lanes := subjects(r.Transitions)
	left := 56.0
	for _, l := range lanes {
		left = max(left, textWidth(l, fontSize)+16)
	}
	f := newFrame(min(left, 200), xmax, r.Timeline)

	return []htmlChart{
		{ID: "throughput", Title: "Throughput",
			Caption: fmt.Sprintf("Requests and successful requests per second, in %s buckets.", secs(step)),
			SVG:     throughputChart(f, r, step)},
		{ID: "latency", Title: "Latency",
			Caption: "p50 and p99 latency per bucket, from each request's intended send time; log scale, gaps where nothing was sent.",
			SVG:     latencyChart(f, r, step)},
		{ID: "errors", Title: "Errors by exception",
			Caption: "Failed requests per second, stacked by KMS exception (error: no answer).",
			SVG:     errorsChart(f, r, step)},
		{ID: "states", Title: "State timeline",
			Caption: "Observed states of each store, key, cluster and HSM set, with the store's connection error code under the state.",
			SVG:     statesChart(f, r)},
	}
}

func throughputChart(f *frame, r *result.Result, step float64) template.HTML {
	c := newChart(f, "Throughput (requests/s)", 190)
	xs := make([]float64, len(r.Series))
	sent := make([]float64, len(r.Series))
	ok := make([]float64, len(r.Series))
	var hi float64
	for i, b := range r.Series {
		xs[i] = b.Start + step/2
		sent[i] = float64(b.Requests) / step
		ok[i] = float64(b.OK) / step
		hi = max(hi, sent[i], ok[i])
	}
	c.linear(hi, "requests/s")
	if len(r.Series) == 0 {
		c.note("no requests")
	}
	c.line("requests/s", "#4e79a7", 2, false, xs, sent)
	c.line("ok/s", "#59a14f", 2, false, xs, ok)
	return c.svg()
}

func latencyChart(f *frame, r *result.Result, step float64) template.HTML {
	c := newChart(f, "Latency (ms, log scale)", 190)
	xs := make([]float64, len(r.Series))
	p50 := make([]float64, len(r.Series))
	p99 := make([]float64, len(r.Series))
	lo, hi := math.Inf(1), 0.0
	for i, b := range r.Series {
		xs[i] = b.Start + step/2
		p50[i], p99[i] = math.NaN(), math.NaN()
		if b.Requests == 0 {
			continue
		}
		if b.P50 > 0 {
			p50[i] = b.P50
			lo, hi = min(lo, b.P50), max(hi, b.P50)
		}
		if b.P99 > 0 {
			p99[i] = b.P99
			lo, hi = min(lo, b.P99), max(hi, b.P99)
		}
	}
	c.logarithmic(lo, hi, "ms")
	if hi == 0 {
		c.note("no latencies")
	}
	c.line("p50", "#4e79a7", 2, false, xs, p50)
	c.line("p99", "#e15759", 2, false, xs, p99)
	return c.svg()
}

// maxErrorLayers bounds the layers of the errors chart; the rest are
// summed as "other" so the chart and its legend stay readable.
const maxErrorLayers = 7

func errorsChart(f *frame, r *result.Result, step float64) template.HTML {
	c := newChart(f, "Errors by exception (requests/s)", 160)
	totals := map[string]int64{}
	for _, b := range r.Series {
		for k, v := range b.Errors {
			totals[k] += v
		}
	}
	names := byCount(totals)
	if len(names) > maxErrorLayers {
		names = names[:maxErrorLayers-1]
	}
	layerOf := map[string]int{}
	var labels, colors []string
	for i, n := range names {
		layerOf[n.Name] = i
		labels = append(labels, n.Name)
		colors = append(colors, palette[i%len(palette)])
	}
	other := len(totals) > len(names)
	if other {
		labels = append(labels, "other")
		colors = append(colors, "#bab0ac")
	}
	layers := make([][]float64, len(labels))
	for k := range layers {
		layers[k] = make([]float64, len(r.Series))
	}
	x0s := make([]float64, len(r.Series))
	x1s := make([]float64, len(r.Series))
	var hi float64
	for i, b := range r.Series {
		x0s[i], x1s[i] = b.Start, b.Start+step
		var sum float64
		for k, v := range b.Errors {
			l, ok := layerOf[k]
			if !ok {
				l = len(labels) - 1
			}
			layers[l][i] += float64(v) / step
			sum += float64(v) / step
		}
		hi = max(hi, sum)
	}
	c.linear(hi, "errors/s")
	if len(labels) == 0 {
		c.note("no errors")
	}
	c.stackedSteps(labels, colors, x0s, x1s, layers)
	return c.svg()
}

// subjects are the observed subjects in reading order: stores first (what
// the scenario is about), then clusters, HSM sets, keys, and anything
// else; by name within each.
func subjects(ts []result.Transition) []string {
	rank := func(s string) int {
		for i, p := range []string{"store:", "cluster:", "hsms:", "key:"} {
			if strings.HasPrefix(s, p) {
				return i
			}
		}
		return 4
	}
	seen := map[string]bool{}
	var out []string
	for _, t := range ts {
		if !seen[t.Subject] {
			seen[t.Subject] = true
			out = append(out, t.Subject)
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		if c := cmp.Compare(rank(a), rank(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return out
}

func statesChart(f *frame, r *result.Result) template.HTML {
	lanes := subjects(r.Transitions)
	if len(lanes) == 0 {
		c := newChart(f, "State timeline", 40)
		c.lanes = []string{""}
		c.note("no state transitions observed")
		return c.svg()
	}
	c := newChart(f, "State timeline", 32*float64(len(lanes)))
	c.lanes = lanes
	ts := slices.Clone(r.Transitions)
	slices.SortStableFunc(ts, func(a, b result.Transition) int { return cmp.Compare(a.At, b.At) })
	states := map[string]bool{}
	for i, subject := range lanes {
		var mine []result.Transition
		for _, t := range ts {
			if t.Subject == subject {
				mine = append(mine, t)
			}
		}
		seg := func(state, code string, from, to float64) {
			if to <= from { // a state held for no time: the table lists it
				return
			}
			states[state] = true
			title := subject + " " + state
			if code != "" {
				title += " (" + code + ")"
			}
			title += " " + span(from, to, "–")
			c.segment(i, from, to, stateColor(state), state, code, title)
		}
		// Before the first change the state is its From, when known.
		if first := mine[0]; first.From != "" && first.At > f.xmin {
			seg(first.From, "", f.xmin, first.At)
		}
		for j, t := range mine {
			end := f.xmax
			if j+1 < len(mine) {
				end = mine[j+1].At
			}
			seg(t.To, t.Code, t.At, end)
		}
	}
	names := make([]string, 0, len(states))
	for s := range states {
		names = append(names, s)
	}
	slices.Sort(names)
	for _, s := range names {
		c.legendEntry(s, stateColor(s), true)
	}
	return c.svg()
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
