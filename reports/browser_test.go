package reports_test

// The HTML report as a reader sees it: opened from a file by a real
// browser (Debian's chromium, headless, driven over the DevTools protocol
// with chromedp), with nothing but the page itself loaded, no script
// error, every chart drawn and the verdict table shown. Screenshots go to
// the test's artifact directory (go test -artifacts keeps them).

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/reports"
)

// chromium finds the browser. Without one the test skips, except in CI
// (CI=true), where it fails: make test installs Debian's chromium, and a
// CI run must not pass by skipping.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on the PATH; make deps installs Debian's chromium, and CI=true makes its absence a failure")
	}
	t.Skip("no chromium on the PATH (make deps installs it); CI=true makes this a failure")
	return ""
}

// newBrowser starts one headless browser for a test and returns its
// context (view opens a tab in it per page); the browser ends with the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.DisableGPU,
		chromedp.WindowSize(1200, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	if os.Geteuid() == 0 {
		// Chromium's sandbox refuses to run as root, which CI machines
		// and containers often are.
		opts = append(opts, chromedp.NoSandbox)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser); err != nil { // starts the browser
		t.Fatalf("start %s: %v", chromium(t), err)
	}
	return browser
}

// pageView is what the browser made of a page.
type pageView struct {
	// Problems are the console's errors and uncaught exceptions, and every
	// request for anything but the page itself (a self-contained page
	// makes none).
	Problems []string
	Figures  []figureView
	Verdict  string
	// Expectations are the verdict table's rows: status word, id, and
	// whether the row is laid out on the page.
	Expectations []rowView
	Screenshot   []byte
}

type figureView struct {
	Caption string   `json:"caption"`
	SVGs    int      `json:"svgs"`
	Width   float64  `json:"width"`
	Height  float64  `json:"height"`
	Shapes  int      `json:"shapes"`
	Texts   []string `json:"texts"`
	// Picture is the chart as the browser drew it; InkShare and Colours
	// say whether anything was drawn.
	Picture  []byte  `json:"-"`
	InkShare float64 `json:"-"`
	Colours  int     `json:"-"`
}

type rowView struct {
	Status  string  `json:"status"`
	ID      string  `json:"id"`
	Height  float64 `json:"height"`
	Colour  string  `json:"colour"`
	Visible bool    `json:"visible"`
}

// figuresJS measures every figure: its SVGs, their laid-out size, what
// they draw and their text.
const figuresJS = `[...document.querySelectorAll("figure")].map(f => {
  const svg = f.querySelector("svg");
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  return {
    caption: (f.querySelector("figcaption") || {textContent: ""}).textContent,
    svgs: f.querySelectorAll("svg").length,
    width: box.width, height: box.height,
    shapes: svg ? svg.querySelectorAll("path, rect, line, polyline, polygon, circle").length : 0,
    texts: svg ? [...svg.querySelectorAll("text")].map(t => t.textContent) : [],
  };
})`

// expectationsJS reads the table under the "Expectations" heading.
const expectationsJS = `(() => {
  const h = [...document.querySelectorAll("h2")].find(h => h.textContent.trim() === "Expectations");
  const table = h && h.nextElementSibling && h.nextElementSibling.tagName === "TABLE" ? h.nextElementSibling : null;
  if (!table) return [];
  return [...table.querySelectorAll("tbody tr")].map(tr => {
    const cells = tr.querySelectorAll("td");
    const box = tr.getBoundingClientRect();
    return {
      status: cells[0] ? cells[0].textContent.trim() : "",
      id: cells[1] ? cells[1].textContent.trim() : "",
      height: box.height,
      colour: cells[0] ? getComputedStyle(cells[0]).backgroundColor : "",
      visible: box.height > 0 && getComputedStyle(tr).visibility === "visible",
    };
  });
})()`

