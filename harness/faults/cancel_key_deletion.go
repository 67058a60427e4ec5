package faults

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/keystorm/keystorm/harness/target"
)

// CancelKeyDeletion cancels a key's scheduled deletion
// (CancelKeyDeletion). The key is left Disabled (Unavailable until its
// store reconnects): enable-key follows.
type CancelKeyDeletion struct {
	Key string `yaml:"key" doc:"the key's name in the scenario"`
}

var _ Action = (*CancelKeyDeletion)(nil)

func (*CancelKeyDeletion) Name() string               { return "cancel-key-deletion" }
func (*CancelKeyDeletion) Kind() Kind                 { return KindStep }
func (*CancelKeyDeletion) Needs() []target.Capability { return []target.Capability{target.KMS} }

func (s *CancelKeyDeletion) Validate() []error { return required(nil, "key", s.Key) }

func (s *CancelKeyDeletion) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	id, err := env.Key(s.Key)
	if err != nil {
		return err
	}
	if _, err := env.Stack.KMS().CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: aws.String(id)}); err != nil {
		return fmt.Errorf("cancel the deletion of key %s: %w", id, err)
	}
	return nil
}
