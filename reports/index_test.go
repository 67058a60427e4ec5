package reports_test

import (
	"bytes"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/reports"
)

// Three runs as `keystorm run` would list them: the fixture (FAIL, exit
// 1: 4 expectations passed, 1 failed, 1 unknown, 1 not applicable), one
// that passed, and one whose stack never started (no reports).
func indexEntries(t *testing.T) []reports.IndexEntry {
	t.Helper()
	failed := fixture(t)
	passed := fixture(t)
	passed.Scenario, passed.Status, passed.ExitCode = "quick-pass", result.Pass, result.ExitPass
	passed.Expectations = passed.Expectations[:1]
	passed.Load.Latency.P99 = 8.25
	invalid := &result.Result{
		Schema: result.Schema, Scenario: "no-stack", Stack: "containers",
		Status: result.Unknown, ExitCode: result.ExitInvalid, Invalid: "the run did not start: no Docker",
	}
	files := func(dir string) map[string]string {
		return map[string]string{
			"json": dir + "/" + reports.FileJSON, "html": dir + "/" + reports.FileHTML, "junit": dir + "/" + reports.FileJUnit,
			"markdown": dir + "/" + reports.FileMD,
		}
	}
	return []reports.IndexEntry{
		{Result: failed, Files: files("flagship-20250601T120000Z")},
		{Result: passed, Files: files("quick-pass-20250601T120200Z")},
		{Result: invalid},
	}
}

// renderIndex writes the index of entries and parses it as a browser would.
func renderIndex(t *testing.T, entries []reports.IndexEntry) ([]byte, *html.Node) {
	t.Helper()
	return renderPage(t, func(w io.Writer) error { return reports.Index(w, entries) })
}