// view opens path in a new tab of browser and reads it back.
func view(browser context.Context, path string) (*pageView, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	pageURL := (&url.URL{Scheme: "file", Path: abs}).String()

	// A tab of its own, closed when the page has been read.
	ctx, closeTab := chromedp.NewContext(browser)
	defer closeTab()
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		return nil, fmt.Errorf("open a tab: %w", err)
	}
	// Subscribe before navigating so that nothing the page does is missed;
	// the subscriptions end with subs, the tab stays open until read.
	subs, stop := context.WithCancel(ctx)
	defer stop()
	console := chromedp.Console(subs)
	requests := chromedp.Events(subs, network.RequestWillBeSent)
	var (
		mu       sync.Mutex
		problems []string
		wg       sync.WaitGroup
	)
	note := func(s string) { mu.Lock(); problems = append(problems, s); mu.Unlock() }
	wg.Add(2)
	go func() {
		defer wg.Done()
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == "error" || m.Type == "assert" {
				note(fmt.Sprintf("console %s: %s", m.Type, m.Text))
			}
		}
	}()
	go func() {
		defer wg.Done()
		for ev, err := range requests {
			if err != nil {
				return
			}
			if u := ev.Request.URL; u != pageURL {
				note("request for " + u)
			}
		}
	}()

	v := &pageView{}
	if err := chromedp.Do(ctx, chromedp.Navigate(pageURL), chromedp.WaitReady("body")); err != nil {
		return nil, fmt.Errorf("open %s: %w", pageURL, err)
	}
	if v.Figures, err = chromedp.Run(ctx, chromedp.Evaluate[[]figureView](figuresJS)); err != nil {
		return nil, fmt.Errorf("figures: %w", err)
	}
	if v.Expectations, err = chromedp.Run(ctx, chromedp.Evaluate[[]rowView](expectationsJS)); err != nil {
		return nil, fmt.Errorf("expectations: %w", err)
	}
	if v.Verdict, err = chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("header .verdict") || {innerText: ""}).innerText.split("\n")[0].trim()`)); err != nil {
		return nil, fmt.Errorf("verdict: %w", err)
	}
	for i := range v.Figures {
		f := &v.Figures[i]
		if f.SVGs == 0 {
			continue
		}
		// Figures are not siblings (each follows its heading), so select
		// through the list of all of them rather than by nth-of-type.
		sel := chromedp.JSPath(fmt.Sprintf(`document.querySelectorAll("figure")[%d].querySelector("svg")`, i))
		if f.Picture, err = chromedp.Run(ctx, chromedp.Screenshot(sel)); err != nil {
			return nil, fmt.Errorf("figure %d screenshot: %w", i+1, err)
		}
		if f.InkShare, f.Colours, err = ink(f.Picture); err != nil {
			return nil, fmt.Errorf("figure %d: %w", i+1, err)
		}
	}
	if v.Screenshot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		return nil, fmt.Errorf("screenshot: %w", err)
	}
	// The page is loaded and drawn: what it was going to ask for, it has.
	stop()
	wg.Wait()
	v.Problems = problems
	return v, nil
}

// ink is the share of a picture's pixels that are not background (near
// white), and how many distinct colours it has: a chart that failed to
// draw is blank or nearly so.
func ink(pngData []byte) (share float64, colours int, err error) {
	img, err := png.Decode(bytes.NewReader(pngData))
	if err != nil {
		return 0, 0, fmt.Errorf("decode screenshot: %w", err)
	}
	b := img.Bounds()
	seen := map[[3]uint32]bool{}
	var inked int
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			if r>>8 < 240 || g>>8 < 240 || bl>>8 < 240 {
				inked++
			}
		}
	}
	return float64(inked) / float64(b.Dx()*b.Dy()), len(seen), nil
}

func saveArtifact(t *testing.T, name string, data []byte) {
	t.Helper()
	p := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %s", p)
}

// checkReportView holds a report page to what its result says it shows.
func checkReportView(t *testing.T, r *result.Result, v *pageView) {
	t.Helper()
	for _, p := range v.Problems {
		t.Errorf("page problem: %s", p)
	}
	if len(v.Figures) != 4 {
		t.Fatalf("%d figures, want 4 (throughput, latency, errors, states)", len(v.Figures))
	}
	for i, f := range v.Figures {
		name := fmt.Sprintf("figure %d (%s)", i+1, strings.TrimSpace(f.Caption))
		if f.SVGs != 1 {
			t.Errorf("%s: %d svg, want 1", name, f.SVGs)
			continue
		}
		// The page is 1200 px wide: a chart spans the column, and is not
		// collapsed to nothing by a missing size.
		if f.Width < 600 || f.Height < 60 {
			t.Errorf("%s: laid out %.0fx%.0f px, want at least 600x60", name, f.Width, f.Height)
		}
		if f.Shapes < 3 || len(f.Texts) < 2 {
			t.Errorf("%s: %d shapes and %d texts, want a drawn chart", name, f.Shapes, len(f.Texts))
		}
		if f.InkShare < 0.01 || f.Colours < 3 {
			t.Errorf("%s: rendered blank (%.2f%% of pixels drawn, %d colours)", name, 100*f.InkShare, f.Colours)
		}
		saveArtifact(t, fmt.Sprintf("figure-%d.png", i+1), f.Picture)
	}
	// Every fault and step is marked on the charts by its id.
	for _, in := range r.Timeline {
		if in.Kind != "fault" && in.Kind != "step" {
			continue
		}
		found := false
		for _, f := range v.Figures {
			for _, s := range f.Texts {
				if strings.Contains(s, in.ID) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s %s is not marked on any chart", in.Kind, in.ID)
		}
	}

	if want := verdictWord(r); v.Verdict != want {
		t.Errorf("verdict shown %q, want %q", v.Verdict, want)
	}
	if len(v.Expectations) != len(r.Expectations) {
		t.Fatalf("verdict table shows %d rows, want %d (one per expectation)", len(v.Expectations), len(r.Expectations))
	}
	colourOf := map[string]string{}
	for i, row := range v.Expectations {
		e := r.Expectations[i]
		if row.ID != e.ID || row.Status != statusWord(e.Status) {
			t.Errorf("row %d shows %s %s, want %s %s", i+1, row.Status, row.ID, statusWord(e.Status), e.ID)
		}
		if !row.Visible {
			t.Errorf("row %d (%s) is not laid out", i+1, row.ID)
		}
		colourOf[row.Status] = row.Colour
	}
	if p, f := colourOf["PASS"], colourOf["FAIL"]; p != "" && f != "" && p == f {
		t.Errorf("PASS and FAIL cells have the same background %s", p)
	}
}

func verdictWord(r *result.Result) string {
	switch {
	case r.Invalid != "":
		return "INVALID"
	case r.Status == result.Pass:
		return "PASS"
	case r.Status == result.NotApplicable:
		return "NOT APPLICABLE"
	case r.Status == result.Unknown:
		return "UNKNOWN"
	}
	return "FAIL"
}

func statusWord(s result.Status) string {
	if s == result.NotApplicable {
		return "N/A"
	}
	return strings.ToUpper(string(s))
}

// passingAndFailing are the fixture (a failed run: PASS, FAIL, UNKNOWN
// and N/A rows) and the same run with every decided expectation passed.
func passingAndFailing(t *testing.T) (passing, failing *result.Result) {
	t.Helper()
	failing = fixture(t)
	if failing.Status != result.Fail {
		t.Fatalf("the fixture's status is %s; these tests want a failed run", failing.Status)
	}
	passing = fixture(t)
	passing.Status, passing.ExitCode = result.Pass, result.ExitPass
	for i := range passing.Expectations {
		if e := &passing.Expectations[i]; e.Status != result.NotApplicable {
			e.Status = result.Pass
		}
	}
	return passing, failing
}

func TestHTMLReportInChromium(t *testing.T) {
	ctx := newBrowser(t)
	passing, failing := passingAndFailing(t)

	for _, tc := range []struct {
		name string
		r    *result.Result
	}{{"pass", passing}, {"fail", failing}} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), reports.FileHTML)
			var b bytes.Buffer
			if err := reports.HTML(&b, tc.r); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			v, err := view(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			saveArtifact(t, "report.png", v.Screenshot)
			checkReportView(t, tc.r, v)
		})
	}
}

// TestBrowserCheckCatchesBrokenPages shows that the checks above can
// fail: a page with a script error, a request for something outside the
// page and a chart that draws nothing is caught on each count.
func TestBrowserCheckCatchesBrokenPages(t *testing.T) {
	ctx := newBrowser(t)
	path := filepath.Join(t.TempDir(), "broken.html")
	page := `<!DOCTYPE html><html><body>
