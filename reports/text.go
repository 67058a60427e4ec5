package reports

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/keystorm/keystorm/harness/result"
)

// Text writes the summary `keystorm run` prints on a terminal when a run
// ends: the verdict, one line per expectation (status, id, description,
// what was observed), the load and the load generator's lateness. It stays
// plain ASCII words, without colour, so that it reads the same in a CI log.
// Where the report files went is the caller's to print.
func Text(w io.Writer, r *result.Result) error {
	ew := &errWriter{w: w}
	ew.printf("keystorm %s: %s (exit %d)\n", r.Scenario, verdict(r), r.ExitCode)
	ew.printf("  stack %s, seed %d, %s\n", r.Stack, r.Seed, secs(r.Duration))
	if r.Invalid != "" {
		ew.printf("  invalid: %s\n", oneLine(r.Invalid))
	}
	if r.Aborted != "" {
		ew.printf("  aborted: %s\n", oneLine(r.Aborted))
	}

	if len(r.Expectations) > 0 {
		ew.printf("\n")
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		for _, e := range r.Expectations {
			line := oneLine(e.Description)
			if e.Detail != "" {
				if line != "" {
					line += ": "
				}
				line += oneLine(e.Detail)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", statusWord(e.Status), e.ID, line)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("reports: text: %w", err)
		}
	}

	l := &r.Load
	ew.printf("\nload     %d of %d planned sent", l.Sent, l.Planned)
	if l.Shape != "" {
		ew.printf(" (%s)", l.Shape)
	}
	ew.printf(", %s achieved of %s target (%s)\n", rate(l.AchievedRate), rate(l.TargetRate), pct(l.AchievedRate, l.TargetRate))
	ew.printf("latency  p50 %s, p90 %s, p99 %s, max %s (from intended send time)\n",
		ms(l.Latency.P50), ms(l.Latency.P90), ms(l.Latency.P99), ms(l.Latency.Max))
	ew.printf("outcome  %d ok", l.OK)
	for _, c := range failures(l.ByOutcome) {
		ew.printf(", %d %s", c.Count, c.Name)
	}
	ew.printf("\nlate     %d sends", l.Late)
	if l.Late > 0 {
		ew.printf(" (max %s behind schedule)", ms(l.MaxLateMS))
	}
	ew.printf("\n")
	if ew.err != nil {
		return fmt.Errorf("reports: text: %w", ew.err)
	}
	return nil
}

// errWriter keeps the first write error so that a report of many small
// writes checks once, at the end.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	fmt.Fprintf(e, format, args...)
}

var _ io.Writer = (*errWriter)(nil)
