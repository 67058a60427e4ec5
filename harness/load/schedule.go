package load

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// A Schedule is a vegeta.Pacer that can also say when each hit is due.
// vegeta only asks a Pacer how long to wait before the next hit; latency
// measured from the intended send time (so that queueing in the harness is
// never hidden) needs the intended time of every hit, after the fact, and
// the run's summary needs how many hits were planned.
type Schedule interface {
	vegeta.Pacer
	// Due is the intended send time of hit n (0-based) since the attack
	// began, or Never. It is nondecreasing in n, and Pace waits until it:
	// Pace(elapsed, n) is Due(n)-elapsed, or 0 when hit n is overdue, so
	// that a generator that fell behind catches up (an open model).
	Due(hit uint64) time.Duration
	// Hits is how many hits are due by elapsed: the integral of the rate
	// for the deterministic shapes, the seeded arrivals for Poisson. The
	// hits sent in [0, d) are Hits(d) rounded up.
	Hits(elapsed time.Duration) float64
	String() string
}

// Never is the Due of a hit that never comes (the rate stays at zero).
const Never = time.Duration(math.MaxInt64)

// A curve is a schedule in continuous form, in seconds: every pacer here
// is one, which is what lets a SequencePacer carry the fraction of a hit
// owed at the end of one phase into the next (and so keep the count of a
// whole sequence within one of its integral).
type curve interface {
	// hits is H(t), the hits due in [0, t]: nondecreasing, with H(0) = 0.
	hits(t float64) float64
	// due is inf{t : H(t) > x}, +Inf if H never exceeds x. Hit n is due at
	// due(n): the first instant at which more than n hits are owed. The
	// strict inequality is what keeps zero-rate stretches empty: a hit
	// owed exactly at the start of a pause waits for the pause to end.
	due(x float64) float64
}

var inf = math.Inf(1)

// duration converts seconds to a Duration, rounding to the nanosecond;
// +Inf (and anything past MaxInt64 nanoseconds) is Never.
func duration(s float64) time.Duration {
	switch {
	case math.IsNaN(s) || s*1e9 >= math.MaxInt64:
		return Never
	case s <= 0:
		return 0
	}
	return time.Duration(math.Round(s * 1e9))
}

// seconds converts a Duration to seconds, Never to +Inf.
func seconds(d time.Duration) float64 {
	if d == Never {
		return inf
	}
	return d.Seconds()
}

// dueOf, hitsOf and paceOf implement a Schedule's methods from its curve.
// They are generic so that a pacer value is not boxed into an interface
// (an allocation) on every hit.
func dueOf[C curve](c C, n uint64) time.Duration { return duration(c.due(float64(n))) }

func hitsOf[C curve](c C, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return c.hits(seconds(elapsed))
}

func paceOf[S Schedule](s S, elapsed time.Duration, hits uint64) (time.Duration, bool) {
	due := s.Due(hits)
	switch {
	case due == Never:
		return 0, true
	case due <= elapsed:
		return 0, false
	}
	return due - elapsed, false
}

// curveOf is s as a curve. A Schedule from elsewhere has only whole hits:
// its H is taken as Hits and hit x as Due(floor(x)).
func curveOf(s Schedule) curve {
	if c, ok := s.(curve); ok {
		return c
	}
	return foreign{s}
}

type foreign struct{ s Schedule }

func (f foreign) hits(t float64) float64 { return f.s.Hits(duration(t)) }
func (f foreign) due(x float64) float64  { return seconds(f.s.Due(uint64(math.Floor(x)))) }

// A seg is d seconds in which the rate moves linearly from r0 to r1 hits
// per second; d may be +Inf only when r0 == r1. The shapes are made of
// segs, so their counts and due times are closed forms.
type seg struct{ r0, r1, d float64 }

func (s seg) total() float64 {
	if s.r0 == s.r1 {
		if s.r0 == 0 {
			return 0 // not 0*Inf
		}
		return s.r0 * s.d
	}
	return (s.r0 + s.r1) / 2 * s.d
}

// hits is the count due in [0, t], for 0 <= t <= d.
func (s seg) hits(t float64) float64 {
	if s.r0 == s.r1 {
		return s.r0 * t
	}
	return s.r0*t + (s.r1-s.r0)*t*t/(2*s.d)
}

