package reports

import (
	"cmp"
	"image/color"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/keystorm/keystorm/harness/result"
)

// frame is the time axis every chart of a report shares, and the faults
// and steps every chart marks.
type frame struct {
	xmin, xmax float64 // seconds since the run's start
	marks      []mark  // by start time
}

// mark is a fault or step, drawn on every chart as a shaded span (or a
// line when it was instant) labelled with its id above the plot area.
type mark struct {
	id, kind   string
	start, end float64
	na         bool // not applicable: it never ran, drawn dashed
}

// newFrame is the time axis [0, xmax] with the faults and steps of
// timeline.
func newFrame(xmax float64, timeline []result.Injection) *frame {
	f := &frame{xmin: 0, xmax: max(xmax, 1)}
	for _, in := range timeline {
		if in.Kind != "fault" && in.Kind != "step" {
			continue
		}
		f.marks = append(f.marks, mark{id: in.ID, kind: in.Kind, start: in.Start, end: max(in.End, in.Start), na: in.NotApplicable})
	}
	slices.SortStableFunc(f.marks, func(a, b mark) int { return cmp.Compare(a.start, b.start) })
	return f
}

// label is what the chart prints above the mark: its id, flagged when it
// never ran so that a printed page does not suggest it did.
func (m mark) label() string {
	if m.na {
		return m.id + " (n/a)"
	}
	return m.id
}

// color is the mark's colour, darker for its text so that it reads on
// white.
func (m mark) color(forText bool) color.NRGBA {
	switch {
	case m.kind == "step" && forText:
		return colorStepL
	case m.kind == "step":
		return colorStep
	case forText:
		return colorFaultL
	}
	return colorFault
}

// line is the style of the mark's line at its start: dashed when it never
// ran.
func (m mark) line() draw.LineStyle {
	s := draw.LineStyle{Color: m.color(false), Width: 1.2}
	if m.na {
		s.Dashes = []vg.Length{4, 3}
	}
	return s
}

// markSpans is a Plotter shading the span of each mark that took time,
// across the whole plot area. A line chart draws it first, behind its
// data; the state timeline last, over the bars that would hide it.
type markSpans []mark

var _ plot.Plotter = markSpans(nil)

func (ms markSpans) Plot(c draw.Canvas, p *plot.Plot) {
	x, _ := p.Transforms(&c)
	for _, m := range ms {
		x0, x1 := x(m.start), x(m.end)
		if m.na || x1-x0 < 2 { // too thin to see: the line says it
			continue
		}
		c.FillPolygon(translucent(m.color(false), 0.12), c.ClipPolygonX([]vg.Point{
			{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y},
		}))
	}
}

// markLines is a Plotter drawing a line at the start of each mark, over
// everything else in the plot area.
type markLines []mark

var _ plot.Plotter = markLines(nil)

func (ms markLines) Plot(c draw.Canvas, p *plot.Plot) {
	x, _ := p.Transforms(&c)
	for _, m := range ms {
		if x0 := x(m.start); c.ContainsX(x0) {
			c.StrokeLine2(m.line(), x0, c.Min.Y, x0, c.Max.Y)
		}
	}
}

// markLegend adds to l the kinds of marks f has, so that a printed page
// explains its own shading.
func (f *frame) markLegend(l *plot.Legend) {
	var fault, step bool
	for _, m := range f.marks {
		fault = fault || m.kind == "fault"
		step = step || m.kind == "step"
	}
	if fault {
		l.Add("fault", &plotter.Polygon{Color: translucent(colorFault, 0.3)})
	}
	if step {
		l.Add("recovery step", &plotter.Polygon{Color: translucent(colorStep, 0.3)})
	}
}

// markLabel is where a mark's label goes above the plot area.
type markLabel struct {
	mark
	x          vg.Length // the mark's start on the canvas
	alignRight bool      // printed left of x, when it would overrun the plot area
	row        int       // 0 is the top row
}

// layoutLabels places the labels of marks above a plot area whose time
// axis maps to the canvas by x, with right the rightmost a label may
// reach. Greedy rows: each label goes in the first row where it clears
// the previous one, so that marks close in time do not print over each
// other. A label that finds no room in maxLabelRows is left out, its
// line still drawn (the timeline table lists every mark): a burst of
// faults must not push the charts down the page.
func layoutLabels(marks []mark, x func(float64) vg.Length, right vg.Length) (labels []markLabel, rows int) {
	sty := textStyle(smallSize, colorText)
	var ends []vg.Length
	for _, m := range marks {
		l := markLabel{mark: m, x: x(m.start), row: -1}
		w := sty.Width(m.label())
		a, b := l.x+3, l.x+3+w
		if b > right {
			l.alignRight = true
			a, b = l.x-3-w, l.x-3
		}
		for r, e := range ends {
			if e+6 <= a {
				l.row = r
				break
			}
		}
		if l.row < 0 && len(ends) < maxLabelRows {
			l.row = len(ends)
			ends = append(ends, 0)
		}
		if l.row < 0 {
			continue
		}
		ends[l.row] = b
		labels = append(labels, l)
	}
	return labels, len(ends)
}

// labelBand is the height above the plot area that rows of labels take.
func labelBand(rows int) vg.Length {
	return vg.Length(rows)*labelRowH + 6
}

// drawLabels prints labels in the band between the plot area's top, top,
// and the canvas's, with a line from each down to the plot area.
func drawLabels(c draw.Canvas, labels []markLabel, top vg.Length) {
	for _, l := range labels {
		rowTop := c.Max.Y - 2 - vg.Length(l.row)*labelRowH
		c.StrokeLine2(l.line(), l.x, rowTop, l.x, top)
		sty := textStyle(smallSize, l.color(true))
		at := vg.Point{X: l.x + 3, Y: rowTop - labelRowH + 4}
		if l.alignRight {
			sty.XAlign = draw.XRight
			at.X = l.x - 3
		}
		c.FillText(sty, at, l.label())
	}
}
