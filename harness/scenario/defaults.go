package scenario

import (
	"fmt"
	"time"

	"github.com/keystorm/keystorm/harness/load"
)

// Defaults of the scenario format. The doc tags of the types say the same
// in words, for the schema and editors.
const (
	DefaultSize            = 32
	DefaultRequestTimeout  = 5 * time.Second
	DefaultLateTolerance   = 100 * time.Millisecond
	DefaultMaxLateFraction = 0.01
	DefaultDuty            = 0.5
	DefaultSpeed           = 1.0
	// DefaultConnectDuration is the real service's: connecting a store
	// can take 20 minutes.
	DefaultConnectDuration = 20 * time.Minute
	DefaultEntryTimeout    = 2 * time.Minute
	DefaultCiphertextCount = 10
	DefaultCiphertextSize  = 64
	DefaultSettle          = 5 * time.Second
	DefaultMinRequests     = 20
	DefaultAbortWindow     = 5 * time.Second
	// RunSlack is what the run's timeout adds to the load's duration by
	// default: time for setup, the last recovery steps and the checks.
	RunSlack = 2 * time.Minute
)

// DefaultMix is the operation mix when a scenario gives none: every
// Encrypt's ciphertext feeds a later Decrypt.
func DefaultMix() []load.MixEntry {
	return []load.MixEntry{{Op: "Encrypt", Weight: 1}, {Op: "Decrypt", Weight: 1}}
}

// ApplyDefaults fills in what the file left out, as k6's NewXConfig
// constructors do before decoding. Parse calls it between decoding and
// Validate. For a parsed scenario "left out" means absent (or null) in the
// file, so that an explicit zero ("weight: 0", "duty: 0") stays and
// Validate reports it instead of it silently becoming the default; for a
// scenario built in Go it means the zero value. Calling it twice changes
// nothing.
func (s *Scenario) ApplyDefaults() {
	unset := func(path string, zero bool) bool {
		if s.positions == nil {
			return zero
		}
		return !s.positions.isSet(path)
	}

	l := &s.Load
	if unset("load.sizes", len(l.Sizes) == 0) {
		l.Sizes = []int{DefaultSize}
	}
	if unset("load.mix", len(l.Mix) == 0) {
		l.Mix = DefaultMix()
	}
	for i := range l.Mix {
		if unset(fmt.Sprintf("load.mix[%d].weight", i), l.Mix[i].Weight == 0) {
			l.Mix[i].Weight = 1
		}
	}
	if unset("load.timeout", l.Timeout == 0) {
		l.Timeout = DefaultRequestTimeout
	}
	if unset("load.late-tolerance", l.LateTolerance == 0) {
		l.LateTolerance = DefaultLateTolerance
	}
	if unset("load.max-late-fraction", l.MaxLateFraction == 0) {
		l.MaxLateFraction = DefaultMaxLateFraction
	}
	var shape func(sh *load.Shape, path string)
	shape = func(sh *load.Shape, path string) {
		if sh.Square != nil && unset(path+".square.duty", sh.Square.Duty == 0) {
			sh.Square.Duty = DefaultDuty
		}
		for i := range sh.Sequence {
			shape(&sh.Sequence[i], indexPath(path+".sequence", i))
		}
	}
	shape(&l.Shape, "load.shape")

	if unset("stack.speed", s.Stack.Speed == 0) {
		s.Stack.Speed = DefaultSpeed
	}
	if unset("stack.connect-duration", s.Stack.ConnectDuration == 0) {
		s.Stack.ConnectDuration = DefaultConnectDuration
	}
	if unset("stack.clusters", s.Stack.Clusters == 0) {
		s.Stack.Clusters = max(len(s.Setup.Clusters), 1)
	}

	for i := range s.Setup.Ciphertexts {
		c := &s.Setup.Ciphertexts[i]
		p := indexPath("setup.ciphertexts", i)
		if unset(p+".count", c.Count == 0) {
			c.Count = DefaultCiphertextCount
		}
		if unset(p+".size", c.Size == 0) {
			c.Size = DefaultCiphertextSize
		}
	}

	for i := range s.Timeline {
		e := &s.Timeline[i]
		p := indexPath("timeline", i)
		if unset(p+".id", e.ID == "") {
			e.ID = e.Fault
			if e.ID == "" {
				e.ID = e.Step
			}
		}
		if unset(p+".timeout", e.Timeout == 0) {
			e.Timeout = DefaultEntryTimeout
		}
	}

	for i := range s.Expect {
		s.Expect[i].applyDefaults(i, unset)
	}

	for i := range s.Abort {
		a := &s.Abort[i]
		p := indexPath("abort", i)
		if unset(p+".window", a.Window == 0) {
			a.Window = DefaultAbortWindow
		}
		if unset(p+".after", a.After == 0) {
			a.After = a.Window
		}
	}

	if unset("timeout", s.Timeout == 0) {
		s.Timeout = l.Duration + RunSlack
	}
}

// applyDefaults fills in expectation i: its id, windows spanning the whole
// load, references counting from the start, the steady state's budgets.
func (x *Expectation) applyDefaults(i int, unset func(string, bool) bool) {
	p := indexPath("expect", i)
	if unset(p+".id", x.ID == "") {
		// 1-based, as people count expectations in a report.
		x.ID = fmt.Sprintf("expect[%d]", i+1)
	}
	window := func(w *Window, path string) {
		if unset(path+".from", w.From == "") {
			w.From = RefStart
		}
		if unset(path+".to", w.To == "") {
			w.To = RefEnd
		}
	}
	if x.State != nil && unset(p+".state.after", x.State.After == "") {
		x.State.After = RefStart
	}
	if x.Sequence != nil && unset(p+".sequence.after", x.Sequence.After == "") {
		x.Sequence.After = RefStart
	}
	if x.Errors != nil {
		window(&x.Errors.Window, p+".errors.window")
	}
	if x.Latency != nil {
		window(&x.Latency.Window, p+".latency.window")
	}
	if x.ErrorRate != nil {
		window(&x.ErrorRate.Window, p+".error-rate.window")
	}
	if x.Throughput != nil {
		window(&x.Throughput.Window, p+".throughput.window")
	}
	if x.SteadyState != nil {
		st := x.SteadyState
		if unset(p+".steady-state.settle", st.Settle == 0) {
			st.Settle = DefaultSettle
		}
		if unset(p+".steady-state.min-requests", st.MinRequests == 0) {
			st.MinRequests = DefaultMinRequests
		}
	}
}
