package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	junit "github.com/joshdk/go-junit"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/net/html"

	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/reports"
)

// historyFixture is the History of reports/testdata/result.json: five
// requests.
const historyFixture = "../../reports/testdata/history.jsonl"

// resultWithHistory writes the result fixture into dir as name, with its
// history named by an absolute path, as keystorm run records it when
// --out is absolute.
func resultWithHistory(t *testing.T, dir, name string, edit func(*result.Result)) string {
	t.Helper()
	abs, err := filepath.Abs(historyFixture)
	if err != nil {
		t.Fatal(err)
	}
	return resultFile(t, dir, name, func(r *result.Result) {
		r.History = abs
		if edit != nil {
			edit(r)
		}
	})
}

// mkdirs makes a directory under a test's temporary directory.
func mkdirs(t *testing.T, elem ...string) string {
	t.Helper()
	dir := filepath.Join(elem...)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tree lists the files under dir, slash-separated and sorted, so that a
// test can tell what a command wrote.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestReportOneFormatToStdout: --format F --out - prints that one format,
// and what it prints parses as what it claims to be.
func TestReportOneFormatToStdout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := resultWithHistory(t, dir, "result.json", nil)
	for _, tc := range []struct {
		format string
		check  func(t *testing.T, out []byte)
	}{
		{"json", func(t *testing.T, out []byte) {
			var r result.Result
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if r.Schema != result.Schema || r.Scenario != "flagship" || len(r.Expectations) != 7 {
				t.Errorf("decoded %q %q with %d expectations", r.Schema, r.Scenario, len(r.Expectations))
			}
		}},
		{"html", func(t *testing.T, out []byte) {
			if !bytes.HasPrefix(out, []byte("<!DOCTYPE html>")) {
				t.Errorf("does not start as an HTML page: %.40q", out)
			}
			doc, err := html.Parse(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			var title string // the page's, the first (the charts have their own)
			for n := range doc.Descendants() {
				if n.Type == html.ElementNode && n.Data == "title" && n.FirstChild != nil {
					title = n.FirstChild.Data
					break
				}
			}
			if !strings.Contains(title, "flagship") {
				t.Errorf("title %q does not name the scenario", title)
			}
		}},
		{"junit", func(t *testing.T, out []byte) {
			suites, err := junit.Ingest(out)
			if err != nil {
				t.Fatalf("go-junit cannot read it: %v", err)
			}
			if len(suites) != 1 || suites[0].Name != "flagship" || len(suites[0].Tests) < 7 {
				t.Errorf("suites %+v, want one named flagship with a test per expectation", suites)
			}
			if err := xml.Unmarshal(out, new(struct{})); err != nil {
				t.Errorf("not XML: %v", err)
			}
		}},
		{"markdown", func(t *testing.T, out []byte) {
			for _, want := range []string{"### keystorm `flagship`: FAIL (exit 1)\n", "\n| Status | Expectation | Kind | Observed | Window |\n|---|"} {
				if !bytes.Contains(out, []byte(want)) {
					t.Errorf("lacks %q:\n%s", want, out)
				}
			}
		}},
		{"prometheus", func(t *testing.T, out []byte) {
			parser := expfmt.NewTextParser(model.UTF8Validation)
			fams, err := parser.TextToMetricFamilies(bytes.NewReader(out))
			if err != nil {
				t.Fatalf("not Prometheus text: %v", err)
			}
			code := fams["keystorm_run_exit_code"]
			if code == nil || code.GetMetric()[0].GetGauge().GetValue() != 1 {
				t.Errorf("keystorm_run_exit_code %v, want 1", code)
			}
		}},
		{"vegeta", func(t *testing.T, out []byte) {
			dec := vegeta.NewJSONDecoder(bytes.NewReader(out))
			n := 0
			for {
				var r vegeta.Result
				err := dec.Decode(&r)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("vegeta cannot decode result %d: %v", n, err)
				}
				n++
			}
			if n != 5 {
				t.Errorf("%d vegeta results, want the history's 5 requests", n)
			}
		}},
		{"text", func(t *testing.T, out []byte) {
			if !bytes.HasPrefix(out, []byte("keystorm flagship: FAIL (exit 1)\n")) {
				t.Errorf("not the summary:\n%s", out)
			}
		}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			t.Parallel()
			// Flags after the file work as well as before it.
			code, stdout, stderr := keystorm(t, "report", "--format", tc.format, path, "--out", "-")
			if code != exitFailed {
				t.Errorf("exit %d, want the run's 1; stderr:\n%s", code, stderr)
			}
			if stderr != "" {
				t.Errorf("stderr not empty:\n%s", stderr)
			}
			tc.check(t, []byte(stdout))
		})
	}
	if got := tree(t, dir); !slices.Equal(got, []string{"result.json"}) {
		t.Errorf("--out - wrote files: %v", got)
	}
}

