package load

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The operations, as KMS names them.
const (
	opEncrypt         = "Encrypt"
	opDecrypt         = "Decrypt"
	opReEncrypt       = "ReEncrypt"
	opGenerateDataKey = "GenerateDataKey"
	opDecryptTampered = "DecryptTampered"
	opDecryptWrongKey = "DecryptWrongKey"
)

// dataKeyBytes is the NumberOfBytes of every GenerateDataKey: an AES-256
// data key, what envelope encryption asks for.
const dataKeyBytes = 32

// The request bodies: KMS JSON 1.1 members, []byte as base64.
type (
	encryptInput struct {
		KeyID     string `json:"KeyId"`
		Plaintext []byte `json:"Plaintext"`
	}
	decryptInput struct {
		CiphertextBlob []byte `json:"CiphertextBlob"`
		KeyID          string `json:"KeyId"`
	}
	reEncryptInput struct {
		CiphertextBlob   []byte `json:"CiphertextBlob"`
		SourceKeyID      string `json:"SourceKeyId"`
		DestinationKeyID string `json:"DestinationKeyId"`
	}
	dataKeyInput struct {
		KeyID         string `json:"KeyId"`
		NumberOfBytes int    `json:"NumberOfBytes"`
	}
)

// A call is what the results loop needs to know of one request beyond
// vegeta's Result: the targeter writes it, the transport adds when its hit
// was due, the results loop takes it.
type call struct {
	op  string
	key string // the scenario's name of the key
	// pt is the plaintext id an Encrypt seals, a Decrypt expects back and
	// a ReEncrypt seals again.
	pt   uint64
	size int
	hash string // hex SHA-256 of the body, for SigV4

	sent bool          // the transport saw it
	due  time.Duration // Schedule.Due of its hit, when sent
}

// A ledger holds the calls in flight by op id. The op id rides in the
// request URL's fragment (never sent on the wire) because vegeta hands
// that URL back in the Result whatever happens, even when building the
// request failed and no transport ever saw it: so every call the targeter
// puts here is taken out exactly once, by the result of its hit, and the
// ledger holds no more than the requests in flight.
type ledger struct {
	mu    sync.Mutex
	calls map[uint64]*call
}

func newLedger() *ledger { return &ledger{calls: map[uint64]*call{}} }

func (l *ledger) put(id uint64, c *call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls[id] = c
}

// sending marks call id as sent with its hit's due time and returns its
// payload hash.
func (l *ledger) sending(id uint64, due time.Duration) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.calls[id]
	if !ok {
		return "", false
	}
	c.sent, c.due = true, due
	return c.hash, true
}

func (l *ledger) take(id uint64) (*call, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.calls[id]
	delete(l.calls, id)
	return c, ok
}

func (l *ledger) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls)
}

// opID reads the op id from the fragment of a request URL.
func opID(rawURL string) (uint64, bool) {
	i := strings.LastIndexByte(rawURL, '#')
	if i < 0 {
		return 0, false
	}
	id, err := strconv.ParseUint(rawURL[i+1:], 10, 64)
	return id, err == nil
}

// A targeter builds the request of each hit. It is safe for concurrent
// use, as vegeta requires.
type targeter struct {
	url    string // POST / of the endpoint
	seed   int64
	keys   []string
	keyIDs map[string]string
	sizes  []int
	ops    []string
	cum    []uint64 // cumulative weights of ops
	header map[string]http.Header
	pool   *pool
	ledger *ledger
	prog   *Progress

	hits atomic.Uint64
}

func newTargeter(postURL string, seed int64, cfg Config, keyIDs map[string]string, p *pool, l *ledger, prog *Progress) *targeter {
	t := &targeter{
		url: postURL, seed: seed, keys: cfg.Keys, keyIDs: keyIDs, sizes: cfg.Sizes,
		header: map[string]http.Header{}, pool: p, ledger: l, prog: prog,
	}
	var total uint64
	for _, m := range cfg.Mix {
		total += uint64(m.Weight)
		t.ops = append(t.ops, m.Op)
		t.cum = append(t.cum, total)
	}
	// Shared, read-only: vegeta copies a Target's headers into each request.
	for _, op := range Operations {
		t.header[op] = http.Header{
			"X-Amz-Target": {"TrentService." + wireOperation(op)},
			"Content-Type": {"application/x-amz-json-1.1"},
		}
	}
	return t
}

