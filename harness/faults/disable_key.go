package faults

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/keystorm/keystorm/harness/target"
)

// DisableKey disables a KMS key (DisableKey): its crypto calls then fail
// DisabledException. On an Unavailable key it succeeds without a visible
// change and takes effect on reconnect (the last of enable and disable
// wins).
type DisableKey struct {
	Key string `yaml:"key" doc:"the key's name in the scenario"`
}

var _ Action = (*DisableKey)(nil)

func (*DisableKey) Name() string               { return "disable-key" }
func (*DisableKey) Kind() Kind                 { return KindStep }
func (*DisableKey) Needs() []target.Capability { return []target.Capability{target.KMS} }

func (s *DisableKey) Validate() []error { return required(nil, "key", s.Key) }

func (s *DisableKey) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, s)
	if err := need(env, s); err != nil {
		return err
	}
	id, err := env.Key(s.Key)
	if err != nil {
		return err
	}
	if _, err := env.Stack.KMS().DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(id)}); err != nil {
		return fmt.Errorf("disable key %s: %w", id, err)
	}
	return nil
}
