package scenario

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// entryTime is what is known before the run of when a timeline entry
// starts.
type entryTime struct {
	// dep is the entry it waits for (its when.after), or -1.
	dep int
	// earliest is a lower bound of its start since the load's start; the
	// start itself when fixed.
	earliest time.Duration
	fixed    bool
	// why explains earliest for messages: "check after restore+20s,
	// restore at 50s".
	why string
	// ok is false when its timing could not be worked out (a bad
	// reference, a cycle): checks that need it are skipped.
	ok bool
}

// timing resolves each when.after, reports references that cannot be
// waited for (unknown, forward, cyclic, the load's end), and works out when
// each entry can start at the earliest.
func (c *checker) timing() {
	tl := c.s.Timeline
	for i := range c.times {
		c.times[i] = entryTime{dep: -1}
	}
	offsets := make([]time.Duration, len(tl))
	bad := make([]bool, len(tl))
	for i, e := range tl {
		if e.When == nil || e.When.After == "" {
			continue
		}
		p := indexPath("timeline", i) + ".when.after"
		r, err := ParseRef(e.When.After)
		if err != nil {
			c.errorf(p, "%v", err)
			bad[i] = true
			continue
		}
		offsets[i] = r.Offset
		switch r.Name {
		case RefStart:
			continue
		case RefEnd:
			c.errorf(p, "impossible timeline: %q waits for the load's end; an entry runs during the load (use at or an entry's id)", e.When.After)
			bad[i] = true
			continue
		}
		j, ok := c.ids[r.Name]
		if !ok {
			c.errorf(p, "unknown timeline id %q%s", r.Name, c.knownIDs(r.Name))
			bad[i] = true
			continue
		}
		c.times[i].dep = j
	}
	// Each entry waits for at most one other, so following deps from an
	// entry either ends or comes back round: a cycle.
	inCycle := make([]bool, len(tl))
	for i := range tl {
		chain := []int{i}
		for j := c.times[i].dep; j >= 0 && !slices.Contains(chain, j); j = c.times[j].dep {
			chain = append(chain, j)
		}
		last := chain[len(chain)-1]
		if c.times[last].dep != i {
			continue
		}
		inCycle[i] = true
		if slices.Min(chain) != i {
			continue // reported once, at its first entry in the file
		}
		p := indexPath("timeline", i) + ".when.after"
		if len(chain) == 1 {
			c.errorf(p, "impossible timeline: %s waits for itself", tl[i].ID)
			continue
		}
		var parts []string
		for _, k := range chain {
			parts = append(parts, fmt.Sprintf("%s waits for %s", tl[k].ID, tl[c.times[k].dep].ID))
		}
		c.errorf(p, "impossible timeline: a cycle: %s", strings.Join(parts, ", "))
	}
	for i := range tl {
		if j := c.times[i].dep; j > i && !inCycle[i] {
			c.errorf(indexPath("timeline", i)+".when.after", "impossible timeline: %s waits for %s, which is listed later (timeline[%d]): list entries in the order they happen", tl[i].ID, tl[j].ID, j)
			bad[i] = true
		}
	}
	// Entries only wait for earlier ones now (or are marked bad), so one
	// pass in file order works out every start.
	for i, e := range tl {
		t := &c.times[i]
		switch {
		case bad[i] || inCycle[i]:
			continue
		case e.At != nil:
			*t = entryTime{dep: -1, earliest: *e.At, fixed: true, why: fmt.Sprintf("%s at %s", e.ID, *e.At), ok: true}
		case e.When == nil:
			continue
		case e.When.After == "":
			// Waits for a state or an error: any time from the start.
			*t = entryTime{dep: -1, ok: true}
		case t.dep < 0: // after start
			*t = entryTime{dep: -1, earliest: offsets[i], fixed: true, why: fmt.Sprintf("%s after %s", e.ID, e.When.After), ok: true}
		default:
			d := c.times[t.dep]
			if !d.ok {
				continue
			}
			r, _ := ParseRef(e.When.After)
			t.earliest = d.earliest + offsets[i]
			// Waiting for an end starts at an unknown time.
			t.fixed = d.fixed && !r.End
			t.why = fmt.Sprintf("%s after %s", e.ID, r)
			if d.why != "" {
				t.why += ", " + d.why
			}
			t.ok = true
		}
	}
	duration := c.s.Load.Duration
	for i, e := range tl {
		t := c.times[i]
		if !t.ok || e.At != nil || e.When == nil || e.When.After == "" {
			continue
		}
		p := indexPath("timeline", i) + ".when.after"
		switch {
		case duration > 0 && t.earliest > duration:
			c.errorf(p, "impossible timeline: %s cannot start before %s (%s), after the load ends (load.duration is %s)", e.ID, t.earliest, t.why, duration)
		case t.fixed && t.earliest < 0:
			c.errorf(p, "impossible timeline: %s would start at %s, before the load starts", e.ID, t.earliest)
		}
	}
}

// knownIDs lists the timeline ids for an "unknown id" message.
func (c *checker) knownIDs(name string) string {
	var ids []string
	for _, e := range c.s.Timeline {
		if _, ok := c.ids[e.ID]; ok && !slices.Contains(ids, e.ID) {
			ids = append(ids, e.ID)
		}
	}
	if len(ids) == 0 {
		return ": the timeline has no entries (want start, end, or an entry's id)"
	}
	hint := ""
	if s := suggest(name, ids); s != "" {
		hint = "; did you mean " + s + "?"
	}
	return fmt.Sprintf(" (ids: %s%s)", strings.Join(ids, ", "), hint)
}

// startsAfter tells whether entry i certainly starts after entry j has
// started: it waits for j (directly or through others), or both times are
// known and i's is later. Anything unknown counts as "maybe not", so that
// only a timeline that is certainly wrong is refused.
func (c *checker) startsAfter(i, j int) bool {
	if i == j {
		return true
	}
	for k, n := c.times[i].dep, 0; k >= 0 && n <= len(c.times); k, n = c.times[k].dep, n+1 {
		if k == j {
			return true
		}
	}
	ti, tj := c.times[i], c.times[j]
	return ti.ok && tj.ok && tj.fixed && ti.earliest > tj.earliest
}
