// Package kms is the KMS service of keystorm's stack: custom key stores
// backed by the CloudHSM clusters of fakes/cloudhsm, their KMS keys, and
// ordinary AWS_KMS keys for comparison, with the connection and key state
// machines and the exceptions of keystorm's spec. All crypto of a key in a
// store goes through the store's PKCS#11 session pool into the cluster's
// HSMs.
//
// Requests and responses are the API's shapes (the JSON members of the KMS
// API model); the wire layer (fakes/kmsapi) only decodes and encodes them.
package kms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keystorm/keystorm/fakes/clock"
	"github.com/keystorm/keystorm/fakes/cloudhsm"
	"github.com/keystorm/keystorm/fakes/sessionpool"
)

// Defaults of Config.
const (
	// DefaultConnectDuration is how long, in stack time, a connection attempt
	// takes. The real service takes up to 20 minutes.
	DefaultConnectDuration = 20 * time.Minute
	// DefaultDisconnectDuration is how long a store stays DISCONNECTING.
	DefaultDisconnectDuration = 30 * time.Second
	// DefaultMaterialLossDelay is how long, in stack time, a key whose
	// backing key was deleted from the HSMs keeps showing its own state
	// before it shows Unavailable (choice).
	DefaultMaterialLossDelay = 5 * time.Minute
	// DefaultMaxStores is the custom key store quota per account and Region.
	DefaultMaxStores = 10
)

// Config configures a Service.
type Config struct {
	Plane              *cloudhsm.Plane
	Clock              *clock.Clock // default: the plane's
	ConnectDuration    time.Duration
	DisconnectDuration time.Duration
	MaterialLossDelay  time.Duration
	MaxStores          int
	// Sessions and WaitBudget size each store's PKCS#11 session pool.
	Sessions   int
	WaitBudget time.Duration
	// Audit receives the audit log, one JSON event per line; nil drops it.
	Audit io.Writer
	// Registerer, if set, gets each store's pool metrics (labelled by store).
	Registerer prometheus.Registerer
	// Bugs break the service on purpose, for keystorm's own tests.
	Bugs Bugs
}

// Service is the KMS service of one account and Region. Safe for concurrent
// use. Close stops its background work.
type Service struct {
	cfg     Config
	plane   *cloudhsm.Plane
	clock   *clock.Clock
	region  string
	account string
	audit   *auditLog

	// sessionCap is the per-HSM session cap of new pools: read by connection
	// attempts, which do not hold mu, and changed by SetSessionCap.
	sessionCap atomic.Int64

	ctx    context.Context // ends at Close; background work runs under it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	stores   map[string]*store
	keys     map[string]*key
	aliases  map[string]*alias
	faults   faults
	bugs     *bugState
	deleteCh chan struct{} // wakes the deleter when a deletion is scheduled
	closed   bool
}

// New starts a service over a plane.
func New(cfg Config) (*Service, error) {
	if cfg.Plane == nil {
		return nil, errors.New("kms: no CloudHSM plane")
	}
	if cfg.Clock == nil {
		cfg.Clock = cfg.Plane.Clock()
	}
	if cfg.ConnectDuration <= 0 {
		cfg.ConnectDuration = DefaultConnectDuration
	}
	if cfg.DisconnectDuration <= 0 {
		cfg.DisconnectDuration = DefaultDisconnectDuration
	}
	if cfg.MaterialLossDelay <= 0 {
		cfg.MaterialLossDelay = DefaultMaterialLossDelay
	}
	if cfg.MaxStores <= 0 {
		cfg.MaxStores = DefaultMaxStores
	}
	if cfg.Sessions <= 0 {
		cfg.Sessions = sessionpool.DefaultMaxSessions
	}
	if cfg.WaitBudget <= 0 {
		cfg.WaitBudget = sessionpool.DefaultWaitBudget
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		cfg: cfg, plane: cfg.Plane, clock: cfg.Clock, region: cfg.Plane.Region(), account: cfg.Plane.Account(),
		audit: newAuditLog(cfg.Audit, cfg.Clock.Now), ctx: ctx, cancel: cancel,
		stores: map[string]*store{}, keys: map[string]*key{}, aliases: map[string]*alias{},
		bugs:     &bugState{Bugs: cfg.Bugs},
		deleteCh: make(chan struct{}, 1),
	}
	s.sessionCap.Store(int64(cfg.Sessions))
	s.wg.Add(1)
	go s.deleter()
	return s, nil
}

// Close stops connection attempts and the deleter, disconnects every store
// and waits for all of it.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var conns []*connection
	for _, st := range s.stores {
		if st.conn != nil {
			conns = append(conns, st.conn)
			st.conn = nil
		}
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	for _, c := range conns {
		c.close()
	}
	return nil
}

// Region returns the service's Region.
func (s *Service) Region() string { return s.region }

// Clock returns the stack clock.
func (s *Service) Clock() *clock.Clock { return s.clock }

// go runs fn in the background under the service's context.
func (s *Service) goBackground(fn func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn(s.ctx)
	}()
}

func (s *Service) keyArn(id string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", s.region, s.account, id)
}

func (s *Service) aliasArn(name string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:%s", s.region, s.account, name)
}

// newUUID returns a random (version 4) UUID, as KMS key ids are.
func newUUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("kms: uuid: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newStoreID returns cks- and 17 hex digits (choice; the model allows 1..64
// characters).
func newStoreID() string {
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("kms: store id: %v", err))
	}
	return "cks-" + hex.EncodeToString(b)[:17]
}

// Timestamp is a time on the wire: epoch seconds, as AWS JSON 1.1 sends it.
type Timestamp float64

// ts converts a time for the wire.
func ts(t time.Time) *Timestamp {
	v := Timestamp(float64(t.UnixMilli()) / 1000) // milliseconds, as AWS sends them
	return &v
}
