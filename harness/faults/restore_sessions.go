package faults

import (
	"context"
	"fmt"

	"github.com/keystorm/keystorm/harness/target"
)

// DefaultSessionsPerHSM is the embedded stack's PKCS#11 session cap per HSM
// (fakes/sessionpool.DefaultMaxSessions). The admin API has no "back to the
// default" (it takes 1 or more), so restore-sessions sets this value.
const DefaultSessionsPerHSM = 16

// RestoreSessions sets the PKCS#11 session cap per HSM back (to the stack's
// default unless told otherwise), undoing exhaust-sessions.
type RestoreSessions struct {
	MaxPerHSM int `yaml:"max-per-hsm" doc:"sessions per HSM (default 16, the stack's default)"`
}

var _ Action = (*RestoreSessions)(nil)

func (*RestoreSessions) Name() string               { return "restore-sessions" }
func (*RestoreSessions) Kind() Kind                 { return KindStep }
func (*RestoreSessions) Needs() []target.Capability { return []target.Capability{target.Admin} }

func (s *RestoreSessions) Validate() []error {
	if s.MaxPerHSM < 1 || s.MaxPerHSM > 1024 {
		return []error{fmt.Errorf("max-per-hsm: %d, want 1 to 1024", s.MaxPerHSM)}
	}
	return nil
}

func (s *RestoreSessions) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	return setSessionCap(ctx, env, s.MaxPerHSM)
}
