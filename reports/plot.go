package reports

import (
	"cmp"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/keystorm/keystorm/harness/result"
)

// A tiny plotting helper for the HTML report: charts over the run's time
// axis drawn as inline SVG, so the page needs no script, no library and no
// network, and prints as crisp as it shows. Every chart of a report shares
// one frame (the same x scale and margins) so that a fault's span lines up
// from chart to chart when a reader looks down the page.
//
// Every text that reaches the SVG goes through esc: the SVG is handed to
// html/template as trusted template.HTML, so this file is where escaping
// has to happen.

// Geometry in SVG user units; the page scales each chart to its width.
const (
	chartWidth    = 960.0
	legendWidth   = 190.0 // the legend column on the right
	axisHeight    = 36.0  // x tick labels and the axis title
	labelRowH     = 13.0  // one row of fault and step labels above a chart
	maxLabelRows  = 4
	fontSize      = 11.0
	smallFontSize = 10.0
	// charW is a character's average width as a fraction of the font size,
	// to fit labels without measuring text.
	charW = 0.58
)

// Colours: series and marks. Marks are translucent so data shows through.
const (
	colorText   = "#1f2328"
	colorMuted  = "#656d76"
	colorGrid   = "#e4e7eb"
	colorAxis   = "#8c959f"
	colorFault  = "#d1242f"
	colorStep   = "#1a7f37"
	colorFaultL = "#9a1c24"
	colorStepL  = "#116329"
)

// palette is for series without a colour of their own (exceptions); the
// first is what a reader sees most, so it is the strongest.
var palette = []string{
	"#e15759", "#f28e2b", "#4e79a7", "#b07aa1", "#76b7b2",
	"#edc948", "#9c755f", "#ff9da7", "#59a14f", "#bab0ac",
}

// frame is the x scale and the margins all charts of a report share, and
// the faults and steps every chart marks.
type frame struct {
	left       float64 // plot area's left edge; room for y labels or lanes
	xmin, xmax float64 // seconds since the run's start
	marks      []mark
	labelRows  int
}

// mark is a fault or step drawn on every chart as a shaded span (or a line
// when it was instant) labelled with its id.
type mark struct {
	id, kind, title string
	start, end      float64
	na              bool // not applicable: it never ran, drawn dashed
	row             int  // label row above the chart
	labelX          float64
	anchorEnd       bool
}

// label is what the chart prints above the mark: its id, flagged when it
// never ran so that a printed page does not suggest it did.
func (m *mark) label() string {
	if m.na {
		return m.id + " (n/a)"
	}
	return m.id
}

// markColor is a mark's colour, darker for its text.
func markColor(kind string, text bool) string {
	switch {
	case kind == "step" && text:
		return colorStepL
	case kind == "step":
		return colorStep
	case text:
		return colorFaultL
	}
	return colorFault
}

func (f *frame) right() float64 { return chartWidth - legendWidth }

func (f *frame) x(v float64) float64 {
	t := (v - f.xmin) / (f.xmax - f.xmin)
	return f.left + clamp01(t)*(f.right()-f.left)
}

// newFrame sets the scale for [0, xmax] seconds with left as the margin
// and lays out the labels of the faults and steps of timeline.
func newFrame(left, xmax float64, timeline []result.Injection) *frame {
	f := &frame{left: left, xmin: 0, xmax: max(xmax, 1)}
	for _, in := range timeline {
		if in.Kind != "fault" && in.Kind != "step" {
			continue
		}
		title := in.Kind + " " + in.ID
		if in.Action != "" && in.Action != in.ID {
			title += " (" + in.Action + ")"
		}
		title += " " + span(in.Start, in.End, "–")
		if o := injectionOutcome(in); o != "ok" {
			title += ": " + o
		}
		f.marks = append(f.marks, mark{id: in.ID, kind: in.Kind, title: title, start: in.Start, end: max(in.End, in.Start), na: in.NotApplicable})
	}
	slices.SortStableFunc(f.marks, func(a, b mark) int { return cmp.Compare(a.start, b.start) })
	// Greedy rows: each label goes in the first row where it clears the
	// previous one, so that marks close in time do not print over each
	// other.
	var ends []float64
	for i := range f.marks {
		m := &f.marks[i]
		w := textWidth(m.label(), smallFontSize)
		x := f.x(m.start)
		a, b := x+3, x+3+w
		if b > f.right() {
			m.anchorEnd = true
			a, b = x-3-w, x-3
		}
		m.labelX = a
		if m.anchorEnd {
			m.labelX = b
		}
		row := -1
		for r, e := range ends {
			if e+6 <= a {
				row = r
				break
			}
		}
		if row < 0 && len(ends) < maxLabelRows {
			row = len(ends)
			ends = append(ends, 0)
		}
		if row < 0 {
			row = 0
			for r, e := range ends {
				if e < ends[row] {
					row = r
				}
			}
		}
		ends[row] = b
		m.row = row
	}
	f.labelRows = len(ends)
	return f
}