func (s seg) rate(t float64) float64 {
	if s.r0 == s.r1 {
		return s.r0
	}
	return s.r0 + (s.r1-s.r0)*t/s.d
}

// at is the offset at which the count reaches x, for 0 <= x < total():
// the root of r0 t + (r1-r0)/(2d) t² = x, written 2x/(r0+√(r0²+4ax)) so that
// it stays exact when the ramp is flat or starts from zero.
func (s seg) at(x float64) float64 {
	if x <= 0 {
		return 0
	}
	if s.r0 == s.r1 {
		return x / s.r0
	}
	a := (s.r1 - s.r0) / (2 * s.d)
	t := 2 * x / (s.r0 + math.Sqrt(max(s.r0*s.r0+4*a*x, 0)))
	return min(t, s.d)
}

// walk is the curve of segs played once, in order; the last one usually
// lasts forever.
type walk []seg

func (w walk) hits(t float64) float64 {
	h := 0.0
	for _, s := range w {
		if t <= s.d {
			return h + s.hits(t)
		}
		h += s.total()
		t -= s.d
	}
	return h
}

func (w walk) due(x float64) float64 {
	off := 0.0
	for _, s := range w {
		tot := s.total()
		if x < tot {
			return off + s.at(x)
		}
		x -= tot
		off += s.d
	}
	return inf
}

func (w walk) rate(t float64) float64 {
	for _, s := range w {
		if t < s.d {
			return s.rate(t)
		}
		t -= s.d
	}
	return 0
}

// cycle is the curve of segs repeated forever: whole periods, then the
// remainder within one.
type cycle []seg

func (c cycle) period() float64 {
	p := 0.0
	for _, s := range c {
		p += s.d
	}
	return p
}

func (c cycle) perPeriod() float64 {
	h := 0.0
	for _, s := range c {
		h += s.total()
	}
	return h
}

func (c cycle) hits(t float64) float64 {
	T := c.period()
	k := math.Floor(t / T)
	return k*c.perPeriod() + walk(c).hits(t-k*T)
}

func (c cycle) due(x float64) float64 {
	P := c.perPeriod()
	if P <= 0 {
		return inf
	}
	k := math.Floor(x / P)
	T := c.period()
	if t := walk(c).due(x - k*P); !math.IsInf(t, 1) {
		return k*T + t
	}
	// Rounding put x at the very end of period k: it is due as the next
	// period starts.
	return (k + 1) * T
}

func (c cycle) rate(t float64) float64 {
	T := c.period()
	return walk(c).rate(t - math.Floor(t/T)*T)
}

// rate formats a rate for String: "100", "0.5".
func rate(r float64) string { return strconv.FormatFloat(r, 'g', -1, 64) }

// NewSchedule makes the Schedule of a scenario's load shape for a load of
// the given duration: duration is what a ramp or the last phase of a
// sequence without a `for` lasts. seed seeds Poisson arrivals (each phase
// of a sequence its own stream), so the same seed plans the same hits.
func NewSchedule(shape Shape, duration time.Duration, seed int64) (Schedule, error) {
	if duration <= 0 {
		return nil, fmt.Errorf("load shape: the load's duration must be positive, got %v", duration)
	}
	s, err := newSchedule(shape, duration, seed)
	if err != nil {
		return nil, fmt.Errorf("load shape: %w", err)
	}
	return s, nil
}

