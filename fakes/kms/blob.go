package kms

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"slices"
)

// The ciphertext blob is the stack's own format (opaque to clients):
//
//	"KS1" | len(keyID) (1 byte) | keyID | IV || ciphertext || tag
//
// The key id is in clear so that Decrypt needs no KeyId; it is also bound
// into the GCM additional data, with the encryption context, so that a blob
// moved to another key or context fails its tag check.
var blobMagic = []byte("KS1")

var errBadBlob = errors.New("not a ciphertext blob of this stack")

func sealBlob(keyID string, sealed []byte) []byte {
	out := make([]byte, 0, len(blobMagic)+1+len(keyID)+len(sealed))
	out = append(out, blobMagic...)
	out = append(out, byte(len(keyID)))
	out = append(out, keyID...)
	return append(out, sealed...)
}

func openBlob(blob []byte) (keyID string, sealed []byte, err error) {
	if !bytes.HasPrefix(blob, blobMagic) || len(blob) < len(blobMagic)+1 {
		return "", nil, errBadBlob
	}
	rest := blob[len(blobMagic):]
	n := int(rest[0])
	if n == 0 || len(rest) < 1+n {
		return "", nil, errBadBlob
	}
	return string(rest[1 : 1+n]), rest[1+n:], nil
}

// additionalData binds a key id and an encryption context: length-prefixed
// fields, the context sorted by key, so that equal contexts give equal bytes.
// It runs on every Encrypt and Decrypt, so it sizes its buffer once.
func additionalData(keyID string, ctx map[string]string) []byte {
	const label = "keystorm-kms-v1"
	size := 4 + len(label) + 4 + len(keyID)
	for k, v := range ctx {
		size += 4 + len(k) + 4 + len(v)
	}
	b := make([]byte, 0, size)
	b = appendField(b, label)
	b = appendField(b, keyID)
	for _, k := range slices.Sorted(maps.Keys(ctx)) {
		b = appendField(b, k)
		b = appendField(b, ctx[k])
	}
	return b
}

// appendField appends s with its length as four big-endian bytes.
func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
