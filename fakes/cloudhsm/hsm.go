package cloudhsm

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/keystorm/keystorm/fakes/hsm"
	"github.com/keystorm/keystorm/fakes/sessionpool"
)

// HSM is one HSM of a cluster as the network sees it: its node behind a path
// that a fault can block or slow down. It is what KMS pools sessions of.
type HSM struct {
	cluster                     *Cluster
	id, az, subnetID, eniID, ip string
	created                     time.Time
	node                        *hsm.Node

	blocked atomic.Bool
	latency atomic.Int64 // added to every call, in nanoseconds
}

var _ sessionpool.HSM = (*HSM)(nil)

// HSMInfo describes an HSM, as DescribeClusters shows it.
type HSMInfo struct {
	ID, ClusterID, AZ, SubnetID, EniID, EniIP string
	State                                     string
	Created                                   time.Time
}

// Info describes the HSM.
func (h *HSM) Info() HSMInfo {
	return HSMInfo{ID: h.id, ClusterID: h.cluster.id, AZ: h.az, SubnetID: h.subnetID, EniID: h.eniID, EniIP: h.ip, State: "ACTIVE", Created: h.created}
}

// ID implements sessionpool.HSM.
func (h *HSM) ID() string { return h.id }

// Cluster returns the HSM's cluster.
func (h *HSM) Cluster() *Cluster { return h.cluster }

// Node returns the HSM node behind the network.
func (h *HSM) Node() *hsm.Node { return h.node }

// SetBlocked blocks or restores the network path to this HSM.
func (h *HSM) SetBlocked(b bool) { h.blocked.Store(b) }

// SetLatency adds d to every call to this HSM (0 removes it).
func (h *HSM) SetLatency(d time.Duration) { h.latency.Store(int64(d)) }

// reach crosses the network to the HSM: it fails if the path is blocked and
// takes the added latency, if any.
func (h *HSM) reach(ctx context.Context) error {
	if h.blocked.Load() || h.cluster.network.blocked.Load() {
		return fmt.Errorf("hsm %s: %w", h.id, ErrUnreachable)
	}
	d := time.Duration(h.latency.Load() + h.cluster.network.latency.Load())
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// OpenSession implements sessionpool.HSM.
func (h *HSM) OpenSession(ctx context.Context) (pkcs11.SessionHandle, error) {
	if err := h.reach(ctx); err != nil {
		return 0, err
	}
	return h.node.OpenSession(ctx)
}

// CloseSession implements sessionpool.HSM.
func (h *HSM) CloseSession(sh pkcs11.SessionHandle) error { return h.node.CloseSession(sh) }

// Encrypt seals plaintext under a backing key in a session of this HSM.
func (h *HSM) Encrypt(ctx context.Context, sh pkcs11.SessionHandle, keyID string, plaintext, aad []byte) ([]byte, error) {
	if err := h.reach(ctx); err != nil {
		return nil, err
	}
	return h.node.Encrypt(sh, keyID, plaintext, aad)
}

// Decrypt opens what Encrypt sealed.
func (h *HSM) Decrypt(ctx context.Context, sh pkcs11.SessionHandle, keyID string, sealed, aad []byte) ([]byte, error) {
	if err := h.reach(ctx); err != nil {
		return nil, err
	}
	return h.node.Decrypt(sh, keyID, sealed, aad)
}

// network is the path from KMS to a whole cluster.
type network struct {
	blocked atomic.Bool
	latency atomic.Int64
}

// SetBlocked blocks or restores the network path to every HSM of the
// cluster (a NACL or security group that drops the traffic, a partition).
func (c *Cluster) SetBlocked(b bool) { c.network.blocked.Store(b) }

// Blocked reports whether the path to the cluster is blocked.
func (c *Cluster) Blocked() bool { return c.network.blocked.Load() }

// SetLatency adds d to every call to the cluster's HSMs.
func (c *Cluster) SetLatency(d time.Duration) { c.network.latency.Store(int64(d)) }

// SetSecurityGroupRulesBroken breaks or repairs the cluster security group's
// rules (TCP 2223-2225 to itself), which KMS needs intact.
func (c *Cluster) SetSecurityGroupRulesBroken(b bool) {
	c.plane.mu.Lock()
	defer c.plane.mu.Unlock()
	c.sgRulesBroken = b
}
