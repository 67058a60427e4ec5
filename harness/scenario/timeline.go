package scenario

import (
	"reflect"
	"slices"
	"strings"

	"github.com/keystorm/keystorm/harness/faults"
)

// timeline checks the entries one by one, then their order in time, then
// the names their actions use.
func (c *checker) timeline() {
	c.ids = map[string]int{}
	c.times = make([]entryTime, len(c.s.Timeline))
	for i := range c.s.Timeline {
		c.timelineID(i)
	}
	actions := make([]faults.Action, len(c.s.Timeline))
	for i := range c.s.Timeline {
		actions[i] = c.timelineEntry(i)
	}
	c.timing()
	params := make([][]actionParam, len(actions))
	for i, a := range actions {
		if a == nil {
			continue
		}
		var defaults faults.Action
		if entry, ok := faults.Lookup(a.Name()); ok {
			defaults = entry.New()
		}
		params[i] = actionParams(i, a, defaults)
		for _, p := range params[i] {
			if p.binds {
				c.bind(i, p)
			}
		}
	}
	for i := range actions {
		for _, p := range params[i] {
			if !p.binds {
				for _, name := range p.names {
					c.reference(p.kind, name, p.path, i)
				}
			}
		}
	}
	for i, e := range c.s.Timeline {
		if e.When != nil {
			p := indexPath("timeline", i) + ".when"
			if e.When.Store != "" {
				c.reference(kindStore, e.When.Store, p+".store", i)
			}
			if e.When.Key != "" {
				c.reference(kindKey, e.When.Key, p+".key", i)
			}
		}
	}
}

// timelineID checks entry i's id and records it.
func (c *checker) timelineID(i int) {
	e := c.s.Timeline[i]
	p := indexPath("timeline", i) + ".id"
	switch {
	case e.ID == "":
		if e.Fault != "" || e.Step != "" {
			c.errorf(p, "empty: want a name other entries and expectations can refer to")
		}
		return
	case e.ID == RefStart || e.ID == RefEnd:
		c.errorf(p, "%q is a reserved reference (the load's %s): choose another id", e.ID, e.ID)
		return
	case !idPattern.MatchString(e.ID):
		c.errorf(p, "%q: want letters, digits, dashes and underscores (no dots or plus signs: references use them)", e.ID)
		return
	}
	if r, err := ParseRef(e.ID); err == nil && r.Offset != 0 {
		c.errorf(p, "%q reads as a reference to %q with an offset of %s: choose another id", e.ID, r.Name, r.Offset)
		return
	}
	if first, dup := c.ids[e.ID]; dup {
		how := ""
		if !c.s.positions.isSet(p) {
			how = " (the action's name, by default)"
		}
		c.errorf(p, "%q%s is already the id of timeline[%d]: give each entry its own id", e.ID, how, first)
		return
	}
	c.ids[e.ID] = i
}

// timelineEntry checks entry i alone and returns its action (nil when it
// has none that can be checked).
func (c *checker) timelineEntry(i int) faults.Action {
	e := &c.s.Timeline[i]
	base := indexPath("timeline", i)
	switch {
	case e.At != nil && e.When != nil:
		c.errorf(base+".when", "set at or when, not both")
	case e.At == nil && e.When == nil:
		c.errorf(base, "required: at (a time since the load started) or when (a condition to wait for)")
	case e.At != nil && *e.At < 0:
		c.errorf(base+".at", "impossible timeline: at %s is before the load starts", *e.At)
	case e.At != nil && *e.At > c.s.Load.Duration && c.s.Load.Duration > 0:
		c.errorf(base+".at", "impossible timeline: at %s is after the load ends (load.duration is %s)", *e.At, c.s.Load.Duration)
	}
	if e.When != nil {
		c.condition(i)
	}
	if e.Timeout <= 0 {
		c.errorf(base+".timeout", "%s: want more than 0", e.Timeout)
	}
	var act faults.Action
	switch {
	case e.Fault != "" && e.Step != "":
		c.errorf(base+".step", "set fault or step, not both")
	case e.Fault == "" && e.Step == "":
		c.errorf(base, "required: fault or step (see keystorm faults)")
	case e.Action != nil:
		act = e.Action
		field, name, kind, _ := e.actionName()
		if act.Name() != name || act.Kind() != kind {
			c.errorf(joinPath(base, field), "%q does not match the decoded action %s %q (set by hand?)", name, kindWord(act.Kind()), act.Name())
			return nil
		}
	default:
		// Built in Go rather than parsed: check the name, and the
		// parameters as New() leaves them.
		field, name, kind, _ := e.actionName()
		entry, msg := lookupAction(field, name, kind)
		if msg != "" {
			c.errorf(joinPath(base, field), "%s", msg)
			return nil
		}
		act = entry.New()
	}
	if act == nil {
		return nil
	}
	c.actionErrors(base+".with", act)
	return act
}

