// Package stack assembles keystorm's embedded key-store stack: SoftHSM
// tokens as HSMs, the CloudHSM control plane and the KMS service, served on
// loopback ports over the real AWS wire protocols, with the admin API and
// Prometheus metrics beside them. `keystorm serve` runs it alone; scenarios
// run against it.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keystorm/keystorm/fakes/admin"
	"github.com/keystorm/keystorm/fakes/awsjson"
	"github.com/keystorm/keystorm/fakes/clock"
	"github.com/keystorm/keystorm/fakes/cloudhsm"
	"github.com/keystorm/keystorm/fakes/cloudhsmapi"
	"github.com/keystorm/keystorm/fakes/kms"
	"github.com/keystorm/keystorm/fakes/kmsapi"
	"github.com/keystorm/keystorm/fakes/softhsm"
)

// Options configure Start. Zero values take the defaults.
type Options struct {
	Clusters        int     // seeded clusters (default 1)
	Speed           float64 // stack clock speed (default 1)
	Host            string  // where the servers listen (default 127.0.0.1)
	Region          string  // default us-east-1
	AccessKeyID     string  // default a fresh AKIA... id
	SecretAccessKey string  // default a fresh secret
	// ConnectDuration is how long a connection attempt takes in stack time
	// (default kms.DefaultConnectDuration, the real service's 20 minutes).
	ConnectDuration time.Duration
	Audit           io.Writer // the KMS audit log (JSON lines); nil drops it
	// Bugs break the KMS service on purpose, for keystorm's own tests.
	Bugs kms.Bugs
	// Nodes, if set, runs every HSM on a machine of its own (the containers
	// stack); nil keeps them as tokens of this process's SoftHSM.
	Nodes cloudhsm.NodeHost
	// PortBase, if set, fixes the ports: KMS on PortBase, CloudHSM on +1,
	// admin on +2, metrics on +3 (a container publishes known ports);
	// 0 takes free ones.
	PortBase int
}

// Ports of a stack with Options.PortBase, as offsets from it.
const (
	KMSPort = iota
	CloudHSMPort
	AdminPort
	MetricsPort
)

// Info is what a client needs to use the stack; `keystorm serve --info`
// writes it, and `keystorm run --stack external` reads it.
type Info struct {
	Region           string  `json:"region"`
	AccessKeyID      string  `json:"access_key_id"`
	SecretAccessKey  string  `json:"secret_access_key"`
	KMSEndpoint      string  `json:"kms_endpoint"`
	CloudHSMEndpoint string  `json:"cloudhsm_endpoint"`
	AdminEndpoint    string  `json:"admin_endpoint"`
	AdminToken       string  `json:"admin_token"`
	MetricsEndpoint  string  `json:"metrics_endpoint"`
	Speed            float64 `json:"speed"`
	// Machines tells that every HSM runs on a machine of its own (the
	// containers stack), which the admin API's node actions reach.
	Machines bool          `json:"machines,omitempty"`
	Clusters []ClusterInfo `json:"clusters"`
}

// ClusterInfo describes a seeded cluster.
type ClusterInfo struct {
	ClusterID       string   `json:"cluster_id"`
	TrustAnchorPEM  string   `json:"trust_anchor_pem"`
	KmsuserPassword string   `json:"kmsuser_password"`
	AdminPassword   string   `json:"admin_password"`
	SubnetIDs       []string `json:"subnet_ids"`
}

// Stack is a running embedded stack.
type Stack struct {
	info    Info
	module  *softhsm.Module
	plane   *cloudhsm.Plane
	kms     *kms.Service
	servers []*http.Server
	wg      sync.WaitGroup
}

