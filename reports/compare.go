package reports

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keystorm/keystorm/harness/result"
)

// Default tolerances of Compare: what a release may lose against the last
// before `keystorm compare` calls it breached.
const (
	// DefaultThroughputDrop is the fraction of the old achieved rate the
	// new one may fall short by: 10%.
	DefaultThroughputDrop = 0.10
	// DefaultP99Rise is the fraction by which p99 latency may rise: 25%.
	DefaultP99Rise = 0.25
	// DefaultErrorRateRise is how much the fraction of failed requests may
	// rise, absolutely: 0.01, one percentage point (0.5% to 1.5%).
	DefaultErrorRateRise = 0.01
)

// Tolerances are how far a new run may fall behind an old one before
// Compare reports a Breach. A zero field means its default (the Default
// constants); a negative one turns that check off. To allow no change at
// all, give a tiny positive value such as 1e-9.
//
// A check needs something to compare against: the throughput and p99
// checks are relative and skipped when the old value is zero.
type Tolerances struct {
	// ThroughputDrop is the largest allowed fall of the achieved rate, as
	// a fraction of the old one (0.10: 100/s may become 90/s, not less).
	ThroughputDrop float64
	// P99Rise is the largest allowed rise of p99 latency, as a fraction of
	// the old one (0.25: 8 ms may become 10 ms, not more).
	P99Rise float64
	// ErrorRateRise is the largest allowed rise of the error rate (failed
	// requests over requests sent), absolute (0.01: 2% may become 3%).
	ErrorRateRise float64
}

// resolve puts in the defaults for zero fields.
func (t Tolerances) resolve() Tolerances {
	def := func(v, d float64) float64 {
		if v == 0 {
			return d
		}
		return v
	}
	return Tolerances{
		ThroughputDrop: def(t.ThroughputDrop, DefaultThroughputDrop),
		P99Rise:        def(t.P99Rise, DefaultP99Rise),
		ErrorRateRise:  def(t.ErrorRateRise, DefaultErrorRateRise),
	}
}

// Names of the checks, in Breach.Check.
const (
	CheckThroughput  = "throughput"
	CheckP99         = "p99"
	CheckErrorRate   = "error-rate"
	CheckExpectation = "expectation"
)

// Run identifies one side of a comparison.
type Run struct {
	Scenario string
	Started  time.Time
	Stack    string
	Seed     int64
	Status   result.Status
	ExitCode int
	// Invalid and Aborted are the run's own, empty when valid and whole.
	Invalid, Aborted string
}

func runOf(r *result.Result) Run {
	return Run{
		Scenario: r.Scenario, Started: r.Started, Stack: r.Stack, Seed: r.Seed,
		Status: r.Status, ExitCode: r.ExitCode, Invalid: r.Invalid, Aborted: r.Aborted,
	}
}

// Pair is one measure in both runs.
type Pair struct{ Old, New float64 }

// Rel is the change from Old to New as a fraction of Old (-0.12: 12% less);
// false when Old is zero and there is nothing to scale by.
func (p Pair) Rel() (float64, bool) {
	if p.Old == 0 {
		return 0, false
	}
	return (p.New - p.Old) / p.Old, true
}

// Diff is the absolute change from Old to New.
func (p Pair) Diff() float64 { return p.New - p.Old }

// ErrorCount is one failed outcome (a KMS exception, "error" for no answer,
// or "http-NNN") counted in both runs.
type ErrorCount struct {
	Outcome  string
	Old, New int64
}

// Delta is how many more requests failed so in the new run.
func (e ErrorCount) Delta() int64 { return e.New - e.Old }

// Change kinds of an ExpectationChange.
const (
	Unchanged = "unchanged"
	// Regressed: passed in the old run, failed or undecided in the new.
	Regressed = "regressed"
	// Fixed: failed or undecided in the old run, passed in the new.
	Fixed = "fixed"
	// Changed: any other change of status (fail to unknown, anything to or
	// from not-applicable).
	Changed = "changed"
	Added   = "added"
	Removed = "removed"
)

// ExpectationChange is one expectation of either run, matched by ID.
type ExpectationChange struct {
	ID string
	// Kind is one of Unchanged, Regressed, Fixed, Changed, Added, Removed.
	Kind string
	// Old and New are its statuses; empty on the side that lacks it.
	Old, New result.Status
}

