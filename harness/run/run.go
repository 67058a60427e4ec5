// Package run carries out one scenario on one target: setup, then the
// load, the observer and the timeline of faults and recovery steps side by
// side under one base time, then the verification of every acknowledged
// ciphertext, the checks, and the result. A run is bounded by the
// scenario's timeout, stops cleanly when its ctx ends, and writes its
// History and result even when it fails.
package run

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keystorm/keystorm/harness/faults"
	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/load"
	"github.com/keystorm/keystorm/harness/observe"
	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/harness/scenario"
	"github.com/keystorm/keystorm/harness/target"
)

// Options configure a run.
type Options struct {
	// OutDir receives history.jsonl (the caller writes the reports).
	OutDir string
	// Seed overrides the scenario's seed when not 0.
	Seed int64
	// Progress, if set, is called about once a second from the run's
	// goroutine.
	Progress func(Progress)
	// ObserveInterval overrides the observer's poll interval.
	ObserveInterval time.Duration
	// Registerer, if set, gets the harness's own metrics for the run's
	// duration (keystorm run --metrics-addr serves them).
	Registerer prometheus.Registerer
	// PoolMetrics, if set, serves the stack's session-pool metrics as the
	// run's observer scrapes them, for the run's duration.
	PoolMetrics *PoolMetrics
}

// Progress is a live snapshot for the progress line.
type Progress struct {
	Elapsed, Duration time.Duration
	// Rate is the requests answered in the last second; P99 their p99.
	Rate   float64
	P99    time.Duration
	Sent   int64
	Errors int64
	// States are the stores' and keys' states, "store:s1=CONNECTED".
	States []string
}

// runner is the state of one run.
type runner struct {
	sc       *scenario.Scenario
	stack    target.Stack
	opts     Options
	seed     int64
	base     time.Time
	hist     *history.Writer
	env      *faults.Env
	observer *observe.Observer
	live     *liveStats
	kept     []load.Ciphertext
	created  struct{ stores, keys []string }

	loadStart time.Duration
	loadEnd   time.Duration
	summary   load.Summary

	mu       sync.Mutex
	spans    map[string]span
	loadDone bool
	stopLoad context.CancelCauseFunc
}

// abort stops the load early.
func (r *runner) abort(why string) {
	r.mu.Lock()
	stop := r.stopLoad
	r.mu.Unlock()
	if stop != nil {
		stop(fmt.Errorf("aborted: %s", why))
	}
}

