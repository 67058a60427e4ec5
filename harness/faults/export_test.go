package faults

import "context"

// SettleStore exposes settleStore, whose retries of KMSInternalException
// no action's first call can reach (that call takes the injected error).
func SettleStore(ctx context.Context, env *Env, id string) error {
	_, err := settleStore(ctx, env, id)
	return err
}
