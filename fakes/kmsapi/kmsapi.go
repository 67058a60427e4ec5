// Package kmsapi serves the KMS service of fakes/kms over the real KMS wire
// protocol (AWS JSON 1.1, TrentService.*, SigV4), through fakes/awsjson.
package kmsapi

import (
	"context"
	"errors"

	"github.com/keystorm/keystorm/fakes/awsjson"
	"github.com/keystorm/keystorm/fakes/kms"
)

// New returns the HTTP handler of the KMS API over svc; opts configure the
// protocol layer (credentials, Region, observer).
func New(svc *kms.Service, opts ...awsjson.Option) *awsjson.Service {
	api := awsjson.NewService(awsjson.KMSModel(), opts...)
	handle(api, svc, "CreateCustomKeyStore", func(_ context.Context, in kms.CreateCustomKeyStoreInput) (any, error) {
		return svc.CreateCustomKeyStore(in)
	})
	handle(api, svc, "DescribeCustomKeyStores", func(_ context.Context, in kms.DescribeCustomKeyStoresInput) (any, error) {
		return svc.DescribeCustomKeyStores(in)
	})
	handle(api, svc, "UpdateCustomKeyStore", func(_ context.Context, in kms.UpdateCustomKeyStoreInput) (any, error) {
		return nil, svc.UpdateCustomKeyStore(in)
	})
	handle(api, svc, "DeleteCustomKeyStore", func(_ context.Context, in storeIDInput) (any, error) {
		return nil, svc.DeleteCustomKeyStore(in.CustomKeyStoreId)
	})
	handle(api, svc, "ConnectCustomKeyStore", func(_ context.Context, in storeIDInput) (any, error) {
		return nil, svc.ConnectCustomKeyStore(in.CustomKeyStoreId)
	})
	handle(api, svc, "DisconnectCustomKeyStore", func(_ context.Context, in storeIDInput) (any, error) {
		return nil, svc.DisconnectCustomKeyStore(in.CustomKeyStoreId)
	})
	handle(api, svc, "CreateKey", func(_ context.Context, in kms.CreateKeyInput) (any, error) { return svc.CreateKey(in) })
	handle(api, svc, "DescribeKey", func(_ context.Context, in kms.KeyIdInput) (any, error) { return svc.DescribeKey(in) })
	handle(api, svc, "ListKeys", func(_ context.Context, in kms.ListInput) (any, error) { return svc.ListKeys(in) })
	handle(api, svc, "EnableKey", func(_ context.Context, in kms.KeyIdInput) (any, error) { return nil, svc.EnableKey(in) })
	handle(api, svc, "DisableKey", func(_ context.Context, in kms.KeyIdInput) (any, error) { return nil, svc.DisableKey(in) })
	handle(api, svc, "ScheduleKeyDeletion", func(_ context.Context, in kms.ScheduleKeyDeletionInput) (any, error) {
		return svc.ScheduleKeyDeletion(in)
	})
	handle(api, svc, "CancelKeyDeletion", func(_ context.Context, in kms.KeyIdInput) (any, error) { return svc.CancelKeyDeletion(in) })
	handle(api, svc, "CreateAlias", func(_ context.Context, in kms.CreateAliasInput) (any, error) { return nil, svc.CreateAlias(in) })
	handle(api, svc, "ListAliases", func(_ context.Context, in kms.ListInput) (any, error) { return svc.ListAliases(in) })
	handle(api, svc, "Encrypt", func(ctx context.Context, in kms.EncryptInput) (any, error) { return svc.Encrypt(ctx, in) })
	handle(api, svc, "Decrypt", func(ctx context.Context, in kms.DecryptInput) (any, error) { return svc.Decrypt(ctx, in) })
	handle(api, svc, "ReEncrypt", func(ctx context.Context, in kms.ReEncryptInput) (any, error) { return svc.ReEncrypt(ctx, in) })
	handle(api, svc, "GenerateDataKey", func(ctx context.Context, in kms.GenerateDataKeyInput) (any, error) {
		return svc.GenerateDataKey(ctx, in)
	})
	handle(api, svc, "GenerateDataKeyWithoutPlaintext", func(ctx context.Context, in kms.GenerateDataKeyInput) (any, error) {
		return svc.GenerateDataKeyWithoutPlaintext(ctx, in)
	})
	handle(api, svc, "GenerateRandom", func(_ context.Context, in kms.GenerateRandomInput) (any, error) { return svc.GenerateRandom(in) })
	return api
}

type storeIDInput struct {
	CustomKeyStoreId string `json:"CustomKeyStoreId"`
}

// handle registers one operation: an injected internal error first, then the
// service's answer, its exceptions mapped to the wire's.
func handle[In any](api *awsjson.Service, svc *kms.Service, op string, fn func(context.Context, In) (any, error)) {
	api.Handle(op, awsjson.Typed(func(ctx context.Context, in In) (any, error) {
		if err := svc.CheckInjected(op); err != nil {
			return nil, wireError(err)
		}
		// Every fn returns a non-nil result or an error, never a typed nil.
		out, err := fn(ctx, in)
		if err != nil {
			return nil, wireError(err)
		}
		return out, nil
	}))
}

// wireError turns a KMS exception into the wire's; anything else stays an
// internal error, which the protocol layer hides behind KMSInternalException.
func wireError(err error) error {
	var e *kms.Error
	if errors.As(err, &e) {
		return awsjson.NewError(e.Code, e.Message)
	}
	return err
}