<header><div class="verdict">PASS</div></header>
<h2>Expectations</h2><table><tbody><tr><td>PASS</td><td>x</td></tr></tbody></table>
<figure><svg width="800" height="100"></svg><figcaption>empty</figcaption></figure>
<img src="http://127.0.0.1:9/outside.png"/>
<script>null.boom</script>
</body></html>`
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := view(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var exception, outside bool
	for _, p := range v.Problems {
		exception = exception || strings.Contains(p, "boom")
		outside = outside || strings.Contains(p, "outside.png")
	}
	if !exception {
		t.Errorf("script error not caught; problems: %q", v.Problems)
	}
	if !outside {
		t.Errorf("request outside the page not caught; problems: %q", v.Problems)
	}
	if len(v.Figures) != 1 {
		t.Fatalf("%d figures, want 1", len(v.Figures))
	}
	if f := v.Figures[0]; f.InkShare >= 0.01 && f.Shapes >= 3 {
		t.Errorf("empty chart passed as drawn: %.2f%% ink, %d shapes", 100*f.InkShare, f.Shapes)
	}
	if len(v.Expectations) != 1 || v.Expectations[0].Status != "PASS" {
		t.Errorf("expectations read %+v, want one PASS row", v.Expectations)
	}
}

// TestIndexInChromium: the page listing several runs opens with nothing
// but itself loaded and no script error, shows a row per run with its
// verdict, and every link it has opens that run's file.
func TestIndexInChromium(t *testing.T) {
	ctx := newBrowser(t)
	root := t.TempDir()
	passing, failing := passingAndFailing(t)
	failing.Scenario = "flagship-broken"
	var entries []reports.IndexEntry
	for i, r := range []*result.Result{passing, failing} {
		files, err := reports.Write(filepath.Join(root, fmt.Sprintf("run-%d", i+1)), r, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, reports.IndexEntry{Result: r, Files: files})
	}
	index, err := reports.WriteIndex(root, entries)
	if err != nil {
		t.Fatal(err)
	}
	v, err := view(ctx, index)
	if err != nil {
		t.Fatal(err)
	}
	saveArtifact(t, "index.png", v.Screenshot)
	for _, p := range v.Problems {
		t.Errorf("index problem: %s", p)
	}
	if v.Verdict != "FAIL" {
		t.Errorf("index verdict %q, want FAIL (the worst of its runs)", v.Verdict)
	}

	tab, closeTab := chromedp.NewContext(ctx)
	defer closeTab()
	if err := chromedp.Do(tab, chromedp.Navigate((&url.URL{Scheme: "file", Path: index}).String())); err != nil {
		t.Fatal(err)
	}
	type row struct {
		Verdict string   `json:"verdict"`
		Name    string   `json:"name"`
		Links   []string `json:"links"`
	}
	rows, err := chromedp.Run(tab, chromedp.Evaluate[[]row](`[...document.querySelectorAll("tbody tr")].map(tr => ({
	  verdict: tr.querySelector("td.st").textContent.trim(),
	  name: tr.querySelector("td.scenario b").textContent.trim(),
	  links: [...tr.querySelectorAll("a")].map(a => a.href),
	}))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2: %+v", len(rows), rows)
	}
	for i, want := range []struct{ verdict, name string }{{"PASS", passing.Scenario}, {"FAIL", failing.Scenario}} {
		if rows[i].Verdict != want.verdict || rows[i].Name != want.name {
			t.Errorf("row %d shows %s %s, want %s %s", i+1, rows[i].Verdict, rows[i].Name, want.verdict, want.name)
		}
		if len(rows[i].Links) != 3 {
			t.Errorf("row %d links %v, want report.html, result.json and junit.xml", i+1, rows[i].Links)
		}
		for _, link := range rows[i].Links {
			// The link as the browser resolved it from the page's
			// place: a file the run wrote.
			u, err := url.Parse(link)
			if err != nil || u.Scheme != "file" {
				t.Errorf("row %d: link %q is not a file next to the index", i+1, link)
				continue
			}
			if _, err := os.Stat(u.Path); err != nil {
				t.Errorf("row %d: link %s: %v", i+1, link, err)
			}
			if strings.HasSuffix(u.Path, reports.FileHTML) {
				rv, err := view(ctx, u.Path)
				if err != nil {
					t.Fatal(err)
				}
				if want := []string{"PASS", "FAIL"}[i]; rv.Verdict != want {
					t.Errorf("row %d's report shows %s, want %s", i+1, rv.Verdict, want)
				}
			}
		}
	}
}
