package kms

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// TestAdditionalDataFormat pins the bytes bound into every ciphertext: blobs sealed by one
// version of the stack must open in the next.
func TestAdditionalDataFormat(t *testing.T) {
	t.Parallel()
	field := func(s string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...) }
	tests := []struct {
		name  string
		keyID string
		ctx   map[string]string
		want  [][]byte
	}{
		// No context: the label and the key id.
		{"no context", "k-1", nil, [][]byte{field("keystorm-kms-v1"), field("k-1")}},
		// An empty context binds the same bytes as none.
		{"empty context", "k-1", map[string]string{}, [][]byte{field("keystorm-kms-v1"), field("k-1")}},
		// Context pairs sorted by name, each name then its value.
		{"context sorted by name", "k-2", map[string]string{"b": "2", "a": "", "ab": "x"}, [][]byte{
			field("keystorm-kms-v1"), field("k-2"), field("a"), field(""), field("ab"), field("x"), field("b"), field("2"),
		}},
		// Lengths are four bytes, big-endian.
		{"long value", "k-3", map[string]string{"n": strings.Repeat("v", 300)}, [][]byte{
			field("keystorm-kms-v1"), field("k-3"), field("n"), field(strings.Repeat("v", 300)),
		}},
	}
	for _, tt := range tests {
		if got, want := additionalData(tt.keyID, tt.ctx), bytes.Join(tt.want, nil); !bytes.Equal(got, want) {
			t.Errorf("%s: additionalData = %x, want %x", tt.name, got, want)
		}
	}
}
