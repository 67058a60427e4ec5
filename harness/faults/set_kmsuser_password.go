package faults

import (
	"context"

	"github.com/keystorm/keystorm/harness/target"
)

// SetKmsuserPassword is procedure 3's fix: as the crypto officer (admin),
// set kmsuser's password to a known value, which also unlocks a locked-out
// kmsuser. Env records it under the cluster's name for update-store
// `password: known` and login-kmsuser. Every store over the cluster must be
// DISCONNECTED (disconnect-store first). Needed too on a cluster made from
// a backup: its kmsuser has the password of backup time, which KMS had
// rotated.
type SetKmsuserPassword struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
	// Password is empty for a fresh random one.
	Password string `yaml:"password" doc:"the new password, 7 to 32 letters and digits (default: a fresh random one)"`
}

var _ Action = (*SetKmsuserPassword)(nil)

func (*SetKmsuserPassword) Name() string { return "set-kmsuser-password" }
func (*SetKmsuserPassword) Kind() Kind   { return KindStep }
func (*SetKmsuserPassword) Needs() []target.Capability {
	return []target.Capability{target.KMS, target.HSMClient}
}

func (s *SetKmsuserPassword) Validate() []error {
	errs := required(nil, "cluster", s.Cluster)
	if s.Password != "" {
		if err := checkPassword("password", s.Password); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func (s *SetKmsuserPassword) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	pw := s.Password
	if pw == "" {
		pw = randomPassword()
	}
	return setKmsuserPassword(ctx, env, s.Cluster, pw, "change kmsuser's password")
}
