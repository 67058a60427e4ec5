package kms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"

	"github.com/keystorm/keystorm/fakes/aesgcm"
	"github.com/keystorm/keystorm/fakes/cloudhsm"
	"github.com/keystorm/keystorm/fakes/hsm"
	"github.com/keystorm/keystorm/fakes/sessionpool"
)

// EncryptInput is the Encrypt request.
type EncryptInput struct {
	KeyId             string            `json:"KeyId"`
	Plaintext         []byte            `json:"Plaintext"`
	EncryptionContext map[string]string `json:"EncryptionContext,omitempty"`
}

// EncryptOutput is its response.
type EncryptOutput struct {
	CiphertextBlob      []byte `json:"CiphertextBlob"`
	KeyId               string `json:"KeyId"`
	EncryptionAlgorithm string `json:"EncryptionAlgorithm"`
}

// Encrypt encrypts up to 4096 bytes under a key.
func (s *Service) Encrypt(ctx context.Context, in EncryptInput) (*EncryptOutput, error) {
	k, err := s.usableKey(in.KeyId)
	if err != nil {
		return nil, err
	}
	blob, err := s.seal(ctx, k, in.Plaintext, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	if s.audit.on() {
		s.audit.call("Encrypt", k.arn, map[string]any{"keyId": in.KeyId}, auditCrypto(k))
	}
	return &EncryptOutput{CiphertextBlob: blob, KeyId: k.arn, EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}, nil
}

// DecryptInput is the Decrypt request.
type DecryptInput struct {
	CiphertextBlob    []byte            `json:"CiphertextBlob"`
	KeyId             string            `json:"KeyId,omitempty"`
	EncryptionContext map[string]string `json:"EncryptionContext,omitempty"`
}

// DecryptOutput is its response.
type DecryptOutput struct {
	KeyId               string `json:"KeyId"`
	Plaintext           []byte `json:"Plaintext"`
	EncryptionAlgorithm string `json:"EncryptionAlgorithm"`
}

// Decrypt decrypts a blob of Encrypt or GenerateDataKey; KeyId, if given,
// must be the blob's key.
func (s *Service) Decrypt(ctx context.Context, in DecryptInput) (*DecryptOutput, error) {
	if len(in.CiphertextBlob) == 0 {
		return nil, errf(Validation, "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
	}
	k, pt, err := s.open(ctx, in.CiphertextBlob, in.KeyId, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	if s.audit.on() {
		s.audit.call("Decrypt", k.arn, map[string]any{"keyId": k.arn}, auditCrypto(k))
	}
	return &DecryptOutput{KeyId: k.arn, Plaintext: pt, EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}, nil
}

// ReEncryptInput is the ReEncrypt request.
type ReEncryptInput struct {
	CiphertextBlob               []byte            `json:"CiphertextBlob"`
	SourceKeyId                  string            `json:"SourceKeyId,omitempty"`
	SourceEncryptionContext      map[string]string `json:"SourceEncryptionContext,omitempty"`
	DestinationKeyId             string            `json:"DestinationKeyId"`
	DestinationEncryptionContext map[string]string `json:"DestinationEncryptionContext,omitempty"`
}

// ReEncryptOutput is its response.
type ReEncryptOutput struct {
	CiphertextBlob                 []byte `json:"CiphertextBlob"`
	SourceKeyId                    string `json:"SourceKeyId"`
	KeyId                          string `json:"KeyId"`
	SourceEncryptionAlgorithm      string `json:"SourceEncryptionAlgorithm"`
	DestinationEncryptionAlgorithm string `json:"DestinationEncryptionAlgorithm"`
}

// ReEncrypt decrypts a blob and encrypts its plaintext under another key
// (or the same, with another context), never showing the plaintext.
func (s *Service) ReEncrypt(ctx context.Context, in ReEncryptInput) (*ReEncryptOutput, error) {
	if len(in.CiphertextBlob) == 0 {
		return nil, errf(Validation, "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
	}
	dst, err := s.usableKey(in.DestinationKeyId)
	if err != nil {
		return nil, err
	}
	src, pt, err := s.open(ctx, in.CiphertextBlob, in.SourceKeyId, in.SourceEncryptionContext)
	if err != nil {
		return nil, err
	}
	blob, err := s.seal(ctx, dst, pt, in.DestinationEncryptionContext)
	if err != nil {
		return nil, err
	}
	if s.audit.on() {
		s.audit.call("ReEncrypt", dst.arn, map[string]any{"sourceKeyId": src.arn, "destinationKeyId": dst.arn}, auditCrypto(dst))
	}
	return &ReEncryptOutput{CiphertextBlob: blob, SourceKeyId: src.arn, KeyId: dst.arn,
		SourceEncryptionAlgorithm: "SYMMETRIC_DEFAULT", DestinationEncryptionAlgorithm: "SYMMETRIC_DEFAULT"}, nil
}

// GenerateDataKeyInput is the request of GenerateDataKey and
// GenerateDataKeyWithoutPlaintext.
type GenerateDataKeyInput struct {
	KeyId             string            `json:"KeyId"`
	EncryptionContext map[string]string `json:"EncryptionContext,omitempty"`
	NumberOfBytes     int               `json:"NumberOfBytes,omitempty"`
	KeySpec           string            `json:"KeySpec,omitempty"`
}

// GenerateDataKeyOutput is the response of both; WithoutPlaintext leaves
// Plaintext out.
type GenerateDataKeyOutput struct {
	CiphertextBlob []byte `json:"CiphertextBlob"`
	Plaintext      []byte `json:"Plaintext,omitempty"`
	KeyId          string `json:"KeyId"`
}

// GenerateDataKey returns a fresh data key, in clear and encrypted under a
// key.
func (s *Service) GenerateDataKey(ctx context.Context, in GenerateDataKeyInput) (*GenerateDataKeyOutput, error) {
	return s.generateDataKey(ctx, in, "GenerateDataKey", true)
}

// GenerateDataKeyWithoutPlaintext is GenerateDataKey without the clear copy.
func (s *Service) GenerateDataKeyWithoutPlaintext(ctx context.Context, in GenerateDataKeyInput) (*GenerateDataKeyOutput, error) {
	return s.generateDataKey(ctx, in, "GenerateDataKeyWithoutPlaintext", false)
}

func (s *Service) generateDataKey(ctx context.Context, in GenerateDataKeyInput, op string, withPlaintext bool) (*GenerateDataKeyOutput, error) {
	n := in.NumberOfBytes
	switch {
	case n != 0 && in.KeySpec != "":
		return nil, errf(Validation, "Please specify either number of bytes or key spec.")
	case in.KeySpec == "AES_256":
		n = 32
	case in.KeySpec == "AES_128":
		n = 16
	case n == 0:
		return nil, errf(Validation, "Please specify either number of bytes or key spec.")
	}
	k, err := s.usableKey(in.KeyId)
	if err != nil {
		return nil, err
	}
	dataKey := make([]byte, n)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, errf(KMSInternal, "could not generate a data key")
	}
	blob, err := s.seal(ctx, k, dataKey, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	if s.audit.on() {
		s.audit.call(op, k.arn, map[string]any{"keyId": in.KeyId, "numberOfBytes": n}, auditCrypto(k))
	}
	out := &GenerateDataKeyOutput{CiphertextBlob: blob, KeyId: k.arn}
	if withPlaintext {
		out.Plaintext = dataKey
	}
	return out, nil
}

// GenerateRandomInput is the GenerateRandom request.
type GenerateRandomInput struct {
	NumberOfBytes    int    `json:"NumberOfBytes,omitempty"`
	CustomKeyStoreId string `json:"CustomKeyStoreId,omitempty"`
}

// GenerateRandomOutput is its response.
type GenerateRandomOutput struct {
	Plaintext []byte `json:"Plaintext"`
}

// GenerateRandom returns random bytes; with a CustomKeyStoreId the store
// must be CONNECTED.
func (s *Service) GenerateRandom(in GenerateRandomInput) (*GenerateRandomOutput, error) {
	if in.NumberOfBytes == 0 {
		return nil, errf(Validation, "1 validation error detected: Value null at 'numberOfBytes' failed to satisfy constraint: Member must not be null")
	}
	if in.CustomKeyStoreId != "" {
		s.mu.Lock()
		st, err := s.store(in.CustomKeyStoreId)
		if err == nil && st.state != StateConnected {
			err = errf(CustomKeyStoreInvalidState, "Custom key store %s is %s; it must be CONNECTED.", st.id, st.state)
		}
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	b := make([]byte, in.NumberOfBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, errf(KMSInternal, "could not generate random bytes")
	}
	return &GenerateRandomOutput{Plaintext: b}, nil
}

// usableKey returns a key that may be used for crypto now, or the exception
// that says why not.
func (s *Service) usableKey(ref string) (*key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.resolveKey(ref)
	if err != nil {
		return nil, err
	}
	return k, s.checkUsable(k)
}

// checkUsable maps a key's derived state to the data plane's exceptions;
// s.mu is held.
func (s *Service) checkUsable(k *key) error {
	switch s.storeKeyState(k) {
	case KeyEnabled:
		return nil
	case KeyDisabled:
		return errf(Disabled, "%s is disabled.", k.arn)
	case KeyPendingDeletion:
		return errf(KMSInvalidState, "%s is pending deletion.", k.arn)
	}
	st := s.stores[k.storeID]
	if st != nil && st.state == StateConnected {
		return errf(KMSInvalidState, "%s", msgKeyMaterial)
	}
	return errf(KMSInvalidState, "%s is unavailable: its custom key store is not connected.", k.arn)
}

// seal encrypts under a usable key: a software key in memory, or a backing
// key through the store's session pool.
func (s *Service) seal(ctx context.Context, k *key, pt []byte, ec map[string]string) ([]byte, error) {
	aad := additionalData(k.id, ec)
	if k.origin == OriginAWSKMS {
		gcm, err := softwareGCM(k.material)
		if err != nil {
			return nil, err
		}
		iv := make([]byte, aesgcm.IVSize, aesgcm.IVSize+len(pt)+aesgcm.TagSize)
		if _, err := rand.Read(iv); err != nil {
			return nil, errf(KMSInternal, "could not draw an IV")
		}
		return sealBlob(k.id, gcm.Seal(iv, iv, pt, aad)), nil
	}
	var sealed []byte
	err := s.inHSM(ctx, k, "encrypt", func(h *cloudhsm.HSM, l sessionpool.Lease) error {
		var err error
		sealed, err = h.Encrypt(ctx, l.Session, k.backingKeyID, pt, aad)
		return err
	})
	if err != nil {
		return nil, err
	}
	if s.bugs.corrupt() {
		sealed[len(sealed)-1] ^= 0xff // the tag: this ciphertext is lost
	}
	return sealBlob(k.id, sealed), nil
}

// open decrypts a blob; wantKey, if set, must name the blob's key.
func (s *Service) open(ctx context.Context, blob []byte, wantKey string, ec map[string]string) (*key, []byte, error) {
	keyID, sealed, err := openBlob(blob)
	if err != nil {
		return nil, nil, errf(InvalidCiphertext, "The ciphertext is invalid.")
	}
	s.mu.Lock()
	// The request's KeyId is checked first: a key that does not exist is
	// NotFoundException (spec section 4), whatever the ciphertext says.
	var want *key
	if wantKey != "" {
		if want, err = s.resolveKey(wantKey); err != nil {
			s.mu.Unlock()
			return nil, nil, err
		}
	}
	k, ok := s.keys[keyID]
	if !ok {
		s.mu.Unlock()
		return nil, nil, errf(InvalidCiphertext, "The ciphertext refers to a KMS key that does not exist in this account and Region.")
	}
	if want != nil {
		if want != k {
			s.mu.Unlock()
			return nil, nil, errf(IncorrectKey, "The key ID in the request does not identify the KMS key that was used to encrypt the ciphertext.")
		}
	}
	err = s.checkUsable(k)
	s.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	aad := additionalData(k.id, ec)
	if k.origin == OriginAWSKMS {
		gcm, err := softwareGCM(k.material)
		if err != nil {
			return nil, nil, err
		}
		if len(sealed) < aesgcm.Overhead {
			return nil, nil, errf(InvalidCiphertext, "The ciphertext is invalid.")
		}
		pt, err := gcm.Open(nil, sealed[:aesgcm.IVSize], sealed[aesgcm.IVSize:], aad)
		if err != nil {
			return nil, nil, errf(InvalidCiphertext, "The ciphertext is invalid, or the encryption context does not match.")
		}
		return k, pt, nil
	}
	var pt []byte
	err = s.inHSM(ctx, k, "decrypt", func(h *cloudhsm.HSM, l sessionpool.Lease) error {
		var err error
		pt, err = h.Decrypt(ctx, l.Session, k.backingKeyID, sealed, aad)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return k, pt, nil
}

func softwareGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errf(KMSInternal, "bad key material")
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, errf(KMSInternal, "bad key material")
	}
	return gcm, nil
}

// inHSM runs fn in a pooled session of the key's store, retrying once when
// the HSM it drew left under it, and maps what goes wrong to the data
// plane's exceptions.
func (s *Service) inHSM(ctx context.Context, k *key, op string, fn func(*cloudhsm.HSM, sessionpool.Lease) error) error {
	s.mu.Lock()
	st := s.stores[k.storeID]
	var pool *sessionpool.Pool
	if st != nil && st.conn != nil {
		st.conn.mu.Lock()
		pool = st.conn.pool
		st.conn.mu.Unlock()
	}
	s.mu.Unlock()
	if pool == nil {
		return s.bugs.exception(errf(KMSInvalidState, "%s is unavailable: its custom key store is not connected.", k.arn))
	}
	s.bugs.delay(ctx)
	var err error
	for try := 0; try < 2; try++ {
		err = pool.Do(ctx, op, func(l sessionpool.Lease) error { return fn(l.HSM.(*cloudhsm.HSM), l) })
		if !errors.Is(err, sessionpool.ErrHSMGone) && !errors.Is(err, hsm.ErrDeleted) {
			break
		}
	}
	if err == nil {
		return nil
	}
	return s.bugs.exception(s.dataPlaneError(k, err))
}

// dataPlaneError maps an HSM-side failure to the exception KMS returns.
func (s *Service) dataPlaneError(k *key, err error) error {
	switch {
	case errors.Is(err, aesgcm.ErrAuth):
		return errf(InvalidCiphertext, "The ciphertext is invalid, or the encryption context does not match.")
	case errors.Is(err, sessionpool.ErrExhausted):
		return errf(KMSInternal, "%s", msgNoSession)
	case errors.Is(err, cloudhsm.ErrUnreachable):
		return errf(KMSInvalidState, "%s", msgNetwork)
	case errors.Is(err, hsm.ErrLockedOut):
		return errf(KMSInvalidState, "%s", msgLockedOut)
	case errors.Is(err, hsm.ErrKeyNotFound):
		s.mu.Lock()
		if k.lostAt.IsZero() {
			k.lostAt = s.clock.Now()
		}
		s.mu.Unlock()
		return errf(KMSInvalidState, "%s", msgKeyMaterial)
	case errors.Is(err, sessionpool.ErrNoHSM), errors.Is(err, sessionpool.ErrHSMGone), errors.Is(err, hsm.ErrDeleted),
		errors.Is(err, hsm.ErrNotLoggedIn), errors.Is(err, sessionpool.ErrClosed):
		return errf(KMSInvalidState, "%s", msgClusterGone)
	}
	return errf(KMSInternal, "An internal error occurred in the AWS CloudHSM cluster.")
}
