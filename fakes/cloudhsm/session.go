package cloudhsm

import (
	"context"
	"errors"
	"fmt"

	"github.com/keystorm/keystorm/fakes/hsm"
)

// ErrNoHSM is returned by cluster operations that need an HSM when the
// cluster has none (or none reachable).
var ErrNoHSM = errors.New("cluster has no active HSM")

// Session is a user's login to a cluster, as the CloudHSM CLI and client
// make it: a login to every HSM, extended to HSMs added later. It keeps the
// password for that, as the client keeps its credentials.
type Session struct {
	cluster  *Cluster
	user     string
	role     hsm.Role
	password string              // guarded by Plane.mu
	logins   map[*HSM]*hsm.Login // guarded by Plane.mu
	ended    bool                // guarded by Plane.mu
}

// User returns who is logged in.
func (s *Session) User() string { return s.user }

// Role returns the role of the login.
func (s *Session) Role() hsm.Role { return s.role }

// Cluster returns the cluster logged in to.
func (s *Session) Cluster() *Cluster { return s.cluster }

// Login logs a user in to every reachable HSM of the cluster. A wrong
// password counts toward the lockout on each of them; if any refuses, the
// login fails and leaves no login behind.
func (c *Cluster) Login(ctx context.Context, user string, role hsm.Role, password string) (*Session, error) {
	hsms := c.HSMs()
	if len(hsms) == 0 {
		return nil, fmt.Errorf("login %s to %s: %w", user, c.id, ErrNoHSM)
	}
	s := &Session{cluster: c, user: user, role: role, password: password, logins: map[*HSM]*hsm.Login{}}
	var firstErr error
	reached := 0
	for _, h := range hsms {
		if err := h.reach(ctx); err != nil {
			continue
		}
		reached++
		l, err := h.node.Login(ctx, user, role, password)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		s.logins[h] = l
	}
	switch {
	case reached == 0:
		return nil, fmt.Errorf("login %s to %s: %w", user, c.id, ErrUnreachable)
	case firstErr != nil:
		for _, l := range s.logins {
			l.Logout()
		}
		return nil, fmt.Errorf("login %s to %s: %w", user, c.id, firstErr)
	}
	c.plane.mu.Lock()
	c.sessions[s] = true
	c.plane.mu.Unlock()
	return s, nil
}

// extend logs the session in to a new HSM; a failure leaves that HSM without
// the session's login, as a client that cannot log in to it would.
func (s *Session) extend(ctx context.Context, h *HSM) {
	s.cluster.plane.mu.Lock()
	pw, ended := s.password, s.ended
	s.cluster.plane.mu.Unlock()
	if ended {
		return
	}
	l, err := h.node.Login(ctx, s.user, s.role, pw)
	if err != nil {
		return
	}
	s.cluster.plane.mu.Lock()
	defer s.cluster.plane.mu.Unlock()
	if s.ended {
		l.Logout()
		return
	}
	s.logins[h] = l
}

