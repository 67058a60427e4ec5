package faults

import (
	"context"
	"fmt"

	"github.com/keystorm/keystorm/harness/target"
)

// SetClockSpeed sets how fast the stack clock runs through the admin API:
// 60 makes a minute of stack time (connects, disconnects, deletion
// windows) pass in a real second.
type SetClockSpeed struct {
	Speed float64 `yaml:"speed" doc:"stack seconds per real second, more than 0 (such as 60)"`
}

var _ Action = (*SetClockSpeed)(nil)

func (*SetClockSpeed) Name() string               { return "set-clock-speed" }
func (*SetClockSpeed) Kind() Kind                 { return KindStep }
func (*SetClockSpeed) Needs() []target.Capability { return []target.Capability{target.Clock} }

func (s *SetClockSpeed) Validate() []error {
	if !(s.Speed > 0) || s.Speed > 1e6 {
		return []error{fmt.Errorf("speed: %v, want more than 0 and at most 1000000", s.Speed)}
	}
	return nil
}

func (s *SetClockSpeed) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	admin, err := adminAPI(env, target.Clock)
	if err != nil {
		return err
	}
	if err := admin.Post(ctx, "/v1/clock", map[string]float64{"speed": s.Speed}, nil); err != nil {
		return fmt.Errorf("set the stack clock's speed to %v: %w", s.Speed, err)
	}
	return nil
}