// newSchedule makes one shape that has rest of the load left to run.
func newSchedule(sh Shape, rest time.Duration, seed int64) (Schedule, error) {
	var set []string
	for name, isSet := range map[string]bool{
		"constant": sh.Constant != nil, "ramp": sh.Ramp != nil, "square": sh.Square != nil,
		"spike": sh.Spike != nil, "poisson": sh.Poisson != nil, "sequence": sh.Sequence != nil,
	} {
		if isSet {
			set = append(set, name)
		}
	}
	switch len(set) {
	case 0:
		return nil, errors.New("none of constant, ramp, square, spike, poisson or sequence is set")
	case 1:
	default:
		return nil, fmt.Errorf("only one of constant, ramp, square, spike, poisson or sequence may be set, got %d", len(set))
	}
	switch {
	case sh.Constant != nil:
		if err := checkRate("constant.rate", sh.Constant.Rate); err != nil {
			return nil, err
		}
		return ConstantPacer{PerSecond: sh.Constant.Rate}, nil
	case sh.Ramp != nil:
		r := sh.Ramp
		if err := errors.Join(checkRate("ramp.from", r.From), checkRate("ramp.to", r.To)); err != nil {
			return nil, err
		}
		over := r.For
		if over <= 0 {
			over = max(rest, 0)
		}
		return RampPacer{From: r.From, To: r.To, Over: over}, nil
	case sh.Square != nil:
		q := sh.Square
		err := errors.Join(checkRate("square.low", q.Low), checkRate("square.high", q.High))
		if q.Period <= 0 {
			err = errors.Join(err, fmt.Errorf("square.period must be positive, got %v", q.Period))
		}
		if !(q.Duty >= 0 && q.Duty <= 1) {
			err = errors.Join(err, fmt.Errorf("square.duty must be between 0 and 1, got %g", q.Duty))
		}
		if err != nil {
			return nil, err
		}
		return SquarePacer{Low: q.Low, High: q.High, Period: q.Period, Duty: q.Duty}, nil
	case sh.Spike != nil:
		p := sh.Spike
		err := errors.Join(checkRate("spike.base", p.Base), checkRate("spike.peak", p.Peak))
		if p.Every <= 0 {
			err = errors.Join(err, fmt.Errorf("spike.every must be positive, got %v", p.Every))
		}
		if p.Width <= 0 || p.Width > p.Every {
			err = errors.Join(err, fmt.Errorf("spike.width must be positive and at most spike.every (%v), got %v", p.Every, p.Width))
		}
		if err != nil {
			return nil, err
		}
		return SpikePacer{Base: p.Base, Peak: p.Peak, Every: p.Every, Width: p.Width}, nil
	case sh.Poisson != nil:
		if err := checkRate("poisson.rate", sh.Poisson.Rate); err != nil {
			return nil, err
		}
		return NewPoissonPacer(sh.Poisson.Rate, seed), nil
	}
	return newSequence(sh.Sequence, rest, seed)
}

// newSequence makes a sequence's phases: every phase but the last needs
// its `for`; the last runs to the end of the load.
func newSequence(shapes []Shape, rest time.Duration, seed int64) (Schedule, error) {
	if len(shapes) == 0 {
		return nil, errors.New("sequence has no phases")
	}
	phases := make([]Phase, len(shapes))
	var start time.Duration
	for i, sh := range shapes {
		last := i == len(shapes)-1
		if sh.Sequence != nil {
			return nil, fmt.Errorf("sequence[%d]: a sequence cannot hold a sequence", i)
		}
		f := phaseFor(sh)
		if f < 0 || (f == 0 && !last) {
			return nil, fmt.Errorf("sequence[%d]: every phase but the last needs a positive for, got %v", i, f)
		}
		s, err := newSchedule(sh, rest-start, subSeed(seed, i))
		if err != nil {
			return nil, fmt.Errorf("sequence[%d]: %w", i, err)
		}
		phases[i] = Phase{Schedule: s, For: f}
		start += f
	}
	return NewSequencePacer(phases...)
}

// phaseFor is the `for` of a sequence phase.
func phaseFor(sh Shape) time.Duration {
	switch {
	case sh.Constant != nil:
		return sh.Constant.For
	case sh.Ramp != nil:
		return sh.Ramp.For
	case sh.Square != nil:
		return sh.Square.For
	case sh.Spike != nil:
		return sh.Spike.For
	case sh.Poisson != nil:
		return sh.Poisson.For
	}
	return 0
}

func checkRate(field string, r float64) error {
	if !(r >= 0) || math.IsInf(r, 1) {
		return fmt.Errorf("%s must be a finite rate of at least 0, got %g", field, r)
	}
	return nil
}

// subSeed derives phase i's seed from the run's (splitmix64), so that two
// Poisson phases of one sequence do not repeat each other's gaps.
func subSeed(seed int64, i int) int64 {
	return int64(splitmix(uint64(seed) + uint64(i+1)*0x9e3779b97f4a7c15))
}

// splitmix is the splitmix64 finaliser: a cheap, well-mixed hash of x.
func splitmix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
