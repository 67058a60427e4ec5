package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/keystorm/keystorm/harness/history"
)

// Defaults for what a Config leaves at zero; the scenario package fills in
// the same values when it decodes a scenario.
const (
	DefaultTimeout         = 5 * time.Second
	DefaultLateTolerance   = 100 * time.Millisecond
	DefaultMaxLateFraction = 0.01
	DefaultSize            = 32
)

// initialWorkers is how many vegeta workers start; vegeta adds one
// whenever a hit is due and all are busy (MaxWorkers is unbounded), so a
// slow store never delays the next send.
const initialWorkers = 16

// maxResponseBytes bounds what is kept of an answer; KMS answers are a few
// kilobytes.
const maxResponseBytes = 1 << 20

// Options configure Run.
type Options struct {
	Config Config
	// Schedule paces the load; nil makes one from Config.Shape, Config.Duration
	// and Seed.
	Schedule Schedule
	// Endpoint is the KMS endpoint, such as http://127.0.0.1:4566.
	Endpoint                             string
	Region, AccessKeyID, SecretAccessKey string
	// Keys maps the scenario's key names to KMS KeyIds (or ARNs).
	Keys map[string]string
	// Seed makes the run replayable: operations, keys, sizes, plaintexts
	// and Poisson arrivals all derive from it.
	Seed int64
	// Seeds are ciphertexts made before the load (sealing
	// Plaintext(Seed, PlaintextID, Size)), so that Decrypt and ReEncrypt
	// have something to work on from the first hit.
	Seeds []Ciphertext
	// Sink receives one history.Request per hit, from one goroutine, in
	// the order the answers come. Nil drops them.
	Sink func(history.Request)
	// Base is the run's base time: every time in the History is since Base.
	// Zero means the start of the attack.
	Base time.Time
	// HTTPClient, if set, supplies the transport (and the rest of the
	// client but its timeout and redirects); by default each run has a
	// connection pool of its own, closed when it ends.
	HTTPClient *http.Client
	// Progress, if set, is kept up to date as the load runs.
	Progress *Progress
}

// Progress counts a running load's requests for progress lines and abort
// conditions; its fields may be read at any time, from any goroutine.
type Progress struct {
	Sent   atomic.Int64 // requests built (and so about to be sent)
	OK     atomic.Int64 // answered with success
	Errors atomic.Int64 // answered with an exception, or failed
	Late   atomic.Int64 // sent more than LateTolerance after they were due
}

// Summary is the load's account of itself: what the schedule planned and
// what the generator did.
type Summary struct {
	// Planned is the hits the schedule holds in the load's duration.
	Planned int64 `json:"planned"`
	// Sent is the hits made (each has one history.Request); OK and Errors
	// split them by outcome.
	Sent   int64 `json:"sent"`
	OK     int64 `json:"ok"`
	Errors int64 `json:"errors"`
	// Late is the hits sent more than LateTolerance after their intended
	// time: the generator's delay, not the store's. MaxLate is the worst.
	Late    int64         `json:"late"`
	MaxLate time.Duration `json:"max_late"`
	// Duration is how long the load sent: the configured duration, or
	// less when it was cancelled. AchievedRate is Sent per second of it.
	Duration     time.Duration `json:"duration"`
	AchievedRate float64       `json:"achieved_rate"`
	// Cancelled is set when ctx ended the load early.
	Cancelled bool `json:"cancelled,omitempty"`
	// LateTolerance and MaxLateFraction are the limits Invalid applies.
	LateTolerance   time.Duration `json:"late_tolerance"`
	MaxLateFraction float64       `json:"max_late_fraction"`
}

// Invalid says why the run cannot be trusted as the load it claims to
// be, or "" when it can: more than MaxLateFraction of the sends were late,
// or (unless cancelled) fewer than 99% of the planned hits were sent. A
// load generator that falls behind understates the load, so its run says
// nothing about the store.
func (s Summary) Invalid() string {
	var why []string
	if s.Sent > 0 && float64(s.Late)/float64(s.Sent) > s.MaxLateFraction {
		why = append(why, fmt.Sprintf("%d of %d requests (%.1f%%) were sent more than %v after their scheduled time, the latest %v (at most %.1f%% may be)",
			s.Late, s.Sent, 100*float64(s.Late)/float64(s.Sent), s.LateTolerance, s.MaxLate, 100*s.MaxLateFraction))
	}
	if !s.Cancelled && float64(s.Sent) < 0.99*float64(s.Planned) {
		why = append(why, fmt.Sprintf("it sent %d of the %d requests planned (%.1f%%)",
			s.Sent, s.Planned, 100*float64(s.Sent)/float64(s.Planned)))
	}
	if len(why) == 0 {
		return ""
	}
	return "the load generator fell behind its schedule: " + strings.Join(why, "; ")
}

