package stack_test

// Section 4 of /work/shared/spec/keystore-behavior.md: the exceptions of the
// cryptographic operations (Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
// GenerateDataKeyWithoutPlaintext), each condition through each operation,
// then the recovery that makes them work again; and their happy paths, with
// an AWS_KMS software key for comparison.

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	kmssvc "github.com/keystorm/keystorm/fakes/kms"
	"github.com/keystorm/keystorm/fakes/stack"
)

// The data plane's messages that the spec quotes from the troubleshooting
// guide.
const (
	msgNetwork = "KMS cannot communicate with your CloudHSM cluster. This might be a transient network issue. " +
		"If you see this error repeatedly, verify that the Network ACLs and the security group rules for the VPC " +
		"of your AWS CloudHSM cluster are correct."
	msgLockedOut = "KMS cannot communicate with your AWS CloudHSM cluster because the kmsuser is locked out. " +
		"If you see this error repeatedly, disconnect the AWS CloudHSM key store and reset the kmsuser account password. " +
		"Update the kmsuser password for the custom key store and try the request again."
)

const (
	excNotFound          = "NotFoundException"
	excDisabled          = "DisabledException"
	excInvalidCiphertext = "InvalidCiphertextException"
	excIncorrectKey      = "IncorrectKeyException"
)

// cryptoOp is one cryptographic operation on a key; blob is a ciphertext
// of that key (for Decrypt and ReEncrypt).
type cryptoOp struct {
	name string
	do   func(ctx context.Context, c *kms.Client, keyID string, blob []byte) error
}

var cryptoOps = []cryptoOp{
	{"Encrypt", func(ctx context.Context, c *kms.Client, keyID string, _ []byte) error {
		_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("plaintext")})
		return err
	}},
	{"Decrypt", func(ctx context.Context, c *kms.Client, keyID string, blob []byte) error {
		_, err := c.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(keyID), CiphertextBlob: blob})
		return err
	}},
	{"ReEncrypt", func(ctx context.Context, c *kms.Client, keyID string, blob []byte) error {
		_, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: blob, DestinationKeyId: aws.String(keyID)})
		return err
	}},
	{"GenerateDataKey", func(ctx context.Context, c *kms.Client, keyID string, _ []byte) error {
		_, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256})
		return err
	}},
	{"GenerateDataKeyWithoutPlaintext", func(ctx context.Context, c *kms.Client, keyID string, _ []byte) error {
		_, err := c.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256})
		return err
	}},
}