// actionErrors reports the action's own Validate errors at its `with:`
// block, or at the parameter an error names ("cluster: required" is
// reported as timeline[2].with.cluster: required).
func (c *checker) actionErrors(with string, act faults.Action) {
	var params []string
	if rv := reflect.ValueOf(act); rv.Kind() == reflect.Pointer && rv.Elem().Kind() == reflect.Struct {
		params = fieldNames(fieldsOf(rv.Elem().Type()))
	}
	for _, err := range act.Validate() {
		msg, path := err.Error(), with
		if name, rest, ok := strings.Cut(msg, ": "); ok && slices.Contains(params, name) {
			path, msg = joinPath(with, name), rest
		}
		c.errorf(path, "%s", msg)
	}
}

// condition checks entry i's when: apart from its after, which timing
// checks with the rest of the timeline.
func (c *checker) condition(i int) {
	w := c.s.Timeline[i].When
	p := indexPath("timeline", i) + ".when"
	if *w == (Condition{}) {
		c.errorf(p, "empty: set after, a store or key with a state, or errors")
		return
	}
	var subject nameKind
	switch {
	case w.Store != "" && w.Key != "":
		c.errorf(p+".key", "set store or key, not both")
	case w.Store != "":
		subject = kindStore
	case w.Key != "":
		subject = kindKey
	}
	switch {
	case w.State == "" && subject != "":
		c.errorf(p+".state", "required: the state the %s must be in (one of: %s)", subject, strings.Join(statesOf(subject), ", "))
	case w.State != "" && w.Store == "" && w.Key == "":
		c.errorf(p+".state", "a state needs a store or a key to be the state of")
	case w.State != "" && subject != "" && !knownState(subject, w.State):
		c.errorf(p+".state", "unknown %s state %q (want one of: %s)", subject, w.State, strings.Join(statesOf(subject), ", "))
	}
	if w.Code != "" {
		switch {
		case w.Store == "":
			c.errorf(p+".code", "a ConnectionErrorCode is a store's: set store")
		case !slices.Contains(ConnectionErrorCodes, w.Code):
			c.errorf(p+".code", "unknown ConnectionErrorCode %q (want one of: %s)", w.Code, strings.Join(ConnectionErrorCodes, ", "))
		case w.State != "" && w.State != "FAILED":
			c.errorf(p+".code", "a store shows a ConnectionErrorCode only while FAILED, not %s", w.State)
		}
	}
	if w.Errors != "" && !validException(w.Errors) {
		c.errorf(p+".errors", "%q: want a KMS exception name such as KMSInvalidStateException, or %s", w.Errors, AnyException)
	}
}

// bind records a name an action makes, refusing one that hides a setup
// name of the same kind.
func (c *checker) bind(i int, p actionParam) {
	name := p.names[0]
	kinds := []nameKind{p.kind}
	if p.kind == kindAny {
		kinds = nameKinds
	}
	for _, k := range kinds {
		if where, ok := c.setupNames[k][name]; ok {
			c.errorf(p.path, "%q already names a setup %s (%s): choose a new name", name, k, where)
			return
		}
	}
	c.bindings = append(c.bindings, binding{kind: p.kind, name: name, entry: i})
}

// reference checks that name, of kind k, used at path by timeline entry
// from (-1 for expectations, which look at the whole run), is defined in
// the setup or made by an entry that can run before it.
func (c *checker) reference(k nameKind, name, path string, from int) {
	if c.inSetup(k, name) {
		return
	}
	var makers []int
	for _, b := range c.bindings {
		if b.name == name && (b.kind == k || b.kind == kindAny) {
			makers = append(makers, b.entry)
		}
	}
	if len(makers) == 0 {
		c.errorf(path, "unknown %s %q%s", k, name, c.known(k, name, true))
		return
	}
	if from < 0 {
		return
	}
	for _, m := range makers {
		if !c.startsAfter(m, from) {
			return
		}
	}
	m := makers[0]
	if m == from {
		c.errorf(path, "%s %q is made by this entry itself: it does not exist before the entry runs", k, name)
		return
	}
	c.errorf(path, "impossible timeline: %s %q is made by timeline[%d] (%s), which runs after this entry", k, name, m, c.s.Timeline[m].ID)
}
