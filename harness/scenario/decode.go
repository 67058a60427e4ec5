package scenario

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Load reads, decodes, completes with defaults and validates the scenario
// file at path. Problems in the file come back together as an *Errors.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario: %w", err)
	}
	return Parse(path, data)
}

// Parse is Load for a file already read; file names it in errors. Nothing
// is half-applied: on any problem it returns (nil, *Errors).
func Parse(file string, data []byte) (*Scenario, error) {
	root, perr := parseDocument(file, data)
	if perr != nil {
		return nil, &Errors{List: []*Error{perr}}
	}
	d := &decoder{file: file, pos: positions{}}
	s := &Scenario{File: file}
	d.value(root, reflect.ValueOf(s).Elem(), "")
	d.chaos(s)
	d.actions(s)
	d.undraw()
	if len(d.errs) > 0 {
		sortByPosition(d.errs)
		return nil, &Errors{List: d.errs}
	}
	s.positions = d.pos
	s.locate()
	s.ApplyDefaults()
	if errs := s.Validate(); len(errs) > 0 {
		return nil, asErrors(file, errs)
	}
	return s, nil
}

// yamlLine finds the line in yaml.v3's syntax errors ("yaml: line 3: ...").
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDocument parses data into its one YAML document's root node.
func parseDocument(file string, data []byte) (*yaml.Node, *Error) {
	syntax := func(err error) *Error {
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return &Error{File: file, Line: line, Msg: "YAML syntax: " + m[2]}
		}
		return &Error{File: file, Msg: "YAML syntax: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Msg: "empty file: want a scenario (a mapping with name, load, ...)"}
		}
		return nil, syntax(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntax(err)
	default:
		return nil, &Error{File: file, Line: next.Line, Column: next.Column,
			Msg: "a second YAML document starts here: a scenario file holds one document (split it into several files)"}
	}
	if len(doc.Content) != 1 || isNull(doc.Content[0]) {
		return nil, &Error{File: file, Line: doc.Line, Column: doc.Column, Msg: "empty document: want a scenario (a mapping with name, load, ...)"}
	}
	return doc.Content[0], nil
}