// TestCryptoExceptions is the spec's table of conditions: each through
// every cryptographic operation, with its exception (and, where the spec
// quotes one, its message); a CONNECTED store stays CONNECTED whatever
// breaks under it; then the documented recovery makes every operation work
// again.
func TestCryptoExceptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stack.Options{Clusters: 7})
	type subject struct {
		keyID, store string // store: "" unless it must stay CONNECTED
		blob         []byte
	}
	// usable makes a CONNECTED store over seeded cluster i with a key and a
	// ciphertext of it.
	usable := func(t *testing.T, i int) subject {
		store := e.createStore(t, fmt.Sprintf("store-%d", i), i)
		e.mustConnect(t, store)
		key := aws.ToString(e.createKey(t, store).KeyId)
		return subject{keyID: key, store: store, blob: e.encrypt(t, key, []byte("secret"), nil)}
	}
	var main subject // cluster 0: several rows take a key of it
	newKey := func(t *testing.T) subject {
		key := aws.ToString(e.createKey(t, main.store).KeyId)
		return subject{keyID: key, blob: e.encrypt(t, key, []byte("secret"), nil)}
	}
	main = usable(t, 0)

	for _, tc := range []struct {
		name     string
		setup    func(t *testing.T) subject
		code     string
		message  string // the whole message, when the spec quotes it
		contains string // a part of it, for the stack's own messages
		status   int    // the HTTP status, when the spec gives it
		recover  func(t *testing.T, s subject)
	}{
		{
			name: "unknown key - NotFoundException",
			setup: func(t *testing.T) subject {
				return subject{keyID: "0b7e3f1c-1d2e-4f5a-8b9c-0123456789ab", blob: main.blob}
			},
			code: excNotFound,
		},
		{
			name: "key Disabled - DisabledException",
			setup: func(t *testing.T) subject {
				s := newKey(t)
				if _, err := e.kms.DisableKey(t.Context(), &kms.DisableKeyInput{KeyId: aws.String(s.keyID)}); err != nil {
					t.Fatal(err)
				}
				return s
			},
			code: excDisabled,
			recover: func(t *testing.T, s subject) {
				if _, err := e.kms.EnableKey(t.Context(), &kms.EnableKeyInput{KeyId: aws.String(s.keyID)}); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "key PendingDeletion - KMSInvalidStateException",
			setup: func(t *testing.T) subject {
				s := newKey(t)
				if _, err := e.kms.ScheduleKeyDeletion(t.Context(), &kms.ScheduleKeyDeletionInput{KeyId: aws.String(s.keyID)}); err != nil {
					t.Fatal(err)
				}
				return s
			},
			code:     excKMSInvalidState,
			contains: "pending deletion",
			recover: func(t *testing.T, s subject) {
				if _, err := e.kms.CancelKeyDeletion(t.Context(), &kms.CancelKeyDeletionInput{KeyId: aws.String(s.keyID)}); err != nil {
					t.Fatal(err)
				}
				if _, err := e.kms.EnableKey(t.Context(), &kms.EnableKeyInput{KeyId: aws.String(s.keyID)}); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "store not CONNECTED (key Unavailable) - KMSInvalidStateException",
			setup: func(t *testing.T) subject {
				s := usable(t, 1)
				e.disconnect(t, s.store)
				return subject{keyID: s.keyID, blob: s.blob}
			},
			code: excKMSInvalidState,
			// Procedure 1: reconnect.
			recover: func(t *testing.T, s subject) {
				e.mustConnect(t, e.describeKey(t, s.keyID).store)
			},
		},
		{
			name: "CONNECTED, backing key deleted from the HSMs - KMSInvalidStateException",
			setup: func(t *testing.T) subject {
				s := usable(t, 2)
				c := e.cluster(2)
				arn := aws.ToString(e.describeKey(t, s.keyID).md.Arn)
				deleteBackingKey(t, e, c, s.store, backingKeyOf(t, e, arn))
				e.mustConnect(t, s.store)
				return s
			},
			code:     excKMSInvalidState,
			contains: "key material",
			// Recovery (procedure 6) is in TestKeyStates.
		},
		{
			name: "CONNECTED, no ACTIVE HSM - KMSInvalidStateException",
			setup: func(t *testing.T) subject {
				s := usable(t, 3)
				e.deleteAllHsms(t, e.cluster(3).ClusterID)
				outlastMaterialLossDelay(t, e, s.keyID)
				return s
			},
			code:     excKMSInvalidState,
			contains: "no active HSM",
			// Procedure 7: CreateHsm.
			recover: func(t *testing.T, s subject) {
				e.createHsm(t, e.cluster(3).ClusterID, e.azs()[0])
			},
		},
		{
			name: "CONNECTED, cluster deleted - KMSInvalidStateException",
			setup: func(t *testing.T) subject {
				s := usable(t, 4)
				id := e.cluster(4).ClusterID
				e.deleteAllHsms(t, id)
				if _, err := e.hsm.DeleteCluster(t.Context(), &cloudhsmv2.DeleteClusterInput{ClusterId: aws.String(id)}); err != nil {
					t.Fatal(err)
				}
				outlastMaterialLossDelay(t, e, s.keyID)
				return s
			},
			code:     excKMSInvalidState,
			contains: "no longer exists",
		},
		{
			name: "CONNECTED, network to the cluster broken - KMSInvalidStateException, HTTP 400, the guide's message",
			setup: func(t *testing.T) subject {
				s := usable(t, 5)
				e.admin(t, "/v1/network", map[string]any{"cluster_id": e.cluster(5).ClusterID, "blocked": true})
				return s
			},
			code:    excKMSInvalidState,
			message: msgNetwork,
			status:  400,
			// Fix the network and retry.
			recover: func(t *testing.T, s subject) {
				e.admin(t, "/v1/network", map[string]any{"cluster_id": e.cluster(5).ClusterID, "blocked": false})
			},
		},
		{
			name: "CONNECTED, kmsuser locked out - KMSInvalidStateException, the guide's message",
			setup: func(t *testing.T) subject {
				s := usable(t, 6)
				e.failLogins(t, e.cluster(6).ClusterID, 5)
				return s
			},
			code:    excKMSInvalidState,
			message: msgLockedOut,
			status:  400,
			// Procedure 3: disconnect, reset the password, Update, connect.
			recover: func(t *testing.T, s subject) {
				c := e.cluster(6)
				e.disconnect(t, s.store)
				e.setKmsuserPassword(t, c.ClusterID, c.AdminPassword, "unlocked1")
				e.mustUpdate(t, s.store, "", "unlocked1", "")
				e.mustConnect(t, s.store)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.setup(t)
			for _, op := range cryptoOps {
				err := op.do(t.Context(), e.kms, s.keyID, s.blob)
				ae := wantCode(t, err, tc.code)
				if tc.message != "" && ae.ErrorMessage() != tc.message {
					t.Errorf("%s: message %q, want %q", op.name, ae.ErrorMessage(), tc.message)
				}
				if tc.contains != "" && !strings.Contains(ae.ErrorMessage(), tc.contains) {
					t.Errorf("%s: message %q, want it to say %q", op.name, ae.ErrorMessage(), tc.contains)
				}
				if tc.status != 0 && httpStatus(err) != tc.status {
					t.Errorf("%s: HTTP %d, want %d", op.name, httpStatus(err), tc.status)
				}
			}
			if s.store != "" {
				if st := e.describe(t, s.store); st.ConnectionState != types.ConnectionStateTypeConnected {
					t.Errorf("store %s after the failures, want it still CONNECTED", st.ConnectionState)
				}
			}
			if tc.recover == nil {
				return
			}
			tc.recover(t, s)
			for _, op := range cryptoOps {
				if err := op.do(t.Context(), e.kms, s.keyID, s.blob); err != nil {
					t.Errorf("%s after the recovery: %v", op.name, err)
				}
			}
		})
	}
}

// outlastMaterialLossDelay looks at a key, then moves the stack clock past
// the delay after which a key whose backing key is in no HSM shows
// Unavailable: a cluster with no HSM must not pass for lost material.
func outlastMaterialLossDelay(t *testing.T, e *env, keyID string) {
	t.Helper()
	e.keyState(t, keyID)
	e.advance(t, 2*kmssvc.DefaultMaterialLossDelay)
}

// describedKey is a key and its store.
type describedKey struct {
	md    types.KeyMetadata
	store string
}

func (e *env) describeKey(t *testing.T, keyID string) describedKey {
	t.Helper()
	out, err := e.kms.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		t.Fatalf("describe key %s: %v", keyID, err)
	}
	return describedKey{*out.KeyMetadata, aws.ToString(out.KeyMetadata.CustomKeyStoreId)}
}

