package faults

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/keystorm/keystorm/harness/target"
)

// DeleteStore calls DeleteCustomKeyStore. Only a DISCONNECTED store with no
// KMS keys (not even PendingDeletion ones) goes; otherwise the call fails
// CustomKeyStoreInvalidStateException or CustomKeyStoreHasCMKsException,
// which an `outcome` expectation can assert. The cluster, its users and
// keys are untouched either way.
type DeleteStore struct {
	Store string `yaml:"store" doc:"the store's name in the scenario"`
}

var _ Action = (*DeleteStore)(nil)

func (*DeleteStore) Name() string               { return "delete-store" }
func (*DeleteStore) Kind() Kind                 { return KindStep }
func (*DeleteStore) Needs() []target.Capability { return []target.Capability{target.KMS} }

func (s *DeleteStore) Validate() []error { return required(nil, "store", s.Store) }

func (s *DeleteStore) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	id, err := env.Store(s.Store)
	if err != nil {
		return err
	}
	if _, err := env.Stack.KMS().DeleteCustomKeyStore(ctx, &kms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		return fmt.Errorf("delete store %s: %w", storeLabel(env, id), err)
	}
	return nil
}
