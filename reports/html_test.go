package reports_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/reports"
)

// renderHTML writes r and parses the page as a browser would.
func renderHTML(t *testing.T, r *result.Result) ([]byte, *html.Node) {
	t.Helper()
	return renderPage(t, func(w io.Writer) error { return reports.HTML(w, r) })
}

// renderPage writes a page with write and parses it as a browser would.
func renderPage(t *testing.T, write func(io.Writer) error) ([]byte, *html.Node) {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatalf("parse the page: %v", err)
	}
	return b.Bytes(), doc
}

// elements lists the elements of the tree named name ("" for all).
func elements(n *html.Node, name string) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && (name == "" || d.Data == name) {
			out = append(out, d)
		}
	}
	return out
}

func TestHTMLIsWellFormed(t *testing.T) {
	t.Parallel()
	page, _ := renderHTML(t, fixture(t))
	wellFormedXML(t, page)
}

// wellFormedXML fails t unless page parses as strict XML. The page is
// written to be well-formed XML too (void elements self-closed, only
// numeric and XML entities), so a strict XML parse finds any tag left open
// or closed twice, which an HTML parser would silently repair, and any
// text that reached the page unescaped.
func wellFormedXML(t *testing.T, page []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(page))
	dec.Strict = true
	depth := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if depth != 0 {
		t.Errorf("%d elements left open", depth)
	}
}

func TestHTMLHasOneSVGPerPlot(t *testing.T) {
	t.Parallel()
	_, doc := renderHTML(t, fixture(t))
	figures := elements(doc, "figure")
	if len(figures) != 4 {
		t.Fatalf("%d figures, want 4 (throughput, latency, errors, states)", len(figures))
	}
	for _, f := range figures {
		if n := len(elements(f, "svg")); n != 1 {
			t.Errorf("a figure holds %d <svg>, want 1", n)
		}
	}
	if n := len(elements(doc, "svg")); n != 4 {
		t.Errorf("%d <svg> in the page, want 4", n)
	}
	// Every chart marks the faults and steps: their ids label each one.
	for _, f := range figures {
		text := textOf(f)
		for _, id := range []string{"kill-hsms", "add-hsm", "reconnect", "cut-secondary"} {
			if !strings.Contains(text, id) {
				t.Errorf("a chart does not mark %s", id)
			}
		}
	}
}

func textOf(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

func TestHTMLIsSelfContained(t *testing.T) {
	t.Parallel()
	_, doc := renderHTML(t, fixture(t))
	for _, el := range elements(doc, "") {
		switch el.Data {
		case "script", "link", "img", "iframe", "object", "embed", "image", "use", "a":
			t.Errorf("the page has a <%s> element", el.Data)
		case "style":
			if css := textOf(el); strings.Contains(css, "url(") || strings.Contains(css, "@import") {
				t.Error("the stylesheet loads something")
			}
		}
		for _, a := range el.Attr {
			v := strings.ToLower(a.Val)
			if strings.Contains(v, "http://") || strings.Contains(v, "https://") || strings.HasPrefix(v, "//") {
				t.Errorf("<%s %s=%q> refers to the network", el.Data, a.Key, a.Val)
			}
		}
	}
}

func TestHTMLEscapesResultText(t *testing.T) {
	t.Parallel()
	r := fixture(t)
	const evil = `<script>alert("x")</script>`
	r.Scenario = "flagship " + evil
	r.Description = "Deletes the HSMs " + evil
	r.Expectations[0].Detail = evil
	// Text that ends up inside the SVG, which the template cannot escape.
	r.Timeline[0].ID = `"><script>alert(1)</script>`
	r.Transitions[0].Subject = `store:<img src=x onerror=alert(1)>`
	r.Series[20].Errors[`"/><script>alert(2)</script>`] = 3

	page, doc := renderHTML(t, r)
	if n := len(elements(doc, "script")) + len(elements(doc, "img")); n > 0 {
		t.Errorf("result text became %d elements", n)
	}
	for _, el := range elements(doc, "") {
		for _, a := range el.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("result text became an attribute %s on <%s>", a.Key, el.Data)
			}
		}
	}
	if !bytes.Contains(page, []byte("Deletes the HSMs &lt;script&gt;")) {
		t.Error("the description is not escaped as text")
	}
	if !strings.Contains(textOf(doc), `Deletes the HSMs <script>alert("x")</script>`) {
		t.Error("the description does not read as written")
	}
}

