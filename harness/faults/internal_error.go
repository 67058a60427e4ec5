package faults

import (
	"context"
	"fmt"
	"regexp"

	"github.com/keystorm/keystorm/harness/target"
)

// InternalError makes the next calls of a KMS operation fail through the
// admin API: KMSInternalException (any call may get one, spec section 2),
// or, for "connect", the next connection attempts end FAILED
// INTERNAL_ERROR, whose fix is to retry. Injected errors are the stack's,
// taken by whichever store or key calls next.
type InternalError struct {
	Operation string `yaml:"operation" doc:"a KMS operation such as Encrypt, \"*\" for any call (default), or \"connect\" for connection attempts"`
	Count     int    `yaml:"count" doc:"how many calls fail (default 1)"`
}

var _ Action = (*InternalError)(nil)

func (*InternalError) Name() string               { return "internal-error" }
func (*InternalError) Kind() Kind                 { return KindFault }
func (*InternalError) Needs() []target.Capability { return []target.Capability{target.Admin} }

func (f *InternalError) Validate() []error {
	var errs []error
	if err := checkOperation("operation", f.Operation); err != nil {
		errs = append(errs, err)
	}
	if f.Count < 1 || f.Count > 1_000_000 {
		errs = append(errs, fmt.Errorf("count: %d, want 1 to 1000000 (clear-internal-error clears them)", f.Count))
	}
	return errs
}

func (f *InternalError) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	return injectInternalErrors(ctx, env, f.Operation, f.Count)
}

// operationName is a KMS API operation's name, such as GenerateDataKey.
var operationName = regexp.MustCompile(`^[A-Z][A-Za-z]{2,63}$`)

// checkOperation checks an `operation:` parameter.
func checkOperation(param, op string) error {
	if op == "*" || op == "connect" || operationName.MatchString(op) {
		return nil
	}
	return fmt.Errorf("%s: %q, want a KMS operation such as Encrypt, \"*\" or \"connect\"", param, op)
}

// injectInternalErrors sets how many of the next calls of op fail; 0
// clears them.
func injectInternalErrors(ctx context.Context, env *Env, op string, count int) error {
	admin, err := adminAPI(env, target.Admin)
	if err != nil {
		return err
	}
	if err := admin.Post(ctx, "/v1/internal-error", map[string]any{"operation": op, "count": count}, nil); err != nil {
		return fmt.Errorf("inject %d internal errors into %s: %w", count, op, err)
	}
	return nil
}
