package reports

import (
	"fmt"
	"html/template"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// chart is one plot of the report with what goes around its plot area:
// the legend in a column on its right, so that it never covers the data,
// and the labels of the faults and steps above it.
type chart struct {
	title  string // names the chart for a screen reader
	p      *plot.Plot
	legend plot.Legend
	height vg.Length // of the plot area, at least
}

// newChart is a chart of p with an empty legend in the report's look.
func newChart(title string, p *plot.Plot, height vg.Length) *chart {
	l := plot.NewLegend()
	l.TextStyle = textStyle(fontSize, colorText)
	l.Top, l.Left = true, true
	l.Padding = 3
	l.ThumbnailWidth = 16
	return &chart{title: title, p: p, legend: l, height: height}
}

// add puts a legend entry for label, cut to fit the legend column.
func (c *chart) add(label string, thumbs ...plot.Thumbnailer) {
	room := legendWidth - legendGap - c.legend.ThumbnailWidth - c.legend.TextStyle.Width(" ")
	if l := fitText(label, c.legend.TextStyle, room); l != "" {
		label = l
	}
	c.legend.Add(label, thumbs...)
}

// renderCharts draws charts as SVG over f's time axis, with the same left
// and right edges of the plot area in all of them.
//
// gonum/plot sizes a plot area by what is around it, the y tick labels
// first, so charts drawn on canvases of one width get plot areas of
// different widths. As plot.Align does for a grid of plots on one canvas,
// each chart is measured on a trial canvas, and then drawn on a canvas
// cropped on the left by what its y axis takes less than the widest one,
// and on the right likewise.
func renderCharts(f *frame, charts []*chart) ([]template.HTML, error) {
	plotRight := chartWidth - legendWidth
	const trialH vg.Length = 1000
	type margins struct{ left, right, bottom, top vg.Length }
	ms := make([]margins, len(charts))
	var left, right vg.Length
	for i, c := range charts {
		c.p.X.Min, c.p.X.Max = f.xmin, f.xmax // Add widened it to the data
		d := c.p.DataCanvas(draw.Canvas{Rectangle: vg.Rectangle{Max: vg.Point{X: plotRight, Y: trialH}}})
		ms[i] = margins{left: d.Min.X, right: plotRight - d.Max.X, bottom: d.Min.Y, top: trialH - d.Max.Y}
		left, right = max(left, ms[i].left), max(right, ms[i].right)
	}
	x0, x1 := left, plotRight-right
	xOf := func(v float64) vg.Length { return x0 + vg.Length((v-f.xmin)/(f.xmax-f.xmin))*(x1-x0) }
	// Labels may run on over the legend column: the legend starts at the
	// plot area's top, below them.
	labels, rows := layoutLabels(f.marks, xOf, chartWidth-2)
	band := labelBand(rows)

	out := make([]template.HTML, len(charts))
	for i, c := range charts {
		legendH := c.legend.Rectangle(draw.Canvas{}).Size().Y
		h := band + ms[i].top + max(c.height, legendH) + ms[i].bottom
		area := vg.Rectangle{
			Min: vg.Point{X: left - ms[i].left},
			Max: vg.Point{X: plotRight - (right - ms[i].right), Y: h - band},
		}
		// The margins depend a little on the width when data sits at the
		// plot area's edge (gonum pads so that no glyph is cut), so
		// settle them on the true canvas. A chart off by a fraction of a
		// point after that is still drawn: a page with every chart is
		// worth more than none.
		for range 8 {
			d := c.p.DataCanvas(draw.Canvas{Rectangle: area})
			if math.Abs(float64(d.Min.X-x0)) < 0.01 && math.Abs(float64(d.Max.X-x1)) < 0.01 {
				break
			}
			area.Min.X += x0 - d.Min.X
			area.Max.X += x1 - d.Max.X
		}

		svg := vgsvg.New(chartWidth, h)
		whole := draw.New(svg)
		c.p.Draw(draw.Canvas{Canvas: svg, Rectangle: area})
		data := c.p.DataCanvas(draw.Canvas{Canvas: svg, Rectangle: area})
		drawLabels(whole, labels, data.Max.Y)
		c.legend.Draw(draw.Canvas{Canvas: svg, Rectangle: vg.Rectangle{
			Min: vg.Point{X: plotRight + legendGap, Y: data.Min.Y},
			Max: vg.Point{X: chartWidth, Y: data.Max.Y},
		}})
		inline, err := inlineSVG(svg, c.title)
		if err != nil {
			return nil, fmt.Errorf("chart %q: %w", c.title, err)
		}
		out[i] = inline
	}
	return out, nil
}
