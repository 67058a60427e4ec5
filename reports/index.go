package reports

import (
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/keystorm/keystorm/harness/result"
)

// FileIndex is the name WriteIndex gives the page listing several runs.
const FileIndex = "index.html"

// IndexEntry is one run on the index page.
type IndexEntry struct {
	Result *result.Result
	// Files are the run's report files by format, as Write returns them;
	// the page links its report.html, result.json and junit.xml. Index
	// takes them as slash-separated paths relative to the page; WriteIndex
	// takes them as the caller names files and makes them relative to the
	// page's directory. None for a run that left no reports (its stack did
	// not start): its row says so.
	Files map[string]string
}

// linkedFormats are the files a row links to, in this order: the page for
// people first, then the files for tools.
var linkedFormats = []string{FormatHTML, FormatJSON, FormatJUnit}

//go:embed templates/index.html
var indexHTML string

// indexTemplate escapes every value by its context (html/template): a
// scenario's name and description are scenario input.
var indexTemplate = template.Must(template.New("index.html").Funcs(template.FuncMap{
	"commonCSS": trustedCSS,
	"ms":        ms,
	"secs":      secs,
}).Parse(indexHTML))

// Index writes one self-contained HTML page listing runs in the order
// given, as `keystorm run` ran them: the worst verdict and exit code on
// top with a count by verdict, then one row per run with its verdict, exit
// code, scenario, stack, duration, requests sent and ok, p99 latency, its
// expectations passed, failed and other, and links to its reports. A row
// that did not pass says so in words and stands out by its class, so that
// colour is never the only sign. As report.html, it loads nothing from
// anywhere and is well-formed XML too.
func Index(w io.Writer, entries []IndexEntry) error {
	if len(entries) == 0 {
		return errors.New("reports: index: no runs to list")
	}
	v := indexView{Exit: result.ExitPass}
	tally := map[string]int{}
	var first time.Time
	for i, e := range entries {
		r := e.Result
		if r == nil {
			return fmt.Errorf("reports: index: entry %d has no result", i+1)
		}
		row := indexRow{N: i + 1, R: r, Verdict: verdict(r)}
		row.Class = verdictClass(row.Verdict)
		for _, x := range r.Expectations {
			switch x.Status {
			case result.Pass:
				row.Passed++
			case result.Fail:
				row.Failed++
			default:
				row.Other++
			}
		}
		for _, f := range linkedFormats {
			if p, ok := e.Files[f]; ok {
				row.Links = append(row.Links, indexLink{Label: path.Base(p), Href: relativeURL(p)})
			}
		}
		v.Rows = append(v.Rows, row)
		tally[row.Verdict]++
		if verdictRank(row.Verdict) > verdictRank(v.Verdict) || v.Verdict == "" {
			v.Verdict = row.Verdict
		}
		if exitRank(r.ExitCode) > exitRank(v.Exit) {
			v.Exit = r.ExitCode
		}
		v.Duration += r.Duration
		if !r.Started.IsZero() && (first.IsZero() || r.Started.Before(first)) {
			first = r.Started
		}
	}
	v.VerdictClass = verdictClass(v.Verdict)
	v.Count = countLine(len(entries), tally)
	if !first.IsZero() {
		v.Started = first.UTC().Format(time.RFC3339)
	}
	if err := indexTemplate.Execute(w, v); err != nil {
		return fmt.Errorf("reports: index: %w", err)
	}
	return nil
}

// WriteIndex writes the index page of entries into dir (created if
// missing) as FileIndex and returns its path. Each entry's files are
// linked relative to dir, so that the directory can be moved or archived
// whole (a CI artifact) with its links working.
func WriteIndex(dir string, entries []IndexEntry) (string, error) {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("reports: index: %w", err)
	}
	rel := make([]IndexEntry, len(entries))
	for i, e := range entries {
		rel[i] = IndexEntry{Result: e.Result, Files: map[string]string{}}
		for format, p := range e.Files {
			abs, err := filepath.Abs(p)
			if err != nil {
				return "", fmt.Errorf("reports: index: %w", err)
			}
			r, err := filepath.Rel(absDir, abs)
			if err != nil {
				return "", fmt.Errorf("reports: index: link %s from %s: %w", p, dir, err)
			}
			rel[i].Files[format] = filepath.ToSlash(r)
		}
	}
	p := filepath.Join(dir, FileIndex)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("reports: index: %w", err)
	}
	if err := writeFile(p, func(w io.Writer) error { return Index(w, rel) }); err != nil {
		return "", fmt.Errorf("reports: write %s: %w", p, err)
	}
	return p, nil
}

// indexView is what the index template sees.
type indexView struct {
	Verdict, VerdictClass string
	Exit                  int
	Count                 string // "3 scenarios: 2 PASS, 1 FAIL"
	Started               string // the earliest run's start
	Duration              float64
	Rows                  []indexRow
}

type indexRow struct {
	N                     int
	R                     *result.Result
	Verdict, Class        string
	Passed, Failed, Other int
	Links                 []indexLink
}

type indexLink struct{ Label, Href string }

// relativeURL turns a slash-separated relative path into a URL that a
// browser resolves as that path: '#', '?', '%' and spaces are escaped, and
// a first segment holding ':' is prefixed with "./" so that it cannot read
// as a scheme.
func relativeURL(p string) string {
	return (&url.URL{Path: p}).String()
}

// verdictOrder lists verdict words from best to worst: INVALID beats
// FAIL beats UNKNOWN, as the exit codes and the checks' merge order them;
// NOT APPLICABLE is no pass either.
var verdictOrder = []string{"PASS", "NOT APPLICABLE", "UNKNOWN", "FAIL", "INVALID"}

func verdictRank(v string) int {
	for i, w := range verdictOrder {
		if w == v {
			return i
		}
	}
	return len(verdictOrder) // a word verdict() does not say yet: the worst
}

// exitRank orders exit codes: 2 (invalid) over 1 (failed) over 0; any
// other code is worse than all of them.
func exitRank(code int) int {
	switch code {
	case result.ExitPass, result.ExitFail, result.ExitInvalid:
		return code
	}
	return result.ExitInvalid + 1
}

// verdictClass is the CSS class of a verdict: its word in lower case,
// dashes for spaces ("not-applicable").
func verdictClass(v string) string {
	return strings.ToLower(strings.ReplaceAll(v, " ", "-"))
}

// countLine says how many runs there were and how many had each verdict,
// best first: "3 scenarios: 2 PASS, 1 FAIL".
func countLine(n int, tally map[string]int) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(n))
	if n == 1 {
		b.WriteString(" scenario:")
	} else {
		b.WriteString(" scenarios:")
	}
	sep := " "
	for _, v := range verdictOrder {
		if tally[v] > 0 {
			fmt.Fprintf(&b, "%s%d %s", sep, tally[v], v)
			sep = ", "
		}
	}
	return b.String()
}
