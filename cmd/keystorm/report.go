package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/reports"
)

const reportUsage = `Usage: keystorm report [flags] RESULT.json...

Re-renders the reports of finished runs from their result.json files, as
keystorm run wrote them, and prints each one's summary.

Where the files go:
  one result       into --out DIR, or else the result's own directory;
                   --out - writes the one format --format names to stdout:
                   keystorm report --format junit --out - result.json > junit.xml
  several results  each into its own result's directory, and index.html (a
                   page listing them all, linking the reports just written,
                   relative to itself) into the deepest directory holding
                   them all; with --out DIR, each into DIR/NAME, NAME its
                   result's directory's name (-2, -3... added when two are
                   the same), and index.html into DIR

Formats (--format, a comma-separated list; default all of them):
  json        result.json
  html        report.html
  junit       junit.xml
  markdown    summary.md
  prometheus  metrics.prom
  vegeta      results.vegeta.json, made from the run's history.jsonl: where
              the result says it is, or else next to the result file (as
              when the run's directory was moved; the result.json written
              then records that path); left out of the default when
              neither is there
  text        the summary, printed

Every input is checked before anything is written or pushed: an unknown
format or an unreadable result writes nothing. Flags may follow the files.

Exit codes: the worst of the runs' own (0 pass, 1 fail, 2 invalid); 2 also
for bad input, and when a report could not be written or pushed.

Flags:
`

// reportJob is one result `keystorm report` re-renders.
type reportJob struct {
	path    string // the result file read
	res     *result.Result
	formats []string // the file formats to write: those asked for that it can have
	dir     string   // where they go
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keystorm report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write the reports into `DIR` (default: each result's own directory); - writes one format of one result to stdout")
	formatList := fs.String("format", "", "re-render only these `FORMATS`, comma-separated, of "+strings.Join(reports.Formats(), ",")+" (default: all)")
	pushGateway := fs.String("push-gateway", "", "push each result's metrics (those of metrics.prom) to the Pushgateway at `URL` (job keystorm, instance the scenario)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), reportUsage); fs.PrintDefaults() }
	paths, code, done := parseArgs(fs, args)
	if done {
		return code
	}
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "keystorm report: no result.json given")
		fs.Usage()
		return exitUsage
	}

	// Check every input first: a bad one must not leave some results
	// re-rendered and others not.
	formats := reports.Formats()
	explicit := *formatList != ""
	if explicit {
		var err error
		if formats, err = reports.ParseFormats(*formatList); err != nil {
			fmt.Fprintf(stderr, "keystorm report: --format %q: %v\n", *formatList, err)
			return exitUsage
		}
	}
	toStdout := *out == "-"
	if toStdout && (len(paths) != 1 || len(formats) != 1) {
		fmt.Fprintf(stderr, "keystorm report: --out - writes one format of one result to stdout: got %d result(s) and %d format(s) (--format %s)\n",
			len(paths), len(formats), strings.Join(formats, ","))
		return exitUsage
	}
	jobs, ok := readReportJobs(paths, formats, explicit, stderr)
	if !ok {
		return exitUsage
	}
	if toStdout {
		return reportToStdout(ctx, jobs[0], formats[0], *pushGateway, stdout, stderr)
	}
	indexDir, err := placeReports(jobs, *out)
	if err != nil {
		fmt.Fprintf(stderr, "keystorm report: %v\n", err)
		return exitUsage
	}

	worst := exitOK
	var entries []reports.IndexEntry
	for _, j := range jobs {
		code := j.res.ExitCode
		var files map[string]string
		if len(j.formats) > 0 {
			var err error
			if files, err = reports.WriteFormats(j.dir, j.res, j.res.Started, j.formats); err != nil {
				fmt.Fprintf(stderr, "keystorm report %s: %v\n", j.path, err)
				code = exitUsage
			}
			entries = append(entries, reports.IndexEntry{Result: j.res, Files: files})
		}
		if *pushGateway != "" && !pushResult(ctx, *pushGateway, j, stderr) {
			code = exitUsage
		}
		if slices.Contains(formats, reports.FormatText) {
			reports.Text(stdout, j.res)
		}
		if p, ok := files[reports.FormatHTML]; ok {
			fmt.Fprintf(stdout, "report: %s\n", p)
		}
		if len(files) > 0 {
			fmt.Fprintf(stdout, "results: %s\n", j.dir)
		}
		worst = worse(worst, code)
	}
	if indexDir != "" {
		p, err := reports.WriteIndex(indexDir, entries)
		if err != nil {
			fmt.Fprintf(stderr, "keystorm report: %v\n", err)
			return exitUsage
		}
		fmt.Fprintf(stdout, "index: %s\n", p)
	}
	return worst
}

