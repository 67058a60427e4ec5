package faults

import (
	"context"

	"github.com/keystorm/keystorm/harness/target"
)

// ClearInternalError drops the internal errors internal-error injected
// that no call has taken yet.
type ClearInternalError struct {
	Operation string `yaml:"operation" doc:"the operation internal-error named (default \"*\")"`
}

var _ Action = (*ClearInternalError)(nil)

func (*ClearInternalError) Name() string               { return "clear-internal-error" }
func (*ClearInternalError) Kind() Kind                 { return KindStep }
func (*ClearInternalError) Needs() []target.Capability { return []target.Capability{target.Admin} }

func (s *ClearInternalError) Validate() []error {
	if err := checkOperation("operation", s.Operation); err != nil {
		return []error{err}
	}
	return nil
}

func (s *ClearInternalError) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	return injectInternalErrors(ctx, env, s.Operation, 0)
}
