package scenario

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/keystorm/keystorm/harness/faults"
)

// actionName returns the field that names a timeline entry's action
// ("fault" or "step"), the name, and the kind that field asks for; ok is
// false unless exactly one of the two is set (Validate reports that).
func (e *TimelineEntry) actionName() (fieldName, name string, kind faults.Kind, ok bool) {
	switch {
	case e.Fault != "" && e.Step == "":
		return "fault", e.Fault, faults.KindFault, true
	case e.Step != "" && e.Fault == "":
		return "step", e.Step, faults.KindStep, true
	}
	return "", "", "", false
}

// lookupAction finds the catalog entry an entry names. The message, when
// not empty, says why the name cannot be used in that field.
func lookupAction(field, name string, kind faults.Kind) (faults.Entry, string) {
	entry, ok := faults.Lookup(name)
	if !ok {
		var same []string
		for _, e := range faults.All() {
			if e.Kind == kind {
				same = append(same, e.Name)
			}
		}
		hint := ""
		if s := suggest(name, same); s != "" {
			hint = "; did you mean " + s + "?"
		}
		return faults.Entry{}, fmt.Sprintf("unknown %s %q (see keystorm faults%s)", kindWord(kind), name, hint)
	}
	if entry.Kind != kind {
		other := "fault"
		if entry.Kind == faults.KindStep {
			other = "step"
		}
		return faults.Entry{}, fmt.Sprintf("%q is a %s, not a %s (write %s: %s)", name, kindWord(entry.Kind), kindWord(kind), other, name)
	}
	return entry, ""
}

func kindWord(k faults.Kind) string {
	if k == faults.KindStep {
		return "recovery step"
	}
	return "fault"
}

// actions resolves each timeline entry's action and decodes its `with:`
// block strictly into the struct the catalog's New() returns, so that a
// parameter left out keeps New()'s default.
func (d *decoder) actions(s *Scenario) {
	for i := range s.Timeline {
		e := &s.Timeline[i]
		path := indexPath("timeline", i)
		fieldName, name, kind, ok := e.actionName()
		if !ok {
			continue
		}
		entry, msg := lookupAction(fieldName, name, kind)
		if msg != "" {
			p := d.pos.at(joinPath(path, fieldName))
			d.errs = append(d.errs, &Error{File: d.file, Line: p.Line, Column: p.Column, Path: joinPath(path, fieldName), Msg: msg})
			continue
		}
		act := entry.New()
		rv := reflect.ValueOf(act)
		if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
			p := d.pos.at(path)
			d.errs = append(d.errs, &Error{File: d.file, Line: p.Line, Column: p.Column, Path: path,
				Msg: fmt.Sprintf("catalog entry %s: New() returns a %T, want a pointer to a struct (a bug in the catalog)", name, act)})
			continue
		}
		if e.With.Kind != 0 && !isNull(&e.With) {
			d.value(&e.With, rv.Elem(), joinPath(path, "with"))
		}
		e.Action = act
	}
}

// A nameKind is what a name in a scenario stands for.
type nameKind string

const (
	kindCluster nameKind = "cluster"
	kindStore   nameKind = "store"
	kindKey     nameKind = "key"
	kindBackup  nameKind = "backup"
	// kindAny is an `as:` name whose kind the action does not say: it
	// satisfies a reference of any kind rather than fail a valid file.
	kindAny nameKind = ""
)

var nameKinds = []nameKind{kindCluster, kindStore, kindKey, kindBackup}

// refKind tells whether an action parameter names something the scenario
// defines, by its yaml name: "cluster", "store", "key", "backup", or one
// ending in "-cluster" and so on ("source-cluster"), or their plurals for
// lists. The catalog's parameters follow this convention, which is what
// lets the check work for actions added later.
func refKind(name string, t reflect.Type) (nameKind, bool) {
	switch {
	case t.Kind() == reflect.String:
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		name = strings.TrimSuffix(name, "s")
	default:
		return "", false
	}
	for _, k := range nameKinds {
		if name == string(k) || strings.HasSuffix(name, "-"+string(k)) {
			return k, true
		}
	}
	return "", false
}

// bindKind tells whether an action parameter binds a new name, and of what
// kind: a field tagged "as" (or "as-cluster" and the like) names what the
// action makes. Its kind is the one its suffix, then its doc, then the
// action's name mentions ("restore-cluster" makes a cluster); kindAny when
// none does.
func bindKind(actionName string, f field) (nameKind, bool) {
	if f.Type.Kind() != reflect.String {
		return "", false
	}
	if f.Name != "as" && !strings.HasPrefix(f.Name, "as-") {
		return "", false
	}
	for _, text := range []string{strings.TrimPrefix(f.Name, "as"), f.Doc, actionName} {
		if k, ok := firstKindIn(text); ok {
			return k, true
		}
	}
	return kindAny, true
}

// firstKindIn returns the kind whose word appears first in text.
func firstKindIn(text string) (nameKind, bool) {
	text = strings.ToLower(text)
	// "key store" is a store, not a key.
	text = strings.NewReplacer("key store", "store", "keystore", "store").Replace(text)
	best, at := kindAny, -1
	for _, k := range nameKinds {
		if i := strings.Index(text, string(k)); i >= 0 && (at < 0 || i < at) {
			best, at = k, i
		}
	}
	return best, at >= 0
}

// actionParam is one parameter of a decoded action that names or binds
// something.
type actionParam struct {
	path  string // "timeline[2].with.cluster"
	kind  nameKind
	names []string
	binds bool
}

// actionParams lists the name-carrying parameters of entry i's action. A
// value equal to the parameter's default (New()'s) is the action's own,
// not a scenario name: create-cluster-from-backup's backup: latest.
func actionParams(i int, a faults.Action, defaults faults.Action) []actionParam {
	rv := reflect.ValueOf(a)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return nil
	}
	sv := rv.Elem()
	var dv reflect.Value
	if d := reflect.ValueOf(defaults); d.IsValid() && d.Type() == rv.Type() {
		dv = d.Elem()
	}
	isDefault := func(f field, v reflect.Value) bool {
		return dv.IsValid() && !v.IsZero() && reflect.DeepEqual(v.Interface(), dv.FieldByIndex(f.Index).Interface())
	}
	base := joinPath(indexPath("timeline", i), "with")
	var out []actionParam
	for _, f := range fieldsOf(sv.Type()) {
		v := sv.FieldByIndex(f.Index)
		if isDefault(f, v) {
			continue
		}
		if k, ok := bindKind(a.Name(), f); ok {
			if v.String() != "" {
				out = append(out, actionParam{path: joinPath(base, f.Name), kind: k, names: []string{v.String()}, binds: true})
			}
			continue
		}
		k, ok := refKind(f.Name, f.Type)
		if !ok {
			continue
		}
		p := actionParam{path: joinPath(base, f.Name), kind: k}
		if v.Kind() == reflect.String {
			if v.String() != "" {
				p.names = []string{v.String()}
			}
		} else {
			for j := 0; j < v.Len(); j++ {
				p.names = append(p.names, v.Index(j).String())
			}
		}
		if len(p.names) > 0 {
			out = append(out, p)
		}
	}
	return out
}
