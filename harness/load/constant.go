package load

import (
	"fmt"
	"time"
)

// A ConstantPacer sends PerSecond hits per second, the first at once: hit
// n is due at n/PerSecond. Zero sends nothing.
type ConstantPacer struct {
	PerSecond float64
}

var _ Schedule = ConstantPacer{}

// String is "constant 100/s".
func (p ConstantPacer) String() string { return fmt.Sprintf("constant %s/s", rate(p.PerSecond)) }

func (p ConstantPacer) hits(t float64) float64 { return max(p.PerSecond, 0) * t }

func (p ConstantPacer) due(x float64) float64 {
	if p.PerSecond <= 0 {
		return inf
	}
	return x / p.PerSecond
}

// Due is n/PerSecond.
func (p ConstantPacer) Due(n uint64) time.Duration { return dueOf(p, n) }

// Hits is PerSecond × elapsed.
func (p ConstantPacer) Hits(elapsed time.Duration) float64 { return hitsOf(p, elapsed) }

// Pace waits until Due(hits).
func (p ConstantPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return paceOf(p, elapsed, hits)
}

// Rate is PerSecond, whatever the time.
func (p ConstantPacer) Rate(time.Duration) float64 { return max(p.PerSecond, 0) }
