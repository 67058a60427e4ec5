package faults

import (
	"context"

	"github.com/keystorm/keystorm/harness/target"
)

// DeleteOrphanedMaterial is procedure 5: the backing key of a KMS key that
// is gone (deleted while its store was disconnected, so KMS could not
// delete the material: DeleteKey's audit event says FAILURE) is deleted by
// kmsuser: procedure 4 in, `key delete` by backingKeyId, procedure 4 out.
// The store is left in the connection state it was found in.
type DeleteOrphanedMaterial struct {
	Store string `yaml:"store" doc:"the store whose cluster holds the orphaned material"`
	Key   string `yaml:"key" doc:"the deleted KMS key's name in the scenario (its backingKeyId comes from its CreateKey audit event)"`
}

var _ Action = (*DeleteOrphanedMaterial)(nil)

func (*DeleteOrphanedMaterial) Name() string { return "delete-orphaned-material" }
func (*DeleteOrphanedMaterial) Kind() Kind   { return KindStep }
func (*DeleteOrphanedMaterial) Needs() []target.Capability {
	return []target.Capability{target.KMS, target.HSMClient}
}

func (s *DeleteOrphanedMaterial) Validate() []error {
	return required(required(nil, "store", s.Store), "key", s.Key)
}

func (s *DeleteOrphanedMaterial) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	storeID, err := env.Store(s.Store)
	if err != nil {
		return err
	}
	return deleteMaterial(ctx, env, storeID, s.Key, s.Key)
}
