package scenario

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keystorm/keystorm/harness/load"
)

// Describe writes a short summary of the scenario, the way `keystorm
// validate` shows it: enough to see at a glance that the file says what
// its author meant (the shape as played, ids and defaults filled in).
func (s *Scenario) Describe(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }

	p("scenario %s (%s)", s.Name, s.File)
	if d := strings.Join(strings.Fields(s.Description), " "); d != "" {
		p("  %s", d)
	}
	if len(s.Covers) > 0 {
		p("covers:\t%s", strings.Join(s.Covers, ", "))
	}
	p("stack:\t%d %s, clock x%s, connect %s", s.Stack.Clusters, plural(s.Stack.Clusters, "cluster", "clusters"), fmtFloat(s.Stack.Speed), fmtDur(s.Stack.ConnectDuration))
	if setup := s.Setup.String(); setup != "" {
		p("setup:\t%s", setup)
	}
	l := s.Load
	p("load:\t%s: %s", fmtDur(l.Duration), ShapeString(l.Shape))
	var mix []string
	for _, m := range l.Mix {
		mix = append(mix, fmt.Sprintf("%s %d", m.Op, m.Weight))
	}
	p("\tmix %s; keys %s; sizes %s; timeout %s", strings.Join(mix, ", "), strings.Join(l.Keys, ", "), joinInts(l.Sizes), fmtDur(l.Timeout))
	if len(s.Timeline) > 0 {
		p("timeline:")
		for _, e := range s.Timeline {
			p("  %s\t%s\t%s", e.ID, e.when(), e.action())
		}
	}
	if len(s.Expect) > 0 {
		p("expect:")
		for i := range s.Expect {
			x := &s.Expect[i]
			p("  %s\t%s", x.ID, strings.TrimPrefix(x.String(), x.ID+": "))
		}
	}
	if len(s.Abort) > 0 {
		p("abort:")
		for _, a := range s.Abort {
			p("  %s", a.String())
		}
	}
	p("timeout: %s", fmtDur(s.Timeout))
}

// String lists what the setup makes, in a line.
func (su Setup) String() string {
	var parts []string
	if len(su.Clusters) > 0 {
		parts = append(parts, "clusters "+strings.Join(su.Clusters, ", "))
	}
	if len(su.Stores) > 0 {
		var ss []string
		for _, st := range su.Stores {
			s := st.Name + " on " + st.Cluster
			if st.Connect {
				s += " (connected)"
			}
			ss = append(ss, s)
		}
		parts = append(parts, "stores "+strings.Join(ss, ", "))
	}
	if len(su.Keys) > 0 {
		var ks []string
		for _, k := range su.Keys {
			if k.Store == "" {
				ks = append(ks, k.Name+" (software)")
			} else {
				ks = append(ks, k.Name+" in "+k.Store)
			}
		}
		parts = append(parts, "keys "+strings.Join(ks, ", "))
	}
	for _, c := range su.Ciphertexts {
		parts = append(parts, fmt.Sprintf("%d ciphertexts of %dB under %s", c.Count, c.Size, c.Key))
	}
	return strings.Join(parts, "; ")
}

// ShapeString describes a load shape: "sequence: constant 100/s for 10s,
// square 50..400/s period 5s duty 0.2 for 50s".
func ShapeString(sh load.Shape) string {
	if sh.Sequence != nil {
		return "sequence: " + sequenceString(sh.Sequence)
	}
	return shapeString(sh)
}

func sequenceString(seq []load.Shape) string {
	parts := make([]string, len(seq))
	for i, sh := range seq {
		if sh.Sequence != nil {
			parts[i] = "(" + sequenceString(sh.Sequence) + ")"
		} else {
			parts[i] = shapeString(sh)
		}
	}
	return strings.Join(parts, ", ")
}

