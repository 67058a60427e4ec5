package scenario

import (
	"slices"
	"strings"
	"time"

	"github.com/keystorm/keystorm/harness/load"
)

// load checks the load: its duration, shape, mix, sizes and keys.
func (c *checker) load() {
	l := c.s.Load
	if l.Duration <= 0 {
		c.errorf("load.duration", "required: how long the load runs, more than 0 (such as 60s)")
	}
	total := c.shape(l.Shape, "load.shape", true, true)
	if len(l.Shape.Sequence) > 0 && l.Duration > 0 && total > l.Duration {
		c.errorf("load.shape.sequence", "the shapes' for add up to %s, more than load.duration (%s)", total, l.Duration)
	}
	c.mix()
	if len(l.Sizes) == 0 {
		c.errorf("load.sizes", "empty: want at least one plaintext size (leave it out for [%d])", DefaultSize)
	}
	for i, n := range l.Sizes {
		if n < 1 || n > MaxPlaintext {
			c.errorf(indexPath("load.sizes", i), "%d: want 1 to %d bytes (KMS's plaintext limit)", n, MaxPlaintext)
		}
	}
	if len(l.Keys) == 0 && l.Duration > 0 {
		c.errorf("load.keys", "required: the setup keys the load uses")
	}
	for i, k := range l.Keys {
		if !c.inSetup(kindKey, k) {
			c.errorf(indexPath("load.keys", i), "unknown key %q%s", k, c.known(kindKey, k, false))
		}
	}
	if l.Timeout <= 0 {
		c.errorf("load.timeout", "%s: want more than 0", l.Timeout)
	}
	if l.MaxLateFraction < 0 || l.MaxLateFraction > 1 {
		c.errorf("load.max-late-fraction", "%s: want 0 to 1", fmtFloat(l.MaxLateFraction))
	}
}

// shapeKinds are the YAML names of a shape's fields.
var shapeKinds = []string{"constant", "ramp", "square", "spike", "poisson", "sequence"}

// shape checks one shape and returns the time it covers when it is bounded
// (the sum of its for). last is whether it may run "for the rest" (the last
// of its sequence, recursively); top is whether it is the load's own shape,
// where for has no meaning.
func (c *checker) shape(sh load.Shape, path string, last, top bool) time.Duration {
	var set []string
	if sh.Constant != nil {
		set = append(set, "constant")
	}
	if sh.Ramp != nil {
		set = append(set, "ramp")
	}
	if sh.Square != nil {
		set = append(set, "square")
	}
	if sh.Spike != nil {
		set = append(set, "spike")
	}
	if sh.Poisson != nil {
		set = append(set, "poisson")
	}
	if sh.Sequence != nil {
		set = append(set, "sequence")
	}
	switch len(set) {
	case 0:
		c.errorf(path, "required: one of %s", strings.Join(shapeKinds, ", "))
		return 0
	case 1:
	default:
		c.errorf(path, "sets %s: want exactly one shape (use a sequence to play several)", strings.Join(set, " and "))
		return 0
	}
	kindPath := joinPath(path, set[0])
	rate := func(name string, v float64) {
		if v < 0 {
			c.errorf(joinPath(kindPath, name), "%s: want 0 or more requests per second", fmtFloat(v))
		}
	}
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			c.errorf(joinPath(kindPath, name), "required: more than 0")
		}
	}
	var forD time.Duration
	switch {
	case sh.Constant != nil:
		rate("rate", sh.Constant.Rate)
		forD = sh.Constant.For
	case sh.Ramp != nil:
		rate("from", sh.Ramp.From)
		rate("to", sh.Ramp.To)
		forD = sh.Ramp.For
	case sh.Square != nil:
		q := sh.Square
		rate("low", q.Low)
		rate("high", q.High)
		if q.High < q.Low {
			c.errorf(kindPath+".high", "%s is below low (%s)", fmtFloat(q.High), fmtFloat(q.Low))
		}
		positive("period", q.Period)
		if q.Duty <= 0 || q.Duty > 1 {
			c.errorf(kindPath+".duty", "%s: want more than 0, at most 1 (the fraction of each period at the high rate)", fmtFloat(q.Duty))
		}
		forD = q.For
	case sh.Spike != nil:
		p := sh.Spike
		rate("base", p.Base)
		rate("peak", p.Peak)
		if p.Peak < p.Base {
			c.errorf(kindPath+".peak", "%s is below base (%s)", fmtFloat(p.Peak), fmtFloat(p.Base))
		}
		positive("every", p.Every)
		positive("width", p.Width)
		if p.Width > 0 && p.Every > 0 && p.Width >= p.Every {
			c.errorf(kindPath+".width", "%s: want less than every (%s), or the spikes merge into one", p.Width, p.Every)
		}
		forD = p.For
	case sh.Poisson != nil:
		rate("rate", sh.Poisson.Rate)
		forD = sh.Poisson.For
	default:
		if len(sh.Sequence) == 0 {
			c.errorf(kindPath, "empty: want the shapes to play one after another")
			return 0
		}
		var total time.Duration
		for i, child := range sh.Sequence {
			total += c.shape(child, indexPath(kindPath, i), last && i == len(sh.Sequence)-1, false)
		}
		return total
	}
	switch {
	case top && forD > 0:
		c.errorf(kindPath+".for", "only a shape inside a sequence has a for: load.duration says how long the load runs")
	case !last && forD == 0:
		c.errorf(kindPath+".for", "required: every shape of a sequence but the last needs a for")
	}
	return forD
}