// Run runs sc on st. It returns the result (also on failure, with Invalid
// set) and an error only when no result can be made at all.
func Run(ctx context.Context, sc *scenario.Scenario, st target.Stack, opts Options) (*result.Result, error) {
	if opts.OutDir == "" {
		return nil, errors.New("run: no output directory")
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	seed := sc.Seed
	if opts.Seed != 0 {
		seed = opts.Seed
	}
	if seed == 0 {
		seed = rand.Int64N(1<<53) + 1
	}
	hw, err := history.Create(filepath.Join(opts.OutDir, "history.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	if opts.Registerer != nil {
		m, err := newMetrics(opts.Registerer, sc.Name)
		if err != nil {
			hw.Close()
			return nil, fmt.Errorf("run: metrics: %w", err)
		}
		defer m.unregister(opts.Registerer)
		hw.Tap(m.observe)
	}
	r := &runner{
		sc: sc, stack: st, opts: opts, seed: seed, base: time.Now(), hist: hw,
		env: faults.NewEnv(st), spans: map[string]span{}, live: newLiveStats(),
	}
	r.observer = observe.New(observe.Options{
		KMS: st.KMS(), HTTP: st.HTTP(), MetricsURL: metricsURL(st), Base: r.base,
		Sink: hw.Add, Interval: opts.ObserveInterval,
	})
	if opts.PoolMetrics != nil {
		defer opts.PoolMetrics.attach(sc.Name, r.observer.PoolMetrics)()
	}
	timeout := sc.Timeout
	if timeout <= 0 {
		timeout = sc.Load.Duration + 2*time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	res := &result.Result{
		Schema: result.Schema, Scenario: sc.Name, File: sc.File, Description: sc.Description,
		Stack: st.Kind(), Endpoint: st.Info().KMSEndpoint, Seed: seed, Started: r.base.UTC(),
		History: hw.Path(),
	}
	invalid, aborted := r.execute(ctx)
	r.cleanup(context.WithoutCancel(ctx))
	if ctx.Err() != nil && invalid == "" {
		invalid = fmt.Sprintf("the run did not finish: %v", context.Cause(ctx))
	}
	if err := hw.Close(); err != nil && invalid == "" {
		invalid = err.Error()
	}
	r.finish(res, invalid, aborted)
	return res, nil
}

func metricsURL(st target.Stack) string {
	if !st.Has(target.Metrics) {
		return ""
	}
	return st.Info().MetricsEndpoint
}

// since is the time since the run's base.
func (r *runner) since() time.Duration { return time.Since(r.base) }

// stamp runs one setup action and records it.
func (r *runner) stamp(ctx context.Context, id, action string, fn func(context.Context) error) error {
	inj := history.Injection{ID: id, Kind: "setup", Action: action, Start: r.since()}
	err := fn(ctx)
	inj.End = r.since()
	if err != nil {
		inj.Error = err.Error()
	}
	r.hist.Injection(inj)
	return err
}

// execute does the run's phases; it returns why the run is invalid, if it
// is, and which abort condition stopped it, if one did.
func (r *runner) execute(ctx context.Context) (invalid, aborted string) {
	obsCtx, stopObserver := context.WithCancel(ctx)
	var obsDone sync.WaitGroup
	obsDone.Add(1)
	go func() {
		defer obsDone.Done()
		r.observer.Run(obsCtx)
	}()
	defer func() {
		// One last look at the end, then stop.
		pollCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		r.observer.Poll(pollCtx)
		cancel()
		stopObserver()
		obsDone.Wait()
	}()

	if err := r.setup(ctx); err != nil {
		return "setup failed: " + err.Error(), ""
	}
	// A first look before the load: the states setup left are the
	// baseline every transition is measured from.
	if err := r.observer.Poll(ctx); err != nil {
		return "observe the setup: " + err.Error(), ""
	}
	schedule, err := r.schedule()
	if err != nil {
		return "load: " + err.Error(), ""
	}
	keys := map[string]string{}
	for _, name := range r.sc.Load.Keys {
		id, err := r.env.Key(name)
		if err != nil {
			return "load: " + err.Error(), ""
		}
		keys[name] = id
	}
	info := r.stack.Info()

	loadCtx, stopLoad := context.WithCancelCause(ctx)
	defer stopLoad(nil)
	r.mu.Lock()
	r.stopLoad = stopLoad
	r.mu.Unlock()
	r.loadStart = r.since()
	r.hist.Note(history.Note{At: r.loadStart, Kind: "load-start", Text: schedule.String()})

	var wg sync.WaitGroup
	var summary load.Summary
	var loadErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		summary, loadErr = load.Run(loadCtx, load.Options{
			Config: r.sc.Load, Schedule: schedule, Endpoint: info.KMSEndpoint, Region: info.Region,
			AccessKeyID: info.AccessKeyID, SecretAccessKey: info.SecretAccessKey, Keys: keys,
			Seed: r.seed, Seeds: r.kept, Base: r.base,
			Sink: func(req history.Request) {
				r.live.add(&req)
				r.hist.Request(req)
			},
		})
	}()

	// The timeline runs beside the load; its entries that have not run
	// when the load ends never will.
	tlCtx, stopTimeline := context.WithCancel(loadCtx)
	var tl sync.WaitGroup
	for i := range r.sc.Timeline {
		tl.Add(1)
		go func(e *scenario.TimelineEntry) {
			defer tl.Done()
			r.runEntry(tlCtx, e)
		}(&r.sc.Timeline[i])
	}

	abortCh := make(chan string, 1)
	monitorDone := make(chan struct{})
	go func() {
		defer close(monitorDone)
		r.monitor(loadCtx, abortCh)
	}()

	wg.Wait()
	r.loadEnd = r.since()
	r.mu.Lock()
	r.loadDone = true
	r.mu.Unlock()
	stopTimeline()
	tl.Wait()
	stopLoad(nil)
	<-monitorDone
	select {
	case aborted = <-abortCh:
	default:
	}
	r.hist.Note(history.Note{At: r.loadEnd, Kind: "load-end", Text: fmt.Sprintf("%d sent", summary.Sent)})
	r.summary = summary
	if loadErr != nil && aborted == "" && ctx.Err() == nil {
		return "load: " + loadErr.Error(), aborted
	}
	if aborted == "" && ctx.Err() == nil {
		if why := summary.Invalid(); why != "" {
			invalid = why
		}
	}
	if r.wantsIntegrity() && ctx.Err() == nil {
		if err := r.verify(ctx); err != nil && invalid == "" {
			invalid = "verify: " + err.Error()
		}
	}
	if err := r.recordAudit(ctx); err != nil && invalid == "" && ctx.Err() == nil {
		invalid = err.Error()
	}
	return invalid, aborted
}

// schedule is the load's schedule (a pure function of the scenario and
// the seed, so the checks can ask it what was planned).
func (r *runner) schedule() (load.Schedule, error) {
	return load.NewSchedule(r.sc.Load.Shape, r.sc.Load.Duration, r.seed)
}

func (r *runner) wantsIntegrity() bool {
	for _, e := range r.sc.Expect {
		if e.Integrity != nil {
			return true
		}
	}
	return false
}
