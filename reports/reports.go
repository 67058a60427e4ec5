// Package reports turns the result of one run into the forms its readers
// need: a self-contained HTML page for people (html.go), JUnit XML for CI
// (junit.go), the JSON result for tools (json.go), a Markdown summary for a
// pull-request comment (markdown.go), Prometheus text exposition for a
// textfile collector or a Pushgateway (prometheus.go), the terminal summary
// (text.go), and the run's requests in vegeta's own format (vegeta.go).
//
// As vegeta's reporters, each format is one function of an io.Writer and
// the result, in a file of its own; Write puts them all in a directory.
// Every writer is deterministic (map keys are sorted, numbers have fixed
// precision) so that reports diff cleanly and golden tests hold.
package reports

import (
	"bufio"
	"cmp"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keystorm/keystorm/harness/result"
)

// File names Write uses, by format.
const (
	FileJSON   = "result.json"
	FileHTML   = "report.html"
	FileJUnit  = "junit.xml"
	FileMD     = "summary.md"
	FileProm   = "metrics.prom"
	FileVegeta = "results.vegeta.json"
)

// Write writes every report of r into dir (created if missing) and returns
// the path of each, by format name ("json", "html", "junit", "markdown",
// "prometheus", "vegeta"). The vegeta results come from r.History and are
// left out when it is empty; base is the wall time the history's offsets
// count from (r.Started when zero).
//
// A format that fails does not stop the others: the reports of a broken run
// are when they matter most. The error joins every failure, and the map
// holds only the files written whole.
func Write(dir string, r *result.Result, base time.Time) (map[string]string, error) {
	return WriteFormats(dir, r, base, nil)
}

// writeFile writes path through a buffer and reports the first error of
// the writer, the flush or the close: a report cut short must not pass for
// a whole one.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// verdict is the run's one word: INVALID beats the status, because an
// invalid run's expectations say nothing about the system under test.
func verdict(r *result.Result) string {
	if r.Invalid != "" || r.ExitCode == result.ExitInvalid {
		return "INVALID"
	}
	switch r.Status {
	case result.Pass:
		return "PASS"
	case result.Fail:
		return "FAIL"
	case result.Unknown:
		return "UNKNOWN"
	case result.NotApplicable:
		return "NOT APPLICABLE"
	}
	if r.ExitCode == result.ExitPass {
		return "PASS"
	}
	return "FAIL"
}

// statusWord is an expectation's status as a word that reads the same in
// colour, in print and in a log.
func statusWord(s result.Status) string {
	switch s {
	case result.Pass:
		return "PASS"
	case result.Fail:
		return "FAIL"
	case result.Unknown:
		return "UNKNOWN"
	case result.NotApplicable:
		return "N/A"
	}
	return strings.ToUpper(string(s))
}

// count is one entry of a tally, for printing a map in a stable order.
type count struct {
	Name  string
	Count int64
}

// byCount sorts a tally with the largest first (what a reader looks for),
// ties by name so that the order never depends on map iteration.
func byCount(m map[string]int64) []count {
	out := make([]count, 0, len(m))
	for k, v := range m {
		out = append(out, count{k, v})
	}
	slices.SortFunc(out, func(a, b count) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// failures is the tally of outcomes other than "ok".
func failures(m map[string]int64) []count {
	var out []count
	for _, c := range byCount(m) {
		if c.Name != "ok" {
			out = append(out, c)
		}
	}
	return out
}

// ms formats a latency in milliseconds with about three significant
// figures, enough to compare and short enough for a table cell.
func ms(v float64) string {
	switch a := abs(v); {
	case a == 0:
		return "0 ms"
	case a < 10:
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	case a < 100:
		return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " ms"
}

// secs formats a time since the run's start.
func secs(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + " s" }

// rate formats requests per second.
func rate(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + "/s" }

// pct formats part of whole as a percentage; empty when whole is 0.
func pct(part, whole float64) string {
	if whole == 0 {
		return ""
	}
	return strconv.FormatFloat(100*part/whole, 'f', 1, 64) + "%"
}

// span formats a window or an injection's times with sep between them.
func span(start, end float64, sep string) string {
	if start == end {
		return secs(start)
	}
	return strconv.FormatFloat(start, 'f', 1, 64) + sep + secs(end)
}

// window formats an expectation's window: its name, then its times.
func window(w *result.Window, sep string) string {
	if w == nil {
		return ""
	}
	s := span(w.Start, w.End, sep)
	if w.Name != "" {
		s = w.Name + " (" + s + ")"
	}
	return s
}

// injectionOutcome says how an injection went, in words.
func injectionOutcome(in result.Injection) string {
	switch {
	case in.NotApplicable:
		return "not applicable"
	case in.Error != "":
		return "error: " + in.Error
	}
	return "ok"
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// oneLine folds a multi-line message into one line, for formats where a
// line break ends a row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