// mix checks the operations and that every Decrypt and ReEncrypt will have
// ciphertexts to work on.
func (c *checker) mix() {
	l := c.s.Load
	if len(l.Mix) == 0 {
		c.errorf("load.mix", "empty: want at least one operation (leave it out for Encrypt and Decrypt)")
	}
	seen := map[string]int{}
	encrypt := false
	for i, m := range l.Mix {
		p := indexPath("load.mix", i)
		if !slices.Contains(load.Operations, m.Op) {
			hint := ""
			if s := suggest(m.Op, load.Operations); s != "" {
				hint = "; did you mean " + s + "?"
			}
			c.errorf(p+".op", "unknown operation %q (want one of: %s%s)", m.Op, strings.Join(load.Operations, ", "), hint)
			continue
		}
		if first, dup := seen[m.Op]; dup {
			c.errorf(p+".op", "%s is already in the mix (load.mix[%d]): give it one weight", m.Op, first)
			continue
		}
		seen[m.Op] = i
		if m.Weight < 1 {
			c.errorf(p+".weight", "%d: want at least 1 (leave the operation out to not run it)", m.Weight)
		}
		if m.Op == "Encrypt" {
			encrypt = true
		}
		if m.Op == "DecryptWrongKey" && len(distinct(l.Keys)) < 2 {
			c.errorf(p+".op", "DecryptWrongKey names another of the load's keys: load.keys needs at least two")
		}
	}
	if encrypt {
		return
	}
	withCiphertexts := map[string]bool{}
	for _, ct := range c.s.Setup.Ciphertexts {
		withCiphertexts[ct.Key] = true
	}
	var missing []string
	for _, k := range l.Keys {
		if !withCiphertexts[k] && !slices.Contains(missing, k) {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return
	}
	for i, m := range l.Mix {
		if m.Op == "Decrypt" || m.Op == "ReEncrypt" || m.Op == "DecryptTampered" || m.Op == "DecryptWrongKey" {
			c.errorf(indexPath("load.mix", i)+".op", "%s needs ciphertexts, and without Encrypt in the mix only setup.ciphertexts make them: add Encrypt to the mix, or setup.ciphertexts for %s %s", m.Op, plural(len(missing), "key", "keys"), strings.Join(missing, ", "))
		}
	}
}

// distinct returns names without repeats.
func distinct(names []string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
