package kms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keystorm/keystorm/fakes/cloudhsm"
	"github.com/keystorm/keystorm/fakes/hsm"
	"github.com/keystorm/keystorm/fakes/sessionpool"
)

// connection is what a store holds while CONNECTING and CONNECTED: the
// attempt's cancel, then kmsuser's session, the ENIs' addresses and the
// session pool over the cluster's HSMs.
type connection struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the attempt has ended

	mu        sync.Mutex // guards what the attempt sets up
	cluster   *cloudhsm.Cluster
	session   *cloudhsm.Session
	pool      *sessionpool.Pool
	subnets   []string // one address taken in each
	stopWatch func()
	reg       prometheus.Registerer
}

// close undoes whatever the connection set up: KMS logs kmsuser out, drops
// its sessions and removes its ENIs.
func (c *connection) close() {
	c.cancel()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopWatch != nil {
		c.stopWatch()
		c.stopWatch = nil
	}
	if c.pool != nil {
		c.pool.Close()
		if c.reg != nil {
			c.reg.Unregister(c.pool)
		}
		c.pool = nil
	}
	if c.session != nil {
		c.session.Logout()
		c.session = nil
	}
	for _, id := range c.subnets {
		c.cluster.Plane().ReturnAddress(id)
	}
	c.subnets = nil
}

