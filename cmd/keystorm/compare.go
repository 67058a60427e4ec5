package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/reports"
)

const compareUsage = `Usage: keystorm compare [flags] OLD.json NEW.json

Compares two runs' result.json files, such as the last release's and this
one's: achieved throughput, latency percentiles, failed requests by
outcome, the error rate, and each expectation's status, matched by id. The
new run breaches when its throughput dropped, its p99 rose or its error
rate rose by more than the tolerances below, or when an expectation that
passed in the old run failed or was undecided in the new one.

A tolerance is a fraction or a percentage ("10%" or "0.1"); 0 allows no
change at all and "off" (or a negative value) turns the check off.

Exit codes: 0 within tolerances; 1 breached; 2 bad input (a missing or
unreadable file, one that is not keystorm.result/v1, a bad flag).

Flags:
`

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keystorm compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tol := reports.Tolerances{
		ThroughputDrop: reports.DefaultThroughputDrop,
		P99Rise:        reports.DefaultP99Rise,
		ErrorRateRise:  reports.DefaultErrorRateRise,
	}
	fs.Var(&toleranceFlag{v: &tol.ThroughputDrop, max: 1}, "max-throughput-drop", "breach when the achieved rate falls by more than this `FRACTION` of the old one (10% or 0.1; off)")
	fs.Var(&toleranceFlag{v: &tol.P99Rise}, "max-p99-rise", "breach when p99 latency rises by more than this `FRACTION` of the old one (25% or 0.25; off)")
	fs.Var(&toleranceFlag{v: &tol.ErrorRateRise, max: 1}, "max-error-rate-rise", "breach when the error rate rises by more than this `FRACTION` of requests, absolute (0.01 or 1%: 2% may become 3%; off)")
	markdown := fs.Bool("markdown", false, "print a Markdown table for a pull-request comment instead of text")
	fs.Usage = func() { fmt.Fprint(fs.Output(), compareUsage); fs.PrintDefaults() }

	// Flags may come after the files too (keystorm compare a.json b.json
	// --markdown).
	files, code, done := parseArgs(fs, args)
	if done {
		return code
	}
	if len(files) != 2 {
		fmt.Fprintf(stderr, "keystorm compare: want OLD.json and NEW.json, got %d file(s)\n", len(files))
		fs.Usage()
		return exitUsage
	}

	var runs [2]*result.Result
	bad := false
	for i, path := range files {
		r, err := result.Read(path)
		if err != nil {
			// Both files are read before giving up, so that one run shows
			// every bad one; the error names the file.
			fmt.Fprintf(stderr, "keystorm compare: %s: %v\n", []string{"OLD", "NEW"}[i], err)
			bad = true
			continue
		}
		runs[i] = r
	}
	if bad {
		return exitUsage
	}

	c := reports.Compare(runs[0], runs[1], tol)
	write := reports.CompareText
	if *markdown {
		write = reports.CompareMarkdown
	}
	if err := write(stdout, c); err != nil {
		fmt.Fprintf(stderr, "keystorm compare: %v\n", err)
		return exitUsage
	}
	if c.Breached() {
		return exitFailed
	}
	return exitOK
}

// toleranceFlag is a tolerance given as a fraction ("0.1") or a percentage
// ("10%"); "off" or a negative value turns its check off. Zero means no
// change allowed, which Tolerances spells as the smallest positive float
// (its zero means the default).
type toleranceFlag struct {
	v   *float64
	max float64 // the largest sensible value; 0: no limit
}

func (f *toleranceFlag) String() string {
	if f.v == nil {
		return ""
	}
	switch v := *f.v; {
	case v < 0:
		return "off"
	case v == math.SmallestNonzeroFloat64:
		return "0"
	default:
		return strings.TrimSuffix(strconv.FormatFloat(100*v, 'f', 2, 64), ".00") + "%"
	}
}

func (f *toleranceFlag) Set(s string) error {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "off") {
		*f.v = -1
		return nil
	}
	num, isPct := strings.CutSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("want a fraction (0.1), a percentage (10%%) or off")
	}
	if isPct {
		v /= 100
	}
	switch {
	case v < 0:
		v = -1
	case v == 0:
		v = math.SmallestNonzeroFloat64
	case f.max > 0 && v > f.max:
		return fmt.Errorf("%s is more than %s: a fraction is at most 1 (write 10%% or 0.1 for ten percent)", s, (&toleranceFlag{v: &f.max}).String())
	}
	*f.v = v
	return nil
}

var _ flag.Value = (*toleranceFlag)(nil)