// Start seeds and serves a stack; Close stops it and removes its tokens.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Clusters <= 0 {
		opts.Clusters = 1
	}
	if opts.Speed == 0 {
		opts.Speed = 1
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Region == "" {
		opts.Region = awsjson.DefaultRegion
	}
	if opts.AccessKeyID == "" {
		opts.AccessKeyID = "AKIA" + randomUpper(16)
	}
	if opts.SecretAccessKey == "" {
		opts.SecretAccessKey = randomHex(20)
	}
	clk, err := clock.New(opts.Speed)
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	m, err := softhsm.Open()
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	s := &Stack{module: m}
	defer func() {
		if err != nil {
			s.Close(context.Background())
		}
	}()
	if s.plane, err = cloudhsm.New(cloudhsm.Config{Module: m, Nodes: opts.Nodes, Clock: clk, Region: opts.Region}); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	s.info = Info{Region: opts.Region, AccessKeyID: opts.AccessKeyID, SecretAccessKey: opts.SecretAccessKey, AdminToken: randomHex(16), Speed: opts.Speed, Machines: opts.Nodes != nil}
	for i := 0; i < opts.Clusters; i++ {
		ci := ClusterInfo{KmsuserPassword: "kms" + randomHex(6), AdminPassword: "adm" + randomHex(6)}
		c, err := s.plane.Seed(ctx, cloudhsm.SeedSpec{AdminPassword: ci.AdminPassword, KmsuserPassword: ci.KmsuserPassword})
		if err != nil {
			return nil, fmt.Errorf("stack: seed cluster %d: %w", i+1, err)
		}
		ci.ClusterID, ci.TrustAnchorPEM, ci.SubnetIDs = c.ID(), c.TrustAnchorPEM(), c.SubnetIDs()
		s.info.Clusters = append(s.info.Clusters, ci)
	}

	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keystorm_api_requests_total",
		Help: "Requests to the stack's AWS APIs, by service, operation, HTTP status and error type.",
	}, []string{"service", "operation", "status", "error"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "keystorm_api_request_seconds",
		Help:    "Time the stack's AWS APIs took to answer, by service and operation.",
		Buckets: prometheus.ExponentialBuckets(1e-4, 2, 16),
	}, []string{"service", "operation"})
	reg.MustRegister(requests, latency)
	observe := func(service string) awsjson.Option {
		o := &apiObserver{service: service, requests: requests, latency: latency}
		return awsjson.WithObserver(o.observe)
	}
	if s.kms, err = kms.New(kms.Config{Plane: s.plane, ConnectDuration: opts.ConnectDuration, Audit: opts.Audit, Registerer: reg, Bugs: opts.Bugs}); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	creds := awsjson.WithCredentials(map[string]string{opts.AccessKeyID: opts.SecretAccessKey})
	region := awsjson.WithRegion(opts.Region)
	serve := func(name string, offset int, h http.Handler) (string, error) {
		port := 0
		if opts.PortBase > 0 {
			port = opts.PortBase + offset
		}
		l, err := net.Listen("tcp", net.JoinHostPort(opts.Host, strconv.Itoa(port)))
		if err != nil {
			return "", fmt.Errorf("stack: listen for %s: %w", name, err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		s.servers = append(s.servers, srv)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			srv.Serve(l) // returns at Shutdown
		}()
		return "http://" + l.Addr().String(), nil
	}
	if s.info.KMSEndpoint, err = serve("KMS", KMSPort, kmsapi.New(s.kms, creds, region, observe("kms"))); err != nil {
		return nil, err
	}
	if s.info.CloudHSMEndpoint, err = serve("CloudHSM", CloudHSMPort, cloudhsmapi.New(s.plane, creds, region, observe("cloudhsmv2"))); err != nil {
		return nil, err
	}
	if s.info.AdminEndpoint, err = serve("admin", AdminPort, admin.New(s.plane, s.kms, s.info.AdminToken)); err != nil {
		return nil, err
	}
	metrics := http.NewServeMux()
	metrics.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	endpoint, err := serve("metrics", MetricsPort, metrics)
	if err != nil {
		return nil, err
	}
	s.info.MetricsEndpoint = endpoint + "/metrics"
	return s, nil
}