// ConnectCustomKeyStore starts connecting a DISCONNECTED store, after the
// quick checks, and returns at once; the attempt ends CONNECTED or FAILED.
func (s *Service) ConnectCustomKeyStore(id string) error {
	s.mu.Lock()
	st, err := s.store(id)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	switch st.state {
	case StateConnected, StateConnecting:
		s.mu.Unlock()
		return nil
	case StateFailed:
		s.mu.Unlock()
		return errf(CustomKeyStoreInvalidState, "Custom key store %s is FAILED; disconnect it before connecting it again. Its ConnectionErrorCode is %s.", st.id, st.errCode)
	case StateDisconnecting:
		s.mu.Unlock()
		return errf(CustomKeyStoreInvalidState, "Custom key store %s is DISCONNECTING.", st.id)
	}
	clusterID := st.clusterID
	s.mu.Unlock()

	// Quick checks: the store stays DISCONNECTED and the call fails. A
	// deleted cluster is not one of them: the attempt finds it gone.
	if c, err := s.plane.Cluster(clusterID); err == nil && c.State() != cloudhsm.ClusterDeleted {
		if c.State() != cloudhsm.ClusterActive {
			return errf(CloudHsmClusterNotActive, "AWS CloudHSM cluster %s is not active.", clusterID)
		}
		if err := s.checkClusterConfig(c, false); err != nil {
			return err
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		// No new background work once Close has waited for it.
		return errf(KMSInternal, "The service is shutting down.")
	}
	if st.state != StateDisconnected || s.stores[id] != st {
		// Changed meanwhile; answer as if it had been so at once.
		if st.state == StateConnecting || st.state == StateConnected {
			return nil
		}
		return errf(CustomKeyStoreInvalidState, "Custom key store %s is %s.", st.id, st.state)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	conn := &connection{cancel: cancel, done: make(chan struct{}), reg: s.cfg.Registerer}
	st.conn, st.state, st.errCode = conn, StateConnecting, ""
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(conn.done)
		s.attempt(ctx, st, conn)
	}()
	return nil
}

// attempt is one connection attempt: it takes the configured (stack) time,
// then sets the store CONNECTED or FAILED with the first code that applies.
func (s *Service) attempt(ctx context.Context, st *store, conn *connection) {
	if err := s.clock.Sleep(ctx, s.cfg.ConnectDuration); err != nil {
		return // disconnected or closed meanwhile
	}
	if s.bugs.StuckConnecting {
		<-ctx.Done()
		return
	}
	s.mu.Lock()
	clusterID, password, storeID := st.clusterID, st.password, st.id
	s.mu.Unlock()
	code, rotated := s.establish(ctx, conn, storeID, clusterID, password)

	s.mu.Lock()
	defer s.mu.Unlock()
	if st.conn != conn {
		return // disconnected meanwhile: whoever did it cleans up
	}
	if code != "" {
		if s.bugs.ConnectionErrorCode != "" {
			code = s.bugs.ConnectionErrorCode
		}
		st.state, st.errCode, st.conn = StateFailed, code, nil
		// Undone once this attempt has returned (close waits for it).
		s.goBackground(func(context.Context) { conn.close() })
		return
	}
	st.password = rotated
	st.state = StateConnected
}

// establish does what KMS does to connect: find the cluster, make the ENIs,
// log in as kmsuser and rotate its password. It returns the
// ConnectionErrorCode of the first failure, or "" and the new password.
func (s *Service) establish(ctx context.Context, conn *connection, storeID, clusterID, password string) (code, rotated string) {
	c, err := s.plane.Cluster(clusterID)
	if err != nil || c.State() == cloudhsm.ClusterDeleted {
		return ErrCodeClusterNotFound, ""
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	conn.cluster = c
	subnets := c.SubnetIDs()
	for _, id := range subnets {
		if sub, err := s.plane.Subnet(id); err != nil || sub.Deleted {
			return ErrCodeSubnetNotFound, ""
		}
	}
	for _, id := range subnets {
		if _, err := s.plane.TakeAddress(id); err != nil {
			if errors.Is(err, cloudhsm.ErrNoFreeAddress) {
				return ErrCodeInsufficientAddresses, ""
			}
			return ErrCodeSubnetNotFound, ""
		}
		conn.subnets = append(conn.subnets, id)
	}
	hsms := c.HSMs()
	if len(hsms) == 0 {
		return ErrCodeInsufficientHSMs, ""
	}
	reachable := 0
	for _, h := range hsms {
		if h.Reachable() {
			reachable++
		}
	}
	if reachable == 0 {
		return ErrCodeNetwork, ""
	}
	u, found, err := c.User(KmsUser)
	switch {
	case err != nil:
		return ErrCodeInternal, ""
	case !found:
		return ErrCodeUserNotFound, ""
	case u.LockedOut:
		return ErrCodeUserLockedOut, ""
	case u.LoggedIn:
		return ErrCodeUserLoggedIn, ""
	}
	sess, err := c.Login(ctx, KmsUser, hsm.RoleCryptoUser, password)
	switch {
	case errors.Is(err, hsm.ErrWrongPassword):
		return ErrCodeInvalidCredentials, ""
	case errors.Is(err, hsm.ErrLockedOut):
		return ErrCodeUserLockedOut, ""
	case errors.Is(err, hsm.ErrUserNotFound):
		return ErrCodeUserNotFound, ""
	case errors.Is(err, cloudhsm.ErrUnreachable):
		return ErrCodeNetwork, ""
	case err != nil:
		return ErrCodeInternal, ""
	}
	conn.session = sess
	if s.faults.take(faultConnect) {
		return ErrCodeInternal, ""
	}
	rotated = randomPassword()
	if err := sess.ChangePassword(ctx, KmsUser, rotated); err != nil {
		return ErrCodeInternal, ""
	}
	conn.pool = sessionpool.New(sessionpool.MaxSessions(int(s.sessionCap.Load())), sessionpool.WaitBudget(s.cfg.WaitBudget),
		sessionpool.Labels(map[string]string{"store": storeID}))
	if conn.reg != nil {
		if err := conn.reg.Register(conn.pool); err != nil {
			conn.reg = nil // a pool of this store from before is still registered; go without
		}
	}
	pool := conn.pool
	conn.stopWatch = c.Watch(func(ev cloudhsm.Event) {
		switch ev.Kind {
		case cloudhsm.HSMAdded:
			pool.Add(ev.HSM)
		case cloudhsm.HSMRemoved:
			pool.Remove(ev.HSM.ID())
		}
	})
	for _, h := range c.HSMs() {
		pool.Add(h)
	}
	return "", rotated
}

// randomPassword is the password KMS rotates kmsuser's to: 32 characters
// only KMS knows.
func randomPassword() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("kms: password: %v", err))
	}
	return hex.EncodeToString(b)
}

// DisconnectCustomKeyStore disconnects a store that is CONNECTED,
// CONNECTING or FAILED: it is DISCONNECTING at once (its keys Unavailable),
// then DISCONNECTED with no error code.
func (s *Service) DisconnectCustomKeyStore(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.store(id)
	if err != nil {
		return err
	}
	if s.closed {
		return errf(KMSInternal, "The service is shutting down.")
	}
	switch st.state {
	case StateConnected, StateConnecting, StateFailed:
	default:
		return errf(CustomKeyStoreInvalidState, "Custom key store %s is %s.", st.id, st.state)
	}
	conn := st.conn
	st.conn, st.state = nil, StateDisconnecting
	s.goBackground(func(ctx context.Context) {
		if conn != nil {
			conn.close()
		}
		s.clock.Sleep(ctx, s.cfg.DisconnectDuration)
		s.mu.Lock()
		defer s.mu.Unlock()
		if st.state == StateDisconnecting {
			st.state, st.errCode = StateDisconnected, ""
		}
	})
	return nil
}