// text is the text under n, with runs of white space folded.
func indexText(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

func indexAttr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// rows are the index table's body rows.
func indexRows(t *testing.T, doc *html.Node) []*html.Node {
	t.Helper()
	bodies := elements(doc, "tbody")
	if len(bodies) != 1 {
		t.Fatalf("%d <tbody>, want 1", len(bodies))
	}
	return elements(bodies[0], "tr")
}

func TestIndexListsEveryRunInOrder(t *testing.T) {
	t.Parallel()
	_, doc := renderIndex(t, indexEntries(t))
	trs := indexRows(t, doc)
	if len(trs) != 3 {
		t.Fatalf("%d rows, want 3", len(trs))
	}
	for i, want := range []struct {
		class string
		cells []string // the row's cells' text, a prefix for the long ones
	}{
		{"not-passed", []string{"1", "FAIL", "1", "flagship Delete every HSM", "embedded", "60.0 s", "5998", "4503", "612 ms", "4", "1", "2",
			"report.html · result.json · junit.xml"}},
		{"passed", []string{"2", "PASS", "0", "quick-pass Delete every HSM", "embedded", "60.0 s", "5998", "4503", "8.25 ms", "1", "0", "0",
			"report.html · result.json · junit.xml"}},
		{"not-passed", []string{"3", "INVALID", "2", "no-stack Invalid: the run did not start: no Docker", "containers", "0.0 s", "0", "0", "0 ms", "0", "0", "0",
			"no reports"}},
	} {
		tr := trs[i]
		if got := indexAttr(tr, "class"); got != want.class {
			t.Errorf("row %d: class %q, want %q", i+1, got, want.class)
		}
		tds := elements(tr, "td")
		if len(tds) != len(want.cells) {
			t.Errorf("row %d: %d cells, want %d", i+1, len(tds), len(want.cells))
			continue
		}
		for j, w := range want.cells {
			if got := indexText(tds[j]); !strings.HasPrefix(got, w) {
				t.Errorf("row %d, cell %d: %q, want it to start with %q", i+1, j+1, got, w)
			}
		}
	}
	// The verdict word is in the cell, whose class only adds the colour.
	if got := indexAttr(elements(trs[0], "td")[1], "class"); got != "st fail" {
		t.Errorf("the FAIL cell's class is %q, want %q", got, "st fail")
	}
}

func TestIndexHeaderHasTheWorstVerdictAndTheCounts(t *testing.T) {
	t.Parallel()
	run := func(name string, status result.Status, exit int, invalid string) reports.IndexEntry {
		return reports.IndexEntry{Result: &result.Result{Schema: result.Schema, Scenario: name, Status: status, ExitCode: exit, Invalid: invalid}}
	}
	pass := run("p", result.Pass, result.ExitPass, "")
	fail := run("f", result.Fail, result.ExitFail, "")
	unknown := run("u", result.Unknown, result.ExitFail, "")
	invalid := run("i", result.Unknown, result.ExitInvalid, "load generator fell behind")
	for _, tc := range []struct {
		name    string
		entries []reports.IndexEntry
		verdict string // the header's word, and its class in lower case
		exit    string
		count   string
	}{
		{"All passed - PASS", []reports.IndexEntry{pass, pass, pass}, "PASS", "exit 0", "3 scenarios: 3 PASS"},
		{"One failed - FAIL, counted after the passes", []reports.IndexEntry{pass, fail, pass}, "FAIL", "exit 1", "3 scenarios: 2 PASS, 1 FAIL"},
		{"Fail beats unknown", []reports.IndexEntry{unknown, fail}, "FAIL", "exit 1", "2 scenarios: 1 UNKNOWN, 1 FAIL"},
		{"Unknown beats pass", []reports.IndexEntry{pass, unknown}, "UNKNOWN", "exit 1", "2 scenarios: 1 PASS, 1 UNKNOWN"},
		{"Invalid beats everything - exit 2", []reports.IndexEntry{fail, invalid, pass}, "INVALID", "exit 2", "3 scenarios: 1 PASS, 1 FAIL, 1 INVALID"},
		{"One run - singular", []reports.IndexEntry{fail}, "FAIL", "exit 1", "1 scenario: 1 FAIL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, doc := renderIndex(t, tc.entries)
			headers := elements(doc, "header")
			if len(headers) != 1 {
				t.Fatalf("%d <header>, want 1", len(headers))
			}
			h := headers[0]
			if got, want := indexAttr(h, "class"), strings.ToLower(tc.verdict); got != want {
				t.Errorf("header class %q, want %q", got, want)
			}
			if got, want := indexText(h), tc.verdict+tc.exit+" "+tc.count; !strings.HasPrefix(got, want) {
				t.Errorf("header %q, want it to start with %q", got, want)
			}
			if got := indexText(elements(doc, "title")[0]); !strings.HasPrefix(got, tc.verdict+" "+tc.count) {
				t.Errorf("title %q lacks the verdict and the count", got)
			}
			if got := len(indexRows(t, doc)); got != len(tc.entries) {
				t.Errorf("%d rows, want %d", got, len(tc.entries))
			}
		})
	}
}

func TestIndexWithoutRuns(t *testing.T) {
	t.Parallel()
	if err := reports.Index(io.Discard, nil); err == nil {
		t.Error("an index of no runs: no error")
	}
}

func TestIndexIsWellFormed(t *testing.T) {
	t.Parallel()
	entries := indexEntries(t)
	entries[0].Result.Description = `a <description> & "quotes" over
two lines`
	page, _ := renderIndex(t, entries)
	// As report.html: well-formed XML too, so that a tag left open or
	// closed twice shows here instead of being repaired by a browser.
	wellFormedXML(t, page)
}

func TestIndexIsSelfContained(t *testing.T) {
	t.Parallel()
	_, doc := renderIndex(t, indexEntries(t))
	for d := range doc.Descendants() {
		if d.Type != html.ElementNode {
			continue
		}
		switch d.Data {
		case "script", "link", "img", "iframe", "object", "embed", "svg":
			t.Errorf("the index has a <%s> element", d.Data)
		case "style":
			if css := indexText(d); strings.Contains(css, "url(") || strings.Contains(css, "@import") {
				t.Error("the stylesheet loads something")
			}
		}
	}
}

