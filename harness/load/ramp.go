package load

import (
	"fmt"
	"time"
)

// A RampPacer moves the rate linearly from From to To hits per second over
// Over, then holds To: the shape of "how far can it go" capacity tests.
// Hit n is due where the integral of the rate reaches n, the root of a
// quadratic; a ramp from zero sends its first hit at once.
type RampPacer struct {
	From, To float64
	Over     time.Duration
}

var _ Schedule = RampPacer{}

// String is "ramp 10..100/s over 30s".
func (p RampPacer) String() string {
	return fmt.Sprintf("ramp %s..%s/s over %v", rate(p.From), rate(p.To), p.Over)
}

// segs is the ramp and the hold after it (an array, so that pacing
// allocates nothing); a ramp over no time is the hold alone.
func (p RampPacer) segs() (w [2]seg, n int) {
	from, to := max(p.From, 0), max(p.To, 0)
	hold := seg{to, to, inf}
	if p.Over <= 0 {
		return [2]seg{hold}, 1
	}
	return [2]seg{{from, to, p.Over.Seconds()}, hold}, 2
}

func (p RampPacer) hits(t float64) float64 {
	w, n := p.segs()
	return walk(w[:n]).hits(t)
}

func (p RampPacer) due(x float64) float64 {
	w, n := p.segs()
	return walk(w[:n]).due(x)
}

// Due is where the integral of the rate reaches n.
func (p RampPacer) Due(n uint64) time.Duration { return dueOf(p, n) }

// Hits is the integral of the rate up to elapsed.
func (p RampPacer) Hits(elapsed time.Duration) float64 { return hitsOf(p, elapsed) }

// Pace waits until Due(hits).
func (p RampPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return paceOf(p, elapsed, hits)
}

// Rate is the rate on the ramp at elapsed, To after it.
func (p RampPacer) Rate(elapsed time.Duration) float64 {
	w, n := p.segs()
	return walk(w[:n]).rate(max(elapsed.Seconds(), 0))
}
