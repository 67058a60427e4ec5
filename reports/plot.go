package reports

import (
	"image/color"
	"math"
	"strconv"
	"strings"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// The HTML report's charts are gonum/plot plots drawn with its SVG backend
// and inlined into the page (plot_svg.go), so the page needs no script and
// no network and prints as crisp as it shows. Every chart of a report
// shares one time axis: the same range and the same left and right edges
// of the plot area (plot_layout.go), so that a fault's span lines up from
// chart to chart when a reader looks down the page.
//
// The files: plot.go the look every chart shares, plot_layout.go the
// aligned drawing, plot_marks.go the faults and steps, plot_series.go the
// throughput, latency and errors charts, plot_states.go the state
// timeline, plot_svg.go the SVG made fit for the page.

// Geometry in points, which are the SVG's user units; the page scales each
// chart to its width.
const (
	chartWidth   vg.Length = 960
	legendWidth  vg.Length = 190 // the legend column on the right
	legendGap    vg.Length = 14  // between the plot area and the legend
	labelRowH    vg.Length = 13  // one row of fault and step labels
	maxLabelRows           = 8
	fontSize     vg.Length = 11
	smallSize    vg.Length = 10
)

// Colours: text, axes and the marks of faults and steps. Marks are
// translucent so the data shows through.
var (
	colorText   = hexColor("#1f2328")
	colorMuted  = hexColor("#57606a")
	colorGrid   = hexColor("#e4e7eb")
	colorAxis   = hexColor("#8c959f")
	colorFault  = hexColor("#d1242f")
	colorStep   = hexColor("#1a7f37")
	colorFaultL = hexColor("#9a1c24")
	colorStepL  = hexColor("#116329")
	colorOther  = hexColor("#bab0ac")
)

// palette is for series without a colour of their own (exceptions); the
// first is what a reader sees most, so it is the strongest.
var palette = []string{
	"#e15759", "#f28e2b", "#4e79a7", "#b07aa1", "#76b7b2",
	"#edc948", "#9c755f", "#ff9da7", "#59a14f", "#bab0ac",
}

// sans is the face of every text: gonum's default is a serif, which reads
// poorly at the small sizes of tick labels. The SVG names it with a
// sans-serif fallback (plot_svg.go), since the page embeds no font.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// textStyle is text in sans at size in clr, aligned by its left baseline.
func textStyle(size vg.Length, clr color.Color) text.Style {
	return text.Style{
		Color:   clr,
		Font:    font.From(sans, size),
		XAlign:  draw.XLeft,
		YAlign:  draw.YBottom,
		Handler: plot.DefaultTextHandler,
	}
}

// bold is s in the bold face.
func bold(s text.Style) text.Style {
	s.Font.Weight = xfont.WeightBold
	return s
}

// newPlot is a plot in the report's look over the frame's time axis, with
// a horizontal grid, labelled ylabel on its y axis. Its x range is set
// again when it is drawn (see chart.finish), since Add widens it to the
// data.
func newPlot(f *frame, ylabel string) *plot.Plot {
	p := plot.New()
	p.BackgroundColor = nil // the page's
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Padding = 0
		a.Color = colorAxis
		a.Label.TextStyle.Font = font.From(sans, fontSize)
		a.Label.TextStyle.Color = colorMuted
		a.Label.Padding = 4
		a.Tick.Label.Font = font.From(sans, fontSize)
		a.Tick.Label.Color = colorMuted
		a.Tick.Color = colorAxis
		a.Tick.Length = 4
	}
	p.X.Label.Text = "seconds since start"
	p.X.Tick.Marker = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		return linearTickMarks(lo, hi, niceStep(hi-lo, 10))
	})
	p.X.Min, p.X.Max = f.xmin, f.xmax
	p.Y.Label.Text = ylabel
	p.Legend.TextStyle.Font = font.From(sans, fontSize)
	return p
}

// horizontalGrid is a light line at each major y tick, behind the data.
func horizontalGrid() *plotter.Grid {
	g := plotter.NewGrid()
	g.Vertical.Color = nil
	g.Horizontal = draw.LineStyle{Color: colorGrid, Width: 0.75}
	return g
}