// TestSessionExhaustion: with one PKCS#11 session per HSM and slow HSMs, a
// burst of Encrypts gets KMSInternalException about PKCS #11 sessions for
// some calls; once the burst is over, calls succeed again.
func TestSessionExhaustion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stack.Options{Clusters: 1})
	c := e.cluster(0)
	store := e.createStore(t, "store", 0)
	e.mustConnect(t, store)
	key := aws.ToString(e.createKey(t, store).KeyId)
	e.admin(t, "/v1/sessions", map[string]any{"max_per_hsm": 1})
	e.admin(t, "/v1/latency", map[string]any{"cluster_id": c.ClusterID, "latency": "40ms"})

	const burst = 24
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		ok, busy   int
		unexpected []error
	)
	for range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.kms.Encrypt(context.Background(), &kms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("burst")})
			mu.Lock()
			defer mu.Unlock()
			var internal *types.KMSInternalException
			switch {
			case err == nil:
				ok++
			case errors.As(err, &internal) && strings.Contains(internal.ErrorMessage(), "PKCS #11 session") && httpStatus(err) == 500:
				busy++
			default:
				unexpected = append(unexpected, err)
			}
		}()
	}
	wg.Wait()
	if len(unexpected) > 0 || ok == 0 || busy == 0 {
		t.Fatalf("burst of %d: %d ok, %d KMSInternalException about sessions, unexpected %v; want some of each and nothing else", burst, ok, busy, unexpected)
	}
	// After the burst, one call at a time gets a session.
	for range 3 {
		e.encrypt(t, key, []byte("after"), nil)
	}
	e.admin(t, "/v1/latency", map[string]any{"cluster_id": c.ClusterID, "latency": "0s"})
	e.admin(t, "/v1/sessions", map[string]any{"max_per_hsm": 16})
}

