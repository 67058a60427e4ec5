package faults

import (
	"fmt"

	"github.com/keystorm/keystorm/harness/target"
)

// Check reports whether s can perform a: nil, or an error naming the action
// and the first capability it needs that s lacks, for which
// errors.Is(err, target.ErrMissing) holds. The runner checks every action
// of a scenario before the run starts, and reports a scenario whose target
// cannot perform one as not applicable, never as passed.
func Check(a Action, s target.Stack) error {
	if err := target.Require(s, a.Needs()...); err != nil {
		return fmt.Errorf("%s: %w", a.Name(), err)
	}
	return nil
}
