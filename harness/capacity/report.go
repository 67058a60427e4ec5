package capacity

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes r as indented JSON; the fields are documented on Result.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("capacity: write JSON result: %w", err)
	}
	return nil
}

// WriteText writes r as a report for people: the schedule, what it achieved,
// a table of outcomes and latencies by op, the pool's sessions by HSM, sample
// errors, and the verdict.
func WriteText(w io.Writer, r *Result) error {
	ew := &errWriter{w: w}
	ew.printf("keystorm capacity: %s for %v, %d workers, payload %d B, mix %s\n",
		r.Pacer, r.Duration, r.Workers, r.Payload, r.Mix)
	ew.printf("arrivals    %d (%.1f/s offered), %d late\n", r.Arrivals, r.Offered, r.Late)
	ew.printf("throughput  %.1f ok/s over %v (peak %d of %d workers busy)\n",
		r.Throughput, r.Elapsed.Round(time.Millisecond), r.PeakBusyWorkers, r.Workers)
	ew.printf("\n")

	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"op", "count"}
	for _, o := range allOutcomes {
		head = append(head, string(o))
	}
	head = append(head, "p50", "p90", "p99", "max", "")
	// Names read best left-aligned and figures right-aligned; tabwriter
	// aligns every column one way, so the names are padded here.
	head[0] = fmt.Sprintf("%-7s", head[0])
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	row := func(name string, s OpStats) {
		cells := []string{fmt.Sprintf("%-7s", name), fmt.Sprint(s.Count)}
		for _, o := range allOutcomes {
			cells = append(cells, fmt.Sprint(s.Of(o)))
		}
		l := s.Latency
		cells = append(cells, dur(l.P50), dur(l.P90), dur(l.P99), dur(l.Max), "")
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	for _, op := range allOps {
		if s, ok := r.Ops[op]; ok {
			row(string(op), *s)
		}
	}
	row("total", r.Total)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("capacity: write text report: %w", err)
	}
	ew.printf("(latency from each arrival's intended time; exhausted = no session within the wait budget)\n")
	ew.printf("schedule lag  p50 %s  p99 %s  max %s (intended time to a worker starting it; part of every latency)\n\n",
		dur(r.Lag.P50), dur(r.Lag.P99), dur(r.Lag.Max))

	ew.printf("sessions: at most %s per HSM, wait budget %s, peak %d waiting\n",
		orUnknown(r.Pool.MaxSessions), orUnknownDur(r.Pool.WaitBudget), r.Pool.PeakWaiters)
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	ids := make([]string, 0, len(r.Pool.HSMs))
	width := len("hsm")
	for id := range r.Pool.HSMs {
		ids = append(ids, id)
		width = max(width, len(id))
	}
	sort.Strings(ids)
	fmt.Fprintf(tw, "%-*s\topen\tidle\tin_use\tpeak_in_use\t\n", width, "hsm")
	for _, id := range ids {
		h := r.Pool.HSMs[id]
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%d\t%d\t\n", width, id, h.Open, h.Idle, h.InUse, h.PeakInUse)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("capacity: write text report: %w", err)
	}

	if len(r.Errors) > 0 {
		ew.printf("\nerrors (first of each op and outcome):\n")
		for _, e := range r.Errors {
			ew.printf("  %s %s: %s\n", e.Op, e.Outcome, e.Message)
		}
	}
	ew.printf("\n")
	if p := r.Problems(); len(p) > 0 {
		ew.printf("FAIL: %s\n", strings.Join(p, "; "))
	} else {
		ew.printf("PASS: every arrival ran and succeeded\n")
	}
	if ew.err != nil {
		return fmt.Errorf("capacity: write text report: %w", ew.err)
	}
	return nil
}

// dur prints a latency at a precision people read (microseconds).
func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(time.Microsecond).String()
}

func orUnknown(n int) string {
	if n == 0 {
		return "?"
	}
	return fmt.Sprint(n)
}

func orUnknownDur(d time.Duration) string {
	if d == 0 {
		return "?"
	}
	return d.String()
}

// errWriter keeps the first write error so the report reads straight
// through and reports it once.
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
