package faults

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/keystorm/keystorm/harness/target"
)

// EnableKey enables a KMS key (EnableKey): the fix of DisabledException,
// and the step after cancel-key-deletion, which leaves a key Disabled.
type EnableKey struct {
	Key string `yaml:"key" doc:"the key's name in the scenario"`
}

var _ Action = (*EnableKey)(nil)

func (*EnableKey) Name() string               { return "enable-key" }
func (*EnableKey) Kind() Kind                 { return KindStep }
func (*EnableKey) Needs() []target.Capability { return []target.Capability{target.KMS} }

func (s *EnableKey) Validate() []error { return required(nil, "key", s.Key) }

func (s *EnableKey) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	id, err := env.Key(s.Key)
	if err != nil {
		return err
	}
	if _, err := env.Stack.KMS().EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(id)}); err != nil {
		return fmt.Errorf("enable key %s: %w", id, err)
	}
	return nil
}
