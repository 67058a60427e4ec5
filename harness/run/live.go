package run

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/keystorm/keystorm/harness/check"
	"github.com/keystorm/keystorm/harness/history"
)

// liveStats keeps what the run needs while it goes on: per-100ms buckets
// of answers for abort conditions and the progress line, and when each
// exception was last seen for `when: {errors: ...}`. Its memory is bounded
// by the longest abort window.
type liveStats struct {
	mu       sync.Mutex
	buckets  map[int64]*bucket // by Done/100ms
	lastSeen map[string]time.Duration
	sent     int64
	errors   int64
}

type bucket struct {
	n, failed int64
	latencies []time.Duration
}

const bucketWidth = 100 * time.Millisecond

// keepBuckets bounds the buckets kept: a minute is more than any abort
// window needs.
const keepBuckets = 600

func newLiveStats() *liveStats {
	return &liveStats{buckets: map[int64]*bucket{}, lastSeen: map[string]time.Duration{}}
}

func (l *liveStats) add(r *history.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent++
	idx := int64(r.Done / bucketWidth)
	b := l.buckets[idx]
	if b == nil {
		b = &bucket{}
		l.buckets[idx] = b
		for k := range l.buckets {
			if k < idx-keepBuckets {
				delete(l.buckets, k)
			}
		}
	}
	b.n++
	if len(b.latencies) < 4096 {
		b.latencies = append(b.latencies, r.Latency())
	}
	if !r.OK() {
		b.failed++
		l.errors++
		if o := r.Outcome(); r.Done > l.lastSeen[o] {
			l.lastSeen[o] = r.Done
		}
		if r.Done > l.lastSeen["any"] {
			l.lastSeen["any"] = r.Done
		}
	}
}

// seen tells whether exception was answered at or after since.
func (l *liveStats) seen(exception string, since time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.lastSeen[exception]
	return ok && at >= since
}

// window sums the buckets of [from, to).
func (l *liveStats) window(from, to time.Duration) (n, failed int64, p99 time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lat check.Latencies
	for k := int64(from / bucketWidth); k < int64(to/bucketWidth); k++ {
		if b := l.buckets[k]; b != nil {
			n += b.n
			failed += b.failed
			for _, d := range b.latencies {
				lat.Add(d)
			}
		}
	}
	p99 = lat.Quantile(0.99)
	return n, failed, p99
}

func (l *liveStats) totals() (sent, errors int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, l.errors
}

// monitor checks the abort conditions and reports progress until ctx
// ends. It sends the first abort reason on abortCh and cancels nothing
// itself: the caller's load stops when told.
func (r *runner) monitor(ctx context.Context, abortCh chan<- string) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastProgress := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := r.since()
		for _, a := range r.sc.Abort {
			if now-r.loadStart < a.After {
				continue
			}
			// The last bucket is still filling: judge the ones before it.
			to := (now / bucketWidth) * bucketWidth
			n, failed, p99 := r.live.window(to-a.Window, to)
			if n == 0 {
				continue
			}
			rate := float64(failed) / float64(n)
			var why string
			switch {
			case a.ErrorRate != nil && rate > *a.ErrorRate:
				why = fmt.Sprintf("error rate %.3f > %g over the last %s", rate, *a.ErrorRate, a.Window)
			case a.P99 > 0 && p99 > a.P99:
				why = fmt.Sprintf("p99 %s > %s over the last %s", p99.Round(time.Millisecond), a.P99, a.Window)
			}
			if why != "" {
				r.hist.Note(history.Note{At: now, Kind: "abort", Text: why})
				select {
				case abortCh <- why:
				default:
				}
				r.abort(why)
				return
			}
		}
		if r.opts.Progress != nil && time.Since(lastProgress) >= time.Second {
			lastProgress = time.Now()
			to := (now / bucketWidth) * bucketWidth
			n, _, p99 := r.live.window(to-time.Second, to)
			sent, errs := r.live.totals()
			r.opts.Progress(Progress{
				Elapsed: now - r.loadStart, Duration: r.sc.Load.Duration, Rate: float64(n), P99: p99,
				Sent: sent, Errors: errs, States: r.states(),
			})
		}
	}
}

// states lists the observed states for the progress line.
func (r *runner) states() []string {
	var out []string
	for _, name := range r.env.StoreNames() {
		if s, ok := r.observer.State("store:" + name); ok {
			v := "store:" + name + "=" + s.State
			if s.Code != "" {
				v += "/" + s.Code
			}
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}
