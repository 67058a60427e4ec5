package cloudhsm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/keystorm/keystorm/fakes/softhsm"
)

// NodeHost runs HSM nodes on machines of their own, each in its subnet's
// network, so that a deleted subnet, a blocked path or a killed node is a
// real network or machine fault. A plane without one keeps every node as a
// token of its own SoftHSM module, in-process, and plays those faults.
type NodeHost interface {
	// StartNode starts the machine of a new HSM in a subnet.
	StartNode(ctx context.Context, hsmID, subnetID string) (Machine, error)
	// RemoveSubnet takes a subnet's network away, with its machines'
	// connections to it.
	RemoveSubnet(ctx context.Context, subnetID string) error
}

// Machine is where one HSM node runs. Its methods act on the machine and
// the network, never on the node's PKCS#11 state.
type Machine interface {
	// Module is the node's SoftHSM, reached over the network.
	Module() *softhsm.Module
	// Address is the machine's IP address in its subnet.
	Address() string
	// Block drops (true) or passes again (false) every packet to the node.
	Block(ctx context.Context, blocked bool) error
	// Kill stops the machine at once, calls in flight included.
	Kill(ctx context.Context) error
	// Pause freezes the machine mid-request; Resume thaws it.
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
	// Remove disconnects the node and removes its machine.
	Remove(ctx context.Context) error
}

// CallTimeout is how long a call to an HSM on a machine may take before KMS
// gives up on it, as the real service does when the network drops its
// packets. A call left behind ends when the network answers again or when
// the machine is removed.
const CallTimeout = 2 * time.Second

// errTimeout marks a session whose call was abandoned: the session pool
// closes it rather than reuse it while the call may still be running.
var errTimeout = pkcs11.Error(pkcs11.CKR_DEVICE_ERROR)

// overNetwork runs fn, a PKCS#11 call to the node on h's machine, and gives up
// after CallTimeout; transport failures become ErrUnreachable, as KMS maps
// them to its network message.
//
// After a call times out or loses its connection the HSM counts as down, as
// a client's health check would have it: one call at a time probes it, and
// the others fail at once with ErrUnreachable instead of each waiting out
// the timeout while holding a PKCS#11 session (which would turn a network
// fault into session exhaustion). The first probe that gets an answer
// brings the HSM back.
func (h *HSM) overNetwork(ctx context.Context, fn func() error) error {
	if h.down.Load() {
		if !h.probing.CompareAndSwap(false, true) {
			return fmt.Errorf("hsm %s: down since a call got no answer: %w: %w", h.id, ErrUnreachable, errTimeout)
		}
		defer h.probing.Store(false)
	}
	err := h.callOverNetwork(ctx, fn)
	var rv pkcs11.Error
	switch {
	case errors.Is(err, ErrUnreachable):
		h.down.Store(true)
	case ctx.Err() != nil:
		// The caller gave up: that says nothing of the node.
	case err == nil || errors.As(err, &rv):
		h.down.Store(false) // the node answered
	}
	return err
}

func (h *HSM) callOverNetwork(ctx context.Context, fn func() error) error {
	if err := sleep(ctx, h.addedLatency()); err != nil {
		return err
	}
	done := make(chan error, 1)
	h.calls.Add(1)
	go func() {
		defer h.calls.Done()
		done <- fn()
	}()
	t := time.NewTimer(CallTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		if lostConnection(err) {
			return fmt.Errorf("hsm %s: %w: %w", h.id, ErrUnreachable, err)
		}
		return err
	case <-t.C:
		return fmt.Errorf("hsm %s: no answer within %v: %w: %w", h.id, CallTimeout, ErrUnreachable, errTimeout)
	case <-ctx.Done():
		// The caller gave up; the call may still be running in the session,
		// which must not be used again.
		return fmt.Errorf("hsm %s: %w: %w", h.id, ctx.Err(), errTimeout)
	}
}

// lostConnection tells whether a PKCS#11 error is p11-kit's for a connection
// that broke (the peer went away or reset it).
func lostConnection(err error) bool {
	var rv pkcs11.Error
	if !errors.As(err, &rv) {
		return false
	}
	switch rv {
	case pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT,
		pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED:
		return true
	}
	return false
}

// sleep waits d (nothing for d <= 0) unless ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
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