func TestHTMLWithoutData(t *testing.T) {
	t.Parallel()
	// A run that failed before any load still gets a page with its four
	// charts, which say there is nothing to show.
	r := &result.Result{Schema: result.Schema, Scenario: "broken", Status: result.Fail, ExitCode: result.ExitInvalid, Invalid: "the stack did not start"}
	page, doc := renderHTML(t, r)
	if n := len(elements(doc, "svg")); n != 4 {
		t.Errorf("%d <svg>, want 4", n)
	}
	for _, want := range []string{"INVALID", "the stack did not start", "no requests", "no latencies", "no errors", "no state transitions observed"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// chartSVGs are the page's four charts, each a figure's <svg>, in the
// page's order: throughput, latency, errors, states.
func chartSVGs(t *testing.T, doc *html.Node) []*html.Node {
	t.Helper()
	var out []*html.Node
	for _, f := range elements(doc, "figure") {
		svgs := elements(f, "svg")
		if len(svgs) != 1 {
			t.Fatalf("a figure holds %d <svg>, want 1", len(svgs))
		}
		out = append(out, svgs[0])
	}
	if len(out) != 4 {
		t.Fatalf("%d charts, want 4", len(out))
	}
	return out
}

func chartAttr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// texts are the <text> elements of n by what they say.
func texts(n *html.Node) map[string][]*html.Node {
	out := map[string][]*html.Node{}
	for _, el := range elements(n, "text") {
		out[textOf(el)] = append(out[textOf(el)], el)
	}
	return out
}

func TestHTMLChartsShowTheirSeries(t *testing.T) {
	t.Parallel()
	_, doc := renderHTML(t, fixture(t))
	marks := []string{"kill-hsms", "add-hsm", "reconnect", "cut-secondary (n/a)", "fault", "recovery step", "seconds since start"}
	charts := []struct {
		name string
		want []string // each a whole <text> of the chart
	}{
		{"Throughput", []string{"requests/s", "ok/s"}},
		{"Latency", []string{"p50", "p99", "ms (log scale)", "1", "10", "100", "1000", "10000"}},
		{"Errors by exception", []string{"errors/s", "KMSInvalidStateException", "KMSInternalException", "error"}},
		{"State timeline", []string{
			"store:primary", "store:secondary", "hsms:cluster-a", "key:alpha", "key:beta", // lanes
			"CONNECTED", "DISCONNECTED", "CONNECTING", "Enabled", "Unavailable", "0", "1", "2", // states, in bars and legend
			"INSUFFICIENT_CLOUDHSM_HSMS", // the store's error code, under its state
		}},
	}
	for i, svg := range chartSVGs(t, doc) {
		c := charts[i]
		if !strings.HasPrefix(chartAttr(svg, "aria-label"), c.name) {
			t.Errorf("chart %d is labelled %q, want %s…", i, chartAttr(svg, "aria-label"), c.name)
		}
		got := texts(svg)
		for _, w := range append(c.want, marks...) {
			if len(got[w]) == 0 {
				t.Errorf("%s: no text %q", c.name, w)
			}
		}
		// A fault that never ran is drawn dashed.
		if n := strings.Count(renderNode(t, svg), "stroke-dasharray:4,3"); n < 2 {
			t.Errorf("%s: %d dashed lines, want one in the plot area and one to its label", c.name, n)
		}
	}
}

func renderNode(t *testing.T, n *html.Node) string {
	t.Helper()
	var b strings.Builder
	if err := html.Render(&b, n); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestHTMLChartsAreAccessible(t *testing.T) {
	t.Parallel()
	_, doc := renderHTML(t, fixture(t))
	for _, svg := range chartSVGs(t, doc) {
		label := chartAttr(svg, "aria-label")
		if chartAttr(svg, "role") != "img" || label == "" {
			t.Errorf("<svg role=%q aria-label=%q>, want role img and a label", chartAttr(svg, "role"), label)
		}
		first := svg.FirstChild
		if first == nil || first.Data != "title" || textOf(first) != label {
			t.Errorf("%s: the <svg> does not open with its <title>", label)
		}
	}
}

func TestHTMLChartsShareTheTimeAxis(t *testing.T) {
	t.Parallel()
	_, doc := renderHTML(t, fixture(t))
	// gonum sizes each plot area by its y tick labels; the charts must
	// still share one x scale, so that a fault lines up down the page.
	// The x axis's first and last tick labels (0 and 60 s, at the plot
	// area's edges) and its title land at one x in every chart only if
	// the plot areas have the same left and right edges.
	var want map[string]string
	for i, svg := range chartSVGs(t, doc) {
		got := map[string]string{}
		for _, l := range []string{"0", "60", "seconds since start"} {
			el := lowest(texts(svg)[l])
			if el == nil {
				t.Fatalf("chart %d has no text %q", i, l)
			}
			got[l] = chartAttr(el, "x")
		}
		if i == 0 {
			want = got
			continue
		}
		for l, x := range got {
			if x != want[l] {
				t.Errorf("chart %d prints %q at x=%s, the first chart at x=%s", i, l, x, want[l])
			}
		}
	}
}

// lowest is the text of els drawn lowest on the chart: an x tick label
// rather than a y tick label or a state that says the same. vgsvg flips
// the y axis, so text y attributes are negated heights above the bottom.
func lowest(els []*html.Node) *html.Node {
	var low *html.Node
	var lowY float64
	for _, el := range els {
		y, err := strconv.ParseFloat(chartAttr(el, "y"), 64)
		if err == nil && (low == nil || y > lowY) {
			low, lowY = el, y
		}
	}
	return low
}

func TestHTMLChartsNameASansSerif(t *testing.T) {
	t.Parallel()
	page, _ := renderHTML(t, fixture(t))
	// The page embeds no font: each family the SVG names must end in a
	// generic sans-serif, or a browser without the first one falls back
	// to its default, a serif.
	families := regexp.MustCompile(`font-family:([^;"]*)`).FindAllSubmatch(page, -1)
	if len(families) == 0 {
		t.Fatal("the charts name no font")
	}
	for _, f := range families {
		if !strings.HasSuffix(string(f[1]), ",sans-serif") {
			t.Errorf("font-family:%s does not fall back to sans-serif", f[1])
		}
	}
	// What makes a standalone SVG file is left out of the page.
	for _, s := range []string{"<?xml", "<!--", "xmlns", "<!DOCTYPE svg"} {
		if bytes.Contains(page, []byte(s)) {
			t.Errorf("the page holds %q", s)
		}
	}
}

func TestHTMLEscapesChartText(t *testing.T) {
	t.Parallel()
	r := fixture(t)
	const evil = `<script>&"`
	r.Timeline[0].ID = evil
	r.Transitions[0].Subject = "store:" + evil
	r.Transitions[0].To = evil
	r.Series[20].Errors[evil] = 30

	page, doc := renderHTML(t, r)
	wellFormedXML(t, page)
	if n := len(elements(doc, "script")); n > 0 {
		t.Errorf("chart text became %d <script> elements", n)
	}
	svgs := chartSVGs(t, doc)
	for i, svg := range svgs {
		if len(texts(svg)[evil]) == 0 {
			t.Errorf("chart %d does not print the fault id %q as written", i, evil)
		}
	}
	if len(texts(svgs[2])[evil]) != 2 { // the legend, and the fault's label
		t.Errorf("the errors chart does not list the exception %q", evil)
	}
	if len(texts(svgs[3])["store:"+evil]) != 1 {
		t.Errorf("the state timeline does not name the lane %q", "store:"+evil)
	}
	if !bytes.Contains(page, []byte(`&lt;script&gt;&amp;&#34;</text>`)) {
		t.Error("the SVG does not escape text")
	}
}

func TestHTMLErrorsChartSumsTheRestAsOther(t *testing.T) {
	t.Parallel()
	r := fixture(t)
	// Nine exceptions, KMS9Exception the most frequent: the chart draws
	// the six most frequent and sums the other three.
	for i := range r.Series {
		r.Series[i].Errors = nil
	}
	r.Series[30].Errors = map[string]int64{}
	for n := 1; n <= 9; n++ {
		r.Series[30].Errors[fmt.Sprintf("KMS%dException", n)] = int64(n)
	}
	_, doc := renderHTML(t, r)
	got := texts(chartSVGs(t, doc)[2])
	for n := 1; n <= 9; n++ {
		name := fmt.Sprintf("KMS%dException", n)
		if drawn := len(got[name]) > 0; drawn != (n > 3) {
			t.Errorf("%s in the legend: %v, want %v", name, drawn, n > 3)
		}
	}
	if len(got["other"]) != 1 {
		t.Error(`the legend has no "other"`)
	}
}

func TestHTMLLatencyChartBreaksWhereNothingWasSent(t *testing.T) {
	t.Parallel()
	// p50 is drawn in #4E79A7: one stroke per run of buckets, plus the
	// legend's. Buckets 10 to 14 with no requests cut the line in two.
	strokes := func(r *result.Result) int {
		_, doc := renderHTML(t, r)
		return strings.Count(renderNode(t, chartSVGs(t, doc)[1]), "stroke:#4E79A7")
	}
	whole := fixture(t)
	gap := fixture(t)
	for i := 10; i < 15; i++ {
		gap.Series[i] = result.Bucket{Start: gap.Series[i].Start}
	}
	if a, b := strokes(whole), strokes(gap); b != a+1 {
		t.Errorf("p50 is %d strokes with a gap, %d without: want one more", b, a)
	}
}
