package load

import (
	"fmt"
	"time"
)

// A SpikePacer holds Base hits per second and jumps to Peak for Width
// every Every: the first spike comes after one Every at Base, so that the
// run has a baseline to compare the spike with, and each next one Every
// after the start of the last.
type SpikePacer struct {
	Base, Peak   float64
	Every, Width time.Duration
}

var _ Schedule = SpikePacer{}

// String is "spike 50..500/s every 30s width 2s".
func (p SpikePacer) String() string {
	return fmt.Sprintf("spike %s..%s/s every %v width %v", rate(p.Base), rate(p.Peak), p.Every, p.Width)
}

// shape is the baseline before the first spike, then the spikes' period
// (an array, so that pacing allocates nothing); ok is false for a zero
// Every, which is Base forever.
func (p SpikePacer) shape() (first seg, c [2]seg, ok bool) {
	base, peak := max(p.Base, 0), max(p.Peak, 0)
	if p.Every <= 0 {
		return seg{base, base, inf}, c, false
	}
	every, width := p.Every.Seconds(), min(max(p.Width, 0), p.Every).Seconds()
	return seg{base, base, every}, [2]seg{{peak, peak, width}, {base, base, every - width}}, true
}

func (p SpikePacer) hits(t float64) float64 {
	first, c, _ := p.shape()
	if t <= first.d {
		return first.hits(t)
	}
	return first.total() + cycle(c[:]).hits(t-first.d)
}

func (p SpikePacer) due(x float64) float64 {
	first, c, ok := p.shape()
	if tot := first.total(); x < tot {
		return first.at(x)
	} else if ok {
		return first.d + cycle(c[:]).due(x-tot)
	}
	return inf
}

// Due is the baseline, whole spike periods, and the offset of hit n into
// the next.
func (p SpikePacer) Due(n uint64) time.Duration { return dueOf(p, n) }

// Hits is the integral of the rate up to elapsed.
func (p SpikePacer) Hits(elapsed time.Duration) float64 { return hitsOf(p, elapsed) }

// Pace waits until Due(hits).
func (p SpikePacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return paceOf(p, elapsed, hits)
}

// Rate is Peak during a spike, Base otherwise.
func (p SpikePacer) Rate(elapsed time.Duration) float64 {
	first, c, _ := p.shape()
	t := max(elapsed.Seconds(), 0)
	if t < first.d {
		return first.r0
	}
	return cycle(c[:]).rate(t - first.d)
}
