package faults

import (
	"context"
	"fmt"

	"github.com/keystorm/keystorm/harness/target"
)

// ExhaustSessions caps the PKCS#11 sessions KMS may open on each HSM
// through the admin API. The cap is the stack's, for every store: a burst
// (more so with add-latency) then waits for a session past the pool's
// budget and fails KMSInternalException about PKCS #11 sessions, which the
// guide says to back off and retry (procedure 7). restore-sessions undoes it.
type ExhaustSessions struct {
	MaxPerHSM int `yaml:"max-per-hsm" doc:"sessions per HSM (default 1)"`
}

var _ Action = (*ExhaustSessions)(nil)

func (*ExhaustSessions) Name() string               { return "exhaust-sessions" }
func (*ExhaustSessions) Kind() Kind                 { return KindFault }
func (*ExhaustSessions) Needs() []target.Capability { return []target.Capability{target.Admin} }

func (f *ExhaustSessions) Validate() []error {
	if f.MaxPerHSM < 1 || f.MaxPerHSM > 1024 {
		return []error{fmt.Errorf("max-per-hsm: %d, want 1 to 1024", f.MaxPerHSM)}
	}
	return nil
}

func (f *ExhaustSessions) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	return setSessionCap(ctx, env, f.MaxPerHSM)
}

// setSessionCap sets the stack's PKCS#11 session cap per HSM.
func setSessionCap(ctx context.Context, env *Env, n int) error {
	admin, err := adminAPI(env, target.Admin)
	if err != nil {
		return err
	}
	if err := admin.Post(ctx, "/v1/sessions", map[string]int{"max_per_hsm": n}, nil); err != nil {
		return fmt.Errorf("set the session cap to %d per HSM: %w", n, err)
	}
	return nil
}