func TestIndexEscapesResultText(t *testing.T) {
	t.Parallel()
	entries := indexEntries(t)
	const name = `<b>&"x`
	entries[0].Result.Scenario = name
	entries[0].Result.Description = `<script>alert("x")</script>`
	entries[2].Result.Invalid = `<img src=x onerror=alert(1)>`
	page, doc := renderIndex(t, entries)
	if n := len(elements(doc, "script")) + len(elements(doc, "img")); n > 0 {
		t.Errorf("result text became %d elements", n)
	}
	// The row's one <b> is the template's, around the name.
	bs := elements(indexRows(t, doc)[0], "b")
	if len(bs) != 1 || indexText(bs[0]) != name {
		t.Errorf("the name cell has %d <b>, reading %q; want one reading %q", len(bs), indexText(bs[0]), name)
	}
	if !bytes.Contains(page, []byte(`<b>&lt;b&gt;&amp;&#34;x</b>`)) {
		t.Error("the scenario's name is not escaped as text")
	}
}

func TestIndexLinksEscapePaths(t *testing.T) {
	t.Parallel()
	r := fixture(t)
	entries := []reports.IndexEntry{
		// A ':' in the first segment would read as a URL scheme, '#' as a
		// fragment, '?' as a query.
		{Result: r, Files: map[string]string{"html": "run:1 #2?/report.html"}},
		{Result: r, Files: map[string]string{"html": "../elsewhere/report.html"}},
	}
	_, doc := renderIndex(t, entries)
	as := elements(doc, "a")
	if len(as) != 2 {
		t.Fatalf("%d links, want 2", len(as))
	}
	for i, want := range []string{"run:1 #2?/report.html", "../elsewhere/report.html"} {
		href := indexAttr(as[i], "href")
		u, err := url.Parse(href)
		if err != nil {
			t.Errorf("href %q: %v", href, err)
			continue
		}
		if u.Scheme != "" || u.Host != "" || u.RawQuery != "" || u.Fragment != "" || u.Path != "./"+want && u.Path != want {
			t.Errorf("href %q reads as %#v, want the relative path %q", href, u, want)
		}
	}
}

// TestWriteIndexLinksRelativeToItsDirectory writes real reports and an
// index over them, then moves the whole directory, as a CI artifact is:
// every link must still reach its file.
func TestWriteIndexLinksRelativeToItsDirectory(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	out := filepath.Join(tmp, "out")
	var entries []reports.IndexEntry
	for _, name := range []string{"flagship-20250601T120000Z", "flagship-20250601T120000Z-2"} {
		r := fixture(t)
		r.History = ""
		files, err := reports.Write(filepath.Join(out, name), r, base)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, reports.IndexEntry{Result: r, Files: files})
	}
	p, err := reports.WriteIndex(out, entries)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(out, reports.FileIndex); p != want {
		t.Errorf("WriteIndex wrote %s, want %s", p, want)
	}
	moved := filepath.Join(tmp, "artifact")
	if err := os.Rename(out, moved); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(moved, reports.FileIndex))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var hrefs []string
	for _, a := range elements(doc, "a") {
		hrefs = append(hrefs, indexAttr(a, "href"))
	}
	want := []string{
		"flagship-20250601T120000Z/report.html", "flagship-20250601T120000Z/result.json", "flagship-20250601T120000Z/junit.xml",
		"flagship-20250601T120000Z-2/report.html", "flagship-20250601T120000Z-2/result.json", "flagship-20250601T120000Z-2/junit.xml",
	}
	if strings.Join(hrefs, " ") != strings.Join(want, " ") {
		t.Errorf("links %q, want %q", hrefs, want)
	}
	for _, h := range hrefs {
		u, err := url.Parse(h)
		if err != nil || u.IsAbs() || strings.HasPrefix(u.Path, "/") {
			t.Errorf("link %q is not relative", h)
			continue
		}
		if _, err := os.Stat(filepath.Join(moved, filepath.FromSlash(u.Path))); err != nil {
			t.Errorf("link %q is broken after the move: %v", h, err)
		}
	}
}
