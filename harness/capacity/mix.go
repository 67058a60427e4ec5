package capacity

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Op is one kind of work an arrival does.
type Op string

// The operations of a capacity run.
const (
	// Encrypt seals the run's payload with AES-GCM under the lease's HSM key.
	Encrypt Op = "encrypt"
	// Decrypt opens a ciphertext sealed on the lease's HSM during setup and
	// checks that it gives back the original plaintext.
	Decrypt Op = "decrypt"
)

// allOps lists the operations in report order.
var allOps = []Op{Encrypt, Decrypt}

func knownOp(op Op) bool {
	for _, o := range allOps {
		if o == op {
			return true
		}
	}
	return false
}

// Mix weighs the operations: an op of weight 2 runs twice as often as one of
// weight 1. Ops left out (or weighted 0) do not run.
type Mix map[Op]int

// DefaultMix is as many decrypts as encrypts.
func DefaultMix() Mix { return Mix{Encrypt: 1, Decrypt: 1} }

// ParseMix reads a mix written as "encrypt=3,decrypt=1".
func ParseMix(s string) (Mix, error) {
	m := Mix{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, weight, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want op=weight", part)
		}
		op := Op(strings.TrimSpace(name))
		if !knownOp(op) {
			return nil, fmt.Errorf("%q: unknown op %q (want %s)", part, op, opNames())
		}
		if _, dup := m[op]; dup {
			return nil, fmt.Errorf("%q: %s given twice", part, op)
		}
		w, err := strconv.Atoi(strings.TrimSpace(weight))
		if err != nil || w < 0 {
			return nil, fmt.Errorf("%q: weight must be a whole number >= 0", part)
		}
		m[op] = w
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

func opNames() string {
	names := make([]string, len(allOps))
	for i, o := range allOps {
		names[i] = string(o)
	}
	return strings.Join(names, ", ")
}

func (m Mix) validate() error {
	total := 0
	for op, w := range m {
		if !knownOp(op) {
			return fmt.Errorf("unknown op %q (want %s)", op, opNames())
		}
		if w < 0 {
			return fmt.Errorf("%s: weight %d is negative", op, w)
		}
		total += w
	}
	if total == 0 {
		return fmt.Errorf("no op has a weight above 0")
	}
	return nil
}

// String writes the mix as ParseMix reads it, ops in a fixed order.
func (m Mix) String() string {
	ops := make([]string, 0, len(m))
	for op := range m {
		ops = append(ops, string(op))
	}
	sort.Strings(ops)
	var b strings.Builder
	for i, op := range ops {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%d", op, m[Op(op)])
	}
	return b.String()
}

// picker hands out ops in the proportions of a mix by smooth weighted
// round-robin (as nginx balances upstreams): deterministic, no randomness to
// seed, and even a short run gets the exact ratio. Not safe for concurrent
// use; the dispatcher alone calls it.
type picker struct {
	ops     []Op
	weights []int
	current []int
	total   int
}

func newPicker(m Mix) *picker {
	p := &picker{}
	for _, op := range allOps { // fixed order keeps runs reproducible
		if w := m[op]; w > 0 {
			p.ops = append(p.ops, op)
			p.weights = append(p.weights, w)
			p.total += w
		}
	}
	p.current = make([]int, len(p.ops))
	return p
}

func (p *picker) next() Op {
	best := 0
	for i, w := range p.weights {
		p.current[i] += w
		if p.current[i] > p.current[best] {
			best = i
		}
	}
	p.current[best] -= p.total
	return p.ops[best]
}