// decoder walks a YAML node tree and a Go value together. yaml.v3's own
// decoding stops at the first type error and reports unknown fields without
// a path; walking ourselves gives every error a position and a path, keeps
// going after one, and records where each value was written (positions)
// for validation and defaults.
type decoder struct {
	file string
	errs []*Error
	pos  positions
	// drawn maps the timeline entries a chaos block drew to where they
	// came from.
	drawn map[string]drawnFrom
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	nodeType            = reflect.TypeFor[yaml.Node]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: n.Line, Column: n.Column, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// value decodes n into v, whose path in the document is path. A null
// leaves v as it was (but for pointers to structs), so that the defaults an
// action's New() set survive "count:" with no value as they survive an
// omitted count.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	d.pos[path] = posEntry{Pos: Pos{Line: n.Line, Column: n.Column}, null: isNull(n)}
	t := v.Type()
	switch {
	case t == nodeType:
		v.Set(reflect.ValueOf(*n))
		return
	case isNull(n):
		// "integrity:" with nothing after it means "check integrity",
		// with the defaults: a pointer to a struct is set, empty.
		if t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return
	case t == durationType:
		d.duration(n, v, path)
		return
	case t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(textUnmarshalerType):
		d.text(n, v, path)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if !v.IsNil() {
			p.Elem().Set(v.Elem())
		}
		d.value(n, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		d.list(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.String:
		d.str(n, v, path)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.errorf(n, path, "want true or false, got %s", describeNode(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.errorf(n, path, "want true or false, got %s", describeNode(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		d.integer(n, v, path)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		d.unsigned(n, v, path)
	case reflect.Float32, reflect.Float64:
		d.float(n, v, path)
	default:
		d.errorf(n, path, "keystorm cannot decode a %s (a bug in keystorm's types)", t)
	}
}

// structure decodes a mapping into a struct, field by yaml tag; a key that
// names no field is an error, with the fields it could have meant.
func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	fields := fieldsOf(v.Type())
	names := fieldNames(fields)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping (with %s), got %s", strings.Join(names, ", "), describeNode(n))
		return
	}
	byName := make(map[string]field, len(fields))
	for _, f := range fields {
		byName[f.Name] = f
	}
	for _, kv := range d.pairs(n, path) {
		k, val := kv[0], kv[1]
		f, ok := byName[k.Value]
		if !ok {
			hint := ""
			if s := suggest(k.Value, names); s != "" {
				hint = fmt.Sprintf(": did you mean %s?", s)
			}
			d.errorf(k, path, "unknown field %q%s (want one of: %s)", k.Value, hint, strings.Join(names, ", "))
			continue
		}
		d.value(val, v.FieldByIndex(f.Index), joinPath(path, f.Name))
	}
}

// mapping decodes a mapping into a map with string keys.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.errorf(n, path, "keystorm cannot decode a %s (a bug in keystorm's types)", t)
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping, got %s", describeNode(n))
		return
	}
	m := reflect.MakeMap(t)
	for _, kv := range d.pairs(n, path) {
		elem := reflect.New(t.Elem()).Elem()
		d.value(kv[1], elem, joinPath(path, kv[0].Value))
		m.SetMapIndex(reflect.ValueOf(kv[0].Value).Convert(t.Key()), elem)
	}
	v.Set(m)
}

// pairs returns a mapping's key-value pairs, reporting duplicate keys and
// expanding YAML merge keys ("<<: *defaults"); a key the mapping sets
// itself wins over a merged one, as YAML specifies.
func (d *decoder) pairs(n *yaml.Node, path string) [][2]*yaml.Node {
	seen := map[string]*yaml.Node{}
	var own, merged [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergeSources(val, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "want a field name, got %s", describeNode(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, joinPath(path, k.Value), "duplicate key %q (first at line %d)", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		own = append(own, [2]*yaml.Node{k, val})
	}
	var out [][2]*yaml.Node
	for _, kv := range merged {
		if _, ok := seen[kv[0].Value]; ok {
			continue
		}
		seen[kv[0].Value] = kv[0]
		out = append(out, kv)
	}
	return append(out, own...)
}

// mergeSources returns the pairs a merge key brings: those of one mapping
// or of a list of mappings (the first one listed wins).
func (d *decoder) mergeSources(n *yaml.Node, path string) [][2]*yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return d.pairs(n, path)
	case yaml.SequenceNode:
		var out [][2]*yaml.Node
		for _, item := range n.Content {
			if item.Kind == yaml.AliasNode && item.Alias != nil {
				item = item.Alias
			}
			if item.Kind != yaml.MappingNode {
				d.errorf(item, path, "a merge (<<) takes mappings, got %s", describeNode(item))
				continue
			}
			out = append(out, d.pairs(item, path)...)
		}
		return out
	}
	d.errorf(n, path, "a merge (<<) takes a mapping or a list of mappings, got %s", describeNode(n))
	return nil
}

// list decodes a sequence into a slice, replacing any default it held.
func (d *decoder) list(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "want a list, got %s", describeNode(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.value(item, s.Index(i), indexPath(path, i))
	}
	v.Set(s)
}

// str decodes a scalar into a string. Numbers are taken as written (as
// yaml.v3 does), so that a parameter documented as "all" or a number reads
// `count: 2`; a boolean is refused because `name: yes`-style surprises are
// what strictness is for.
func (d *decoder) str(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "want a string, got %s", describeNode(n))
		return
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float", "!!timestamp":
		v.SetString(n.Value)
	case "!!bool":
		d.errorf(n, path, "want a string, got %s (quote it if you mean the text: %q)", describeNode(n), n.Value)
	default:
		d.errorf(n, path, "want a string, got %s", describeNode(n))
	}
}

// digits matches an integer literal too long for YAML's int, which yaml.v3
// resolves as a float.
var digits = regexp.MustCompile(`^[-+]?[0-9]+$`)

