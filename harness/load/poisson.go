package load

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// A PoissonPacer sends hits at the arrivals of a Poisson process with a
// mean of Mean per second: independent exponential gaps, the arrivals of
// many independent clients. The gaps come from a PCG seeded with Seed, so
// hit n is due at the same time in every run with that seed (the first
// arrival comes after one gap, not at once).
//
// Arrivals are generated lazily, in order, and NewPoissonPacer memoises
// the last poissonWindow of them: vegeta asks for hits in increasing
// order, so memory stays bounded however long the run, and a hit already
// forgotten is found again by generating from the start. A PoissonPacer
// made as a literal has no memo and generates from the start every time.
type PoissonPacer struct {
	Mean float64 // hits per second
	Seed int64

	memo *arrivals
}

var _ Schedule = PoissonPacer{}

// NewPoissonPacer returns a PoissonPacer with its memo; copies share it.
func NewPoissonPacer(mean float64, seed int64) PoissonPacer {
	p := PoissonPacer{Mean: mean, Seed: seed}
	if mean > 0 {
		p.memo = &arrivals{mean: mean, seed: seed}
	}
	return p
}

// String is "poisson 100/s seed 42".
func (p PoissonPacer) String() string {
	return fmt.Sprintf("poisson %s/s seed %d", rate(p.Mean), p.Seed)
}

// poissonStream is the PCG stream of arrival gaps (the seed picks the
// state): a constant, so that the seed alone decides the arrivals.
const poissonStream = 0x706f6973736f6e // "poisson"

// poissonWindow is how many recent arrivals the memo keeps: enough for the
// hits in flight between vegeta's pacer and the transport asking.
const poissonWindow = 4096

func newGaps(seed int64) *rand.Rand { return rand.New(rand.NewPCG(uint64(seed), poissonStream)) }

// arrivals is the memo: a window of the latest arrival times and the
// generator positioned after them.
type arrivals struct {
	mean float64
	seed int64

	mu     sync.Mutex
	gaps   *rand.Rand
	next   uint64  // arrivals generated so far
	last   float64 // the time of arrival next-1
	window [poissonWindow]float64
}

// at is the time of arrival n, in seconds.
func (a *arrivals) at(n uint64) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gaps == nil || n+poissonWindow < a.next {
		a.gaps, a.next, a.last = newGaps(a.seed), 0, 0
	}
	for a.next <= n {
		a.last += a.gaps.ExpFloat64() / a.mean
		a.window[a.next%poissonWindow] = a.last
		a.next++
	}
	return a.window[n%poissonWindow]
}

// hits counts the arrivals in [0, t] with a generator of its own, leaving
// the memo where the pacer needs it.
func (p PoissonPacer) hits(t float64) float64 {
	if p.Mean <= 0 || t <= 0 {
		return 0
	}
	if math.IsInf(t, 1) {
		return inf
	}
	gaps, at, n := newGaps(p.Seed), 0.0, 0.0
	for {
		if at += gaps.ExpFloat64() / p.Mean; at > t {
			return n
		}
		n++
	}
}

// due is arrival floor(x): H counts arrivals, so it exceeds x at the
// arrival that makes floor(x)+1 of them.
func (p PoissonPacer) due(x float64) float64 {
	if p.Mean <= 0 {
		return inf
	}
	n := uint64(math.Floor(max(x, 0)))
	if p.memo != nil {
		return p.memo.at(n)
	}
	gaps, at := newGaps(p.Seed), 0.0
	for range n + 1 {
		at += gaps.ExpFloat64() / p.Mean
	}
	return at
}

// Due is the time of the (n+1)th seeded arrival.
func (p PoissonPacer) Due(n uint64) time.Duration { return dueOf(p, n) }

// Hits is the number of seeded arrivals by elapsed (not Mean × elapsed:
// the summary's planned count must be what the schedule really sends). It
// generates them afresh, so it costs Mean × elapsed draws.
func (p PoissonPacer) Hits(elapsed time.Duration) float64 { return hitsOf(p, elapsed) }

// Pace waits until Due(hits).
func (p PoissonPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return paceOf(p, elapsed, hits)
}

// Rate is the mean rate.
func (p PoissonPacer) Rate(time.Duration) float64 { return max(p.Mean, 0) }
