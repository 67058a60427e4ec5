package faults

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keystorm/keystorm/harness/target"
)

// DeleteKeyMaterial deletes a KMS key's backing key from the cluster's
// HSMs the way an operator does (procedures 4 and 5): disconnect the store;
// as the crypto officer set kmsuser's password; log in as kmsuser; `key
// delete` by backingKeyId; log out; tell KMS the password
// (UpdateCustomKeyStore); and, if the store was CONNECTED, reconnect and
// wait until it is CONNECTED again. A store found DISCONNECTED is left so;
// one found FAILED is left DISCONNECTED. The KMS key then fails
// KMSInvalidStateException (and shows Unavailable after a while); only a
// backup taken while it existed brings it back (procedure 6).
//
// The backing key is the one Env binds to the key (BindBackingKey, from the
// key's CreateKey audit event); with none bound, it is the one key of
// kmsuser's `key list` that Env binds to no other key, if there is exactly
// one.
type DeleteKeyMaterial struct {
	Key string `yaml:"key" doc:"the KMS key's name in the scenario"`
}

var _ Action = (*DeleteKeyMaterial)(nil)

func (*DeleteKeyMaterial) Name() string { return "delete-key-material" }
func (*DeleteKeyMaterial) Kind() Kind   { return KindFault }
func (*DeleteKeyMaterial) Needs() []target.Capability {
	return []target.Capability{target.KMS, target.HSMClient}
}

func (f *DeleteKeyMaterial) Validate() []error { return required(nil, "key", f.Key) }

func (f *DeleteKeyMaterial) Inject(ctx context.Context, env *Env) (err error) {
	defer wrap(&err, f)
	if err := need(env, f); err != nil {
		return err
	}
	keyID, err := env.Key(f.Key)
	if err != nil {
		return err
	}
	out, err := env.Stack.KMS().DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		return fmt.Errorf("describe key %s: %w", keyID, err)
	}
	storeID := aws.ToString(out.KeyMetadata.CustomKeyStoreId)
	if storeID == "" {
		return fmt.Errorf("key %s is not in a custom key store: it has no backing key", keyID)
	}
	return deleteMaterial(ctx, env, storeID, f.Key, keyID)
}

// deleteMaterial is procedure 4 in, `key delete` of the named key's backing
// key, procedure 4 out, on the cluster that backs the store now; the store
// is left in the connection state it was found in.
func deleteMaterial(ctx context.Context, env *Env, storeID, keyName, keyLabel string) error {
	st, err := settleStore(ctx, env, storeID)
	if err != nil {
		return err
	}
	// The store's cluster now, not the key's at creation: procedure 6 may
	// have moved the store to a cluster restored from a backup.
	clusterName, c, err := clusterByID(env, aws.ToString(st.CloudHsmClusterId))
	if err != nil {
		return err
	}
	wasConnected := st.ConnectionState == types.ConnectionStateTypeConnected
	if st.ConnectionState != types.ConnectionStateTypeDisconnected {
		if err := disconnectStore(ctx, env, storeID, true); err != nil {
			return err
		}
	}
	password := randomPassword()
	if err := setKmsuserPassword(ctx, env, clusterName, password, "log in as kmsuser"); err != nil {
		return err
	}
	// Out of procedure 4 whether or not the key went: a store left with a
	// password KMS does not know would fail its next connect for a reason
	// of the action's making.
	deleted := (&DeleteKeyMaterial{Key: keyName}).deleteBackingKey(ctx, env, c.ID, keyLabel, password)
	return errors.Join(deleted, restoreStore(ctx, env, storeID, password, wasConnected))
}

// restoreStore tells KMS kmsuser's password and reconnects a store that was
// CONNECTED, waiting until it is CONNECTED again.
func restoreStore(ctx context.Context, env *Env, storeID, password string, reconnect bool) error {
	if _, err := env.Stack.KMS().UpdateCustomKeyStore(ctx, &kms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(storeID), KeyStorePassword: aws.String(password)}); err != nil {
		return fmt.Errorf("update the password of store %s: %w", storeLabel(env, storeID), err)
	}
	if !reconnect {
		return nil
	}
	st, err := connectStore(ctx, env, storeID, true)
	if err != nil {
		return err
	}
	if st.ConnectionState != types.ConnectionStateTypeConnected {
		return fmt.Errorf("reconnect store %s: %s", storeLabel(env, storeID), stateText(st))
	}
	return nil
}

// deleteBackingKey logs in as kmsuser, deletes the key's backing key by its
// id and logs out.
func (f *DeleteKeyMaterial) deleteBackingKey(ctx context.Context, env *Env, clusterID, keyID, password string) (err error) {
	l, err := loginCluster(ctx, env, clusterID, kmsuser, roleCryptoUser, password)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, l.logout(ctx)) }()
	var list struct {
		Keys []struct {
			Attributes struct {
				ID string `json:"id"`
			} `json:"attributes"`
		} `json:"matched_keys"`
	}
	if err := l.run(ctx, "key-list", nil, &list); err != nil {
		return err
	}
	var ids []string
	for _, k := range list.Keys {
		ids = append(ids, strings.ToLower(strings.TrimPrefix(k.Attributes.ID, "0x")))
	}
	backing, err := f.backingKey(env, ids)
	if err != nil {
		return fmt.Errorf("key %s in cluster %s: %w", keyID, clusterID, err)
	}
	if err := l.run(ctx, "key-delete", map[string]string{"key_id": "0x" + backing}, nil); err != nil {
		return fmt.Errorf("delete backing key %s of key %s: %w", backing, keyID, err)
	}
	return nil
}

// backingKey picks the key's backing key among the ids kmsuser lists.
func (f *DeleteKeyMaterial) backingKey(env *Env, listed []string) (string, error) {
	if id, ok := env.BackingKey(f.Key); ok {
		id = strings.ToLower(strings.TrimPrefix(id, "0x"))
		if !slices.Contains(listed, id) {
			return "", fmt.Errorf("its backing key %s is not among kmsuser's keys %v (deleted already?)", id, listed)
		}
		return id, nil
	}
	others := env.otherBackingKeys(f.Key)
	var candidates []string
	for _, id := range listed {
		if !others[id] {
			candidates = append(candidates, id)
		}
	}
	if len(candidates) != 1 {
		return "", fmt.Errorf("no backing key is bound to it, and kmsuser has %d keys bound to no other key (%v): bind the backingKeyId of its CreateKey audit event (Env.BindBackingKey)", len(candidates), candidates)
	}
	env.BindBackingKey(f.Key, candidates[0])
	return candidates[0], nil
}
