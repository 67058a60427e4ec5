package scenario

import (
	"slices"
	"strings"
	"time"

	"github.com/keystorm/keystorm/harness/load"
)

// expectKinds are the YAML names of an expectation's kinds.
var expectKinds = []string{"state", "sequence", "errors", "latency", "error-rate", "throughput", "integrity", "steady-state", "outcome", "audit"}

// Kind returns the YAML name of the expectation's kind ("state",
// "error-rate", ...), or "" when none or several are set.
func (x *Expectation) Kind() string {
	set := x.kinds()
	if len(set) != 1 {
		return ""
	}
	return set[0]
}

func (x *Expectation) kinds() []string {
	var set []string
	for i, isSet := range []bool{x.State != nil, x.Sequence != nil, x.Errors != nil, x.Latency != nil,
		x.ErrorRate != nil, x.Throughput != nil, x.Integrity != nil, x.SteadyState != nil, x.Outcome != nil, x.Audit != nil} {
		if isSet {
			set = append(set, expectKinds[i])
		}
	}
	return set
}

func (c *checker) expectations() {
	ids := map[string]int{}
	for i := range c.s.Expect {
		x := &c.s.Expect[i]
		p := indexPath("expect", i)
		if first, dup := ids[x.ID]; dup {
			c.errorf(p+".id", "%q is already the id of expect[%d]: give each expectation its own id", x.ID, first)
		} else {
			ids[x.ID] = i
		}
		switch set := x.kinds(); len(set) {
		case 0:
			c.errorf(p, "required: one of %s", strings.Join(expectKinds, ", "))
			continue
		case 1:
		default:
			c.errorf(p+"."+set[1], "sets %s: want exactly one kind per expectation (split it)", strings.Join(set, " and "))
			continue
		}
		p = joinPath(p, x.Kind())
		switch {
		case x.State != nil:
			c.stateExpect(p, x.State)
		case x.Sequence != nil:
			c.sequenceExpect(p, x.Sequence)
		case x.Errors != nil:
			c.errorsExpect(p, x.Errors)
		case x.Latency != nil:
			c.latencyExpect(p, x.Latency)
		case x.ErrorRate != nil:
			c.errorRateExpect(p, x.ErrorRate)
		case x.Throughput != nil:
			c.throughputExpect(p, x.Throughput)
		case x.Integrity != nil:
			c.integrityExpect(p, x.Integrity)
		case x.SteadyState != nil:
			c.steadyExpect(p, x.SteadyState)
		case x.Outcome != nil:
			c.outcomeExpect(p, x.Outcome)
		case x.Audit != nil:
			c.auditExpect(p, x.Audit)
		}
	}
}

// subject checks that exactly one of store and key is set and defined, and
// returns which.
func (c *checker) subject(path, store, key string) (nameKind, bool) {
	switch {
	case store != "" && key != "":
		c.errorf(path+".key", "set store or key, not both")
	case store != "":
		c.reference(kindStore, store, path+".store", -1)
		return kindStore, true
	case key != "":
		c.reference(kindKey, key, path+".key", -1)
		return kindKey, true
	default:
		c.errorf(path, "required: store or key, the one whose state is expected")
	}
	return "", false
}

func (c *checker) stateExpect(p string, x *StateExpect) {
	k, ok := c.subject(p, x.Store, x.Key)
	switch {
	case x.To == "":
		c.errorf(p+".to", "required: the state it must reach")
	case ok && !knownState(k, x.To):
		c.errorf(p+".to", "unknown %s state %q (want one of: %s)", k, x.To, strings.Join(statesOf(k), ", "))
	}
	if x.Code != "" {
		switch {
		case k != kindStore:
			c.errorf(p+".code", "a ConnectionErrorCode is a store's: set store")
		case !slices.Contains(ConnectionErrorCodes, x.Code):
			c.errorf(p+".code", "unknown ConnectionErrorCode %q (want one of: %s)", x.Code, strings.Join(ConnectionErrorCodes, ", "))
		case x.To != "FAILED":
			c.errorf(p+".code", "a store shows a ConnectionErrorCode only while FAILED, not %s", x.To)
		}
	}
	c.ref(p+".after", x.After)
}

