package faults

import (
	"context"
	"errors"
	"fmt"

	"github.com/keystorm/keystorm/harness/target"
)

// LoginKmsuser logs in as kmsuser through the HSM client and holds the
// login open until logout-kmsuser, as an operator auditing key material
// does (procedure 4, in): meanwhile a connect fails USER_LOGGED_IN. It uses
// the password Env knows for the cluster, so after a connect (KMS rotated
// it) run set-kmsuser-password first, or the login fails and counts toward
// the lockout. Every store over the cluster must be DISCONNECTED.
type LoginKmsuser struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
}

var _ Action = (*LoginKmsuser)(nil)

func (*LoginKmsuser) Name() string { return "login-kmsuser" }
func (*LoginKmsuser) Kind() Kind   { return KindFault }
func (*LoginKmsuser) Needs() []target.Capability {
	return []target.Capability{target.KMS, target.HSMClient}
}

func (f *LoginKmsuser) Validate() []error { return required(nil, "cluster", f.Cluster) }

func (f *LoginKmsuser) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	c, err := env.Cluster(f.Cluster)
	if err != nil {
		return err
	}
	if c.KmsuserPassword == "" {
		return fmt.Errorf("kmsuser's password on cluster %s is not known: set one with set-kmsuser-password first", c.ID)
	}
	if err := requireDisconnected(ctx, env, c.ID, "log in as kmsuser"); err != nil {
		return err
	}
	l, err := loginCluster(ctx, env, c.ID, kmsuser, roleCryptoUser, c.KmsuserPassword)
	if err != nil {
		return err
	}
	if err := env.holdKmsuserLogin(f.Cluster, l.session); err != nil {
		return errors.Join(err, l.logout(ctx))
	}
	return nil
}
