package faults

import (
	"context"

	"github.com/keystorm/keystorm/harness/target"
)

// ConnectStore connects a store (ConnectCustomKeyStore): procedure 1, and
// the last step of every fix. The call answers at once; the attempt takes
// the connect duration and ends CONNECTED or FAILED with a
// ConnectionErrorCode. With wait, the step returns once the attempt has
// ended, either way: the scenario's checks judge which. A quick-check
// failure (CloudHsmClusterNotActiveException, ...) is the step's error.
type ConnectStore struct {
	Store string `yaml:"store" doc:"the store's name in the scenario"`
	Wait  bool   `yaml:"wait" doc:"wait until the attempt ends CONNECTED or FAILED (default false)"`
}

var _ Action = (*ConnectStore)(nil)

func (*ConnectStore) Name() string               { return "connect-store" }
func (*ConnectStore) Kind() Kind                 { return KindStep }
func (*ConnectStore) Needs() []target.Capability { return []target.Capability{target.KMS} }

func (s *ConnectStore) Validate() []error { return required(nil, "store", s.Store) }

func (s *ConnectStore) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	id, err := env.Store(s.Store)
	if err != nil {
		return err
	}
	_, err = connectStore(ctx, env, id, s.Wait)
	return err
}
