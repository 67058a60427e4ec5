package load

import (
	"fmt"
	"time"
)

// A SquarePacer alternates bursts and lulls: each Period starts with
// Duty × Period at High hits per second, then the rest at Low. Bursts
// show how a store absorbs load it can only sustain for a while. Hit n is
// due after the whole periods that hold fewer than n hits, plus its offset
// into the next one.
type SquarePacer struct {
	Low, High float64
	Period    time.Duration
	Duty      float64 // the fraction of each period at High, 0 to 1
}

var _ Schedule = SquarePacer{}

// String is "square 50..400/s period 5s duty 0.2".
func (p SquarePacer) String() string {
	return fmt.Sprintf("square %s..%s/s period %v duty %s", rate(p.Low), rate(p.High), p.Period, rate(p.Duty))
}

// period is the period as two segments (an array, so that pacing
// allocates nothing); ok is false for a period of zero.
func (p SquarePacer) period() (c [2]seg, ok bool) {
	if p.Period <= 0 {
		return c, false
	}
	duty := min(max(p.Duty, 0), 1)
	T := p.Period.Seconds()
	lo, hi := max(p.Low, 0), max(p.High, 0)
	return [2]seg{{hi, hi, duty * T}, {lo, lo, (1 - duty) * T}}, true
}

func (p SquarePacer) hits(t float64) float64 {
	if c, ok := p.period(); ok {
		return cycle(c[:]).hits(t)
	}
	return 0
}

func (p SquarePacer) due(x float64) float64 {
	if c, ok := p.period(); ok {
		return cycle(c[:]).due(x)
	}
	return inf
}

// Due is whole periods plus the offset of hit n into the next.
func (p SquarePacer) Due(n uint64) time.Duration { return dueOf(p, n) }

// Hits is the integral of the rate up to elapsed.
func (p SquarePacer) Hits(elapsed time.Duration) float64 { return hitsOf(p, elapsed) }

// Pace waits until Due(hits).
func (p SquarePacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return paceOf(p, elapsed, hits)
}

// Rate is High in a burst, Low between.
func (p SquarePacer) Rate(elapsed time.Duration) float64 {
	if c, ok := p.period(); ok {
		return cycle(c[:]).rate(max(elapsed.Seconds(), 0))
	}
	return 0
}
