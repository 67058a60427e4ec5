package faults

import (
	"context"
	"fmt"
	"time"

	"github.com/keystorm/keystorm/harness/target"
)

// AdvanceClock moves the stack clock forward through the admin API, so
// that what the real service does in days (a 7-day deletion window) or
// minutes (a connect) happens within a run: whatever the jump passes
// happens at once.
type AdvanceClock struct {
	By time.Duration `yaml:"by" doc:"how far, such as 168h (at most 8760h)"`
}

var _ Action = (*AdvanceClock)(nil)

func (*AdvanceClock) Name() string               { return "advance-clock" }
func (*AdvanceClock) Kind() Kind                 { return KindStep }
func (*AdvanceClock) Needs() []target.Capability { return []target.Capability{target.Clock} }

func (s *AdvanceClock) Validate() []error {
	if s.By <= 0 || s.By > 365*24*time.Hour {
		return []error{fmt.Errorf("by: %v, want more than 0 and at most 8760h", s.By)}
	}
	return nil
}

func (s *AdvanceClock) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	admin, err := adminAPI(env, target.Clock)
	if err != nil {
		return err
	}
	if err := admin.Post(ctx, "/v1/clock", map[string]string{"advance": s.By.String()}, nil); err != nil {
		return fmt.Errorf("advance the stack clock by %v: %w", s.By, err)
	}
	return nil
}
