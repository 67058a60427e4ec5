package load_test

import (
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keystorm/keystorm/harness/load"
)

// sequence is NewSequencePacer that fails the test on error.
func sequence(t *testing.T, phases ...load.Phase) load.SequencePacer {
	t.Helper()
	s, err := load.NewSequencePacer(phases...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSchedules(t *testing.T) {
	t.Parallel()
	type due struct {
		hit  uint64
		want time.Duration
	}
	tests := []struct {
		name     string
		schedule load.Schedule
		str      string
		over     time.Duration
		hits     float64 // the analytic integral over `over`
		slack    float64 // how far the count may stray from hits (Poisson)
		dues     []due
		rates    map[time.Duration]float64
	}{
		{
			// The first hit goes at once, then one every 10ms.
			name: "constant", schedule: load.ConstantPacer{PerSecond: 100}, str: "constant 100/s",
			over: 10 * time.Second, hits: 1000,
			dues:  []due{{0, 0}, {1, 10 * time.Millisecond}, {999, 9990 * time.Millisecond}},
			rates: map[time.Duration]float64{0: 100, time.Hour: 100},
		},
		{
			// A fractional rate: 2.5/s is a hit every 400ms.
			name: "constant fractional", schedule: load.ConstantPacer{PerSecond: 2.5}, str: "constant 2.5/s",
			over: 3 * time.Second, hits: 7.5,
			dues: []due{{3, 1200 * time.Millisecond}, {7, 2800 * time.Millisecond}},
		},
		{
			// Zero is no hits ever, not a division by zero.
			name: "constant zero", schedule: load.ConstantPacer{}, str: "constant 0/s",
			over: 10 * time.Second, hits: 0,
			dues: []due{{0, load.Never}},
		},
		{
			// From zero: the integral 5t² reaches n at √(n/5).
			name: "ramp up from zero", schedule: load.RampPacer{To: 100, Over: 10 * time.Second}, str: "ramp 0..100/s over 10s",
			over: 10 * time.Second, hits: 500,
			dues:  []due{{0, 0}, {5, time.Second}, {20, 2 * time.Second}, {499, time.Duration(math.Sqrt(499.0/5) * 1e9)}},
			rates: map[time.Duration]float64{0: 0, 5 * time.Second: 50, time.Minute: 100},
		},
		{
			// The ramp, then its final rate held: 55/s × 30s + 100/s × 10s.
			name: "ramp then hold", schedule: load.RampPacer{From: 10, To: 100, Over: 30 * time.Second}, str: "ramp 10..100/s over 30s",
			over: 40 * time.Second, hits: 2650,
			dues: []due{{0, 0}, {1650, 30 * time.Second}, {1750, 31 * time.Second}},
		},
		{
			// Down to zero: the 500 hits of the ramp and no more.
			name: "ramp down to zero", schedule: load.RampPacer{From: 100, Over: 10 * time.Second}, str: "ramp 100..0/s over 10s",
			over: 20 * time.Second, hits: 500,
			dues: []due{{0, 0}, {499, time.Duration((10 - math.Sqrt(100-2*499.0/10)) * 1e9)}, {500, load.Never}},
		},
		{
			// A burst of 400/s for 1s, then 50/s for 4s: 600 a period.
			name: "square", schedule: load.SquarePacer{Low: 50, High: 400, Period: 5 * time.Second, Duty: 0.2}, str: "square 50..400/s period 5s duty 0.2",
			over: 10 * time.Second, hits: 1200,
			dues: []due{{0, 0}, {399, 3990 * time.Millisecond / 4}, {400, time.Second}, {600, 5 * time.Second}, {1000, 6 * time.Second}},
			rates: map[time.Duration]float64{
				0: 400, 999 * time.Millisecond: 400, time.Second: 50, 5 * time.Second: 400, 6 * time.Second: 50,
			},
		},
		{
			// Zero between bursts: hit 5 is owed as the first burst ends and
			// waits for the next one rather than going out in the pause.
			name: "square with silent lulls", schedule: load.SquarePacer{High: 10, Period: time.Second, Duty: 0.5}, str: "square 0..10/s period 1s duty 0.5",
			over: 2500 * time.Millisecond, hits: 15,
			dues: []due{{4, 400 * time.Millisecond}, {5, time.Second}, {10, 2 * time.Second}, {14, 2400 * time.Millisecond}},
		},
		{
			// Base for the first 10s, then a 1s spike every 10s:
			// 100 + 2 × (100 + 90).
			name: "spike", schedule: load.SpikePacer{Base: 10, Peak: 100, Every: 10 * time.Second, Width: time.Second}, str: "spike 10..100/s every 10s width 1s",
			over: 30 * time.Second, hits: 480,
			dues:  []due{{0, 0}, {99, 9900 * time.Millisecond}, {100, 10 * time.Second}, {150, 10500 * time.Millisecond}, {200, 11 * time.Second}, {290, 20 * time.Second}},
			rates: map[time.Duration]float64{0: 10, 10 * time.Second: 100, 11 * time.Second: 10, 20*time.Second + time.Millisecond: 100},
		},
		{
			// Spikes over silence.
			name: "spike from zero", schedule: load.SpikePacer{Peak: 50, Every: 2 * time.Second, Width: 200 * time.Millisecond}, str: "spike 0..50/s every 2s width 200ms",
			over: 5 * time.Second, hits: 20,
			dues: []due{{0, 2 * time.Second}, {9, 2180 * time.Millisecond}, {10, 4 * time.Second}},
		},
		{
			// The seeded process: about Mean × t arrivals, the count exact
			// for the seed.
			name: "poisson", schedule: load.NewPoissonPacer(100, 42), str: "poisson 100/s seed 42",
			over: 10 * time.Second, hits: 1000, slack: 150,
			rates: map[time.Duration]float64{0: 100},
		},
		{
			// A zero mean sends nothing.
			name: "poisson zero", schedule: load.NewPoissonPacer(0, 42), str: "poisson 0/s seed 42",
			over: 10 * time.Second, hits: 0,
			dues: []due{{0, load.Never}},
		},
		{
			// 200 hits, a silent second, then a ramp to 50/s held.
			name: "sequence with a pause", str: "sequence [constant 100/s for 2s, constant 0/s for 1s, ramp 0..50/s over 2s]",
			schedule: sequence(t,
				load.Phase{Schedule: load.ConstantPacer{PerSecond: 100}, For: 2 * time.Second},
				load.Phase{Schedule: load.ConstantPacer{}, For: time.Second},
				load.Phase{Schedule: load.RampPacer{To: 50, Over: 2 * time.Second}},
			),
			over: 6 * time.Second, hits: 300,
			dues:  []due{{199, 1990 * time.Millisecond}, {200, 3 * time.Second}, {250, 5 * time.Second}, {251, 5020 * time.Millisecond}},
			rates: map[time.Duration]float64{0: 100, 2500 * time.Millisecond: 0, 4 * time.Second: 25, 10 * time.Second: 50},
		},
		{
			// The half hit owed at the end of the first phase carries over:
			// the sequence is exactly the constant it is made of.
			name: "sequence carries fractions", str: "sequence [constant 2.5/s for 1s, constant 2.5/s]",
			schedule: sequence(t,
				load.Phase{Schedule: load.ConstantPacer{PerSecond: 2.5}, For: time.Second},
				load.Phase{Schedule: load.ConstantPacer{PerSecond: 2.5}},
			),
			over: 3 * time.Second, hits: 7.5,
			dues: []due{{2, 800 * time.Millisecond}, {3, 1200 * time.Millisecond}, {7, 2800 * time.Millisecond}},
		},
		{
			// A Poisson phase holds exactly its seeded arrivals.
			name: "sequence with poisson", str: "sequence [poisson 50/s seed 3 for 2s, constant 100/s]",
			schedule: sequence(t,
				load.Phase{Schedule: load.NewPoissonPacer(50, 3), For: 2 * time.Second},
				load.Phase{Schedule: load.ConstantPacer{PerSecond: 100}},
			),
			over: 3 * time.Second, hits: 200, slack: 40,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tt.schedule
			if got := s.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			for _, d := range tt.dues {
				if got := s.Due(d.hit); absDuration(got-d.want) > time.Microsecond {
					t.Errorf("Due(%d) = %v, want %v", d.hit, got, d.want)
				}
			}
			for at, want := range tt.rates {
				if got := s.Rate(at); math.Abs(got-want) > 1e-9 {
					t.Errorf("Rate(%v) = %g, want %g", at, got, want)
				}
			}
			hits := s.Hits(tt.over)
			if math.Abs(hits-tt.hits) > tt.slack+1e-6 {
				t.Errorf("Hits(%v) = %g, want %g", tt.over, hits, tt.hits)
			}
			checkConsistent(t, s, tt.over)
		})
	}
}

// checkConsistent checks what every Schedule promises over [0, over):
// Due is nondecreasing; the hits due before `over` are Hits(over) rounded
// up; Hits at a hit's Due counts it; Pace waits exactly until Due.
func checkConsistent(t *testing.T, s load.Schedule, over time.Duration) {
	t.Helper()
	var count uint64
	prev := time.Duration(0)
	for n := uint64(0); ; n++ {
		due := s.Due(n)
		if due < prev {
			t.Fatalf("Due(%d) = %v, before Due(%d) = %v", n, due, n-1, prev)
		}
		prev = due
		if due >= over {
			count = n
			break
		}
		// H(Due(n)) is n for a continuous rate, n+1 for arrivals.
		if h := s.Hits(due); h < float64(n)-1e-6 || h > float64(n)+1+1e-6 {
			t.Fatalf("Hits(Due(%d) = %v) = %g, want %d to %d", n, due, h, n, n+1)
		}
	}
	if want := math.Ceil(s.Hits(over) - 1e-9); float64(count) != want {
		t.Errorf("%d hits due before %v, want Hits(%v) = %g rounded up", count, over, over, s.Hits(over))
	}
	for _, n := range []uint64{0, count / 2, count} {
		due := s.Due(n)
		for _, elapsed := range []time.Duration{0, due / 2, due, due + time.Millisecond} {
			wait, stop := s.Pace(elapsed, n)
			switch {
			case due == load.Never:
				if !stop {
					t.Errorf("Pace(%v, %d) = %v, %v; want stop: the hit never comes", elapsed, n, wait, stop)
				}
			case stop || wait != max(due-elapsed, 0):
				t.Errorf("Pace(%v, %d) = %v, %v; want %v, false", elapsed, n, wait, stop, max(due-elapsed, 0))
			}
		}
	}
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// TestPoissonMemo checks that the memo's answers are the arrivals
// themselves: as a literal pacer (no memo) computes them, in any order, a
// forgotten one included, and from many goroutines at once.
func TestPoissonMemo(t *testing.T) {
	t.Parallel()
	memo := load.NewPoissonPacer(1000, 7)
	plain := load.PoissonPacer{Mean: 1000, Seed: 7}
	hits := []uint64{0, 1, 2, 4095, 4096, 10000, 9000, 0, 10001, 5000}
	for _, n := range hits {
		if got, want := memo.Due(n), plain.Due(n); got != want {
			t.Errorf("Due(%d) = %v with the memo, %v without", n, got, want)
		}
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for n := uint64(g); n < 20000; n += 97 {
				if got, want := memo.Due(n), plain.Due(n); got != want {
					t.Errorf("Due(%d) = %v with the memo, %v without", n, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	if other := load.NewPoissonPacer(1000, 8); other.Due(10) == memo.Due(10) {
		t.Errorf("seeds 7 and 8 give hit 10 the same time %v", memo.Due(10))
	}
}

func TestNewSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		shape load.Shape
		want  string // String() of the schedule, or a part of the error
		fails bool
	}{
		{name: "Constant - the rate", shape: load.Shape{Constant: &load.Constant{Rate: 100}}, want: "constant 100/s"},
		{name: "Ramp without for - over the whole load", shape: load.Shape{Ramp: &load.Ramp{From: 1, To: 10}}, want: "ramp 1..10/s over 1m0s"},
		{name: "Ramp with for - over its for", shape: load.Shape{Ramp: &load.Ramp{To: 10, For: 20 * time.Second}}, want: "ramp 0..10/s over 20s"},
		{name: "Square - as given", shape: load.Shape{Square: &load.Square{Low: 50, High: 400, Period: 5 * time.Second, Duty: 0.2}}, want: "square 50..400/s period 5s duty 0.2"},
		{name: "Spike - as given", shape: load.Shape{Spike: &load.Spike{Base: 5, Peak: 50, Every: 10 * time.Second, Width: time.Second}}, want: "spike 5..50/s every 10s width 1s"},
		{name: "Poisson - seeded with the run", shape: load.Shape{Poisson: &load.Poisson{Rate: 20}}, want: "poisson 20/s seed 9"},
		{
			name: "Sequence - a last ramp without for ramps over the rest",
			shape: load.Shape{Sequence: []load.Shape{
				{Constant: &load.Constant{Rate: 10, For: 20 * time.Second}},
				{Ramp: &load.Ramp{From: 10, To: 100}},
			}},
			want: "sequence [constant 10/s for 20s, ramp 10..100/s over 40s]",
		},
		{name: "Nothing set - fail", shape: load.Shape{}, want: "none of", fails: true},
		{name: "Two set - fail", shape: load.Shape{Constant: &load.Constant{Rate: 1}, Poisson: &load.Poisson{Rate: 1}}, want: "only one", fails: true},
		{name: "Negative rate - fail", shape: load.Shape{Constant: &load.Constant{Rate: -1}}, want: "constant.rate", fails: true},
		{name: "Infinite rate - fail", shape: load.Shape{Poisson: &load.Poisson{Rate: math.Inf(1)}}, want: "poisson.rate", fails: true},
		{name: "Square without period - fail", shape: load.Shape{Square: &load.Square{High: 1, Duty: 0.5}}, want: "square.period", fails: true},
		{name: "Square duty above 1 - fail", shape: load.Shape{Square: &load.Square{High: 1, Period: time.Second, Duty: 1.5}}, want: "square.duty", fails: true},
		{name: "Spike wider than its period - fail", shape: load.Shape{Spike: &load.Spike{Peak: 1, Every: time.Second, Width: 2 * time.Second}}, want: "spike.width", fails: true},
		{name: "Empty sequence - fail", shape: load.Shape{Sequence: []load.Shape{}}, want: "no phases", fails: true},
		{
			name: "Phase without for before the last - fail",
			shape: load.Shape{Sequence: []load.Shape{
				{Constant: &load.Constant{Rate: 10}},
				{Constant: &load.Constant{Rate: 20}},
			}},
			want: "sequence[0]", fails: true,
		},
		{
			name:  "Nested sequence - fail",
			shape: load.Shape{Sequence: []load.Shape{{Sequence: []load.Shape{{Constant: &load.Constant{Rate: 1}}}}}},
			want:  "cannot hold a sequence", fails: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := load.NewSchedule(tt.shape, time.Minute, 9)
			switch {
			case tt.fails && err == nil:
				t.Fatalf("NewSchedule = %s, want an error with %q", s, tt.want)
			case tt.fails && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("NewSchedule: %v, want an error with %q", err, tt.want)
			case !tt.fails && err != nil:
				t.Fatalf("NewSchedule: %v", err)
			case !tt.fails && s.String() != tt.want:
				t.Fatalf("NewSchedule = %q, want %q", s, tt.want)
			}
		})
	}
	t.Run("Poisson phases - each its own stream", func(t *testing.T) {
		t.Parallel()
		s, err := load.NewSchedule(load.Shape{Sequence: []load.Shape{
			{Poisson: &load.Poisson{Rate: 100, For: time.Second}},
			{Poisson: &load.Poisson{Rate: 100}},
		}}, 2*time.Second, 9)
		if err != nil {
			t.Fatal(err)
		}
		n := uint64(math.Ceil(s.Hits(time.Second)))
		if first, second := s.Due(0), s.Due(n)-time.Second; first == second {
			t.Errorf("both phases' first arrival is %v after their start", first)
		}
	})
}