// TestCiphertextAndKeyMismatch: tampered ciphertext, another encryption
// context, the wrong key named, and the size limits, for a key in a store
// and for an AWS_KMS key alike.
func TestCiphertextAndKeyMismatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stack.Options{Clusters: 1})
	store := e.createStore(t, "store", 0)
	e.mustConnect(t, store)
	kinds := map[string]string{
		"AWS_CLOUDHSM": aws.ToString(e.createKey(t, store).KeyId),
		"AWS_KMS":      aws.ToString(e.createSoftwareKey(t).KeyId),
	}
	other := aws.ToString(e.createKey(t, store).KeyId)
	ec := map[string]string{"purpose": "spec"}
	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[(i+len(b))%len(b)] ^= 0x01
		return b
	}
	random := make([]byte, 64)
	rand.Read(random)

	for kind, key := range kinds {
		blob := e.encrypt(t, key, []byte("secret"), ec)
		for _, tc := range []struct {
			name string
			call func(ctx context.Context) error
			code string // "" for success
		}{
			{"Decrypt without KeyId - the plaintext (the ciphertext names its key)", func(ctx context.Context) error {
				out, err := e.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
				if err == nil && (string(out.Plaintext) != "secret" || !strings.HasSuffix(aws.ToString(out.KeyId), key)) {
					t.Errorf("decrypt: %q under %s", out.Plaintext, aws.ToString(out.KeyId))
				}
				return err
			}, ""},
			{"last byte flipped - InvalidCiphertextException", func(ctx context.Context) error {
				_, err := e.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: flip(blob, -1), EncryptionContext: ec})
				return err
			}, excInvalidCiphertext},
			{"first byte flipped - InvalidCiphertextException", func(ctx context.Context) error {
				_, err := e.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: flip(blob, 0), EncryptionContext: ec})
				return err
			}, excInvalidCiphertext},
			{"cut short - InvalidCiphertextException", func(ctx context.Context) error {
				_, err := e.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob[:len(blob)-8], EncryptionContext: ec})
				return err
			}, excInvalidCiphertext},
			{"random bytes - InvalidCiphertextException", func(ctx context.Context) error {
				_, err := e.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: random, KeyId: aws.String(key)})
				return err
			}, excInvalidCiphertext},
			{"another encryption context - InvalidCiphertextException", func(ctx context.Context) error {
				_, err := e.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"purpose": "other"}})
				return err
			}, excInvalidCiphertext},
			{"no encryption context - InvalidCiphertextException", func(ctx context.Context) error {
				_, err := e.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob})
				return err
			}, excInvalidCiphertext},
			{"ReEncrypt with another SourceEncryptionContext - InvalidCiphertextException", func(ctx context.Context) error {
				_, err := e.kms.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: blob, DestinationKeyId: aws.String(key), SourceEncryptionContext: map[string]string{"purpose": "other"}})
				return err
			}, excInvalidCiphertext},
			{"Decrypt with the KeyId of another key - IncorrectKeyException", func(ctx context.Context) error {
				_, err := e.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec, KeyId: aws.String(other)})
				return err
			}, excIncorrectKey},
			{"ReEncrypt with the SourceKeyId of another key - IncorrectKeyException", func(ctx context.Context) error {
				_, err := e.kms.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: ec, SourceKeyId: aws.String(other), DestinationKeyId: aws.String(key)})
				return err
			}, excIncorrectKey},
			{"Encrypt 4096 bytes - a ciphertext", func(ctx context.Context) error {
				_, err := e.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(key), Plaintext: make([]byte, 4096)})
				return err
			}, ""},
			{"Encrypt 4097 bytes - ValidationException", func(ctx context.Context) error {
				_, err := e.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(key), Plaintext: make([]byte, 4097)})
				return err
			}, excValidation},
			{"Encrypt 0 bytes - ValidationException", func(ctx context.Context) error {
				_, err := e.kms.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte{}})
				return err
			}, excValidation},
			{"Decrypt 6145 bytes - ValidationException", func(ctx context.Context) error {
				_, err := e.kms.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: make([]byte, 6145)})
				return err
			}, excValidation},
		} {
			t.Run(kind+" - "+tc.name, func(t *testing.T) {
				err := tc.call(t.Context())
				if tc.code == "" {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				wantCode(t, err, tc.code)
			})
		}
	}
}

