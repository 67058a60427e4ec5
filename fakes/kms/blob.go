package kms

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sort"
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
func additionalData(keyID string, ctx map[string]string) []byte {
	var b bytes.Buffer
	field := func(s string) {
		binary.Write(&b, binary.BigEndian, uint32(len(s)))
		b.WriteString(s)
	}
	field("keystorm-kms-v1")
	field(keyID)
	names := make([]string, 0, len(ctx))
	for k := range ctx {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		field(k)
		field(ctx[k])
	}
	return b.Bytes()
}