// Run runs the load: vegeta attacks the endpoint for Config.Duration,
// paced by the Schedule, and every answer goes to Sink as it comes. When
// ctx ends, the attack stops, requests in flight are aborted (and recorded
// as errors), and Run returns the summary so far with ctx's error. No
// goroutine of the load outlives Run.
func Run(ctx context.Context, o Options) (Summary, error) {
	l, err := newLoader(ctx, o)
	if err != nil {
		return Summary{}, fmt.Errorf("load: %w", err)
	}
	defer l.close()

	atk := vegeta.NewAttacker(
		// First: it replaces vegeta's client, and the options after it
		// adjust ours. (vegeta.KeepAlive and its kin assume vegeta's own
		// *http.Transport; ours keeps connections alive already.)
		vegeta.Client(l.client),
		vegeta.Timeout(l.cfg.Timeout),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.MaxBody(maxResponseBytes),
		vegeta.Workers(initialWorkers),
		vegeta.MaxWorkers(vegeta.DefaultMaxWorkers),
	)
	results := atk.Attack(l.targeter.target, l.pacer, l.cfg.Duration, "")
	done := ctx.Done()
	var stopped time.Time
	// This goroutine owns the results: it stops the attack when ctx ends
	// and drains the channel until vegeta closes it, after its workers.
loop:
	for {
		select {
		case res, ok := <-results:
			if !ok {
				break loop
			}
			req := l.record(res)
			if o.Sink != nil {
				o.Sink(req)
			}
		case <-done:
			atk.Stop()
			done, stopped = nil, time.Now()
		}
	}
	sum := l.summary(stopped, ctx.Err() != nil)
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("load stopped after %v: %w", sum.Duration, err)
	}
	return sum, nil
}

// loader is one run of the load.
type loader struct {
	cfg      Config
	schedule Schedule
	seed     int64
	base     time.Time
	postURL  string
	client   *http.Client
	own      *http.Transport // closed at the end; nil with Options.HTTPClient
	pacer    *pacing
	targeter *targeter
	ledger   *ledger
	pool     *pool
	progress *Progress
	sum      Summary
}

// newLoader checks o, fills in the defaults and wires the pieces.
func newLoader(ctx context.Context, o Options) (*loader, error) {
	cfg, err := withDefaults(o.Config, o.Keys)
	if err != nil {
		return nil, err
	}
	postURL, err := postURL(o.Endpoint)
	if err != nil {
		return nil, err
	}
	if o.Region == "" || o.AccessKeyID == "" || o.SecretAccessKey == "" {
		return nil, errors.New("region, access key id and secret access key are all needed to sign requests")
	}
	schedule := o.Schedule
	if schedule == nil {
		if schedule, err = NewSchedule(cfg.Shape, cfg.Duration, o.Seed); err != nil {
			return nil, err
		}
	}
	prog := o.Progress
	if prog == nil {
		prog = &Progress{}
	}
	l := &loader{
		cfg: cfg, schedule: schedule, seed: o.Seed, base: o.Base, postURL: postURL,
		ledger: newLedger(), pool: newPool(), progress: prog,
		pacer: &pacing{schedule: schedule, end: cfg.Duration, done: ctx.Done()},
	}
	for _, c := range o.Seeds {
		if _, ok := o.Keys[c.Key]; ok && len(c.Blob) > 0 {
			l.pool.add(c)
		}
	}
	l.targeter = newTargeter(postURL, o.Seed, cfg, o.Keys, l.pool, l.ledger, prog)

	client := &http.Client{}
	if o.HTTPClient != nil {
		*client = *o.HTTPClient
	}
	next := client.Transport
	if o.HTTPClient == nil {
		l.own = newTransport(cfg.Timeout)
		next = l.own
	} else if next == nil {
		next = http.DefaultTransport
	}
	client.Transport = &signingTransport{
		next:   next,
		signer: v4.NewSigner(),
		creds:  aws.Credentials{AccessKeyID: o.AccessKeyID, SecretAccessKey: o.SecretAccessKey, Source: "keystorm"},
		region: o.Region,
		ledger: l.ledger,
		due:    schedule.Due,
		run:    ctx,
	}
	l.client = client
	l.sum = Summary{
		Planned:       int64(math.Round(schedule.Hits(cfg.Duration))),
		LateTolerance: cfg.LateTolerance, MaxLateFraction: cfg.MaxLateFraction,
	}
	return l, nil
}

// close drops the run's idle connections (and their goroutines).
func (l *loader) close() {
	if l.own != nil {
		l.own.CloseIdleConnections()
	}
}