// Breach is one tolerance a new run went past.
type Breach struct {
	// Check is CheckThroughput, CheckP99, CheckErrorRate or
	// CheckExpectation.
	Check string
	// Old and New are the values compared: requests/s, ms or a fraction
	// of requests; zero for an expectation.
	Old, New float64
	// Change is how far New moved from Old in the check's terms: the
	// fraction dropped (throughput), the fraction risen (p99) or the
	// absolute rise (error rate). Limit is the tolerance it exceeded.
	Change, Limit float64
	// Expectation is the regressed expectation, for CheckExpectation.
	Expectation *ExpectationChange
}

// String says what was breached, with both values.
func (b Breach) String() string {
	switch b.Check {
	case CheckThroughput:
		return fmt.Sprintf("throughput dropped %.1f%% (> %s): %s -> %s", 100*b.Change, percent(b.Limit), rate(b.Old), rate(b.New))
	case CheckP99:
		return fmt.Sprintf("p99 rose %.1f%% (> %s): %s -> %s", 100*b.Change, percent(b.Limit), ms(b.Old), ms(b.New))
	case CheckErrorRate:
		return fmt.Sprintf("error rate rose %s (> %s): %s -> %s", points(b.Change), points(b.Limit), errRate(b.Old), errRate(b.New))
	case CheckExpectation:
		if e := b.Expectation; e != nil {
			return fmt.Sprintf("expectation %s regressed: %s -> %s", e.ID, statusWord(e.Old), statusWord(e.New))
		}
	}
	return b.Check + " breached"
}

// Comparison is what changed from an old run to a new one of the same
// scenario, and which tolerances the new one went past. Compare makes it;
// CompareText and CompareMarkdown print it.
type Comparison struct {
	Old, New Run
	// Tolerances are the ones applied, defaults put in.
	Tolerances Tolerances
	// Warnings say why the two runs may not be comparable: different
	// scenarios, stacks or target rates, an invalid or aborted run.
	Warnings []string

	// Throughput is the achieved rate, requests/s; TargetRate what the
	// schedules asked for.
	Throughput, TargetRate Pair
	// Latency percentiles and maximum, ms from the intended send time.
	P50, P90, P99, Max Pair
	// Sent is the requests sent; ErrorRate the fraction of them that
	// failed (any outcome but ok).
	Sent, ErrorRate Pair
	// Errors are the failed outcomes of either run, sorted by name.
	Errors []ErrorCount
	// Expectations are the old run's in its order, then those only the
	// new run has, in its order.
	Expectations []ExpectationChange
	// Breaches are the tolerances the new run went past, in the order
	// throughput, p99, error rate, expectations.
	Breaches []Breach
}

// Breached tells whether the new run went past any tolerance.
func (c Comparison) Breached() bool { return len(c.Breaches) > 0 }

