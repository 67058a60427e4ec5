package reports

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/keystorm/keystorm/harness/result"
)

// Plot area heights of the line charts, in points.
const (
	lineChartH  vg.Length = 190
	errorChartH vg.Length = 160
)

// throughputChart is requests and successful requests per second, one
// point per bucket at its middle.
func throughputChart(f *frame, r *result.Result, step float64) (*chart, error) {
	p := newPlot(f, "requests/s")
	c := newChart("Throughput: requests and successful requests per second", p, lineChartH)
	sent := make([]float64, len(r.Series))
	ok := make([]float64, len(r.Series))
	var hi float64
	for i, b := range r.Series {
		sent[i] = float64(b.Requests) / step
		ok[i] = float64(b.OK) / step
		hi = max(hi, sent[i], ok[i])
	}
	p.Add(horizontalGrid(), markSpans(f.marks))
	if len(r.Series) == 0 {
		p.Add(note("no requests"))
	}
	for _, s := range []struct {
		label string
		color string
		ys    []float64
	}{
		{"requests/s", "#4e79a7", sent},
		{"ok/s", "#59a14f", ok},
	} {
		thumb, err := addLine(p, bucketMiddles(r, step), s.ys, hexColor(s.color))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.label, err)
		}
		c.add(s.label, thumb)
	}
	p.Add(markLines(f.marks))
	linearY(p, hi)
	f.markLegend(&c.legend)
	return c, nil
}

// latencyChart is p50 and p99 latency per bucket on a log scale: latency
// spans decades when a fault strikes (milliseconds to a timeout), and a
// linear scale would flatten everything but the worst second. A bucket
// where nothing was sent is a gap in the lines, never a value.
func latencyChart(f *frame, r *result.Result, step float64) (*chart, error) {
	p := newPlot(f, "ms (log scale)")
	c := newChart("Latency: p50 and p99 per bucket, log scale", p, lineChartH)
	p50 := make([]float64, len(r.Series))
	p99 := make([]float64, len(r.Series))
	lo, hi := math.Inf(1), 0.0
	for i, b := range r.Series {
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
	p.Add(horizontalGrid(), markSpans(f.marks))
	if hi == 0 {
		p.Add(note("no latencies"))
	}
	for _, s := range []struct {
		label string
		color string
		ys    []float64
	}{
		{"p50", "#4e79a7", p50},
		{"p99", "#e15759", p99},
	} {
		thumb, err := addLine(p, bucketMiddles(r, step), s.ys, hexColor(s.color))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.label, err)
		}
		c.add(s.label, thumb)
	}
	p.Add(markLines(f.marks))
	// Whole decades around the data, so that every labelled tick is a
	// power of ten.
	if lo <= 0 || hi <= 0 || math.IsInf(lo, 0) {
		lo, hi = 1, 1000
	}
	p.Y.Min = math.Pow(10, math.Floor(math.Log10(lo)))
	p.Y.Max = max(math.Pow(10, math.Ceil(math.Log10(hi))), p.Y.Min*10)
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	f.markLegend(&c.legend)
	return c, nil
}

// bucketMiddles are the x of each bucket's point: its middle.
func bucketMiddles(r *result.Result, step float64) []float64 {
	xs := make([]float64, len(r.Series))
	for i, b := range r.Series {
		xs[i] = b.Start + step/2
	}
	return xs
}

// addLine adds ys over xs to p as lines broken where ys[i] is NaN (no data
// in that bucket), so that a gap never reads as a value; a point with no
// neighbour is a dot, or it would not show. It returns the line's legend
// thumbnail.
func addLine(p *plot.Plot, xs, ys []float64, clr color.Color) (plot.Thumbnailer, error) {
	style := draw.LineStyle{Color: clr, Width: 2}
	var run plotter.XYs
	flush := func() error {
		switch len(run) {
		case 0:
			return nil
		case 1:
			dot, err := plotter.NewScatter(run)
			if err != nil {
				return err
			}
			dot.GlyphStyle = draw.GlyphStyle{Color: clr, Radius: 2, Shape: draw.CircleGlyph{}}
			p.Add(dot)
		default:
			l, err := plotter.NewLine(run)
			if err != nil {
				return err
			}
			l.LineStyle = style
			p.Add(l)
		}
		run = nil
		return nil
	}
	for i := range xs {
		if math.IsNaN(ys[i]) {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		run = append(run, plotter.XY{X: xs[i], Y: ys[i]})
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return &plotter.Line{LineStyle: style}, nil
}

// maxErrorLayers bounds the layers of the errors chart; the rest are
// summed as "other" so the chart and its legend stay readable.
const maxErrorLayers = 7

// errorsChart is failed requests per second stacked by exception, as
// steps over each bucket's whole span.
func errorsChart(f *frame, r *result.Result, step float64) *chart {
	p := newPlot(f, "errors/s")
	c := newChart("Errors by exception: failed requests per second, stacked", p, errorChartH)
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
	var labels []string
	var colors []color.Color
	for i, n := range names {
		layerOf[n.Name] = i
		labels = append(labels, n.Name)
		colors = append(colors, translucent(hexColor(palette[i%len(palette)]), 0.85))
	}
	if len(totals) > len(names) {
		labels = append(labels, "other")
		colors = append(colors, translucent(colorOther, 0.85))
	}
	layers := make([][]float64, len(labels))
	for k := range layers {
		layers[k] = make([]float64, len(r.Series))
	}
	var hi float64
	for i, b := range r.Series {
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
	p.Add(horizontalGrid(), markSpans(f.marks))
	if len(labels) == 0 {
		p.Add(note("no errors"))
	}
	base := make([]float64, len(r.Series))
	for k, layer := range layers {
		area := stackedSteps(r, step, base, layer, colors[k])
		p.Add(area)
		c.add(labels[k], area)
	}
	p.Add(markLines(f.marks))
	linearY(p, hi)
	f.markLegend(&c.legend)
	return c
}

// stackedSteps is layer stacked on base as one step-shaped polygon over
// the buckets (one polygon per layer keeps the SVG small however long the
// run); base is raised by layer for the next one.
func stackedSteps(r *result.Result, step float64, base, layer []float64, clr color.Color) *plotter.Polygon {
	var ring plotter.XYs
	for i, b := range r.Series {
		top := base[i] + layer[i]
		ring = append(ring, plotter.XY{X: b.Start, Y: top}, plotter.XY{X: b.Start + step, Y: top})
	}
	for i := len(r.Series) - 1; i >= 0; i-- {
		b := r.Series[i]
		ring = append(ring, plotter.XY{X: b.Start + step, Y: base[i]}, plotter.XY{X: b.Start, Y: base[i]})
		base[i] += layer[i]
	}
	return &plotter.Polygon{XYs: []plotter.XYs{ring}, Color: clr}
}