// chart is one SVG chart in a frame.
type chart struct {
	f           *frame
	title       string
	top, bottom float64 // the plot area's vertical extent
	height      float64
	ymin, ymax  float64
	ylog        bool
	ylabel      string
	lanes       []string // a categorical y axis (the state timeline)
	data        strings.Builder
	legend      []legendItem
}

type legendItem struct {
	label, color string
	area, dash   bool
}

// newChart makes a chart with a plot area plotH high.
func newChart(f *frame, title string, plotH float64) *chart {
	top := 8 + float64(f.labelRows)*labelRowH + 6
	return &chart{f: f, title: title, top: top, bottom: top + plotH, height: top + plotH + axisHeight}
}

// linear sets a y scale from 0 to a round number at or above hi.
func (c *chart) linear(hi float64, label string) {
	c.ylabel = label
	c.ymin, c.ymax = 0, 1
	if hi > 0 {
		// A little headroom, so a series at its maximum does not run
		// along the frame.
		hi *= 1.04
		step := niceStep(hi, 10)
		c.ymax = math.Ceil(hi/step-1e-9) * step
	}
}

// logarithmic sets a y scale over whole decades around [lo, hi]: latency
// spans decades when a fault strikes (milliseconds to a timeout), and a
// linear scale would flatten everything but the worst second.
func (c *chart) logarithmic(lo, hi float64, label string) {
	c.ylabel = label
	c.ylog = true
	if lo <= 0 || hi <= 0 || math.IsInf(lo, 0) {
		lo, hi = 1, 1000
	}
	c.ymin = math.Pow(10, math.Floor(math.Log10(lo)))
	c.ymax = math.Pow(10, math.Ceil(math.Log10(hi)))
	if c.ymax <= c.ymin {
		c.ymax = c.ymin * 10
	}
}

func (c *chart) y(v float64) float64 {
	var t float64
	if c.ylog {
		v = max(v, c.ymin)
		t = (math.Log10(v) - math.Log10(c.ymin)) / (math.Log10(c.ymax) - math.Log10(c.ymin))
	} else {
		t = (v - c.ymin) / (c.ymax - c.ymin)
	}
	return c.bottom - clamp01(t)*(c.bottom-c.top)
}

// line draws a series as a polyline through (xs[i], ys[i]), broken where
// ys[i] is NaN (no data in that bucket), so a gap never reads as a value.
func (c *chart) line(label, color string, width float64, dash bool, xs, ys []float64) {
	c.legend = append(c.legend, legendItem{label: label, color: color, dash: dash})
	var pts []string
	flush := func() {
		switch len(pts) {
		case 0:
			return
		case 1: // a lone point is a dot, or it would not show
			xy := strings.Split(pts[0], ",")
			c.data.WriteString(`<circle cx="` + xy[0] + `" cy="` + xy[1] + `" r="` + num(width) + `" fill="` + color + `"/>`)
		default:
			c.data.WriteString(`<polyline fill="none" stroke="` + color + `" stroke-width="` + num(width) + `" stroke-linejoin="round"`)
			if dash {
				c.data.WriteString(` stroke-dasharray="6 3"`)
			}
			c.data.WriteString(` points="` + strings.Join(pts, " ") + `"><title>` + esc(label) + `</title></polyline>`)
		}
		c.data.WriteString("\n")
		pts = pts[:0]
	}
	for i := range xs {
		if math.IsNaN(ys[i]) {
			flush()
			continue
		}
		pts = append(pts, num(c.f.x(xs[i]))+","+num(c.y(ys[i])))
	}
	flush()
}

