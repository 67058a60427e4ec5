package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/keystorm/keystorm/fakes/cloudhsm"
	"github.com/keystorm/keystorm/fakes/hsm"
)

// The HSM client part of the admin API is what `keystorm cloudhsm-cli` talks
// to: logins to a cluster, held on the stack until logout (as the CloudHSM
// client holds them), and the user and key actions of the CloudHSM CLI.
//
//	POST /v1/cluster-sessions        {"cluster_id", "username", "role", "password"} -> {"session"}
//	POST /v1/cluster-sessions/logout {"session"}
//	POST /v1/cluster-sessions/run    {"session", "action", "username", "role", "password", "key_id"}
//
// Actions: user-list, user-create, user-delete, user-change-password,
// key-list, key-delete.

// hsmClient holds the cluster sessions opened through the admin API.
type hsmClient struct {
	mu       sync.Mutex
	sessions map[string]*cloudhsm.Session
}

func (a *API) registerHSMClient() {
	a.hsm = &hsmClient{sessions: map[string]*cloudhsm.Session{}}
	route(a, "POST /v1/cluster-sessions", a.login)
	route(a, "POST /v1/cluster-sessions/logout", a.logout)
	route(a, "POST /v1/cluster-sessions/run", a.runAction)
}

type loginInput struct {
	ClusterID string `json:"cluster_id"`
	Username  string `json:"username"`
	Role      string `json:"role"`
	Password  string `json:"password"`
}

func (a *API) login(ctx context.Context, in loginInput) (any, error) {
	switch {
	case in.Username == "":
		return nil, bad("username: required")
	case in.Role != string(hsm.RoleAdmin) && in.Role != string(hsm.RoleCryptoUser):
		return nil, bad("role: %q, want admin or crypto-user", in.Role)
	}
	c, _, err := a.resolve(target{ClusterID: in.ClusterID})
	if err != nil {
		return nil, err
	}
	s, err := c.Login(ctx, in.Username, hsm.Role(in.Role), in.Password)
	if err != nil {
		return nil, actionError(err)
	}
	b := make([]byte, 16)
	rand.Read(b)
	token := hex.EncodeToString(b)
	a.hsm.mu.Lock()
	a.hsm.sessions[token] = s
	a.hsm.mu.Unlock()
	return map[string]string{"session": token, "username": in.Username, "role": in.Role}, nil
}

type sessionInput struct {
	Session string `json:"session"`
}

func (a *API) session(token string) (*cloudhsm.Session, error) {
	if token == "" {
		return nil, bad("session: required (log in first)")
	}
	a.hsm.mu.Lock()
	defer a.hsm.mu.Unlock()
	s, ok := a.hsm.sessions[token]
	if !ok {
		return nil, fmt.Errorf("session: no such login (logged out, or the stack restarted): %w", cloudhsm.ErrNotFound)
	}
	return s, nil
}

func (a *API) logout(_ context.Context, in sessionInput) (any, error) {
	s, err := a.session(in.Session)
	if err != nil {
		return nil, err
	}
	a.hsm.mu.Lock()
	delete(a.hsm.sessions, in.Session)
	a.hsm.mu.Unlock()
	s.Logout()
	return map[string]string{"message": "Logout successful"}, nil
}

type actionInput struct {
	Session  string `json:"session"`
	Action   string `json:"action"`
	Username string `json:"username"`
	Role     string `json:"role"`
	Password string `json:"password"`
	KeyID    string `json:"key_id"`
}

// ActionError is an error the HSMs gave an action: a 422 with the HSM's
// words, as the CloudHSM CLI would print them.
type actionErr struct{ err error }

func (e actionErr) Error() string { return e.err.Error() }
func (e actionErr) Unwrap() error { return e.err }

func actionError(err error) error { return actionErr{err} }

func (a *API) runAction(ctx context.Context, in actionInput) (any, error) {
	s, err := a.session(in.Session)
	if err != nil {
		return nil, err
	}
	c := s.Cluster()
	switch in.Action {
	case "user-list":
		users, err := c.Users()
		if err != nil {
			return nil, actionError(err)
		}
		out := []map[string]any{}
		for _, u := range users {
			info, _, _ := c.User(u.Name)
			out = append(out, map[string]any{"username": u.Name, "role": string(u.Role), "locked": fmt.Sprint(info.LockedOut), "mfa": []string{}, "cluster-coverage": "full"})
		}
		return map[string]any{"users": out}, nil
	case "user-create":
		if in.Username == "" || in.Password == "" {
			return nil, bad("username and password: required")
		}
		if err := s.CreateUser(ctx, in.Username, hsm.Role(in.Role), in.Password); err != nil {
			return nil, actionError(err)
		}
		return map[string]string{"username": in.Username, "role": in.Role}, nil
	case "user-delete":
		if in.Username == "" {
			return nil, bad("username: required")
		}
		if err := s.DeleteUser(ctx, in.Username); err != nil {
			return nil, actionError(err)
		}
		return map[string]string{"username": in.Username}, nil
	case "user-change-password":
		if in.Username == "" || in.Password == "" {
			return nil, bad("username and password: required")
		}
		if err := s.ChangePassword(ctx, in.Username, in.Password); err != nil {
			return nil, actionError(err)
		}
		return map[string]string{"username": in.Username, "role": in.Role}, nil
	case "key-list":
		keys, err := s.Keys(ctx)
		if err != nil {
			return nil, actionError(err)
		}
		matched := []map[string]any{}
		for _, id := range keys {
			if in.KeyID != "" && !strings.EqualFold(strings.TrimPrefix(in.KeyID, "0x"), id) {
				continue
			}
			matched = append(matched, map[string]any{"key-reference": "0x" + id, "attributes": map[string]string{"id": "0x" + id, "key-type": "aes", "class": "secret-key"}})
		}
		return map[string]any{"matched_keys": matched, "total_key_count": len(matched)}, nil
	case "key-delete":
		if in.KeyID == "" {
			return nil, bad("key_id: required")
		}
		if err := s.DeleteKey(ctx, strings.TrimPrefix(strings.ToLower(in.KeyID), "0x")); err != nil {
			return nil, actionError(err)
		}
		return map[string]string{"message": "Key deleted successfully"}, nil
	}
	return nil, bad("action: %q, want user-list, user-create, user-delete, user-change-password, key-list or key-delete", in.Action)
}
