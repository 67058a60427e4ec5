package cloudhsm

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	// machine runs the node when the plane has a NodeHost; nil for a token
	// of the plane's own module.
	machine Machine
	calls   sync.WaitGroup // calls to the machine, abandoned ones included
	down    atomic.Bool    // a call to the machine got no answer (overNetwork)
	probing atomic.Bool    // one call is finding out whether it is back

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

// Machine returns the machine the HSM's node runs on, or nil for a node of
// the plane's own module.
func (h *HSM) Machine() Machine { return h.machine }

// SetBlocked blocks or restores the network path to this HSM: on its machine,
// packets are dropped.
func (h *HSM) SetBlocked(ctx context.Context, b bool) error {
	h.blocked.Store(b)
	if h.machine == nil {
		return nil
	}
	if err := h.machine.Block(ctx, b); err != nil {
		return fmt.Errorf("hsm %s: %w", h.id, err)
	}
	return nil
}

// SetLatency adds d to every call to this HSM (0 removes it).
func (h *HSM) SetLatency(d time.Duration) { h.latency.Store(int64(d)) }

// reach crosses the network to the HSM: it fails if the path is blocked and
// takes the added latency, if any. Control-plane work (logins, password
// changes, backups) checks the path this way on every kind of node; crypto
// calls to a node on a machine cross the real network instead (call).
func (h *HSM) reach(ctx context.Context) error {
	if h.blocked.Load() || h.cluster.network.blocked.Load() {
		return fmt.Errorf("hsm %s: %w", h.id, ErrUnreachable)
	}
	return sleep(ctx, h.addedLatency())
}

// addedLatency is what the latency faults on the HSM and its cluster add to
// each call.
func (h *HSM) addedLatency() time.Duration {
	return time.Duration(h.latency.Load() + h.cluster.network.latency.Load())
}

// call makes one data-plane call to the node: past reach for an in-process
// node, across the real network (with KMS's timeout) for one on a machine.
func (h *HSM) call(ctx context.Context, fn func() error) error {
	if h.machine != nil {
		return h.overNetwork(ctx, fn)
	}
	if err := h.reach(ctx); err != nil {
		return err
	}
	return fn()
}

// OpenSession implements sessionpool.HSM.
func (h *HSM) OpenSession(ctx context.Context) (sh pkcs11.SessionHandle, err error) {
	err = h.call(ctx, func() (err error) {
		sh, err = h.node.OpenSession(ctx)
		return err
	})
	return sh, err
}

// CloseSession implements sessionpool.HSM. On a machine the close goes out
// in the background: the pool closes a session after a call to it timed
// out, and the caller must not wait on a node that does not answer.
func (h *HSM) CloseSession(sh pkcs11.SessionHandle) error {
	if h.machine == nil {
		return h.node.CloseSession(sh)
	}
	h.calls.Add(1)
	go func() {
		defer h.calls.Done()
		h.node.CloseSession(sh) // a lost session is gone with its connection anyway
	}()
	return nil
}

// Encrypt seals plaintext under a backing key in a session of this HSM.
func (h *HSM) Encrypt(ctx context.Context, sh pkcs11.SessionHandle, keyID string, plaintext, aad []byte) (out []byte, err error) {
	err = h.call(ctx, func() (err error) {
		out, err = h.node.Encrypt(sh, keyID, plaintext, aad)
		return err
	})
	return out, err
}

// Decrypt opens what Encrypt sealed.
func (h *HSM) Decrypt(ctx context.Context, sh pkcs11.SessionHandle, keyID string, sealed, aad []byte) (out []byte, err error) {
	err = h.call(ctx, func() (err error) {
		out, err = h.node.Decrypt(sh, keyID, sealed, aad)
		return err
	})
	return out, err
}

// network is the path from KMS to a whole cluster.
type network struct {
	blocked atomic.Bool
	latency atomic.Int64
}

// SetBlocked blocks or restores the network path to every HSM of the
// cluster (a NACL or security group that drops the traffic, a partition);
// on machines, their packets are dropped, and an HSM added meanwhile starts
// blocked.
func (c *Cluster) SetBlocked(ctx context.Context, b bool) error {
	c.network.blocked.Store(b)
	var errs []error
	for _, h := range c.HSMs() {
		if h.machine != nil {
			if err := h.machine.Block(ctx, b); err != nil {
				errs = append(errs, fmt.Errorf("hsm %s: %w", h.id, err))
			}
		}
	}
	return errors.Join(errs...)
}

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
