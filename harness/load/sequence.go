package load

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// A Phase is one shape of a SequencePacer, played for For.
type Phase struct {
	Schedule Schedule
	// For is how long the phase lasts; the last phase lasts until the
	// load ends, whatever its For.
	For time.Duration
}

// A SequencePacer plays its phases one after the other, each from its own
// start (a phase's Due(0) is its start), the last until the load ends:
// warm up, hold, burst, recover. Hit n is due in the phase that holds it,
// at its offset into that phase. The hits of each phase are its integral,
// and the fraction of a hit owed at the end of one phase carries into the
// next, so the whole sequence sends its integral to within one.
type SequencePacer struct {
	Phases []Phase

	plan *plan
}

var _ Schedule = SequencePacer{}

// plan is where each phase starts and how many hits are due before it.
type plan struct {
	start, before []float64
}

// NewSequencePacer checks the phases and plans them once: counting the hits
// of a Poisson phase means generating its arrivals.
func NewSequencePacer(phases ...Phase) (SequencePacer, error) {
	if len(phases) == 0 {
		return SequencePacer{}, errors.New("sequence has no phases")
	}
	for i, ph := range phases {
		if ph.Schedule == nil {
			return SequencePacer{}, fmt.Errorf("sequence phase %d has no schedule", i)
		}
		if ph.For <= 0 && i < len(phases)-1 {
			return SequencePacer{}, fmt.Errorf("sequence phase %d (%s) needs a positive duration, got %v", i, ph.Schedule, ph.For)
		}
	}
	p := SequencePacer{Phases: phases}
	pl := p.makePlan()
	p.plan = &pl
	return p, nil
}

func (p SequencePacer) makePlan() plan {
	pl := plan{start: make([]float64, len(p.Phases)), before: make([]float64, len(p.Phases))}
	var start, before float64
	for i, ph := range p.Phases {
		pl.start[i], pl.before[i] = start, before
		d := ph.For.Seconds()
		before += curveOf(ph.Schedule).hits(d)
		start += d
	}
	return pl
}

func (p SequencePacer) getPlan() plan {
	if p.plan != nil {
		return *p.plan
	}
	return p.makePlan()
}

// String is "sequence [constant 100/s for 30s, ramp 100..400/s over 1m0s
// for 1m0s, constant 400/s]".
func (p SequencePacer) String() string {
	parts := make([]string, len(p.Phases))
	for i, ph := range p.Phases {
		parts[i] = fmt.Sprint(ph.Schedule)
		if i < len(p.Phases)-1 {
			parts[i] += fmt.Sprintf(" for %v", ph.For)
		}
	}
	return "sequence [" + strings.Join(parts, ", ") + "]"
}

// phase is the index of the phase running at t seconds.
func (p SequencePacer) phase(pl plan, t float64) int {
	i := 0
	for i+1 < len(p.Phases) && t >= pl.start[i+1] {
		i++
	}
	return i
}

func (p SequencePacer) hits(t float64) float64 {
	if len(p.Phases) == 0 {
		return 0
	}
	pl := p.getPlan()
	i := p.phase(pl, t)
	return pl.before[i] + curveOf(p.Phases[i].Schedule).hits(t-pl.start[i])
}

func (p SequencePacer) due(x float64) float64 {
	pl := p.getPlan()
	for i, ph := range p.Phases {
		last := i == len(p.Phases)-1
		if !last && x >= pl.before[i+1] {
			continue
		}
		t := curveOf(ph.Schedule).due(x - pl.before[i])
		if !last {
			// Rounding may put the hit a hair past the phase's end.
			t = min(t, ph.For.Seconds())
		}
		return pl.start[i] + t
	}
	return inf
}

// Due is the start of the phase holding hit n plus its offset there.
func (p SequencePacer) Due(n uint64) time.Duration { return dueOf(p, n) }

// Hits is the hits of the phases before elapsed plus those due so far in
// the current one.
func (p SequencePacer) Hits(elapsed time.Duration) float64 { return hitsOf(p, elapsed) }

// Pace waits until Due(hits).
func (p SequencePacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return paceOf(p, elapsed, hits)
}

// Rate is the current phase's rate.
func (p SequencePacer) Rate(elapsed time.Duration) float64 {
	if len(p.Phases) == 0 {
		return 0
	}
	pl := p.getPlan()
	i := p.phase(pl, max(elapsed.Seconds(), 0))
	return p.Phases[i].Schedule.Rate(elapsed - duration(pl.start[i]))
}