// withDefaults checks a Config and fills in what it leaves at zero.
func withDefaults(cfg Config, keyIDs map[string]string) (Config, error) {
	var errs []error
	if cfg.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration must be positive, got %v", cfg.Duration))
	}
	if len(cfg.Keys) == 0 {
		cfg.Keys = slices.Sorted(func(yield func(string) bool) {
			for k := range keyIDs {
				if !yield(k) {
					return
				}
			}
		})
	}
	if len(cfg.Keys) == 0 {
		errs = append(errs, errors.New("no keys to use"))
	}
	for _, k := range cfg.Keys {
		if keyIDs[k] == "" {
			errs = append(errs, fmt.Errorf("key %q has no KeyId", k))
		}
	}
	if len(cfg.Mix) == 0 {
		cfg.Mix = []MixEntry{{Op: opEncrypt, Weight: 1}, {Op: opDecrypt, Weight: 1}}
	}
	var total int
	for i, m := range cfg.Mix {
		if !slices.Contains(Operations, m.Op) {
			errs = append(errs, fmt.Errorf("mix[%d]: unknown operation %q (want one of %s)", i, m.Op, strings.Join(Operations, ", ")))
		}
		if m.Weight < 0 {
			errs = append(errs, fmt.Errorf("mix[%d]: weight must be at least 0, got %d", i, m.Weight))
		}
		total += max(m.Weight, 0)
	}
	if total == 0 {
		errs = append(errs, errors.New("mix: the weights add up to 0"))
	}
	if len(cfg.Sizes) == 0 {
		cfg.Sizes = []int{DefaultSize}
	}
	for i, s := range cfg.Sizes {
		if s < 1 || s > 4096 {
			errs = append(errs, fmt.Errorf("sizes[%d]: a plaintext is 1 to 4096 bytes, got %d", i, s))
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.LateTolerance <= 0 {
		cfg.LateTolerance = DefaultLateTolerance
	}
	if cfg.MaxLateFraction <= 0 {
		cfg.MaxLateFraction = DefaultMaxLateFraction
	}
	return cfg, errors.Join(errs...)
}

// postURL is the URL every KMS request goes to: POST / of the endpoint.
func postURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("endpoint: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("endpoint %q: want http(s)://host[:port]", endpoint)
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/"
	u.RawPath = ""
	return u.String(), nil
}

// summary completes the summary once the attack is over; stopped is when
// ctx ended it early (zero if it did not).
func (l *loader) summary(stopped time.Time, cancelled bool) Summary {
	s := l.sum
	s.Cancelled = cancelled
	s.Duration = l.cfg.Duration
	if began := l.pacer.started(); began.IsZero() {
		if cancelled {
			s.Duration = 0
		}
	} else if !stopped.IsZero() {
		s.Duration = min(max(stopped.Sub(began), 0), l.cfg.Duration)
	}
	if s.Duration > 0 {
		s.AchievedRate = float64(s.Sent) / s.Duration.Seconds()
	}
	return s
}

// pacing is the Pacer vegeta runs: the Schedule, bounded by the load's
// duration, waiting on ctx as well as on the clock (vegeta sleeps out a
// Pacer's wait without looking at Stop, and a schedule's wait can be as
// long as a zero-rate phase), and noting when the attack began.
type pacing struct {
	schedule Schedule
	end      time.Duration
	done     <-chan struct{}
	began    atomic.Pointer[time.Time]
	timer    *time.Timer // only vegeta's pacing goroutine uses it
}

func (p *pacing) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if p.began.Load() == nil {
		// vegeta measures elapsed from the attack's start, which it keeps
		// to itself.
		began := time.Now().Add(-elapsed)
		p.began.CompareAndSwap(nil, &began)
	}
	due := p.schedule.Due(hits)
	if due >= p.end {
		// Never, or not within the load: vegeta would otherwise sleep
		// past the end and send it anyway.
		return 0, true
	}
	if wait := time.Until(p.began.Load().Add(due)); wait > 0 {
		if p.timer == nil {
			p.timer = time.NewTimer(wait)
		} else {
			p.timer.Reset(wait)
		}
		select {
		case <-p.done:
			p.timer.Stop()
			return 0, true
		case <-p.timer.C:
		}
	}
	select {
	case <-p.done:
		return 0, true
	default:
		return 0, false
	}
}

func (p *pacing) Rate(elapsed time.Duration) float64 { return p.schedule.Rate(elapsed) }

// started is when the attack began, zero before it did.
func (p *pacing) started() time.Time {
	if b := p.began.Load(); b != nil {
		return *b
	}
	return time.Time{}
}