func (c *checker) sequenceExpect(p string, x *SequenceExpect) {
	k, ok := c.subject(p, x.Store, x.Key)
	if len(x.States) == 0 {
		c.errorf(p+".states", "required: the states in the order they must appear")
	}
	for i, st := range x.States {
		if ok && !knownState(k, st) {
			c.errorf(indexPath(p+".states", i), "unknown %s state %q (want one of: %s)", k, st, strings.Join(statesOf(k), ", "))
		}
	}
	c.ref(p+".after", x.After)
}

func (c *checker) errorsExpect(p string, x *ErrorsExpect) {
	switch {
	case x.Exception == "":
		c.errorf(p+".exception", "required: a KMS exception such as KMSInvalidStateException, or %s", AnyException)
	case !validException(x.Exception):
		c.errorf(p+".exception", "%q: want a KMS exception name such as KMSInvalidStateException (CamelCase, ending in Exception), or %s", x.Exception, AnyException)
	}
	c.op(p+".op", x.Op)
	if x.Key != "" {
		c.reference(kindKey, x.Key, p+".key", -1)
	}
	c.window(p+".window", x.Window)
	switch {
	case x.Min == nil && x.Max == nil:
		c.errorf(p, "required: min or max (or both), the count's bounds")
	case x.Min != nil && *x.Min < 0:
		c.errorf(p+".min", "%d: want 0 or more", *x.Min)
	case x.Max != nil && *x.Max < 0:
		c.errorf(p+".max", "%d: want 0 or more", *x.Max)
	case x.Min != nil && x.Max != nil && *x.Min > *x.Max:
		c.errorf(p+".max", "%d is below min (%d)", *x.Max, *x.Min)
	}
}

func (c *checker) latencyExpect(p string, x *LatencyExpect) {
	c.op(p+".op", x.Op)
	c.window(p+".window", x.Window)
	bounds := []struct {
		name string
		d    time.Duration
	}{{"p50", x.P50}, {"p95", x.P95}, {"p99", x.P99}, {"max", x.Max}}
	var prev string
	var prevD time.Duration
	for _, b := range bounds {
		if b.d == 0 {
			continue
		}
		if prev != "" && b.d < prevD {
			c.errorf(p+"."+b.name, "%s is below %s (%s): a higher percentile cannot be faster", b.d, prev, prevD)
		}
		prev, prevD = b.name, b.d
	}
	if prev == "" {
		c.errorf(p, "required: at least one bound of p50, p95, p99, max")
	}
}

func (c *checker) errorRateExpect(p string, x *ErrorRateExpect) {
	c.op(p+".op", x.Op)
	c.window(p+".window", x.Window)
	if x.Min == nil && x.Max == nil {
		c.errorf(p, "required: max or min (or both), a fraction 0 to 1")
	}
	c.fraction(p+".min", x.Min)
	c.fraction(p+".max", x.Max)
	if x.Min != nil && x.Max != nil && *x.Min > *x.Max {
		c.errorf(p+".max", "%s is below min (%s)", fmtFloat(*x.Max), fmtFloat(*x.Min))
	}
}

func (c *checker) throughputExpect(p string, x *ThroughputExpect) {
	c.window(p+".window", x.Window)
	if x.Min < 0 {
		c.errorf(p+".min", "%s: want 0 or more requests per second", fmtFloat(x.Min))
	}
	if x.MinOfTarget < 0 || x.MinOfTarget > 1 {
		c.errorf(p+".min-of-target", "%s: want a fraction 0 to 1 of the planned rate", fmtFloat(x.MinOfTarget))
	}
	if x.Min == 0 && x.MinOfTarget == 0 {
		c.errorf(p, "required: min (requests per second) or min-of-target (a fraction of the planned rate)")
	}
}

func (c *checker) integrityExpect(p string, x *IntegrityExpect) {
	if x.Sample < 0 {
		c.errorf(p+".sample", "%d: want 0 (all) or more", x.Sample)
	}
	for i, k := range x.Keys {
		c.reference(kindKey, k, indexPath(p+".keys", i), -1)
	}
	encrypts := slices.ContainsFunc(c.s.Load.Mix, func(m load.MixEntry) bool { return m.Op == "Encrypt" })
	if !encrypts && len(c.s.Setup.Ciphertexts) == 0 {
		c.errorf(p, "nothing to check: the mix has no Encrypt and the setup no ciphertexts")
	}
}

