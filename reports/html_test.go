package reports_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/reports"
)

// renderHTML writes r and parses the page as a browser would.
func renderHTML(t *testing.T, r *result.Result) ([]byte, *html.Node) {
	t.Helper()
	var b bytes.Buffer
	if err := reports.HTML(&b, r); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
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
	// The page is written to be well-formed XML too (void elements
	// self-closed, only numeric and XML entities), so a strict XML parse
	// finds any tag left open or closed twice, which an HTML parser would
	// silently repair.
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
	for _, want := range []string{"INVALID", "the stack did not start", "no requests", "no errors", "no state transitions observed"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the page lacks %q", want)
		}
	}
}
