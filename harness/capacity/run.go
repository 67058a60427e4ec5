package capacity

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// sampleInterval is how often the pool's sessions and waiters are sampled
// for their peaks: fine enough to see a burst, cheap next to the work.
const sampleInterval = 10 * time.Millisecond

// Driver runs paced work against one Target. Build it with New.
type Driver struct {
	cfg Config
	tgt *Target
	w   *work // nil until Init
}

// New checks cfg and tgt and returns a driver for them. The driver does not
// own tgt: the caller closes it after the last Run.
func New(cfg Config, tgt *Target) (*Driver, error) {
	errs := cfg.Validate()
	switch {
	case tgt == nil:
		errs = append(errs, errors.New("target: required"))
	default:
		if tgt.Pool == nil {
			errs = append(errs, errors.New("target: no pool"))
		}
		if tgt.Module == nil {
			errs = append(errs, errors.New("target: no module"))
		}
		if len(tgt.Keys) == 0 {
			errs = append(errs, errors.New("target: no keys"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("capacity: %w", err)
	}
	return &Driver{cfg: cfg.withDefaults(), tgt: tgt}, nil
}

// Init seals, on every HSM of the pool, the ciphertexts Decrypt will open.
// Run calls it if it has not been called; call it first to keep setup out
// of whatever else is timed around Run.
func (d *Driver) Init(ctx context.Context) error {
	w, err := newWork(ctx, d.tgt, d.cfg.Payload)
	if err != nil {
		return fmt.Errorf("capacity: setup: %w", err)
	}
	d.w = w
	return nil
}

// Run schedules arrivals for the configured Duration, or until ctx is done,
// then waits for the work in flight and returns what it measured. Work in
// flight when ctx ends is cancelled (and counted Canceled). No goroutine of
// Run's outlives it. Each call is a fresh run over the same setup.
func (d *Driver) Run(ctx context.Context) (*Result, error) {
	if d.w == nil {
		if err := d.Init(ctx); err != nil {
			return nil, err
		}
	}
	r := &runner{d: d, col: newCollector(), inUse: map[string]*gauge{}}
	for id := range d.w.samples { // the HSMs setup found
		r.inUse[id] = &gauge{}
	}
	return r.run(ctx), nil
}

// Run is New, Init and Run in one.
func Run(ctx context.Context, cfg Config, tgt *Target) (*Result, error) {
	d, err := New(cfg, tgt)
	if err != nil {
		return nil, err
	}
	return d.Run(ctx)
}

// arrival is one scheduled piece of work.
type arrival struct {
	op       Op
	intended time.Time // when the schedule wanted it sent; latency counts from here
}

// runner is the state of one Run.
type runner struct {
	d   *Driver
	col *collector

	// Live counters, for Progress and the peaks.
	arrivals, late, ok, failed atomic.Uint64
	busy                       gauge             // workers with an arrival
	inUse                      map[string]*gauge // sessions held by the work, by HSM; the map is read-only

	// Written by the sampler only, read after it is done.
	peakWaiters int
}

func (r *runner) run(ctx context.Context) *Result {
	cfg := r.d.cfg
	// Unbuffered on purpose: a send succeeds only if a worker is idle at
	// that moment, which is exactly the test for a late arrival. A buffer
	// would queue arrivals and hide the wait from the latency.
	arrivals := make(chan arrival)

	var workers, ready sync.WaitGroup
	ready.Add(cfg.Workers)
	for range cfg.Workers {
		workers.Go(func() {
			ready.Done()
			r.work(ctx, arrivals)
		})
	}
	// Start the clock once every worker runs, or the first arrivals would
	// be counted late for want of workers still being started.
	ready.Wait()
	start := time.Now()
	stopSampler := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() { r.sample(start, stopSampler) })

	interrupted := r.dispatch(ctx, start, arrivals)
	window := time.Since(start)
	close(arrivals) // the workers finish what they hold and return
	workers.Wait()
	elapsed := time.Since(start)
	close(stopSampler)
	sampler.Wait()
	r.sampleOnce() // the sessions as the run left them

	if !interrupted {
		window = cfg.Duration
	}
	res := &Result{
		Pacer:           fmt.Sprint(cfg.Pacer),
		Duration:        cfg.Duration,
		Workers:         cfg.Workers,
		Payload:         cfg.Payload,
		Mix:             cfg.Mix.String(),
		Started:         start,
		Elapsed:         elapsed,
		Interrupted:     interrupted,
		Arrivals:        r.arrivals.Load(),
		Late:            r.late.Load(),
		PeakBusyWorkers: int(r.busy.peak.Load()),
	}
	if s := window.Seconds(); s > 0 {
		res.Offered = float64(res.Arrivals) / s
	}
	r.col.finish(res)
	if s := elapsed.Seconds(); s > 0 {
		res.Throughput = float64(res.Total.OK) / s
	}
	res.Pool = r.poolStats()
	return res
}

// dispatch schedules arrivals until the window closes or ctx is done; it
// reports whether ctx cut it short.
//
// The schedule is kept on the pacer's own timeline: each Pace call is given
// the previous arrival's intended offset rather than the wall clock, so when
// the dispatcher wakes late (GC, a busy core) the next intended times do
// not slide with it. Arrivals whose time has passed go out at once, their
// latency still counted from when they were due.
func (r *runner) dispatch(ctx context.Context, start time.Time, arrivals chan<- arrival) (interrupted bool) {
	cfg := r.d.cfg
	pick := newPicker(cfg.Mix)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var sched time.Duration // intended offset of the last arrival
	var hits uint64
	for {
		wait, stop := cfg.Pacer.Pace(sched, hits)
		if stop {
			return false
		}
		sched += max(wait, 0)
		if sched >= cfg.Duration {
			return false
		}
		intended := start.Add(sched)
		if !waitUntil(ctx, timer, intended) {
			return true
		}
		hits++
		r.arrivals.Add(1)
		select {
		case arrivals <- arrival{op: pick.next(), intended: intended}:
		default:
			r.late.Add(1)
		}
	}
}

// preciseWindow is how close to an arrival's time the dispatcher stops
// trusting runtime timers (which wake up to a millisecond late) and sleeps in
// the kernel instead; before that it waits on a timer so that ctx can end
// the wait.
const preciseWindow = 2 * time.Millisecond

// waitUntil returns true at t, or false as soon as ctx is done.
func waitUntil(ctx context.Context, timer *time.Timer, t time.Time) bool {
	for {
		d := time.Until(t)
		if d > preciseWindow {
			timer.Reset(d - preciseWindow)
			select {
			case <-ctx.Done():
				return false
			case <-timer.C:
			}
			continue
		}
		// Aim early by the kernel's usual overshoot; an uninterruptible
		// sleep of at most preciseWindow leaves ctx answered in time.
		if d > timerSlack {
			sleepPrecise(d - timerSlack)
		}
		select {
		case <-ctx.Done():
			return false
		default:
			return true
		}
	}
}

// work runs arrivals until the channel closes.
func (r *runner) work(ctx context.Context, arrivals <-chan arrival) {
	for a := range arrivals {
		lag := time.Since(a.intended)
		r.busy.inc()
		err := r.d.w.do(ctx, a.op, r.inUse)
		latency := time.Since(a.intended)
		r.busy.dec()
		o := classify(ctx, err)
		if o == OK {
			r.ok.Add(1)
		} else {
			r.failed.Add(1)
		}
		r.col.record(a.op, o, lag, latency, err)
	}
}

// sample records the pool's peak of waiters every sampleInterval and reports progress
// every ProgressInterval, until stop closes.
func (r *runner) sample(start time.Time, stop <-chan struct{}) {
	tick := time.NewTicker(sampleInterval)
	defer tick.Stop()
	lastProgress := start
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			r.sampleOnce()
			if f := r.d.cfg.Progress; f != nil && now.Sub(lastProgress) >= ProgressInterval {
				lastProgress = now
				f(Progress{
					Elapsed:  now.Sub(start),
					Duration: r.d.cfg.Duration,
					Arrivals: r.arrivals.Load(),
					Late:     r.late.Load(),
					OK:       r.ok.Load(),
					Failed:   r.failed.Load(),
				})
			}
		}
	}
}

func (r *runner) sampleOnce() {
	r.peakWaiters = max(r.peakWaiters, r.d.tgt.Pool.Stats().Waiters)
}

func (r *runner) poolStats() PoolStats {
	s := r.d.tgt.Pool.Stats()
	ps := PoolStats{
		MaxSessions: r.d.tgt.MaxSessions,
		WaitBudget:  r.d.tgt.WaitBudget,
		HSMs:        make(map[string]HSMStats, len(s.HSMs)),
		PeakWaiters: r.peakWaiters,
	}
	for id, h := range s.HSMs {
		hs := HSMStats{Open: h.Open, Idle: h.Idle, InUse: h.InUse}
		if g := r.inUse[id]; g != nil {
			hs.PeakInUse = int(g.peak.Load())
		}
		ps.HSMs[id] = hs
	}
	return ps
}