// stackedSteps draws layers stacked on each other as step-shaped areas:
// layer k over bucket i spans x0s[i] to x1s[i] and is layers[k][i] high.
// One polygon per layer keeps the SVG small however long the run.
func (c *chart) stackedSteps(labels, colors []string, x0s, x1s []float64, layers [][]float64) {
	base := make([]float64, len(x0s))
	for k, layer := range layers {
		c.legend = append(c.legend, legendItem{label: labels[k], color: colors[k], area: true})
		top := make([]float64, len(base))
		var pts []string
		for i := range x0s {
			top[i] = base[i] + layer[i]
			pts = append(pts, num(c.f.x(x0s[i]))+","+num(c.y(top[i])), num(c.f.x(x1s[i]))+","+num(c.y(top[i])))
		}
		for i := len(x0s) - 1; i >= 0; i-- {
			pts = append(pts, num(c.f.x(x1s[i]))+","+num(c.y(base[i])), num(c.f.x(x0s[i]))+","+num(c.y(base[i])))
		}
		c.data.WriteString(`<polygon fill="` + colors[k] + `" fill-opacity="0.85" points="` +
			strings.Join(pts, " ") + `"><title>` + esc(labels[k]) + "</title></polygon>\n")
		base = top
	}
}

// segment draws a coloured bar from x0 to x1 in lane, with up to two
// lines of label that are cut to fit (the full text is in its tooltip).
func (c *chart) segment(lane int, x0, x1 float64, color, line1, line2, title string) {
	laneH := (c.bottom - c.top) / float64(len(c.lanes))
	y0 := c.top + float64(lane)*laneH + 3
	h := laneH - 6
	a, b := c.f.x(x0), c.f.x(x1)
	c.data.WriteString(`<g><title>` + esc(title) + `</title><rect x="` + num(a) + `" y="` + num(y0) + `" width="` + num(max(b-a, 0.5)) +
		`" height="` + num(h) + `" fill="` + color + `" stroke="#fff" stroke-width="1"/>`)
	room := b - a - 6
	y1 := y0 + h/2 - 1
	if line2 == "" {
		y1 = y0 + h/2 + 3.5
	}
	if l := fit(line1, smallFontSize, room); l != "" {
		c.data.WriteString(`<text x="` + num(a+3) + `" y="` + num(y1) + `" font-size="` + num(smallFontSize) + `" font-weight="600" fill="` + colorText + `">` + esc(l) + `</text>`)
	}
	if l := fit(line2, smallFontSize-1, room); l != "" {
		c.data.WriteString(`<text x="` + num(a+3) + `" y="` + num(y0+h/2+9) + `" font-size="` + num(smallFontSize-1) + `" fill="` + colorText + `">` + esc(l) + `</text>`)
	}
	c.data.WriteString("</g>\n")
}

// legendEntry adds a legend item with no series of its own.
func (c *chart) legendEntry(label, color string, area bool) {
	c.legend = append(c.legend, legendItem{label: label, color: color, area: area})
}

// note writes a message in the middle of the plot area, for a chart with
// nothing to draw: an empty chart must not look like a chart of zeros.
func (c *chart) note(msg string) {
	x := (c.f.left + c.f.right()) / 2
	y := (c.top + c.bottom) / 2
	c.data.WriteString(`<text x="` + num(x) + `" y="` + num(y) + `" text-anchor="middle" fill="` + colorMuted + `">` + esc(msg) + "</text>\n")
}

