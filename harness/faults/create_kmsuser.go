package faults

import (
	"context"

	"github.com/keystorm/keystorm/harness/target"
)

// CreateKmsuser is the crypto officer (admin) creating the crypto user
// kmsuser: the fix of USER_NOT_FOUND, followed by update-store
// `password: known` (Env records the password). The HSMs refuse to delete a
// user who owns keys (delete-kmsuser), so a cluster that lost kmsuser had
// no key material of its store's.
type CreateKmsuser struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
	// Password is empty for a fresh random one.
	Password string `yaml:"password" doc:"its password, 7 to 32 letters and digits (default: a fresh random one)"`
}

var _ Action = (*CreateKmsuser)(nil)

func (*CreateKmsuser) Name() string               { return "create-kmsuser" }
func (*CreateKmsuser) Kind() Kind                 { return KindStep }
func (*CreateKmsuser) Needs() []target.Capability { return []target.Capability{target.HSMClient} }

func (s *CreateKmsuser) Validate() []error {
	errs := required(nil, "cluster", s.Cluster)
	if s.Password != "" {
		if err := checkPassword("password", s.Password); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func (s *CreateKmsuser) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	c, err := env.Cluster(s.Cluster)
	if err != nil {
		return err
	}
	pw := s.Password
	if pw == "" {
		pw = randomPassword()
	}
	err = asAdmin(ctx, env, c, func(l *clusterLogin) error {
		return l.run(ctx, "user-create", map[string]string{"username": kmsuser, "role": roleCryptoUser, "password": pw}, nil)
	})
	if err != nil {
		return err
	}
	return env.UpdateCluster(s.Cluster, func(c *Cluster) { c.KmsuserPassword = pw })
}
