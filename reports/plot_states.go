package reports

import (
	"cmp"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/keystorm/keystorm/harness/result"
)

const (
	laneH        vg.Length = 30   // one subject's lane
	maxLaneLabel vg.Length = 170  // a longer subject is cut, so the plot area stays wide
	barHalf                = 0.38 // half a bar's height, in lanes
)

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

// segment is a subject holding a state from one time to another, on the
// lane at y.
type segment struct {
	y           float64
	from, to    float64
	state, code string
}

// stateSegments are the segments of each lane, the first lane on top;
// before a subject's first change its state is that change's From, when
// known, and after its last it holds until the end of the axis.
func stateSegments(f *frame, lanes []string, ts []result.Transition) []segment {
	ts = slices.Clone(ts)
	slices.SortStableFunc(ts, func(a, b result.Transition) int { return cmp.Compare(a.At, b.At) })
	var out []segment
	for i, subject := range lanes {
		y := float64(len(lanes) - 1 - i)
		var mine []result.Transition
		for _, t := range ts {
			if t.Subject == subject {
				mine = append(mine, t)
			}
		}
		add := func(state, code string, from, to float64) {
			if to > from { // a state held for no time: the table lists it
				out = append(out, segment{y: y, from: from, to: to, state: state, code: code})
			}
		}
		if first := mine[0]; first.From != "" && first.At > f.xmin {
			add(first.From, "", f.xmin, first.At)
		}
		for j, t := range mine {
			end := f.xmax
			if j+1 < len(mine) {
				end = mine[j+1].At
			}
			add(t.To, t.Code, t.At, end)
		}
	}
	return out
}

// statesChart is one lane per observed subject with a bar per state it
// held, coloured by state and named in the bar where the name fits, with
// the store's connection error code under it.
func statesChart(f *frame, r *result.Result) *chart {
	lanes := subjects(r.Transitions)
	p := newPlot(f, "")
	c := newChart("State timeline: observed states of each store, key, cluster and HSM set", p, laneH*vg.Length(max(len(lanes), 1)))
	p.Y.Tick.Label.Color = colorText
	if len(lanes) == 0 {
		p.NominalY("")
		p.X.Padding = 0
		p.Y.Min, p.Y.Max = -0.5, 0.5
		p.Add(markSpans(f.marks), note("no state transitions observed"), markLines(f.marks))
		f.markLegend(&c.legend)
		return c
	}
	// NominalY puts the first name at the bottom; the first lane goes on top.
	names := make([]string, len(lanes))
	for i, l := range lanes {
		names[len(lanes)-1-i] = cmp.Or(fitText(l, p.Y.Tick.Label, maxLaneLabel), l)
	}
	p.NominalY(names...)
	p.X.Padding = 0
	p.Y.Min, p.Y.Max = -0.5, float64(len(lanes))-0.5

	// One polygon per state, a ring per bar: its legend thumbnail is the
	// state's colour, and the SVG has one path per state.
	segs := stateSegments(f, lanes, r.Transitions)
	bars := map[string]*plotter.Polygon{}
	for _, s := range segs {
		b := bars[s.state]
		if b == nil {
			b = &plotter.Polygon{Color: stateColor(s.state), LineStyle: draw.LineStyle{Color: hexColor("#ffffff"), Width: 1}}
			bars[s.state] = b
		}
		b.XYs = append(b.XYs, plotter.XYs{
			{X: s.from, Y: s.y - barHalf}, {X: s.to, Y: s.y - barHalf},
			{X: s.to, Y: s.y + barHalf}, {X: s.from, Y: s.y + barHalf},
		})
	}
	states := make([]string, 0, len(bars))
	for s := range bars {
		states = append(states, s)
	}
	slices.Sort(states)
	for _, s := range states {
		p.Add(bars[s])
		c.add(s, bars[s])
	}
	// Marks over the bars, which would hide them.
	p.Add(segmentLabels(segs), markSpans(f.marks), markLines(f.marks))
	f.markLegend(&c.legend)
	return c
}

// segmentLabels is a Plotter writing each bar's state, and the connection
// error code under it, inside the bar: cut to fit, or left out when not
// even a few letters fit (the table below the charts lists every change).
type segmentLabels []segment

var _ plot.Plotter = segmentLabels(nil)

func (ss segmentLabels) Plot(c draw.Canvas, p *plot.Plot) {
	x, y := p.Transforms(&c)
	name := bold(textStyle(smallSize, colorText))
	code := textStyle(smallSize-1, colorText)
	for _, s := range ss {
		room := x(s.to) - x(s.from) - 6
		line1 := fitText(s.state, name, room)
		if line1 == "" {
			continue
		}
		left, mid := x(s.from)+3, y(s.y)
		line2 := fitText(s.code, code, room)
		if line2 == "" {
			c.FillText(name, baseline(name, left, mid-capHeight*name.Font.Size/2), line1)
			continue
		}
		c.FillText(name, baseline(name, left, mid+1.5), line1)
		c.FillText(code, baseline(code, left, mid-1.5-capHeight*code.Font.Size), line2)
	}
}

// capHeight is the height of a capital letter in Liberation Sans, as a
// fraction of the font size: what centres a line of text in a bar.
const capHeight = 0.73

// baseline is where FillText must be told to draw a line of text in sty,
// aligned by its bottom, for its baseline to be at y: gonum aligns the
// bottom of the line's box, the font size below the ascent.
func baseline(sty text.Style, x, y vg.Length) vg.Point {
	return vg.Point{X: x, Y: y - (sty.Font.Size - sty.FontExtents().Ascent)}
}