// linearY sets p's y axis from 0 to a round number at or above hi, with
// about four labelled ticks.
func linearY(p *plot.Plot, hi float64) {
	p.Y.Min, p.Y.Max = 0, 1
	if hi > 0 {
		// A little headroom, so a series at its maximum does not run
		// along the top of the plot area.
		hi *= 1.04
		step := niceStep(hi, 10)
		p.Y.Max = math.Ceil(hi/step-1e-9) * step
	}
	p.Y.Tick.Marker = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		return linearTickMarks(lo, hi, niceStep(hi-lo, 4))
	})
}

// note is a Plotter that writes a message in the middle of the plot area,
// for a chart with nothing to draw: an empty chart must not look like a
// chart of zeros.
type note string

var _ plot.Plotter = note("")

func (n note) Plot(c draw.Canvas, _ *plot.Plot) {
	sty := textStyle(fontSize+1, colorMuted)
	sty.XAlign, sty.YAlign = draw.XCenter, draw.YCenter
	c.FillText(sty, c.Center(), string(n))
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

// linearTickMarks are labelled ticks at the multiples of step in [lo, hi],
// computed from an integer index so that float error does not pile up.
func linearTickMarks(lo, hi, step float64) []plot.Tick {
	var out []plot.Tick
	for i := math.Ceil(lo/step - 1e-9); i*step <= hi+step*1e-9; i++ {
		out = append(out, plot.Tick{Value: i * step, Label: tickLabel(i * step)})
	}
	return out
}

// tickLabel prints a tick value with no more decimals than it needs.
func tickLabel(v float64) string {
	if v == 0 {
		return "0"
	}
	dec := 0
	if a := math.Abs(v); a < 1 {
		dec = int(math.Ceil(-math.Log10(a)-1e-9)) + 1
	}
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// fitText cuts s with an ellipsis to print within width in sty; empty when
// not even a few characters fit, since a label of one letter misleads.
func fitText(s string, sty text.Style, width vg.Length) string {
	if sty.Width(s) <= width {
		return s
	}
	r := []rune(s)
	for n := len(r) - 1; n >= 3; n-- {
		if t := string(r[:n]) + "…"; sty.Width(t) <= width {
			return t
		}
	}
	return ""
}

// hexColor parses "#rrggbb"; the colours are constants of this package,
// so a malformed one is a bug caught by the tests, drawn black.
func hexColor(s string) color.NRGBA {
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "#"), 16, 32)
	if err != nil || len(s) != 7 {
		return color.NRGBA{A: 255}
	}
	return color.NRGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 255}
}

// translucent is c with opacity alpha in (0, 1]. NRGBA, not RGBA: the SVG
// backend divides the colour by its alpha, which expects it premultiplied
// as NRGBA's RGBA method gives it.
func translucent(c color.NRGBA, alpha float64) color.NRGBA {
	c.A = uint8(math.Round(alpha * 255))
	return c
}

// stateColor gives a state a light fill that dark text reads on and that
// says, at a glance, good (green), in between (amber), bad (red) or idle
// (grey). States are matched by the words the stack uses for stores,
// clusters, HSMs and keys; an unknown state gets a neutral colour of its
// own.
func stateColor(state string) color.NRGBA {
	s := strings.ToUpper(state)
	switch {
	case s == "DISCONNECTED" || s == "DISABLED" || s == "":
		return hexColor("#d0d7de")
	case strings.Contains(s, "FAIL") || strings.Contains(s, "UNAVAILABLE") || strings.Contains(s, "DEGRADED") ||
		strings.Contains(s, "ERROR") || strings.Contains(s, "DELETED") || s == "0":
		return hexColor("#f5a3a3")
	case strings.Contains(s, "ING") || strings.Contains(s, "PROGRESS") || strings.Contains(s, "PENDING"):
		return hexColor("#ffe08a")
	case strings.Contains(s, "CONNECTED") || s == "ACTIVE" || s == "ENABLED" || s == "OK" || s == "READY":
		return hexColor("#aedd94")
	}
	if _, err := strconv.Atoi(s); err == nil {
		return hexColor("#a8c8ea") // a count, such as an HSM count above zero
	}
	neutral := []string{"#d8c8ea", "#c4e3e8", "#f2d4b7", "#e8e0b8"}
	h := 0
	for _, c := range s {
		h = (h*31 + int(c)) % 1000003
	}
	return hexColor(neutral[h%len(neutral)])
}
