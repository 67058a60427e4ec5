package run

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keystorm/keystorm/harness/check"
	"github.com/keystorm/keystorm/harness/faults"
	"github.com/keystorm/keystorm/harness/history"
	"github.com/keystorm/keystorm/harness/load"
)

// Ciphertexts made in setup take plaintext ids and sequence numbers from
// ranges the load never reaches.
const (
	setupIDBase  = 1 << 62
	setupSeqBase = 1 << 62
)

// setup makes what the scenario's setup names: it binds the target's
// clusters, creates and connects the stores, creates the keys and seals
// the ciphertexts kept for the end. Each action is an Injection of kind
// setup in the History.
func (r *runner) setup(ctx context.Context) error {
	sc := r.sc
	info := r.stack.Info()
	if len(info.Clusters) < len(sc.Setup.Clusters) {
		return fmt.Errorf("setup: the scenario names %d clusters, the target has %d", len(sc.Setup.Clusters), len(info.Clusters))
	}
	for i, name := range sc.Setup.Clusters {
		c := info.Clusters[i]
		r.env.BindCluster(name, faults.Cluster{
			ID: c.ClusterID, TrustAnchorPEM: c.TrustAnchorPEM, KmsuserPassword: c.KmsuserPassword,
			AdminPassword: c.AdminPassword, SubnetIDs: c.SubnetIDs,
		})
	}
	suffix := randomSuffix()
	for _, st := range sc.Setup.Stores {
		err := r.stamp(ctx, "setup:store:"+st.Name, "create-store", func(ctx context.Context) error {
			c, err := r.env.Cluster(st.Cluster)
			if err != nil {
				return err
			}
			// Store names are unique in an account and Region: a run's own
			// suffix keeps runs against a shared target apart.
			out, err := r.stack.KMS().CreateCustomKeyStore(ctx, &kms.CreateCustomKeyStoreInput{
				CustomKeyStoreName: aws.String(fmt.Sprintf("%s-%s-%s", sc.Name, st.Name, suffix)),
				CloudHsmClusterId:  aws.String(c.ID), TrustAnchorCertificate: aws.String(c.TrustAnchorPEM),
				KeyStorePassword: aws.String(c.KmsuserPassword),
			})
			if err != nil {
				return fmt.Errorf("create store %s on cluster %s: %w", st.Name, c.ID, err)
			}
			id := aws.ToString(out.CustomKeyStoreId)
			r.env.BindStore(st.Name, id)
			r.hist.Add(history.Event{Binding: &history.Binding{At: r.since(), Kind: "store", Name: st.Name, ID: id}})
			r.observer.Watch("store", st.Name, id)
			r.created.stores = append(r.created.stores, id)
			return nil
		})
		if err != nil {
			return err
		}
	}
	// Connect every store, then wait for them all: connections run in
	// parallel, as an operator would start them.
	var connect []string
	for _, st := range sc.Setup.Stores {
		if st.Connect || r.storeHasKeys(st.Name) {
			connect = append(connect, st.Name)
		}
	}
	if len(connect) > 0 {
		err := r.stamp(ctx, "setup:connect", "connect-stores", func(ctx context.Context) error {
			for _, name := range connect {
				if err := (&faults.ConnectStore{Store: name}).Inject(ctx, r.env); err != nil {
					return err
				}
			}
			for _, name := range connect {
				if err := faults.WaitConnected(ctx, r.env, name); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	arns := map[string]string{} // key ARN -> name
	for _, k := range sc.Setup.Keys {
		err := r.stamp(ctx, "setup:key:"+k.Name, "create-key", func(ctx context.Context) error {
			in := &kms.CreateKeyInput{Description: aws.String(fmt.Sprintf("keystorm %s %s", sc.Name, k.Name))}
			if k.Store != "" {
				id, err := r.env.Store(k.Store)
				if err != nil {
					return err
				}
				in.Origin, in.CustomKeyStoreId = types.OriginTypeAwsCloudhsm, aws.String(id)
			}
			out, err := r.stack.KMS().CreateKey(ctx, in)
			if err != nil {
				return fmt.Errorf("create key %s: %w", k.Name, err)
			}
			id := aws.ToString(out.KeyMetadata.KeyId)
			arns[aws.ToString(out.KeyMetadata.Arn)] = k.Name
			r.hist.Add(history.Event{Binding: &history.Binding{At: r.since(), Kind: "key", Name: k.Name, ID: id, ARN: aws.ToString(out.KeyMetadata.Arn)}})
			r.env.BindKey(k.Name, id)
			r.observer.Watch("key", k.Name, id)
			r.created.keys = append(r.created.keys, id)
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := r.bindBackingKeys(ctx, arns); err != nil {
		return err
	}
	for _, keep := range sc.Setup.Ciphertexts {
		err := r.stamp(ctx, "setup:ciphertexts:"+keep.Key, "encrypt", func(ctx context.Context) error {
			return r.sealKept(ctx, keep.Key, keep.Count, keep.Size)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) storeHasKeys(store string) bool {
	for _, k := range r.sc.Setup.Keys {
		if k.Store == store {
			return true
		}
	}
	return false
}

// sealKept encrypts count plaintexts under key and records them so that
// the integrity check can decrypt them at the end and the load can decrypt
// them meanwhile.
func (r *runner) sealKept(ctx context.Context, keyName string, count, size int) error {
	keyID, err := r.env.Key(keyName)
	if err != nil {
		return err
	}
	for i := 0; i < count; i++ {
		id := uint64(setupIDBase + len(r.kept))
		seq := uint64(setupSeqBase + len(r.kept))
		pt := load.Plaintext(r.seed, id, size)
		sent := r.since()
		out, err := r.stack.KMS().Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: pt})
		if err != nil {
			return fmt.Errorf("encrypt under %s: %w", keyName, err)
		}
		r.hist.Request(history.Request{
			Seq: seq, Op: check.OpSetupEncrypt, Key: keyName, Intended: sent, Sent: sent, Done: r.since(),
			Status: 200, Size: size, PlaintextID: id, Ciphertext: out.CiphertextBlob,
		})
		r.kept = append(r.kept, load.Ciphertext{Key: keyName, PlaintextID: id, Size: size, Blob: out.CiphertextBlob})
	}
	return nil
}

func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}