// TestReportRejectsBadInputAndWritesNothing: every input is checked before
// anything is written, and the message names what is wrong.
func TestReportRejectsBadInputAndWritesNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args func(dir string) []string
		want []string // in stderr
	}{
		{"An unknown format - the flag, the value and the valid ones", func(dir string) []string {
			return []string{"--format", "json,pdf", filepath.Join(dir, "a", "result.json")}
		}, []string{`--format "json,pdf"`, `unknown format "pdf"`, "json, html, junit, markdown, prometheus, vegeta, text"}},
		{"An empty format name", func(dir string) []string {
			return []string{"--format", "json,", filepath.Join(dir, "a", "result.json")}
		}, []string{`--format "json,"`, "empty format name"}},
		{"A missing result among good ones - named", func(dir string) []string {
			return []string{filepath.Join(dir, "a", "result.json"), filepath.Join(dir, "missing", "result.json")}
		}, []string{filepath.Join("missing", "result.json"), "no such file"}},
		{"Not a result - named", func(dir string) []string {
			return []string{filepath.Join(dir, "a", "result.json"), filepath.Join(dir, "b", "notes.txt")}
		}, []string{filepath.Join("b", "notes.txt")}},
		{"--out - with several formats", func(dir string) []string {
			return []string{"--out", "-", "--format", "json,html", filepath.Join(dir, "a", "result.json")}
		}, []string{"--out - writes one format of one result", "2 format(s)"}},
		{"--out - with every format", func(dir string) []string {
			return []string{"--out", "-", filepath.Join(dir, "a", "result.json")}
		}, []string{"--out - writes one format of one result", "7 format(s)"}},
		{"--out - with several results", func(dir string) []string {
			return []string{"--out", "-", "--format", "json", filepath.Join(dir, "a", "result.json"), filepath.Join(dir, "b", "result.json")}
		}, []string{"2 result(s)"}},
		{"Vegeta asked for, its history gone - named", func(dir string) []string {
			return []string{"--format", "html,vegeta", filepath.Join(dir, "a", "result.json"), filepath.Join(dir, "b", "stale.json")}
		}, []string{"stale.json: --format vegeta: history /gone/history.jsonl not found"}},
		{"Two results in one directory, no --out", func(dir string) []string {
			return []string{filepath.Join(dir, "b", "result.json"), filepath.Join(dir, "b", "stale.json")}
		}, []string{"are in the same directory", "give --out DIR"}},
		{"No result at all", func(dir string) []string { return []string{"--format", "json"} }, []string{"no result.json given", "Usage: keystorm report"}},
		{"An unknown flag", func(dir string) []string {
			return []string{"--fromat", "json", filepath.Join(dir, "a", "result.json")}
		}, []string{"flag provided but not defined: -fromat"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			resultWithHistory(t, mkdirs(t, dir, "a"), "result.json", nil)
			resultWithHistory(t, mkdirs(t, dir, "b"), "result.json", nil)
			resultWithHistory(t, filepath.Join(dir, "b"), "stale.json", func(r *result.Result) { r.History = "/gone/history.jsonl" })
			if err := os.WriteFile(filepath.Join(dir, "b", "notes.txt"), []byte("not JSON\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			before := tree(t, dir)
			code, stdout, stderr := keystorm(t, append([]string{"report"}, tc.args(dir)...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want 2", code)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if stdout != "" {
				t.Errorf("stdout not empty:\n%s", stdout)
			}
			if after := tree(t, dir); !slices.Equal(after, before) {
				t.Errorf("bad input wrote files: %v, before %v", after, before)
			}
		})
	}
}

// TestReportSeveralResultsWriteAnIndex: each result is re-rendered into
// its own directory and index.html links them all, relative to itself.
func TestReportSeveralResultsWriteAnIndex(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		out       bool     // with --out DIR
		format    string   // --format, if set
		sameDir   bool     // both results in one directory
		wantFiles []string // under the index's directory
		wantLinks []string // the index's, in order
	}{
		{"In place - the index in their common parent", false, "", false,
			[]string{
				"a/junit.xml", "a/metrics.prom", "a/report.html", "a/result.json", "a/results.vegeta.json", "a/summary.md",
				"b/junit.xml", "b/metrics.prom", "b/report.html", "b/result.json", "b/results.vegeta.json", "b/summary.md",
				"index.html"},
			[]string{"a/report.html", "a/result.json", "a/junit.xml", "b/report.html", "b/result.json", "b/junit.xml"}},
		{"Into --out - a directory each, named after the result's", true, "html,junit", false,
			[]string{"a/junit.xml", "a/report.html", "b/junit.xml", "b/report.html", "index.html"},
			[]string{"a/report.html", "a/junit.xml", "b/report.html", "b/junit.xml"}},
		{"Into --out from one directory - the second name numbered", true, "html", true,
			[]string{"a-2/report.html", "a/report.html", "index.html"},
			[]string{"a/report.html", "a-2/report.html"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			a := resultWithHistory(t, mkdirs(t, tmp, "runs", "a"), "result.json", nil)
			bDir := mkdirs(t, tmp, "runs", "b")
			if tc.sameDir {
				bDir = filepath.Dir(a)
			}
			b := resultWithHistory(t, bDir, "passed.json", func(r *result.Result) {
				r.Scenario, r.Status, r.ExitCode = "quick-pass", result.Pass, result.ExitPass
			})
			args := []string{"report"}
			indexDir := filepath.Join(tmp, "runs")
			if tc.out {
				indexDir = filepath.Join(tmp, "out")
				args = append(args, "--out", indexDir)
			}
			if tc.format != "" {
				args = append(args, "--format", tc.format)
			}
			code, stdout, stderr := keystorm(t, append(args, a, b)...)
			if code != exitFailed {
				t.Errorf("exit %d, want the worst run's 1; stderr:\n%s", code, stderr)
			}
			if stderr != "" {
				t.Errorf("stderr not empty:\n%s", stderr)
			}
			index := filepath.Join(indexDir, reports.FileIndex)
			if !strings.Contains(stdout, "\nindex: "+index+"\n") {
				t.Errorf("stdout does not give the index's path %s:\n%s", index, stdout)
			}
			got := tree(t, indexDir)
			if !tc.out {
				// Leave out the inputs, which were there before.
				got = slices.DeleteFunc(got, func(p string) bool { return strings.HasSuffix(p, "passed.json") })
			}
			if !slices.Equal(got, tc.wantFiles) {
				t.Errorf("files %q, want %q", got, tc.wantFiles)
			}
			page, _, links := readIndex(t, index)
			if !slices.Equal(links, tc.wantLinks) {
				t.Errorf("links %q, want %q", links, tc.wantLinks)
			}
			for _, l := range links {
				u, err := url.Parse(l)
				if err != nil || u.IsAbs() || strings.HasPrefix(u.Path, "/") {
					t.Errorf("link %q is not relative", l)
					continue
				}
				if _, err := os.Stat(filepath.Join(indexDir, filepath.FromSlash(u.Path))); err != nil {
					t.Errorf("link %q is broken: %v", l, err)
				}
			}
			for _, want := range []string{"2 scenarios: 1 PASS, 1 FAIL", "flagship", "quick-pass"} {
				if !bytes.Contains(page, []byte(want)) {
					t.Errorf("the index lacks %q", want)
				}
			}
		})
	}
}

// TestReportFindsTheHistoryNextToTheResult: a run's directory moved
// elsewhere (an unpacked CI artifact) still gives its vegeta results; a
// result copied without its history still gives every other report.
func TestReportFindsTheHistoryNextToTheResult(t *testing.T) {
	t.Parallel()
	moved := t.TempDir()
	stale := resultFile(t, moved, "result.json", func(r *result.Result) { r.History = "keystorm-out/flagship-20250601T120000Z/history.jsonl" })
	b, err := os.ReadFile(historyFixture)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(moved, "history.jsonl"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := keystorm(t, "report", "--format", "vegeta", "--out", "-", stale)
	if code != exitFailed || stderr != "" {
		t.Errorf("exit %d, stderr %q; want 1 and none", code, stderr)
	}
	if n := strings.Count(stdout, "\n"); n != 5 {
		t.Errorf("%d vegeta results, want 5", n)
	}

	alone := t.TempDir()
	lone := resultFile(t, alone, "result.json", func(r *result.Result) { r.History = "/gone/history.jsonl" })
	code, _, stderr = keystorm(t, "report", lone)
	if code != exitFailed {
		t.Errorf("a result without its history: exit %d, want the run's 1", code)
	}
	if !strings.Contains(stderr, "no results.vegeta.json: history /gone/history.jsonl not found") {
		t.Errorf("stderr does not say why the vegeta results are missing:\n%s", stderr)
	}
	want := []string{"junit.xml", "metrics.prom", "report.html", "result.json", "summary.md"}
	if got := tree(t, alone); !slices.Equal(got, want) {
		t.Errorf("files %v, want %v", got, want)
	}
}

// TestReportPushesEachResult: with --push-gateway, each result's metrics
// are PUT under job keystorm, instance its scenario; a refusal exits 2.
func TestReportPushesEachResult(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var pushes []string
	exitCodes := map[string]float64{}
	refuse := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		pushes = append(pushes, r.Method+" "+r.URL.Path)
		dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
		for {
			mf := &dto.MetricFamily{}
			if err := dec.Decode(mf); err != nil {
				break
			}
			if mf.GetName() == "keystorm_run_exit_code" {
				exitCodes[r.URL.Path] = mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		if refuse {
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	a := resultWithHistory(t, mkdirs(t, dir, "a"), "result.json", nil)
	b := resultWithHistory(t, mkdirs(t, dir, "b"), "result.json", func(r *result.Result) {
		r.Scenario, r.Status, r.ExitCode = "quick-pass", result.Pass, result.ExitPass
	})
	code, stdout, stderr := keystorm(t, "report", "--format", "text", "--push-gateway", srv.URL, a, b)
	if code != exitFailed || stderr != "" {
		t.Errorf("exit %d, stderr %q; want the worst run's 1 and none", code, stderr)
	}
	if !strings.Contains(stdout, "keystorm flagship: FAIL") || !strings.Contains(stdout, "keystorm quick-pass: PASS") {
		t.Errorf("stdout lacks a summary:\n%s", stdout)
	}
	mu.Lock()
	want := []string{"PUT /metrics/job/keystorm/instance/flagship", "PUT /metrics/job/keystorm/instance/quick-pass"}
	if !slices.Equal(pushes, want) {
		t.Errorf("pushes %q, want %q", pushes, want)
	}
	if exitCodes["/metrics/job/keystorm/instance/flagship"] != 1 || exitCodes["/metrics/job/keystorm/instance/quick-pass"] != 0 {
		t.Errorf("pushed exit codes %v, want flagship 1 and quick-pass 0", exitCodes)
	}
	pushes, refuse = nil, true
	mu.Unlock()

	code, _, stderr = keystorm(t, "report", "--format", "junit", "--out", "-", "--push-gateway", srv.URL, b)
	if code != exitUsage || !strings.Contains(stderr, "--push-gateway") || !strings.Contains(stderr, b) {
		t.Errorf("a refused push: exit %d, stderr %q; want 2 naming --push-gateway and the result", code, stderr)
	}
}

func TestReportHelp(t *testing.T) {
	t.Parallel()
	code, _, stderr := keystorm(t, "report", "-h")
	if code != exitOK {
		t.Errorf("report -h: exit %d, want 0", code)
	}
	for _, w := range []string{"Usage: keystorm report [flags] RESULT.json...", "keystorm report --format junit --out - result.json > junit.xml",
		"-format FORMATS", "json,html,junit,markdown,prometheus,vegeta,text", "-push-gateway URL", "index.html"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("report -h lacks %q:\n%s", w, stderr)
		}
	}
}

// TestNewRunDirNeverReusesADirectory: two runs of one scenario started in
// the same second (a short load run twice, or two keystorm processes
// sharing --out) get a directory each.
func TestNewRunDirNeverReusesADirectory(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "out")
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var got []string
	for range 3 {
		dir, err := newRunDir(root, "quick-pass", at.Add(300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, filepath.Base(dir))
	}
	want := []string{"quick-pass-20250601T120000Z", "quick-pass-20250601T120000Z-2", "quick-pass-20250601T120000Z-3"}
	if !slices.Equal(got, want) {
		t.Errorf("directories %q, want %q", got, want)
	}
}

// TestRunSeveralScenariosWritesAnIndex runs two short scenarios and one of
// them twice (SoftHSM, a few seconds): a directory each, even for the two
// runs of one scenario, and index.html in --out listing all three in the
// order they ran.
func TestRunSeveralScenariosWritesAnIndex(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	code, stdout, stderr := keystorm(t, "run", "--quiet", "--out", out,
		"testdata/quick-pass.yaml", "testdata/quick-fail.yaml", "testdata/quick-pass.yaml")
	if code != exitFailed {
		t.Fatalf("exit %d, want 1 (quick-fail)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	index := filepath.Join(out, reports.FileIndex)
	if !strings.HasSuffix(stdout, "index: "+index+"\n") {
		t.Errorf("stdout does not end with the index's path:\n%s", stdout)
	}
	results, _ := filepath.Glob(filepath.Join(out, "*", reports.FileJSON))
	if len(results) != 3 {
		t.Fatalf("result.json files %v, want one per run", results)
	}
	page, rows, hrefs := readIndex(t, index)
	var links []string // to each run's report.html
	for _, h := range hrefs {
		if strings.HasSuffix(h, "/"+reports.FileHTML) {
			links = append(links, h)
		}
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	for i, want := range []string{"PASS", "FAIL", "PASS"} {
		name := []string{"quick-pass", "quick-fail", "quick-pass"}[i]
		if !strings.Contains(rows[i], want) || !strings.Contains(rows[i], name) {
			t.Errorf("row %d %q, want %s %s", i+1, rows[i], name, want)
		}
	}
	if !bytes.Contains(page, []byte("3 scenarios: 2 PASS, 1 FAIL")) {
		t.Error("the index lacks its count line")
	}
	slices.Sort(links)
	if len(slices.Compact(slices.Clone(links))) != 3 {
		t.Errorf("report links %q, want three distinct", links)
	}
	for _, l := range links {
		if _, err := os.Stat(filepath.Join(out, filepath.FromSlash(l))); err != nil {
			t.Errorf("link %q: %v", l, err)
		}
	}
}

// readIndex reads an index page back as a browser would parse it: the
// page, the text of each row of its table, and every link, in order.
func readIndex(t *testing.T, path string) (page []byte, rows, links []string) {
	t.Helper()
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch n.Data {
		case "tr":
			if n.Parent.Data == "tbody" {
				var b strings.Builder
				for d := range n.Descendants() {
					if d.Type == html.TextNode {
						b.WriteString(d.Data)
					}
				}
				rows = append(rows, b.String())
			}
		case "a":
			for _, at := range n.Attr {
				if at.Key == "href" {
					links = append(links, at.Val)
				}
			}
		}
	}
	return page, rows, links
}