func (d *decoder) integer(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		if n.Kind == yaml.ScalarNode && digits.MatchString(n.Value) {
			d.errorf(n, path, "%s is out of range for this field", n.Value)
			return
		}
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float" {
			d.errorf(n, path, "%s is not an integer (want a whole number)", n.Value)
			return
		}
		d.errorf(n, path, "want an integer, got %s", describeNode(n))
		return
	}
	var i int64
	if err := n.Decode(&i); err != nil || v.OverflowInt(i) {
		d.errorf(n, path, "%s is out of range for this field", n.Value)
		return
	}
	v.SetInt(i)
}

func (d *decoder) unsigned(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || digits.MatchString(n.Value)) && strings.HasPrefix(n.Value, "-") {
		d.errorf(n, path, "%s is negative (want 0 or more)", n.Value)
		return
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		if n.Kind == yaml.ScalarNode && digits.MatchString(n.Value) {
			d.errorf(n, path, "%s is out of range for this field", n.Value)
			return
		}
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!float" {
			d.errorf(n, path, "%s is not an integer (want a whole number, 0 or more)", n.Value)
			return
		}
		d.errorf(n, path, "want a whole number, 0 or more, got %s", describeNode(n))
		return
	}
	var u uint64
	if err := n.Decode(&u); err != nil || v.OverflowUint(u) {
		d.errorf(n, path, "%s is out of range for this field", n.Value)
		return
	}
	v.SetUint(u)
}

func (d *decoder) float(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		d.errorf(n, path, "want a number, got %s", describeNode(n))
		return
	}
	var f float64
	if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) || v.OverflowFloat(f) {
		d.errorf(n, path, "%s is not a finite number", n.Value)
		return
	}
	v.SetFloat(f)
}

// duration decodes a Go duration string. A bare number is refused rather
// than read as nanoseconds (yaml.v3's reading) or seconds (a guess):
// "timeout: 30" must say which it means.
func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "want a duration such as 30s or 2m, got %s", describeNode(n))
		return
	}
	bare := func() {
		d.errorf(n, path, "%s is a bare number: a duration needs a unit (want e.g. %ss, 2m)", n.Value, n.Value)
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		bare()
		return
	case "!!str":
	default:
		d.errorf(n, path, "want a duration such as 30s or 2m, got %s", describeNode(n))
		return
	}
	dur, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		if _, ferr := strconv.ParseFloat(strings.TrimSpace(n.Value), 64); ferr == nil {
			bare()
			return
		}
		d.errorf(n, path, "%q is not a duration (want e.g. 30s, 2m, 1m30s)", n.Value)
		return
	}
	if dur < 0 {
		d.errorf(n, path, "%s is negative (want 0 or more)", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

// text decodes a scalar through the type's UnmarshalText, so that an
// action can take a parameter of its own type.
func (d *decoder) text(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "want a scalar, got %s", describeNode(n))
		return
	}
	u := v.Addr().Interface().(encoding.TextUnmarshaler)
	if err := u.UnmarshalText([]byte(n.Value)); err != nil {
		d.errorf(n, path, "%q: %v", n.Value, err)
	}
}

// isNull tells a YAML null ("key:", "~", "null") from a value.
func isNull(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describeNode says what a node is, for "want X, got Y" messages.
func describeNode(n *yaml.Node) string {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!int":
			return "the integer " + n.Value
		case "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		case "!!null":
			return "nothing"
		}
		return fmt.Sprintf("%q (%s)", n.Value, n.ShortTag())
	}
	return "an unexpected YAML node"
}

// locate copies the positions of timeline entries and expectations into
// their Line and Column, for the runner's and the reports' messages.
func (s *Scenario) locate() {
	for i := range s.Timeline {
		p := s.positions.at(indexPath("timeline", i))
		s.Timeline[i].Line, s.Timeline[i].Column = p.Line, p.Column
	}
	for i := range s.Expect {
		p := s.positions.at(indexPath("expect", i))
		s.Expect[i].Line, s.Expect[i].Column = p.Line, p.Column
	}
}