func (c *checker) steadyExpect(p string, x *SteadyExpect) {
	if x.ErrorRate == nil && x.P99 == 0 {
		c.errorf(p, "required: error-rate or p99 (or both), the budgets to hold")
	}
	c.fraction(p+".error-rate", x.ErrorRate)
	if x.MinRequests < 0 {
		c.errorf(p+".min-requests", "%d: want 0 or more", x.MinRequests)
	}
}

func (c *checker) outcomeExpect(p string, x *OutcomeExpect) {
	if x.Entry == "" {
		c.errorf(p+".entry", "required: the id of the timeline entry whose answer to check")
	} else if _, ok := c.ids[x.Entry]; !ok {
		c.errorf(p+".entry", "unknown timeline id %q%s", x.Entry, c.knownIDs(x.Entry))
	}
	if x.Exception != "" && (x.Exception == AnyException || !validException(x.Exception)) {
		c.errorf(p+".exception", "%q does not look like an exception name (want e.g. CustomKeyStoreInvalidStateException)", x.Exception)
	}
}

func (c *checker) auditExpect(p string, x *AuditExpect) {
	if x.Event == "" {
		c.errorf(p+".event", "required: the event's name, such as DeleteKey")
	}
	if x.Key == "" {
		c.errorf(p+".key", "required: the key the event is about")
	} else {
		c.reference(kindKey, x.Key, p+".key", -1)
	}
	switch x.DeletionStatus {
	case "", "SUCCESS", "FAILURE":
	default:
		c.errorf(p+".deletion-status", "%q: want SUCCESS or FAILURE", x.DeletionStatus)
	}
	if x.DeletionStatus != "" && x.Event != "DeleteKey" {
		c.errorf(p+".deletion-status", "only DeleteKey events have one (event is %s)", x.Event)
	}
}

func (c *checker) aborts() {
	for i, a := range c.s.Abort {
		p := indexPath("abort", i)
		if a.Window <= 0 {
			c.errorf(p+".window", "%s: want more than 0", a.Window)
		}
		if a.ErrorRate == nil && a.P99 == 0 {
			c.errorf(p, "required: error-rate or p99 (or both), what to abort on")
		}
		c.fraction(p+".error-rate", a.ErrorRate)
	}
}

// fraction checks an optional fraction is in [0, 1].
func (c *checker) fraction(path string, f *float64) {
	if f != nil && (*f < 0 || *f > 1) {
		c.errorf(path, "%s: want a fraction 0 to 1", fmtFloat(*f))
	}
}

// op checks an optional operation filter.
func (c *checker) op(path, op string) {
	if op != "" && !slices.Contains(load.Operations, op) {
		hint := ""
		if s := suggest(op, load.Operations); s != "" {
			hint = "; did you mean " + s + "?"
		}
		c.errorf(path, "unknown operation %q (want one of: %s%s)", op, strings.Join(load.Operations, ", "), hint)
	}
}

// window checks a window's references and, when both ends are known before
// the run, that it is not empty.
func (c *checker) window(path string, w Window) {
	from, fromOK := c.ref(path+".from", w.From)
	to, toOK := c.ref(path+".to", w.To)
	if fromOK && toOK && from >= to && c.s.Load.Duration > 0 {
		c.errorf(path+".to", "%s (%s) is not after from %s (%s): the window is empty", w.To, to, w.From, from)
	}
}

// ref checks a reference of an expectation: start, end, or a timeline id
// (of any entry: expectations look at the whole run). It returns the time
// it stands for when that is known before the run.
func (c *checker) ref(path, s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	r, err := ParseRef(s)
	if err != nil {
		c.errorf(path, "%v", err)
		return 0, false
	}
	switch r.Name {
	case RefStart:
		return r.Offset, true
	case RefEnd:
		return c.s.Load.Duration + r.Offset, true
	}
	i, ok := c.ids[r.Name]
	if !ok {
		c.errorf(path, "unknown timeline id %q%s", r.Name, c.knownIDs(r.Name))
		return 0, false
	}
	if t := c.times[i]; t.ok && t.fixed && !r.End {
		return t.earliest + r.Offset, true
	}
	return 0, false
}