// svg renders the chart: grid and axes, the marks' spans behind the data,
// the data, the marks' labels and the legend.
func (c *chart) svg() template.HTML {
	var b strings.Builder
	f := c.f
	b.WriteString(`<svg viewBox="0 0 ` + num(chartWidth) + ` ` + num(c.height) + `" role="img" font-family="system-ui, sans-serif" font-size="` +
		num(fontSize) + `" fill="` + colorText + `"><title>` + esc(c.title) + "</title>\n")

	// The y axis: ticks and grid, or lanes.
	if len(c.lanes) > 0 {
		laneH := (c.bottom - c.top) / float64(len(c.lanes))
		for i, l := range c.lanes {
			y := c.top + float64(i)*laneH
			if i > 0 {
				b.WriteString(svgLine(f.left, y, f.right(), y, colorGrid, 1, ""))
			}
			b.WriteString(`<text x="` + num(f.left-8) + `" y="` + num(y+laneH/2+4) + `" text-anchor="end">` + esc(fit(l, fontSize, f.left-12)) + "</text>\n")
		}
	} else {
		for _, v := range c.yticks() {
			y := c.y(v)
			b.WriteString(svgLine(f.left, y, f.right(), y, colorGrid, 1, ""))
			b.WriteString(`<text x="` + num(f.left-6) + `" y="` + num(y+4) + `" text-anchor="end" fill="` + colorMuted + `">` + esc(tickLabel(v, c.ylog)) + "</text>\n")
		}
		b.WriteString(`<text transform="translate(` + num(max(f.left-44, 14)) + ` ` + num((c.top+c.bottom)/2) + `) rotate(-90)" text-anchor="middle" fill="` + colorMuted + `">` + esc(c.ylabel) + "</text>\n")
	}
	// The x axis.
	step := niceStep(f.xmax-f.xmin, 10)
	for _, v := range linearTicks(f.xmin, f.xmax, step) {
		x := f.x(v)
		b.WriteString(svgLine(x, c.bottom, x, c.bottom+4, colorAxis, 1, ""))
		b.WriteString(`<text x="` + num(x) + `" y="` + num(c.bottom+16) + `" text-anchor="middle" fill="` + colorMuted + `">` + esc(tickLabel(v, false)) + "</text>\n")
	}
	b.WriteString(`<text x="` + num((f.left+f.right())/2) + `" y="` + num(c.bottom+31) + `" text-anchor="middle" fill="` + colorMuted + `">seconds since start</text>` + "\n")

	// Marks: shaded spans behind the data of a line chart, over the lanes
	// of the state timeline (whose bars would hide them); their edges on
	// top of everything.
	spans := func() {
		for _, m := range f.marks {
			if x0, x1 := f.x(m.start), f.x(m.end); !m.na && x1-x0 >= 2 {
				b.WriteString(`<rect x="` + num(x0) + `" y="` + num(c.top) + `" width="` + num(x1-x0) + `" height="` + num(c.bottom-c.top) +
					`" fill="` + markColor(m.kind, false) + `" fill-opacity="0.12"/>` + "\n")
			}
		}
	}
	if len(c.lanes) == 0 {
		spans()
	}
	b.WriteString(c.data.String())
	if len(c.lanes) > 0 {
		spans()
	}
	for _, m := range f.marks {
		dash := ""
		if m.na {
			dash = "4 3"
		}
		x0 := f.x(m.start)
		b.WriteString(svgLine(x0, 8+float64(m.row)*labelRowH+2, x0, c.bottom, markColor(m.kind, false), 1.2, dash))
	}
	b.WriteString(`<rect x="` + num(f.left) + `" y="` + num(c.top) + `" width="` + num(f.right()-f.left) + `" height="` + num(c.bottom-c.top) +
		`" fill="none" stroke="` + colorAxis + `" stroke-width="1"/>` + "\n")

	// Mark labels above the plot area.
	for _, m := range f.marks {
		color := markColor(m.kind, true)
		anchor := "start"
		if m.anchorEnd {
			anchor = "end"
		}
		labelY := 8 + float64(m.row)*labelRowH + 9
		b.WriteString(`<text x="` + num(m.labelX) + `" y="` + num(labelY) + `" text-anchor="` + anchor + `" font-size="` + num(smallFontSize) +
			`" fill="` + color + `"><title>` + esc(m.title) + `</title>` + esc(m.label()) + "</text>\n")
	}

	// The legend, with the marks' kinds so that a printed page explains
	// its own shading.
	items := c.legend
	kinds := map[string]bool{}
	for _, m := range f.marks {
		kinds[m.kind] = true
	}
	if kinds["fault"] {
		items = append(items, legendItem{label: "fault", color: colorFault, area: true})
	}
	if kinds["step"] {
		items = append(items, legendItem{label: "recovery step", color: colorStep, area: true})
	}
	if room := int((c.height - c.top) / 16); len(items) > room && room > 1 {
		more := len(items) - room + 1
		items = append(items[:room-1:room-1], legendItem{label: "+" + strconv.Itoa(more) + " more", color: "#fff", area: true})
	}
	lx := f.right() + 16
	for i, it := range items {
		y := c.top + 6 + float64(i)*16
		if it.area {
			op := "0.85"
			if it.color == colorFault || it.color == colorStep {
				op = "0.25"
			}
			b.WriteString(`<rect x="` + num(lx) + `" y="` + num(y-5) + `" width="14" height="10" fill="` + it.color + `" fill-opacity="` + op + `"/>`)
		} else {
			dash := ""
			if it.dash {
				dash = "6 3"
			}
			b.WriteString(svgLine(lx, y, lx+14, y, it.color, 2.5, dash))
		}
		label := fit(it.label, fontSize, legendWidth-36)
		b.WriteString(`<text x="` + num(lx+20) + `" y="` + num(y+4) + `">`)
		if label != it.label {
			b.WriteString(`<title>` + esc(it.label) + `</title>`)
		}
		b.WriteString(esc(label) + "</text>\n")
	}
	b.WriteString("</svg>")
	return template.HTML(b.String())
}