// readReportJobs reads every result and picks the file formats each gets:
// those of formats but text, without vegeta when its history cannot be
// found. A result that cannot be read, or a vegeta asked for by name
// without its history, is an error naming the file; every one is reported
// before giving up.
func readReportJobs(paths, formats []string, explicit bool, stderr io.Writer) ([]*reportJob, bool) {
	var jobs []*reportJob
	ok := true
	for _, path := range paths {
		res, err := result.Read(path)
		if err != nil {
			fmt.Fprintf(stderr, "keystorm report: %v\n", err)
			ok = false
			continue
		}
		j := &reportJob{path: path, res: res}
		for _, f := range formats {
			if f == reports.FormatText {
				continue
			}
			if f == reports.FormatVegeta {
				h, err := locateHistory(path, res)
				if err != nil {
					if explicit {
						fmt.Fprintf(stderr, "keystorm report: %s: --format vegeta: %v\n", path, err)
						ok = false
					} else if res.History != "" {
						// Said, not failed: the other reports are still
						// worth having from a result copied on its own.
						fmt.Fprintf(stderr, "keystorm report: %s: no %s: %v\n", path, reports.FileVegeta, err)
					}
					continue
				}
				res.History = h
			}
			j.formats = append(j.formats, f)
		}
		jobs = append(jobs, j)
	}
	return jobs, ok
}

// locateHistory finds the history a result names: at its path, or else
// under the same name next to the result file, where keystorm run writes
// it, so that a run's directory still re-renders after it was moved or
// unpacked from a CI artifact elsewhere.
func locateHistory(resultPath string, r *result.Result) (string, error) {
	if r.History == "" {
		return "", errors.New("the result names no history")
	}
	if _, err := os.Stat(r.History); err == nil {
		return r.History, nil
	}
	beside := filepath.Join(filepath.Dir(resultPath), filepath.Base(r.History))
	if _, err := os.Stat(beside); err == nil {
		return beside, nil
	}
	return "", fmt.Errorf("history %s not found, nor %s", r.History, beside)
}

// placeReports sets each job's directory and returns where index.html
// goes: "" when there is no index (one result, or no file formats). It
// fails, before anything is written, when two results would write into
// one directory or when there is no directory for the index.
func placeReports(jobs []*reportJob, out string) (indexDir string, err error) {
	if len(jobs) == 1 {
		jobs[0].dir = out
		if out == "" {
			jobs[0].dir = filepath.Dir(jobs[0].path)
		}
		return "", nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return filepath.Clean(p)
		}
		return filepath.Join(wd, p)
	}
	var dirs []string
	taken := map[string]string{} // directory (absolute) -> the result writing into it
	for _, j := range jobs {
		if len(j.formats) == 0 {
			continue
		}
		own := filepath.Dir(j.path)
		if out == "" {
			if other, ok := taken[abs(own)]; ok {
				return "", fmt.Errorf("%s and %s are in the same directory, where their reports would overwrite each other: give --out DIR to put each into a directory of its own", other, j.path)
			}
			j.dir = own
		} else {
			name := filepath.Base(abs(own))
			if name == string(filepath.Separator) {
				name = "result"
			}
			j.dir = filepath.Join(out, name)
			for n := 2; taken[abs(j.dir)] != ""; n++ {
				j.dir = filepath.Join(out, fmt.Sprintf("%s-%d", name, n))
			}
		}
		taken[abs(j.dir)] = j.path
		dirs = append(dirs, abs(j.dir))
	}
	switch {
	case len(dirs) == 0:
		return "", nil
	case out != "":
		return out, nil
	}
	common := commonDir(dirs)
	if common == "" || filepath.Dir(common) == common {
		return "", errors.New("the results share no directory but the root for index.html: give --out DIR")
	}
	// Printed as the results were named, when they are under here.
	if rel, err := filepath.Rel(wd, common); err == nil && filepath.IsLocal(rel) {
		return rel, nil
	}
	return common, nil
}

// commonDir is the deepest directory holding every one of dirs (absolute,
// clean paths); "" when there is none, as across Windows volumes.
func commonDir(dirs []string) string {
	common := dirs[0]
	for _, d := range dirs[1:] {
		for {
			rel, err := filepath.Rel(common, d)
			if err == nil && filepath.IsLocal(rel) {
				break
			}
			up := filepath.Dir(common)
			if up == common {
				return ""
			}
			common = up
		}
	}
	return common
}

// reportToStdout writes one format of one result to stdout, for a pipe or
// a redirection, and pushes its metrics if asked.
func reportToStdout(ctx context.Context, j *reportJob, format, pushGateway string, stdout, stderr io.Writer) int {
	code := j.res.ExitCode
	if err := reports.Render(stdout, format, j.res, j.res.Started); err != nil {
		fmt.Fprintf(stderr, "keystorm report %s: %v\n", j.path, err)
		code = exitUsage
	}
	if pushGateway != "" && !pushResult(ctx, pushGateway, j, stderr) {
		code = exitUsage
	}
	return code
}

// pushResult pushes one result's metrics to the Pushgateway, and says why
// not when it could not.
func pushResult(ctx context.Context, url string, j *reportJob, stderr io.Writer) bool {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := reports.Push(pctx, url, j.res); err != nil {
		fmt.Fprintf(stderr, "keystorm report %s: --push-gateway: %v\n", j.path, err)
		return false
	}
	return true
}
