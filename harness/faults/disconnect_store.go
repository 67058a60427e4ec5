package faults

import (
	"context"

	"github.com/keystorm/keystorm/harness/target"
)

// DisconnectStore disconnects a store (DisconnectCustomKeyStore): the first
// step of procedures 2 to 6, and the only way out of FAILED. Its keys are
// Unavailable at once; KMS logs kmsuser out and frees its ENIs' addresses.
// With wait (the default) the step returns once the store is DISCONNECTED.
type DisconnectStore struct {
	Store string `yaml:"store" doc:"the store's name in the scenario"`
	Wait  bool   `yaml:"wait" doc:"wait until it is DISCONNECTED (default true)"`
}

var _ Action = (*DisconnectStore)(nil)

func (*DisconnectStore) Name() string               { return "disconnect-store" }
func (*DisconnectStore) Kind() Kind                 { return KindStep }
func (*DisconnectStore) Needs() []target.Capability { return []target.Capability{target.KMS} }

func (s *DisconnectStore) Validate() []error { return required(nil, "store", s.Store) }

func (s *DisconnectStore) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	id, err := env.Store(s.Store)
	if err != nil {
		return err
	}
	return disconnectStore(ctx, env, id, s.Wait)
}