func (c *chart) yticks() []float64 {
	if !c.ylog {
		return linearTicks(c.ymin, c.ymax, niceStep(c.ymax-c.ymin, 4))
	}
	lo, hi := math.Log10(c.ymin), math.Log10(c.ymax)
	mults := []float64{1, 2, 5}
	if hi-lo > 3 {
		mults = []float64{1}
	}
	var out []float64
	for d := lo; d <= hi; d++ {
		for _, m := range mults {
			v := m * math.Pow(10, d)
			if v <= c.ymax*(1+1e-9) {
				out = append(out, v)
			}
		}
	}
	return out
}

// niceStep is a step of 1, 2 or 5 times a power of ten that cuts span
// into about n parts: the ticks a reader can add up in their head.
func niceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if raw <= m*mag*(1+1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// linearTicks are the multiples of step in [lo, hi], computed from an
// integer index so that float error does not pile up.
func linearTicks(lo, hi, step float64) []float64 {
	var out []float64
	for i := math.Ceil(lo/step - 1e-9); i*step <= hi+step*1e-9; i++ {
		out = append(out, i*step)
	}
	return out
}

// tickLabel prints a tick value with no more decimals than it needs.
func tickLabel(v float64, log bool) string {
	if v == 0 {
		return "0"
	}
	dec := 0
	if a := math.Abs(v); a < 1 {
		dec = int(math.Ceil(-math.Log10(a) - 1e-9))
		if !log {
			dec++
		}
	}
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func svgLine(x0, y0, x1, y1 float64, color string, width float64, dash string) string {
	s := `<line x1="` + num(x0) + `" y1="` + num(y0) + `" x2="` + num(x1) + `" y2="` + num(y1) + `" stroke="` + color + `" stroke-width="` + num(width) + `"`
	if dash != "" {
		s += ` stroke-dasharray="` + dash + `"`
	}
	return s + "/>\n"
}

// num prints a coordinate with one decimal: finer than a printer's dot at
// this scale, and the same on every machine.
func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	if s == "-0" {
		s = "0"
	}
	return s
}

// textWidth estimates how wide s prints at size.
func textWidth(s string, size float64) float64 {
	return float64(len([]rune(s))) * size * charW
}

// fit cuts s with an ellipsis to print within width at size; empty when
// not even a few characters fit, since a label of one letter misleads.
func fit(s string, size, width float64) string {
	if textWidth(s, size) <= width {
		return s
	}
	n := int(width/(size*charW)) - 1
	if n < 3 {
		return ""
	}
	return string([]rune(s)[:n]) + "…"
}

func esc(s string) string { return template.HTMLEscapeString(s) }

func clamp01(t float64) float64 {
	if math.IsNaN(t) {
		return 0
	}
	return min(max(t, 0), 1)
}

// stateColor gives a state a light fill that dark text reads on and that
// says, at a glance, good (green), in between (amber), bad (red) or idle
// (grey). States are matched by the words the stack uses for stores,
// clusters, HSMs and keys; an unknown state gets a neutral colour of its
// own.
func stateColor(state string) string {
	s := strings.ToUpper(state)
	switch {
	case s == "DISCONNECTED" || s == "DISABLED" || s == "":
		return "#d0d7de"
	case strings.Contains(s, "FAIL") || strings.Contains(s, "UNAVAILABLE") || strings.Contains(s, "DEGRADED") ||
		strings.Contains(s, "ERROR") || strings.Contains(s, "DELETED") || s == "0":
		return "#f5a3a3"
	case strings.Contains(s, "ING") || strings.Contains(s, "PROGRESS") || strings.Contains(s, "PENDING"):
		return "#ffe08a"
	case strings.Contains(s, "CONNECTED") || s == "ACTIVE" || s == "ENABLED" || s == "OK" || s == "READY":
		return "#aedd94"
	}
	if _, err := strconv.Atoi(s); err == nil {
		return "#a8c8ea" // a count, such as an HSM count above zero
	}
	neutral := []string{"#d8c8ea", "#c4e3e8", "#f2d4b7", "#e8e0b8"}
	h := 0
	for _, c := range s {
		h = (h*31 + int(c)) % 1000003
	}
	return neutral[h%len(neutral)]
}
