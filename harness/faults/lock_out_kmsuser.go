package faults

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/keystorm/keystorm/harness/target"
)

// LockOutKmsuser logs in as kmsuser with a wrong password, attempts times
// in a row, through the HSM client: five lock kmsuser out. It works while
// the store is CONNECTED (anyone may try a login; KMS's own session stays),
// and that is the point: the keys then fail with the guide's lockout
// message. Fewer attempts only count toward the lockout, as KMS's own
// logins with a wrong password do.
type LockOutKmsuser struct {
	Cluster  string `yaml:"cluster" doc:"the cluster's name in the scenario"`
	Attempts int    `yaml:"attempts" doc:"failed logins to make (default 5, which locks kmsuser out)"`
}

var _ Action = (*LockOutKmsuser)(nil)

func (*LockOutKmsuser) Name() string               { return "lock-out-kmsuser" }
func (*LockOutKmsuser) Kind() Kind                 { return KindFault }
func (*LockOutKmsuser) Needs() []target.Capability { return []target.Capability{target.HSMClient} }

func (f *LockOutKmsuser) Validate() []error {
	errs := required(nil, "cluster", f.Cluster)
	if f.Attempts < 1 || f.Attempts > 20 {
		errs = append(errs, fmt.Errorf("attempts: %d, want 1 to 20 (%d lock kmsuser out)", f.Attempts, maxFailedLogins))
	}
	return errs
}

func (f *LockOutKmsuser) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	c, err := env.Cluster(f.Cluster)
	if err != nil {
		return err
	}
	wrong := randomPassword()
	for wrong == c.KmsuserPassword {
		wrong = randomPassword()
	}
	for i := 1; i <= f.Attempts; i++ {
		l, err := loginCluster(ctx, env, c.ID, kmsuser, roleCryptoUser, wrong)
		if err == nil {
			return errors.Join(fmt.Errorf("failed login %d of kmsuser to cluster %s: a random password was accepted", i, c.ID), l.logout(ctx))
		}
		// The HSMs refuse a wrong password with 422; anything else did not
		// reach them, and counted nothing.
		var ae *target.AdminError
		if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity {
			return fmt.Errorf("failed login %d of %d: %w", i, f.Attempts, err)
		}
	}
	return nil
}