func shapeString(sh load.Shape) string {
	var s string
	var forD time.Duration
	switch {
	case sh.Constant != nil:
		s, forD = fmt.Sprintf("constant %s/s", fmtFloat(sh.Constant.Rate)), sh.Constant.For
	case sh.Ramp != nil:
		s, forD = fmt.Sprintf("ramp %s..%s/s", fmtFloat(sh.Ramp.From), fmtFloat(sh.Ramp.To)), sh.Ramp.For
	case sh.Square != nil:
		q := sh.Square
		s, forD = fmt.Sprintf("square %s..%s/s period %s duty %s", fmtFloat(q.Low), fmtFloat(q.High), fmtDur(q.Period), fmtFloat(q.Duty)), q.For
	case sh.Spike != nil:
		p := sh.Spike
		s, forD = fmt.Sprintf("spike %s/s, %s/s for %s every %s", fmtFloat(p.Base), fmtFloat(p.Peak), fmtDur(p.Width), fmtDur(p.Every)), p.For
	case sh.Poisson != nil:
		s, forD = fmt.Sprintf("poisson %s/s", fmtFloat(sh.Poisson.Rate)), sh.Poisson.For
	default:
		return "(no shape)"
	}
	if forD > 0 {
		s += " for " + fmtDur(forD)
	}
	return s
}

// String describes the entry in a line: "kill: at 10s: fault delete-hsm
// cluster=a count=all".
func (e *TimelineEntry) String() string {
	return e.ID + ": " + e.when() + ": " + e.action()
}

func (e *TimelineEntry) when() string {
	var s string
	switch {
	case e.At != nil:
		s = "at " + fmtDur(*e.At)
	case e.When != nil:
		s = "when " + e.When.String()
	}
	if e.Timeout != DefaultEntryTimeout && e.Timeout > 0 {
		s += fmt.Sprintf(" (timeout %s)", fmtDur(e.Timeout))
	}
	return s
}

// action writes the action and its parameters, as decoded (defaults
// included): "fault delete-hsm cluster=a count=all".
func (e *TimelineEntry) action() string {
	kind, name := "fault", e.Fault
	if e.Step != "" {
		kind, name = "step", e.Step
	}
	s := kind + " " + name
	if e.Action == nil {
		return s
	}
	rv := reflect.ValueOf(e.Action)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return s
	}
	sv := rv.Elem()
	for _, f := range fieldsOf(sv.Type()) {
		v := sv.FieldByIndex(f.Index)
		if v.IsZero() {
			continue
		}
		s += " " + f.Name + "=" + paramString(v)
	}
	return s
}

// paramString writes one parameter value.
func paramString(v reflect.Value) string {
	switch {
	case v.Type() == durationType:
		return fmtDur(time.Duration(v.Int()))
	case v.Kind() == reflect.Pointer:
		return paramString(v.Elem())
	case v.Kind() == reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = paramString(v.Index(i))
		}
		return strings.Join(parts, ",")
	case v.Kind() == reflect.String && strings.ContainsAny(v.String(), " \t,="):
		return fmt.Sprintf("%q", v.String())
	}
	return fmt.Sprint(v.Interface())
}

// String writes the condition: "after kill+5s and store s1 FAILED
// (CLUSTER_NOT_FOUND)".
func (w Condition) String() string {
	var parts []string
	if w.After != "" {
		parts = append(parts, "after "+w.After)
	}
	if w.Store != "" || w.Key != "" {
		s := subjectString(w.Store, w.Key) + " " + w.State
		if w.Code != "" {
			s += " (" + w.Code + ")"
		}
		parts = append(parts, s)
	}
	if w.Errors != "" {
		parts = append(parts, "the load saw "+w.Errors)
	}
	return strings.Join(parts, " and ")
}

// String writes the abort condition in a line.
func (a Abort) String() string {
	var parts []string
	if a.ErrorRate != nil {
		parts = append(parts, "error rate >"+fmtFloat(*a.ErrorRate))
	}
	if a.P99 > 0 {
		parts = append(parts, "p99 >"+fmtDur(a.P99))
	}
	return fmt.Sprintf("%s over the last %s (after %s)", strings.Join(parts, " or "), fmtDur(a.Window), fmtDur(a.After))
}

func joinInts(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = fmt.Sprint(n)
	}
	return strings.Join(parts, ", ")
}