// Logout ends the session on every HSM.
func (s *Session) Logout() error {
	p := s.cluster.plane
	p.mu.Lock()
	if s.ended {
		p.mu.Unlock()
		return hsm.ErrLoggedOut
	}
	s.ended = true
	delete(s.cluster.sessions, s)
	logins := s.logins
	s.logins = map[*HSM]*hsm.Login{}
	p.mu.Unlock()
	var errs []error
	for _, l := range logins {
		if err := l.Logout(); err != nil && !errors.Is(err, hsm.ErrDeleted) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// each runs fn for every HSM the session is logged in to; it fails if there
// is none.
func (s *Session) each(ctx context.Context, what string, fn func(h *HSM, l *hsm.Login) error) error {
	p := s.cluster.plane
	p.mu.Lock()
	if s.ended {
		p.mu.Unlock()
		return fmt.Errorf("%s: %w", what, hsm.ErrLoggedOut)
	}
	logins := make(map[*HSM]*hsm.Login, len(s.logins))
	for h, l := range s.logins {
		if !h.node.Deleted() {
			logins[h] = l
		}
	}
	order := make([]*HSM, 0, len(logins))
	for _, h := range s.cluster.hsms {
		if logins[h] != nil {
			order = append(order, h)
		}
	}
	p.mu.Unlock()
	if len(order) == 0 {
		return fmt.Errorf("%s on %s: %w", what, s.cluster.id, ErrNoHSM)
	}
	for _, h := range order {
		if err := h.reach(ctx); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := fn(h, logins[h]); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// ChangePassword sets a user's password on every HSM (see
// hsm.Node.ChangePassword for who may). Nobody may change the password of a
// user another session is logged in as: while KMS holds kmsuser's login, not
// even the crypto officer can change kmsuser's password (keystorm's spec,
// section 2). A new key owner password is kept to clone HSMs with.
func (s *Session) ChangePassword(ctx context.Context, user, password string) error {
	c := s.cluster
	c.plane.mu.Lock()
	for other := range c.sessions {
		if other != s && other.user == user {
			c.plane.mu.Unlock()
			return fmt.Errorf("change password of %s on %s: %w", user, c.id, hsm.ErrUserLoggedIn)
		}
	}
	c.plane.mu.Unlock()
	err := s.each(ctx, "change password of "+user, func(h *HSM, l *hsm.Login) error {
		return h.node.ChangePassword(ctx, l, user, password)
	})
	if err != nil {
		return err
	}
	c.noteOwnerPassword(user, password)
	c.plane.mu.Lock()
	defer c.plane.mu.Unlock()
	if s.user == user {
		s.password = password // to log in to HSMs added later
	}
	return nil
}

// CreateUser adds a user on every HSM; only a crypto officer may.
func (s *Session) CreateUser(ctx context.Context, user string, role hsm.Role, password string) error {
	err := s.each(ctx, "create user "+user, func(h *HSM, l *hsm.Login) error {
		return h.node.CreateUser(ctx, l, user, role, password)
	})
	if err != nil {
		return err
	}
	s.cluster.noteOwnerPassword(user, password)
	return nil
}

// DeleteUser removes a user from every HSM; only a crypto officer may.
func (s *Session) DeleteUser(ctx context.Context, user string) error {
	err := s.each(ctx, "delete user "+user, func(h *HSM, l *hsm.Login) error {
		return h.node.DeleteUser(ctx, l, user)
	})
	if err != nil {
		return err
	}
	s.cluster.noteOwnerPassword(user, "")
	return nil
}

// noteOwnerPassword keeps the key owner's new password ("" once deleted) to
// clone HSMs with; other users' passwords live in the HSMs' digests.
func (c *Cluster) noteOwnerPassword(user, password string) {
	c.plane.mu.Lock()
	defer c.plane.mu.Unlock()
	if len(c.hsms) > 0 && user == c.hsms[0].node.KeyOwner() {
		c.seed.ownerPIN = password
	}
}

// GenerateKey makes a backing key on one HSM and replicates it to the
// others; only the key owner may. It returns the key's id (backingKeyId).
func (s *Session) GenerateKey(ctx context.Context) (string, error) {
	var keyID string
	var blob []byte
	err := s.each(ctx, "generate key", func(h *HSM, l *hsm.Login) error {
		if keyID == "" {
			id, err := h.node.GenerateKey(ctx, l)
			if err != nil {
				return err
			}
			keyID = id
			blob, err = h.node.WrapKey(ctx, l, id)
			return err
		}
		return h.node.UnwrapKey(ctx, l, keyID, blob)
	})
	return keyID, err
}

// Keys lists the key owner's keys, as the first HSM holds them.
func (s *Session) Keys(ctx context.Context) ([]string, error) {
	var keys []string
	err := s.each(ctx, "list keys", func(h *HSM, l *hsm.Login) error {
		if keys != nil {
			return nil
		}
		var err error
		keys, err = h.node.Keys(ctx, l)
		if keys == nil {
			keys = []string{}
		}
		return err
	})
	return keys, err
}

// DeleteKey deletes a key from every HSM; only its owner may.
func (s *Session) DeleteKey(ctx context.Context, keyID string) error {
	return s.each(ctx, "delete key "+keyID, func(h *HSM, l *hsm.Login) error {
		return h.node.DeleteKey(ctx, l, keyID)
	})
}

// Users lists the cluster's users as its first HSM knows them.
func (c *Cluster) Users() ([]hsm.UserInfo, error) {
	hsms := c.HSMs()
	if len(hsms) == 0 {
		return nil, fmt.Errorf("users of %s: %w", c.id, ErrNoHSM)
	}
	return hsms[0].node.Users(), nil
}

// User describes one user of the cluster: logged in if logged in to any of
// its HSMs, locked out if locked out on any.
func (c *Cluster) User(name string) (hsm.UserInfo, bool, error) {
	hsms := c.HSMs()
	if len(hsms) == 0 {
		return hsm.UserInfo{}, false, fmt.Errorf("user %s of %s: %w", name, c.id, ErrNoHSM)
	}
	var out hsm.UserInfo
	found := false
	for _, h := range hsms {
		u, ok := h.node.User(name)
		if !ok {
			continue
		}
		if !found {
			out, found = u, true
			continue
		}
		out.LoggedIn = out.LoggedIn || u.LoggedIn
		out.LockedOut = out.LockedOut || u.LockedOut
	}
	return out, found, nil
}