// TestCryptoHappyPaths: every cryptographic operation, aliases and key
// listing, for a key in a store and an AWS_KMS key; the AWS_KMS key keeps
// working while the store is disconnected.
func TestCryptoHappyPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stack.Options{Clusters: 1})
	store := e.createStore(t, "store", 0)
	e.mustConnect(t, store)
	hsmKey := e.createKey(t, store)
	softKey := e.createSoftwareKey(t)
	if softKey.Origin != types.OriginTypeAwsKms || softKey.CustomKeyStoreId != nil || softKey.CloudHsmClusterId != nil ||
		softKey.KeySpec != types.KeySpecSymmetricDefault || softKey.KeyState != types.KeyStateEnabled {
		t.Fatalf("AWS_KMS key metadata: %+v", softKey)
	}
	keys := map[string]types.KeyMetadata{"AWS_CLOUDHSM": hsmKey, "AWS_KMS": softKey}
	ec := map[string]string{"tenant": "a"}

	for kind, md := range keys {
		key := aws.ToString(md.KeyId)
		t.Run(kind+" - GenerateDataKey - a data key in clear and under the key", func(t *testing.T) {
			for _, in := range []*kms.GenerateDataKeyInput{
				{KeyId: aws.String(key), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec},
				{KeyId: aws.String(key), NumberOfBytes: aws.Int32(64), EncryptionContext: ec},
			} {
				out, err := e.kms.GenerateDataKey(t.Context(), in)
				if err != nil {
					t.Fatal(err)
				}
				want := 32
				if in.NumberOfBytes != nil {
					want = 64
				}
				if len(out.Plaintext) != want || aws.ToString(out.KeyId) != aws.ToString(md.Arn) {
					t.Fatalf("data key of %d bytes under %s, want %d under %s", len(out.Plaintext), aws.ToString(out.KeyId), want, aws.ToString(md.Arn))
				}
				e.wantDecrypt(t, out.CiphertextBlob, out.Plaintext, ec)
			}
		})
		t.Run(kind+" - GenerateDataKeyWithoutPlaintext - only the encrypted data key", func(t *testing.T) {
			out, err := e.kms.GenerateDataKeyWithoutPlaintext(t.Context(), &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(key), KeySpec: types.DataKeySpecAes128})
			if err != nil {
				t.Fatal(err)
			}
			dec, err := e.kms.Decrypt(t.Context(), &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob})
			if err != nil || len(dec.Plaintext) != 16 {
				t.Fatalf("decrypt the data key: %d bytes, %v; want 16", len(dec.Plaintext), err)
			}
		})
		t.Run(kind+" - ReEncrypt to the other key with another context - decrypts there", func(t *testing.T) {
			dst := softKey
			if kind == "AWS_KMS" {
				dst = hsmKey
			}
			blob := e.encrypt(t, key, []byte("moving"), ec)
			out, err := e.kms.ReEncrypt(t.Context(), &kms.ReEncryptInput{
				CiphertextBlob: blob, SourceEncryptionContext: ec,
				DestinationKeyId: dst.KeyId, DestinationEncryptionContext: map[string]string{"tenant": "b"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(out.SourceKeyId) != aws.ToString(md.Arn) || aws.ToString(out.KeyId) != aws.ToString(dst.Arn) {
				t.Fatalf("ReEncrypt from %s to %s, want %s to %s", aws.ToString(out.SourceKeyId), aws.ToString(out.KeyId), aws.ToString(md.Arn), aws.ToString(dst.Arn))
			}
			e.wantDecrypt(t, out.CiphertextBlob, []byte("moving"), map[string]string{"tenant": "b"})
		})
	}

	t.Run("audit - crypto events of the key in the store carry customKeyStoreId and backingKeyId", func(t *testing.T) {
		backingKey := backingKeyOf(t, e, aws.ToString(hsmKey.Arn))
		seen := map[string]bool{}
		for _, ev := range e.audit.events(t) {
			if len(ev.Resources) != 1 || ev.EventType != "AwsApiCall" {
				continue
			}
			switch ev.Resources[0].ARN {
			case aws.ToString(hsmKey.Arn):
				if ev.AdditionalEventData["customKeyStoreId"] != store || ev.AdditionalEventData["backingKeyId"] != backingKey {
					t.Errorf("%s event of the key in the store: %v", ev.EventName, ev.AdditionalEventData)
				}
				seen[ev.EventName] = true
			case aws.ToString(softKey.Arn):
				if _, ok := ev.AdditionalEventData["customKeyStoreId"]; ok {
					t.Errorf("%s event of the AWS_KMS key names a store: %v", ev.EventName, ev.AdditionalEventData)
				}
			}
		}
		for _, op := range []string{"Encrypt", "Decrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncrypt"} {
			if !seen[op] {
				t.Errorf("no %s event for the key in the store", op)
			}
		}
	})

	t.Run("ListKeys - both keys, page by page", func(t *testing.T) {
		var got []string
		var marker *string
		for page := 0; ; page++ {
			out, err := e.kms.ListKeys(t.Context(), &kms.ListKeysInput{Limit: aws.Int32(1), Marker: marker})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Keys) != 1 {
				t.Fatalf("page %d: %d keys, want 1", page, len(out.Keys))
			}
			got = append(got, aws.ToString(out.Keys[0].KeyId))
			if !out.Truncated {
				break
			}
			marker = out.NextMarker
		}
		want := []string{aws.ToString(hsmKey.KeyId), aws.ToString(softKey.KeyId)}
		if !slices.Equal(got, want) {
			t.Fatalf("ListKeys %v, want %v", got, want)
		}
	})

	t.Run("CreateAlias and ListAliases - the alias names its key everywhere a KeyId goes", func(t *testing.T) {
		for alias, md := range map[string]types.KeyMetadata{"alias/spec-hsm": hsmKey, "alias/spec-soft": softKey} {
			if _, err := e.kms.CreateAlias(t.Context(), &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: md.KeyId}); err != nil {
				t.Fatal(err)
			}
			out, err := e.kms.ListAliases(t.Context(), &kms.ListAliasesInput{KeyId: md.KeyId})
			if err != nil || len(out.Aliases) != 1 || aws.ToString(out.Aliases[0].AliasName) != alias || aws.ToString(out.Aliases[0].TargetKeyId) != aws.ToString(md.KeyId) {
				t.Fatalf("ListAliases of %s: %+v, %v", aws.ToString(md.KeyId), out, err)
			}
			e.wantDecrypt(t, e.encrypt(t, alias, []byte("by alias"), nil), []byte("by alias"), nil)
			if d := e.describeKey(t, alias); aws.ToString(d.md.KeyId) != aws.ToString(md.KeyId) {
				t.Fatalf("DescribeKey %s: %s", alias, aws.ToString(d.md.KeyId))
			}
		}
		_, err := e.kms.CreateAlias(t.Context(), &kms.CreateAliasInput{AliasName: aws.String("alias/spec-hsm"), TargetKeyId: softKey.KeyId})
		as[*types.AlreadyExistsException](t, err)
		out, err := e.kms.ListAliases(t.Context(), &kms.ListAliasesInput{})
		if err != nil || len(out.Aliases) != 2 {
			t.Fatalf("ListAliases: %+v, %v; want the two aliases", out, err)
		}
	})

	t.Run("GenerateRandom without a store - random bytes", func(t *testing.T) {
		out, err := e.kms.GenerateRandom(t.Context(), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(48)})
		if err != nil || len(out.Plaintext) != 48 {
			t.Fatalf("GenerateRandom: %d bytes, %v", len(out.Plaintext), err)
		}
	})

	t.Run("store disconnected - the AWS_KMS key works, the key in the store does not", func(t *testing.T) {
		e.disconnect(t, store)
		e.wantDecrypt(t, e.encrypt(t, aws.ToString(softKey.KeyId), []byte("still"), nil), []byte("still"), nil)
		_, err := e.kms.Encrypt(t.Context(), &kms.EncryptInput{KeyId: hsmKey.KeyId, Plaintext: []byte("x")})
		as[*types.KMSInvalidStateException](t, err)
	})
}