// Count is how many expectations changed so (Unchanged, Regressed...).
func (c Comparison) Count(kind string) int {
	n := 0
	for _, e := range c.Expectations {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// slack absorbs floating-point error, so that a change equal to its
// tolerance (0.03-0.02 against 0.01) does not breach it.
const slack = 1e-12

// Compare compares the new run with the old one under tol. It is a pure
// function of its arguments.
func Compare(old, new *result.Result, tol Tolerances) Comparison {
	tol = tol.resolve()
	c := Comparison{
		Old: runOf(old), New: runOf(new), Tolerances: tol,
		Throughput: Pair{old.Load.AchievedRate, new.Load.AchievedRate},
		TargetRate: Pair{old.Load.TargetRate, new.Load.TargetRate},
		P50:        Pair{old.Load.Latency.P50, new.Load.Latency.P50},
		P90:        Pair{old.Load.Latency.P90, new.Load.Latency.P90},
		P99:        Pair{old.Load.Latency.P99, new.Load.Latency.P99},
		Max:        Pair{old.Load.Latency.Max, new.Load.Latency.Max},
	}
	c.Warnings = warnings(old, new)

	oldFailed, oldSent := failedOf(&old.Load)
	newFailed, newSent := failedOf(&new.Load)
	c.Sent = Pair{float64(oldSent), float64(newSent)}
	c.ErrorRate = Pair{fraction(oldFailed, oldSent), fraction(newFailed, newSent)}
	c.Errors = errorCounts(old.Load.ByOutcome, new.Load.ByOutcome)
	c.Expectations = expectationChanges(old.Expectations, new.Expectations)

	if rel, ok := c.Throughput.Rel(); ok && tol.ThroughputDrop >= 0 && -rel > tol.ThroughputDrop+slack {
		c.Breaches = append(c.Breaches, Breach{Check: CheckThroughput, Old: c.Throughput.Old, New: c.Throughput.New, Change: -rel, Limit: tol.ThroughputDrop})
	}
	if rel, ok := c.P99.Rel(); ok && tol.P99Rise >= 0 && rel > tol.P99Rise+slack {
		c.Breaches = append(c.Breaches, Breach{Check: CheckP99, Old: c.P99.Old, New: c.P99.New, Change: rel, Limit: tol.P99Rise})
	}
	if d := c.ErrorRate.Diff(); tol.ErrorRateRise >= 0 && d > tol.ErrorRateRise+slack {
		c.Breaches = append(c.Breaches, Breach{Check: CheckErrorRate, Old: c.ErrorRate.Old, New: c.ErrorRate.New, Change: d, Limit: tol.ErrorRateRise})
	}
	for i := range c.Expectations {
		if e := &c.Expectations[i]; e.Kind == Regressed {
			c.Breaches = append(c.Breaches, Breach{Check: CheckExpectation, Expectation: e})
		}
	}
	return c
}

// warnings say what makes the runs hard to compare. None is a breach: a
// scenario renamed between releases is still worth comparing.
func warnings(old, new *result.Result) []string {
	var w []string
	if old.Scenario != new.Scenario {
		w = append(w, fmt.Sprintf("different scenarios: old %q, new %q", old.Scenario, new.Scenario))
	}
	if old.Stack != new.Stack {
		w = append(w, fmt.Sprintf("different stacks: old %s, new %s", old.Stack, new.Stack))
	}
	if old.Load.TargetRate != new.Load.TargetRate {
		w = append(w, fmt.Sprintf("different target rates: old %s, new %s", rate(old.Load.TargetRate), rate(new.Load.TargetRate)))
	}
	for _, side := range []struct {
		name string
		r    *result.Result
	}{{"old", old}, {"new", new}} {
		if side.r.Invalid != "" {
			w = append(w, fmt.Sprintf("%s run is invalid: %s", side.name, oneLine(side.r.Invalid)))
		}
		if side.r.Aborted != "" {
			w = append(w, fmt.Sprintf("%s run was aborted: %s", side.name, oneLine(side.r.Aborted)))
		}
	}
	return w
}

// failedOf counts the failed requests of a load (every outcome but ok) and
// the requests they are a part of: those sent, or the outcomes' total when
// a result lacks the count.
func failedOf(l *result.Load) (failed, sent int64) {
	var total int64
	for name, n := range l.ByOutcome {
		total += n
		if name != "ok" {
			failed += n
		}
	}
	sent = l.Sent
	if sent == 0 {
		sent = total
	}
	return failed, sent
}

func fraction(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
}

func errorCounts(old, new map[string]int64) []ErrorCount {
	var names []string
	for _, m := range []map[string]int64{old, new} {
		for name := range m {
			if name != "ok" && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	out := make([]ErrorCount, 0, len(names))
	for _, name := range names {
		out = append(out, ErrorCount{Outcome: name, Old: old[name], New: new[name]})
	}
	return out
}

func expectationChanges(old, new []result.Expectation) []ExpectationChange {
	newStatus := map[string]result.Status{}
	for _, e := range new {
		newStatus[e.ID] = e.Status
	}
	seen := map[string]bool{}
	var out []ExpectationChange
	for _, e := range old {
		seen[e.ID] = true
		s, ok := newStatus[e.ID]
		if !ok {
			out = append(out, ExpectationChange{ID: e.ID, Kind: Removed, Old: e.Status})
			continue
		}
		out = append(out, ExpectationChange{ID: e.ID, Kind: changeKind(e.Status, s), Old: e.Status, New: s})
	}
	for _, e := range new {
		if !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, ExpectationChange{ID: e.ID, Kind: Added, New: e.Status})
		}
	}
	return out
}

func changeKind(old, new result.Status) string {
	decided := func(s result.Status) bool { return s == result.Fail || s == result.Unknown }
	switch {
	case old == new:
		return Unchanged
	case old == result.Pass && decided(new):
		return Regressed
	case decided(old) && new == result.Pass:
		return Fixed
	}
	return Changed
}

// CompareText writes c as a table for a terminal or a CI log: the two
// runs, any warnings, throughput, latencies and error rate old and new with
// their change and limit, failed requests by outcome, the expectations
// that changed, and the verdict with every breach. Plain ASCII, fixed
// precision and sorted names, so that the same comparison prints the same
// bytes.
func CompareText(w io.Writer, c Comparison) error {
	ew := &errWriter{w: w}
	ew.printf("keystorm compare: %s  old %s  new %s\n", scenarioTitle(c), stamp(c.Old.Started), stamp(c.New.Started))
	for _, warn := range c.Warnings {
		ew.printf("warning: %s\n", warn)
	}

	breached := map[string]bool{}
	for _, b := range c.Breaches {
		breached[b.Check] = true
	}
	rows := [][]string{{"", "old", "new", "change", "limit"}}
	for _, m := range metricRows(c, breached) {
		row := []string{m.name, m.old, m.new, m.change, m.limit}
		if m.breached {
			row = append(row, "BREACHED")
		}
		rows = append(rows, row)
	}
	ew.printf("\n%s", table(rows, ""))

	if len(c.Errors) == 0 {
		ew.printf("\nerrors by outcome: none in either run\n")
	} else {
		rows = [][]string{{"errors by outcome", "old", "new", "change"}}
		for _, e := range c.Errors {
			rows = append(rows, []string{e.Outcome, strconv.FormatInt(e.Old, 10), strconv.FormatInt(e.New, 10), fmt.Sprintf("%+d", e.Delta())})
		}
		ew.printf("\n%s", table(rows, ""))
	}

	ew.printf("\nexpectations: %s\n", expectationSummary(c))
	rows = nil
	for _, e := range c.Expectations {
		if e.Kind != Unchanged {
			rows = append(rows, []string{strings.ToUpper(e.Kind), oneLine(e.ID), statusChange(e)})
		}
	}
	ew.printf("%s", table(rows, "  "))

	if !c.Breached() {
		ew.printf("\nverdict: within tolerances\n")
	} else {
		ew.printf("\nverdict: BREACHED\n")
		for _, b := range c.Breaches {
			ew.printf("  %s\n", b)
		}
	}
	if ew.err != nil {
		return fmt.Errorf("reports: compare text: %w", ew.err)
	}
	return nil
}

// CompareMarkdown writes c for a pull-request comment: the verdict, the
// measures in one table, the expectations that changed and every breach.
// Text from the results is escaped as Markdown's is.
func CompareMarkdown(w io.Writer, c Comparison) error {
	var b strings.Builder
	v := "within tolerances"
	if c.Breached() {
		v = "BREACHED"
	}
	fmt.Fprintf(&b, "### keystorm compare %s: %s\n\n", mdScenarioTitle(c), v)
	fmt.Fprintf(&b, "Old run %s (%s), new run %s (%s).\n", stamp(c.Old.Started), statusWord(c.Old.Status), stamp(c.New.Started), statusWord(c.New.Status))
	for _, warn := range c.Warnings {
		fmt.Fprintf(&b, "\n**Warning:** %s\n", mdText(warn))
	}

	breached := map[string]bool{}
	for _, br := range c.Breaches {
		breached[br.Check] = true
	}
	b.WriteString("\n| Measure | Old | New | Change | Limit |\n|---|--:|--:|--:|--:|\n")
	for _, m := range metricRows(c, breached) {
		change := m.change
		if m.breached {
			change = "**" + change + "** (breached)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", m.name, m.old, m.new, change, m.limit)
	}
	if len(c.Errors) > 0 {
		var parts []string
		for _, e := range c.Errors {
			parts = append(parts, fmt.Sprintf("%s %d → %d", mdCode(e.Outcome), e.Old, e.New))
		}
		fmt.Fprintf(&b, "\n**Errors by outcome:** %s\n", strings.Join(parts, ", "))
	}

	fmt.Fprintf(&b, "\n**Expectations:** %s\n", expectationSummary(c))
	for _, e := range c.Expectations {
		if e.Kind != Unchanged {
			fmt.Fprintf(&b, "- %s %s: %s\n", e.Kind, mdCode(e.ID), statusChange(e))
		}
	}
	if c.Breached() {
		b.WriteString("\n**Breaches:**\n")
		for _, br := range c.Breaches {
			fmt.Fprintf(&b, "- %s\n", mdText(br.String()))
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("reports: compare Markdown: %w", err)
	}
	return nil
}

// table aligns rows in columns three spaces apart, each line after
// indent, without trailing spaces.
func table(rows [][]string, indent string) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 3, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s%s\n", indent, strings.Join(r, "\t"))
	}
	tw.Flush() // a strings.Builder does not fail
	lines := strings.SplitAfter(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(strings.TrimSuffix(l, "\n"), " ")
		if strings.HasSuffix(l, "\n") {
			lines[i] += "\n"
		}
	}
	return strings.Join(lines, "")
}

// metricRow is one measure as both tables print it.
type metricRow struct {
	name, old, new, change, limit string
	breached                      bool
}

func metricRows(c Comparison, breached map[string]bool) []metricRow {
	t := c.Tolerances
	row := func(name string, p Pair, format func(float64) string, limit string, check string) metricRow {
		return metricRow{name: name, old: format(p.Old), new: format(p.New), change: relChange(p), limit: limit, breached: check != "" && breached[check]}
	}
	return []metricRow{
		row("throughput", c.Throughput, rate, limitText(t.ThroughputDrop, "-"+percent(t.ThroughputDrop)), CheckThroughput),
		row("p50", c.P50, ms, "", ""),
		row("p90", c.P90, ms, "", ""),
		row("p99", c.P99, ms, limitText(t.P99Rise, "+"+percent(t.P99Rise)), CheckP99),
		row("max", c.Max, ms, "", ""),
		{
			name: "error rate", old: errRate(c.ErrorRate.Old), new: errRate(c.ErrorRate.New),
			change: signedPoints(c.ErrorRate.Diff()), limit: limitText(t.ErrorRateRise, "+"+points(t.ErrorRateRise)),
			breached: breached[CheckErrorRate],
		},
	}
}

// limitText is a tolerance as a table cell: "off" when disabled.
func limitText(tol float64, s string) string {
	if tol < 0 {
		return "off"
	}
	return s
}

func expectationSummary(c Comparison) string {
	s := fmt.Sprintf("%d unchanged, %d regressed, %d fixed", c.Count(Unchanged), c.Count(Regressed), c.Count(Fixed))
	for _, k := range []string{Changed, Added, Removed} {
		if n := c.Count(k); n > 0 {
			s += fmt.Sprintf(", %d %s", n, k)
		}
	}
	return s
}

func statusChange(e ExpectationChange) string {
	switch e.Kind {
	case Added:
		return "new: " + statusWord(e.New)
	case Removed:
		return "was " + statusWord(e.Old) + ", gone"
	}
	return statusWord(e.Old) + " -> " + statusWord(e.New)
}

func scenarioTitle(c Comparison) string {
	if c.Old.Scenario == c.New.Scenario {
		return c.New.Scenario
	}
	return c.Old.Scenario + " vs " + c.New.Scenario
}

func mdScenarioTitle(c Comparison) string {
	if c.Old.Scenario == c.New.Scenario {
		return mdCode(c.New.Scenario)
	}
	return mdCode(c.Old.Scenario) + " vs " + mdCode(c.New.Scenario)
}

// stamp is a run's start, in UTC to the second; "?" when unknown.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.UTC().Format(time.RFC3339)
}

// relChange formats a relative change: "+12.5%", "n/a" with nothing to
// scale by.
func relChange(p Pair) string {
	rel, ok := p.Rel()
	if !ok {
		if p.New == 0 {
			return "+0.0%"
		}
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", 100*rel)
}

// percent formats a tolerance, a fraction, as a percentage with one
// decimal, none when it is zero: "12.5%", "25%".
func percent(f float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(100*f, 'f', 1, 64), ".0") + "%"
}

// errRate formats an error rate, a fraction, as a percentage.
func errRate(f float64) string { return strconv.FormatFloat(100*f, 'f', 2, 64) + "%" }

// points formats a difference of two rates in percentage points.
func points(d float64) string { return strconv.FormatFloat(100*d, 'f', 2, 64) + " pp" }

func signedPoints(d float64) string {
	s := points(d)
	if d >= 0 {
		s = "+" + s
	}
	return s
}
