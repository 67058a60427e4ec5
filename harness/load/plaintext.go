package load

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
)

// Plaintext is the plaintext number id of a run with seed, size bytes long:
// a ChaCha8 stream keyed by (seed, id), so that neither the load nor the
// integrity check after it needs to keep any plaintext. When size allows,
// the first 8 bytes are id, big-endian, so that a plaintext names itself in
// a dump.
func Plaintext(seed int64, id uint64, size int) []byte {
	if size <= 0 {
		return []byte{}
	}
	var key [32]byte
	binary.BigEndian.PutUint64(key[0:], uint64(seed))
	binary.BigEndian.PutUint64(key[8:], id)
	copy(key[16:], "keystorm plain\x00\x01")
	b := make([]byte, size)
	rand.NewChaCha8(key).Read(b)
	if size >= 8 {
		binary.BigEndian.PutUint64(b, id)
	}
	return b
}

// A Ciphertext is an acknowledged ciphertext the load may Decrypt or
// ReEncrypt: Blob seals Plaintext(seed, PlaintextID, Size) under the
// scenario key named Key.
type Ciphertext struct {
	Key         string
	PlaintextID uint64
	Size        int
	Blob        []byte
}

// poolSize bounds the ciphertexts kept per key: Decrypt needs a variety of
// recent ones, not every one (the History has them all).
const poolSize = 4096

// pool holds, per key, the latest acknowledged ciphertexts (a ring that
// overwrites the oldest) for Decrypt and ReEncrypt to draw from.
type pool struct {
	mu    sync.Mutex
	byKey map[string]*ring
}

type ring struct {
	items []Ciphertext
	next  int // where the next one goes once items is full
}

func newPool() *pool { return &pool{byKey: map[string]*ring{}} }

func (p *pool) add(c Ciphertext) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.byKey[c.Key]
	if r == nil {
		r = &ring{}
		p.byKey[c.Key] = r
	}
	if len(r.items) < poolSize {
		r.items = append(r.items, c)
		return
	}
	r.items[r.next] = c
	r.next = (r.next + 1) % poolSize
}

// pick returns the ciphertext draw selects among key's, if it has any.
func (p *pool) pick(key string, draw uint64) (Ciphertext, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.byKey[key]
	if r == nil || len(r.items) == 0 {
		return Ciphertext{}, false
	}
	return r.items[draw%uint64(len(r.items))], true
}