// apiObserver counts one service's requests in the stack's metrics. It keeps
// the vectors' children it has used: looking one up by its label values
// hashes every label and takes the vector's lock, on every request.
type apiObserver struct {
	service  string
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	counters sync.Map // requestLabels to prometheus.Counter
	timers   sync.Map // operation to prometheus.Observer
}

// requestLabels are the labels of a request counter besides the service.
type requestLabels struct {
	operation string
	status    int
	errorType string
}

func (a *apiObserver) observe(o awsjson.Observation) {
	l := requestLabels{o.Operation, o.Status, o.ErrorType}
	c, ok := a.counters.Load(l)
	if !ok {
		c, _ = a.counters.LoadOrStore(l, a.requests.WithLabelValues(a.service, o.Operation, strconv.Itoa(o.Status), o.ErrorType))
	}
	c.(prometheus.Counter).Inc()
	t, ok := a.timers.Load(o.Operation)
	if !ok {
		t, _ = a.timers.LoadOrStore(o.Operation, a.latency.WithLabelValues(a.service, o.Operation))
	}
	t.(prometheus.Observer).Observe(o.Duration.Seconds())
}

// Info describes the running stack.
func (s *Stack) Info() Info { return s.info }

// Plane returns the stack's CloudHSM control plane.
func (s *Stack) Plane() *cloudhsm.Plane { return s.plane }

// KMS returns the stack's KMS service.
func (s *Stack) KMS() *kms.Service { return s.kms }

// WriteInfo writes the stack's Info as JSON to path, atomically (a reader
// never sees half a file).
func (s *Stack) WriteInfo(path string) error {
	b, err := json.MarshalIndent(s.info, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keystorm-info-*")
	if err != nil {
		return fmt.Errorf("write info %s: %w", path, err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write info %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write info %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write info %s: %w", path, err)
	}
	return nil
}

// Close stops the servers (waiting for requests in flight until ctx ends),
// the KMS service and the plane, and removes the stack's tokens.
func (s *Stack) Close(ctx context.Context) error {
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			srv.Close()
		}
	}
	s.wg.Wait()
	if s.kms != nil {
		errs = append(errs, s.kms.Close())
	}
	if s.plane != nil {
		errs = append(errs, s.plane.Close(ctx))
	}
	if s.module != nil {
		errs = append(errs, s.module.Close())
		s.module = nil
	}
	return errors.Join(errs...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("stack: random: %v", err))
	}
	return hex.EncodeToString(b)[:n]
}

func randomUpper(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("stack: random: %v", err))
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// GCPercent and MemoryLimit are the garbage collector settings of a process
// that serves the stack. Its live heap is a few megabytes and every request
// allocates, so at the default GOGC of 100 the collector runs dozens of times
// a second; each cycle marks, sweeps, refills allocation caches and shrinks
// goroutine stacks that the next requests grow again. GOGC=400 already gave
// the full-stack Encrypt benchmark of fakes/kmsapi a quarter to a third more
// requests per second than 100; at 2000 the heap goal is 80 MB (the runtime's
// 4 MB floor, scaled) or 21 times the live heap, a collection every few
// hundred milliseconds, and the benchmark spends about 3% less CPU per
// request than at 400 (medians of interleaved runs).
//
// MemoryLimit keeps that from scaling with a heap that does grow (many keys, a
// long audit trail): the runtime collects as its memory nears the limit,
// whatever GCPercent allows, so a serving process stays within a few hundred
// megabytes unless its live heap alone approaches the limit.
const (
	GCPercent   = 2000
	MemoryLimit = 256 << 20
)

// TuneGC applies GCPercent and MemoryLimit to the process unless the user set
// GOGC or GOMEMLIMIT, whose settings then stand; it returns a function that
// restores the previous settings.
func TuneGC() (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	prevPercent := debug.SetGCPercent(GCPercent)
	prevLimit := debug.SetMemoryLimit(MemoryLimit)
	return func() {
		debug.SetMemoryLimit(prevLimit)
		debug.SetGCPercent(prevPercent)
	}
}
