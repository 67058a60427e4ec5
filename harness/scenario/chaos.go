package scenario

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/keystorm/keystorm/harness/faults"
)

// Defaults of a chaos block.
var (
	DefaultChaosHold = Span{Min: 2 * time.Second, Max: 5 * time.Second}
	DefaultChaosGap  = Span{Min: 3 * time.Second, Max: 8 * time.Second}
)

// chaos draws the chaos block's entries into the timeline. It runs after
// decoding and before the actions are resolved, so the drawn entries are
// decoded, defaulted and validated like written ones; their positions are
// the chaos block's, so an error points at the line that caused it.
func (d *decoder) chaos(s *Scenario) {
	c := s.Chaos
	if c == nil {
		return
	}
	fail := func(path, format string, args ...any) {
		p := d.pos.at(path)
		d.errs = append(d.errs, &Error{File: d.file, Line: p.Line, Column: p.Column, Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if s.Seed == 0 {
		fail("chaos", "needs a seed (seed: at the top): the same seed draws the same faults at the same times, so a failing run can be replayed exactly")
	}
	if len(c.Faults) == 0 {
		fail("chaos.faults", "required: at least one fault with the step that heals it")
	}
	if c.Hold == (Span{}) {
		c.Hold = DefaultChaosHold
	}
	if c.Gap == (Span{}) {
		c.Gap = DefaultChaosGap
	}
	for _, sp := range []struct {
		name string
		v    Span
	}{{"chaos.hold", c.Hold}, {"chaos.gap", c.Gap}} {
		if sp.v.Min <= 0 || sp.v.Max < sp.v.Min {
			fail(sp.name, "%s..%s: want 0 < min <= max", sp.v.Min, sp.v.Max)
		}
	}
	if c.End == 0 {
		c.End = s.Load.Duration - c.Hold.Max
	}
	total := 0
	for i := range c.Faults {
		f := &c.Faults[i]
		p := indexPath("chaos.faults", i)
		if _, msg := lookupAction("fault", f.Fault, faults.KindFault); msg != "" {
			fail(p+".fault", "%s", msg)
		}
		if _, msg := lookupAction("step", f.Heal, faults.KindStep); msg != "" {
			fail(p+".heal", "%s", msg)
		}
		if !d.pos.isSet(p + ".weight") {
			f.Weight = 1
		}
		if f.Weight < 1 {
			fail(p+".weight", "%d: want at least 1", f.Weight)
		}
		total += f.Weight
	}
	if len(d.errs) > 0 || total == 0 {
		return
	}
	rng := rand.New(rand.NewPCG(uint64(s.Seed), 0xc4a05))
	draw := func(sp Span) time.Duration {
		return sp.Min + time.Duration(rng.Int64N(int64(sp.Max-sp.Min)+1))
	}
	at := c.Start
	for n := 1; at <= c.End; n++ {
		w := rng.IntN(total)
		j := 0
		for w >= c.Faults[j].Weight {
			w -= c.Faults[j].Weight
			j++
		}
		f := c.Faults[j]
		hold := draw(c.Hold)
		id := fmt.Sprintf("chaos-%d", n)
		faultAt, healAt := at, at+hold
		k := len(s.Timeline)
		s.Timeline = append(s.Timeline,
			TimelineEntry{ID: id, At: &faultAt, Fault: f.Fault, With: f.With},
			TimelineEntry{ID: id + "-heal", At: &healAt, Step: f.Heal, With: f.HealWith},
		)
		from := indexPath("chaos.faults", j)
		d.alias(from, indexPath("timeline", k), map[string]string{"fault": "fault", "with": "with"})
		d.alias(from, indexPath("timeline", k+1), map[string]string{"heal": "step", "heal-with": "with"})
		at = healAt + draw(c.Gap)
	}
}

// alias gives the drawn entry at path "to" the positions of the chaos
// fault at "from", field by field (renamed as fields maps them).
func (d *decoder) alias(from, to string, fields map[string]string) {
	// The drawn id and time are set, not defaults to fill in.
	d.pos[to], d.pos[to+".id"], d.pos[to+".at"] = d.pos[from], d.pos[from], d.pos[from]
	if d.drawn == nil {
		d.drawn = map[string]drawnFrom{}
	}
	d.drawn[to] = drawnFrom{path: from, fields: fields}
	var keys []string
	for k := range d.pos {
		keys = append(keys, k)
	}
	for _, k := range keys {
		v := d.pos[k]
		rest, ok := strings.CutPrefix(k, from+".")
		if !ok {
			continue
		}
		name, tail, _ := strings.Cut(rest, ".")
		if renamed, ok := fields[name]; ok {
			key := to + "." + renamed
			if tail != "" {
				key += "." + tail
			}
			d.pos[key] = v
		}
	}
}

// drawnFrom is the chaos fault a drawn timeline entry came from, and how
// its fields are named there.
type drawnFrom struct {
	path   string
	fields map[string]string // chaos field -> timeline field
}

// undraw rewrites the errors of drawn entries to the chaos block's paths
// (what the user wrote) and drops the repeats: one bad parameter is one
// error, however many times it was drawn.
func (d *decoder) undraw() {
	if len(d.drawn) == 0 {
		return
	}
	seen := map[string]bool{}
	var out []*Error
	for _, e := range d.errs {
		for to, from := range d.drawn {
			rest, ok := strings.CutPrefix(e.Path, to)
			if !ok || (rest != "" && rest[0] != '.') {
				continue
			}
			name, tail, _ := strings.Cut(strings.TrimPrefix(rest, "."), ".")
			for chaosName, timelineName := range from.fields {
				if timelineName == name {
					name = chaosName
				}
			}
			e.Path = from.path
			if name != "" {
				e.Path += "." + name
			}
			if tail != "" {
				e.Path += "." + tail
			}
			break
		}
		key := fmt.Sprintf("%d:%d:%s:%s", e.Line, e.Column, e.Path, e.Msg)
		if !seen[key] {
			seen[key] = true
			out = append(out, e)
		}
	}
	d.errs = out
}
