package faults

import (
	"context"
	"fmt"

	"github.com/keystorm/keystorm/harness/target"
)

// LogoutKmsuser ends the kmsuser login that login-kmsuser holds on a
// cluster (procedure 4, out): the fix of USER_LOGGED_IN. If the password
// changed meanwhile, update-store `password: known` follows.
type LogoutKmsuser struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
}

var _ Action = (*LogoutKmsuser)(nil)

func (*LogoutKmsuser) Name() string               { return "logout-kmsuser" }
func (*LogoutKmsuser) Kind() Kind                 { return KindStep }
func (*LogoutKmsuser) Needs() []target.Capability { return []target.Capability{target.HSMClient} }

func (s *LogoutKmsuser) Validate() []error { return required(nil, "cluster", s.Cluster) }

func (s *LogoutKmsuser) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	c, err := env.Cluster(s.Cluster)
	if err != nil {
		return err
	}
	admin, err := adminAPI(env, target.HSMClient)
	if err != nil {
		return err
	}
	session, ok := env.releaseKmsuserLogin(s.Cluster)
	if !ok {
		return fmt.Errorf("no kmsuser login is held on cluster %s (login-kmsuser makes one)", c.ID)
	}
	l := &clusterLogin{env: env, admin: admin, clusterID: c.ID, user: kmsuser, session: session}
	return l.logout(ctx)
}
