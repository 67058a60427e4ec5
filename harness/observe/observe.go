// Package observe watches the target while a scenario runs: it polls
// DescribeCustomKeyStores and DescribeKey, scrapes the stack's /metrics,
// and turns what changes into timestamped transitions in the History. It
// also answers "what is the state of X now" for the timeline's `when:`
// conditions. Every poll is stamped with its call time since the run's one
// base time (the state was there when the answer was formed, which is no
// earlier than the call).
package observe

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/keystorm/keystorm/harness/history"
)

// DefaultInterval is the time between two polls.
const DefaultInterval = 100 * time.Millisecond

// State is what was last seen of a subject.
type State struct {
	State string
	Code  string
	// At is when it was first seen in this state.
	At time.Duration
}

// Observer polls a target. Create one with New; Run polls until its ctx
// ends; State may be called from any goroutine meanwhile.
type Observer struct {
	kms      *kms.Client
	http     *http.Client
	metrics  string
	stores   map[string]string // id -> name
	keys     map[string]string // name -> id
	base     time.Time
	sink     func(history.Event)
	interval time.Duration

	mu    sync.Mutex
	state map[string]State // subject -> state
	polls int
	// pool is the stack's session-pool metrics as last scraped, by name;
	// they are never changed once stored, so readers may share them.
	pool []*dto.MetricFamily
}

// PoolPrefix starts the names of the stack's session-pool metrics.
const PoolPrefix = "keystorm_pkcs11_"

// PoolMetrics returns the stack's session-pool metrics (PoolPrefix) as the
// last scrape found them, sorted by name; nil before the first scrape or
// when the stack has no /metrics. The families must not be changed.
func (o *Observer) PoolMetrics() []*dto.MetricFamily {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.pool
}

// Options configure an Observer.
type Options struct {
	KMS *kms.Client
	// HTTP and MetricsURL, when set, scrape the stack's /metrics.
	HTTP       *http.Client
	MetricsURL string
	// Stores and Keys map the scenario's names to ids.
	Stores, Keys map[string]string
	Base         time.Time
	// Sink receives transitions and samples.
	Sink     func(history.Event)
	Interval time.Duration
}

// New returns an Observer.
func New(o Options) *Observer {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	ob := &Observer{
		kms: o.KMS, http: o.HTTP, metrics: o.MetricsURL, base: o.Base, sink: o.Sink,
		interval: o.Interval, stores: map[string]string{}, keys: map[string]string{}, state: map[string]State{},
	}
	for name, id := range o.Stores {
		ob.stores[id] = name
	}
	for name, id := range o.Keys {
		ob.keys[name] = id
	}
	return ob
}

// Watch adds a store or key to watch (steps may create or rename them).
func (o *Observer) Watch(kind, name, id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch kind {
	case "store":
		o.stores[id] = name
	case "key":
		o.keys[name] = id
	}
}

// State returns what was last seen of a subject ("store:s1", "key:k1").
func (o *Observer) State(subject string) (State, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, ok := o.state[subject]
	return s, ok
}

// Polls counts completed poll rounds.
func (o *Observer) Polls() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.polls
}

// Run polls until ctx ends. Poll errors are noted in the History and do
// not stop it: a target that cannot answer is itself an observation.
func (o *Observer) Run(ctx context.Context) error {
	t := time.NewTicker(o.interval)
	defer t.Stop()
	scrapeEvery := int(time.Second / o.interval)
	if scrapeEvery < 1 {
		scrapeEvery = 1
	}
	lastErr := ""
	for i := 0; ; i++ {
		err := o.Poll(ctx)
		if o.metrics != "" && i%scrapeEvery == 0 {
			if serr := o.Scrape(ctx); serr != nil && err == nil {
				err = serr
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if msg := errText(err); msg != lastErr {
			if msg != "" {
				o.sink(history.Event{Note: &history.Note{At: o.since(time.Now()), Kind: "observe-error", Text: msg}})
			}
			lastErr = msg
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (o *Observer) since(t time.Time) time.Duration { return t.Sub(o.base) }

// Poll does one round: every watched store, then every watched key.
func (o *Observer) Poll(ctx context.Context) error {
	called := o.since(time.Now())
	seen := map[string]State{}
	o.mu.Lock()
	stores := make(map[string]string, len(o.stores))
	for id, name := range o.stores {
		stores[id] = name
	}
	keys := make(map[string]string, len(o.keys))
	for name, id := range o.keys {
		keys[name] = id
	}
	o.mu.Unlock()

	var errs []string
	if len(stores) > 0 {
		p := kms.NewDescribeCustomKeyStoresPaginator(o.kms, &kms.DescribeCustomKeyStoresInput{})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				errs = append(errs, fmt.Sprintf("describe custom key stores: %v", err))
				break
			}
			for _, s := range page.CustomKeyStores {
				if name, ok := stores[aws.ToString(s.CustomKeyStoreId)]; ok {
					seen["store:"+name] = State{State: string(s.ConnectionState), Code: string(s.ConnectionErrorCode)}
				}
			}
		}
	}
	names := make([]string, 0, len(keys))
	for name := range keys {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		out, err := o.kms.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keys[name])})
		if err != nil {
			if ctx.Err() == nil {
				errs = append(errs, fmt.Sprintf("describe key %s: %v", name, err))
			}
			continue
		}
		seen["key:"+name] = State{State: string(out.KeyMetadata.KeyState)}
	}
	o.record(called, seen)
	if len(errs) > 0 {
		return fmt.Errorf("observe: %s", strings.Join(errs, "; "))
	}
	return nil
}

