package faults

import (
	"context"

	"github.com/keystorm/keystorm/harness/target"
)

// DeleteKmsuser is the crypto officer (admin) deleting kmsuser. The HSMs
// refuse while kmsuser owns keys (its KMS keys' backing keys), and the real
// service while KMS is logged in as kmsuser, so every store over the
// cluster must be DISCONNECTED. The next connect fails USER_NOT_FOUND; Env
// forgets kmsuser's password.
type DeleteKmsuser struct {
	Cluster string `yaml:"cluster" doc:"the cluster's name in the scenario"`
}

var _ Action = (*DeleteKmsuser)(nil)

func (*DeleteKmsuser) Name() string { return "delete-kmsuser" }
func (*DeleteKmsuser) Kind() Kind   { return KindFault }
func (*DeleteKmsuser) Needs() []target.Capability {
	return []target.Capability{target.KMS, target.HSMClient}
}

func (f *DeleteKmsuser) Validate() []error { return required(nil, "cluster", f.Cluster) }

func (f *DeleteKmsuser) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	c, err := env.Cluster(f.Cluster)
	if err != nil {
		return err
	}
	if err := requireDisconnected(ctx, env, c.ID, "delete kmsuser"); err != nil {
		return err
	}
	err = asAdmin(ctx, env, c, func(l *clusterLogin) error {
		return l.run(ctx, "user-delete", map[string]string{"username": kmsuser, "role": roleCryptoUser}, nil)
	})
	if err != nil {
		return err
	}
	return env.UpdateCluster(f.Cluster, func(c *Cluster) { c.KmsuserPassword = "" })
}
