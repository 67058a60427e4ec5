package faults

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keystorm/keystorm/harness/target"
)

// SetStorePassword tells KMS a wrong kmsuser password
// (UpdateCustomKeyStore KeyStorePassword), which changes nothing in the
// cluster. KMS takes a password only while the store is DISCONNECTED; the
// action fails otherwise. The next connect fails INVALID_CREDENTIALS, and
// each such attempt counts toward kmsuser's lockout.
type SetStorePassword struct {
	Store string `yaml:"store" doc:"the store's name in the scenario"`
	// Password is empty for a fresh random one, wrong for certain.
	Password string `yaml:"password" doc:"the wrong password, 7 to 32 letters and digits (default: a fresh random one)"`
}

var _ Action = (*SetStorePassword)(nil)

func (*SetStorePassword) Name() string               { return "set-store-password" }
func (*SetStorePassword) Kind() Kind                 { return KindFault }
func (*SetStorePassword) Needs() []target.Capability { return []target.Capability{target.KMS} }

func (f *SetStorePassword) Validate() []error {
	errs := required(nil, "store", f.Store)
	if f.Password != "" {
		if err := checkPassword("password", f.Password); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func (f *SetStorePassword) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	id, err := env.Store(f.Store)
	if err != nil {
		return err
	}
	st, err := describeStore(ctx, env, id)
	if err != nil {
		return err
	}
	if st.ConnectionState != types.ConnectionStateTypeDisconnected {
		return fmt.Errorf("store %s is %s: KMS takes a new password only while it is DISCONNECTED (disconnect-store first)", storeLabel(env, id), st.ConnectionState)
	}
	pw := f.Password
	if pw == "" {
		pw = randomPassword()
	}
	if _, err := env.Stack.KMS().UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), KeyStorePassword: aws.String(pw)}); err != nil {
		return fmt.Errorf("update the password of store %s: %w", storeLabel(env, id), err)
	}
	return nil
}