// String says what the expectation asks, in a line.
func (x *Expectation) String() string {
	var b strings.Builder
	b.WriteString(x.ID)
	b.WriteString(": ")
	switch {
	case x.State != nil:
		s := x.State
		fmt.Fprintf(&b, "%s reaches %s", subjectString(s.Store, s.Key), s.To)
		if s.Code != "" {
			fmt.Fprintf(&b, " (%s)", s.Code)
		}
		if s.Within > 0 {
			fmt.Fprintf(&b, " within %s", fmtDur(s.Within))
		}
		fmt.Fprintf(&b, " after %s", s.After)
		if s.Stays {
			b.WriteString(", and stays")
		}
	case x.Sequence != nil:
		s := x.Sequence
		fmt.Fprintf(&b, "%s goes %s after %s", subjectString(s.Store, s.Key), strings.Join(s.States, " -> "), s.After)
	case x.Errors != nil:
		e := x.Errors
		fmt.Fprintf(&b, "%s%s", e.Exception, filterString(e.Op, e.Key))
		if e.Message != "" {
			fmt.Fprintf(&b, " saying %q", e.Message)
		}
		switch {
		case e.Min != nil && e.Max != nil:
			fmt.Fprintf(&b, " %d..%d times", *e.Min, *e.Max)
		case e.Min != nil:
			fmt.Fprintf(&b, " at least %d %s", *e.Min, plural(int(*e.Min), "time", "times"))
		case e.Max != nil:
			fmt.Fprintf(&b, " at most %d %s", *e.Max, plural(int(*e.Max), "time", "times"))
		}
		fmt.Fprintf(&b, " in %s", e.Window)
		if e.Only {
			b.WriteString(", and no other failure")
		}
	case x.Latency != nil:
		l := x.Latency
		b.WriteString("latency")
		for _, bd := range []struct {
			name string
			d    time.Duration
		}{{"p50", l.P50}, {"p95", l.P95}, {"p99", l.P99}, {"max", l.Max}} {
			if bd.d > 0 {
				fmt.Fprintf(&b, " %s<=%s", bd.name, fmtDur(bd.d))
			}
		}
		b.WriteString(filterString(l.Op, ""))
		if l.OKOnly {
			b.WriteString(" (successes only)")
		}
		fmt.Fprintf(&b, " in %s", l.Window)
	case x.ErrorRate != nil:
		e := x.ErrorRate
		b.WriteString("error rate")
		if e.Min != nil {
			fmt.Fprintf(&b, " >=%s", fmtFloat(*e.Min))
		}
		if e.Max != nil {
			fmt.Fprintf(&b, " <=%s", fmtFloat(*e.Max))
		}
		fmt.Fprintf(&b, "%s in %s", filterString(e.Op, ""), e.Window)
	case x.Throughput != nil:
		t := x.Throughput
		b.WriteString("throughput")
		if t.Min > 0 {
			fmt.Fprintf(&b, " >=%s/s", fmtFloat(t.Min))
		}
		if t.MinOfTarget > 0 {
			fmt.Fprintf(&b, " >=%s of target", fmtFloat(t.MinOfTarget))
		}
		fmt.Fprintf(&b, " in %s", t.Window)
	case x.Integrity != nil:
		b.WriteString("integrity: every acknowledged ciphertext decrypts")
		if x.Integrity.Sample > 0 {
			fmt.Fprintf(&b, " (sample %d)", x.Integrity.Sample)
		}
	case x.SteadyState != nil:
		s := x.SteadyState
		b.WriteString("steady state before the first fault and after the last step")
		if s.ErrorRate != nil {
			fmt.Fprintf(&b, ": error rate <=%s", fmtFloat(*s.ErrorRate))
		}
		if s.P99 > 0 {
			fmt.Fprintf(&b, ", p99<=%s", fmtDur(s.P99))
		}
		fmt.Fprintf(&b, " (settle %s, at least %d requests)", fmtDur(s.Settle), s.MinRequests)
	case x.Outcome != nil:
		if x.Outcome.Exception == "" {
			fmt.Fprintf(&b, "%s succeeds", x.Outcome.Entry)
		} else {
			fmt.Fprintf(&b, "%s fails with %s", x.Outcome.Entry, x.Outcome.Exception)
		}
	case x.Audit != nil:
		fmt.Fprintf(&b, "audit log has %s for key %s", x.Audit.Event, x.Audit.Key)
		if x.Audit.DeletionStatus != "" {
			fmt.Fprintf(&b, " with deletion status %s", x.Audit.DeletionStatus)
		}
	default:
		b.WriteString("(no kind)")
	}
	return b.String()
}

// String writes a window as "[from, to]".
func (w Window) String() string {
	return fmt.Sprintf("[%s, %s]", w.From, w.To)
}

func subjectString(store, key string) string {
	if store != "" {
		return "store " + store
	}
	return "key " + key
}

func filterString(op, key string) string {
	var parts []string
	if op != "" {
		parts = append(parts, op)
	}
	if key != "" {
		parts = append(parts, "key "+key)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// fmtDur writes a duration as people write them: 1m rather than Go's
// 1m0s, 2h rather than 2h0m0s.
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
