package faults

import (
	"context"

	"github.com/keystorm/keystorm/harness/target"
)

// RotateKmsuserPassword is the crypto officer (admin) changing kmsuser's
// password to a fresh value behind KMS's back. The real service lets
// nobody change it while KMS is logged in as kmsuser, so every store over
// the cluster must be DISCONNECTED first; the action fails, naming the
// store, otherwise. The next connect fails INVALID_CREDENTIALS (and counts
// toward the lockout). Env records the new password, as an operator who
// did it would know it: procedure 3's "find kmsuser's password" path
// (update-store `password: known`) or its "set a known one" path both fix it.
type RotateKmsuserPassword struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
}

var _ Action = (*RotateKmsuserPassword)(nil)

func (*RotateKmsuserPassword) Name() string { return "rotate-kmsuser-password" }
func (*RotateKmsuserPassword) Kind() Kind   { return KindFault }
func (*RotateKmsuserPassword) Needs() []target.Capability {
	return []target.Capability{target.KMS, target.HSMClient}
}

func (f *RotateKmsuserPassword) Validate() []error { return required(nil, "cluster", f.Cluster) }

func (f *RotateKmsuserPassword) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	return setKmsuserPassword(ctx, env, f.Cluster, randomPassword(), "change kmsuser's password")
}