// record notes what changed since the last round.
func (o *Observer) record(at time.Duration, seen map[string]State) {
	subjects := make([]string, 0, len(seen))
	for s := range seen {
		subjects = append(subjects, s)
	}
	sort.Strings(subjects)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.polls++
	for _, subj := range subjects {
		now := seen[subj]
		prev, ok := o.state[subj]
		if ok && prev.State == now.State && prev.Code == now.Code {
			continue
		}
		now.At = at
		o.state[subj] = now
		o.sink(history.Event{Transition: &history.Transition{At: at, Subject: subj, From: prev.State, To: now.State, Code: now.Code}})
	}
}

// Scrape reads the stack's /metrics once and keeps what tells the state
// of the session pools: the HSMs each store's pool has (a transition of
// "pool:<store>"), waiters and exhaustion (samples).
func (o *Observer) Scrape(ctx context.Context) error {
	called := o.since(time.Now())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.metrics, nil)
	if err != nil {
		return fmt.Errorf("scrape %s: %w", o.metrics, err)
	}
	resp, err := o.http.Do(req)
	if err != nil {
		return fmt.Errorf("scrape %s: %w", o.metrics, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("scrape %s: %s", o.metrics, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return fmt.Errorf("scrape %s: %w", o.metrics, err)
	}
	var pool []*dto.MetricFamily
	for name, f := range families {
		if strings.HasPrefix(name, PoolPrefix) {
			pool = append(pool, f)
		}
	}
	sort.Slice(pool, func(i, j int) bool { return pool[i].GetName() < pool[j].GetName() })
	o.mu.Lock()
	o.pool = pool
	storeNames := make(map[string]string, len(o.stores))
	for id, name := range o.stores {
		storeNames[id] = name
	}
	o.mu.Unlock()

	hsms := map[string]map[string]bool{} // store name -> HSMs with sessions
	if f := families["keystorm_pkcs11_sessions"]; f != nil {
		for _, m := range f.Metric {
			labels := labelMap(m.GetLabel())
			store, ok := storeNames[labels["store"]]
			if !ok {
				continue
			}
			if hsms[store] == nil {
				hsms[store] = map[string]bool{}
			}
			if m.GetGauge().GetValue() > 0 {
				hsms[store][labels["hsm"]] = true
			}
		}
	}
	seen := map[string]State{}
	if families["keystorm_pkcs11_sessions"] != nil {
		// A watched store with no session on any HSM has a pool of none
		// (all its HSMs gone) or no pool (not connected): both are 0.
		for _, store := range storeNames {
			n := len(hsms[store])
			word := "HSMs"
			if n == 1 {
				word = "HSM"
			}
			seen["pool:"+store] = State{State: fmt.Sprintf("%d %s", n, word)}
		}
	}
	for _, name := range []string{"keystorm_pkcs11_session_exhausted_total", "keystorm_pkcs11_session_waiters"} {
		f := families[name]
		if f == nil {
			continue
		}
		for _, m := range f.Metric {
			labels := labelMap(m.GetLabel())
			store, ok := storeNames[labels["store"]]
			if !ok {
				continue
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			o.sink(history.Event{Sample: &history.Sample{At: called, Name: name, Labels: map[string]string{"store": store}, Value: v}})
		}
	}
	o.mu.Lock()
	for subj, now := range seen {
		if prev, ok := o.state[subj]; ok && prev.State == now.State {
			continue
		}
		prev := o.state[subj]
		now.At = called
		o.state[subj] = now
		o.sink(history.Event{Transition: &history.Transition{At: called, Subject: subj, From: prev.State, To: now.State}})
	}
	o.mu.Unlock()
	return nil
}

func labelMap[L interface {
	GetName() string
	GetValue() string
}](ls []L) map[string]string {
	m := make(map[string]string, len(ls))
	for _, l := range ls {
		m[l.GetName()] = l.GetValue()
	}
	return m
}