// A choice is what one hit does.
type choice struct {
	op   string
	key  string
	size int
	draw uint64 // picks the ciphertext of a Decrypt or ReEncrypt
}

// choose draws hit's choice from a PRNG seeded by (seed, hit) alone, so
// that the same seed replays the same operations, keys and sizes whatever
// the timing. Every hit makes the same draws in the same order.
func (t *targeter) choose(hit uint64) choice {
	r := rand.NewPCG(splitmix(uint64(t.seed)), splitmix(hit))
	w := r.Uint64() % t.cum[len(t.cum)-1]
	i := 0
	for w >= t.cum[i] {
		i++
	}
	return choice{
		op:   t.ops[i],
		key:  t.keys[r.Uint64()%uint64(len(t.keys))],
		size: t.sizes[r.Uint64()%uint64(len(t.sizes))],
		draw: r.Uint64(),
	}
}

// otherKey is the key after key in the load's list: the wrong key of a
// DecryptWrongKey.
func (t *targeter) otherKey(key string) string {
	for i, k := range t.keys {
		if k == key {
			return t.keys[(i+1)%len(t.keys)]
		}
	}
	return key
}

// wireOperation is the KMS operation a load operation calls.
func wireOperation(op string) string {
	switch op {
	case opDecryptTampered, opDecryptWrongKey:
		return opDecrypt
	}
	return op
}

// target is the vegeta.Targeter. A Decrypt or ReEncrypt for a key with no
// ciphertext yet becomes an Encrypt, which is what is recorded.
func (t *targeter) target(tgt *vegeta.Target) error {
	hit := t.hits.Add(1) - 1
	ch := t.choose(hit)
	c := &call{op: ch.op, key: ch.key, size: ch.size}
	keyID := t.keyIDs[ch.key]
	var blob []byte
	if c.op == opDecryptWrongKey && len(t.keys) < 2 {
		c.op = opDecrypt // no other key to name: validation says so
	}
	if c.op == opDecrypt || c.op == opReEncrypt || c.op == opDecryptTampered || c.op == opDecryptWrongKey {
		if ct, ok := t.pool.pick(ch.key, ch.draw); ok {
			c.pt, c.size, blob = ct.PlaintextID, ct.Size, ct.Blob
		} else {
			c.op = opEncrypt
		}
	}
	var in any
	switch c.op {
	case opEncrypt:
		// Hits number the plaintexts: unique in the run, never 0.
		c.pt = hit + 1
		in = encryptInput{KeyID: keyID, Plaintext: Plaintext(t.seed, c.pt, c.size)}
	case opDecrypt:
		in = decryptInput{CiphertextBlob: blob, KeyID: keyID}
	case opDecryptTampered:
		// The last byte is the GCM tag's: the blob stays well-formed, so
		// only the authentication can tell.
		tampered := append([]byte(nil), blob...)
		tampered[len(tampered)-1] ^= 0x01
		in = decryptInput{CiphertextBlob: tampered, KeyID: keyID}
	case opDecryptWrongKey:
		in = decryptInput{CiphertextBlob: blob, KeyID: t.keyIDs[t.otherKey(ch.key)]}
	case opReEncrypt:
		in = reEncryptInput{CiphertextBlob: blob, SourceKeyID: keyID, DestinationKeyID: keyID}
	case opGenerateDataKey:
		c.size = dataKeyBytes
		in = dataKeyInput{KeyID: keyID, NumberOfBytes: dataKeyBytes}
	}
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode %s request: %w", c.op, err)
	}
	sum := sha256.Sum256(body)
	c.hash = hex.EncodeToString(sum[:])
	tgt.Method = http.MethodPost
	tgt.URL = t.url + "#" + strconv.FormatUint(hit, 10)
	tgt.Body = body
	tgt.Header = t.header[c.op]
	t.ledger.put(hit, c)
	t.prog.Sent.Add(1)
	return nil
}
