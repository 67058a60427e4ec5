package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"slices"
	"sort"

	"github.com/keystorm/keystorm/harness/faults"
	"github.com/keystorm/keystorm/harness/load"
)

// SchemaID is the schema's $id: where scenarios/schema.json is published.
const SchemaID = "https://github.com/keystorm/keystorm/scenarios/schema.json"

// Schema returns the JSON Schema (draft 2020-12) of the scenario format,
// for editors (yaml-language-server: $schema=...) and other tools. It is
// generated from the Go types, so it cannot drift from what Parse reads:
// each field's doc tag is its description, and a timeline entry's `with:`
// is described per catalog action (if fault/step is X, then with is X's
// parameters, with New()'s defaults). The output is deterministic: 2-space
// indent, a trailing newline.
//
// The schema checks shapes, not meaning: references between the parts and
// the timeline's order are Validate's job.
func Schema() ([]byte, error) {
	g := &schemaGen{defs: map[string]*jsonObj{}}
	g.defs["duration"] = obj(
		"description", "a Go duration with a unit: 300ms, 30s, 1m30s, 2h",
		"type", "string",
		"pattern", `^(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`,
	)
	root := obj(
		"$schema", "https://json-schema.org/draft/2020-12/schema",
		"$id", SchemaID,
		"title", "keystorm scenario",
		"description", "A keystorm scenario: a stack, a setup, a load, a timeline of faults and recovery steps, and what must hold. Generated from harness/scenario's Go types.",
	)
	root.merge(g.structSchema(reflect.TypeFor[Scenario]()))
	if err := g.actions(); err != nil {
		return nil, err
	}
	defs := &jsonObj{}
	names := make([]string, 0, len(g.defs))
	for name := range g.defs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		defs.set(name, g.defs[name])
	}
	root.set("$defs", defs)

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encode scenario schema: %w", err)
	}
	return buf.Bytes(), nil
}

// schemaGen builds the schema's $defs: one per struct type (shared by every
// field of that type, and the only way to describe the recursive
// load.Shape), one per catalog action.
type schemaGen struct {
	defs map[string]*jsonObj
	// inAction is set while describing an action's parameters, whose
	// strings also take numbers (count: 2 for "all" or a number).
	inAction bool
}

// defName names a struct's $def: its name for this package's types,
// "load.Config" for others.
func defName(t reflect.Type) string {
	if t.PkgPath() == reflect.TypeFor[Scenario]().PkgPath() {
		return t.Name()
	}
	return path.Base(t.PkgPath()) + "." + t.Name()
}

func ref(name string) *jsonObj { return obj("$ref", "#/$defs/"+name) }

// typeSchema describes a Go type the way the decoder reads it.
func (g *schemaGen) typeSchema(t reflect.Type) *jsonObj {
	switch {
	case t == durationType:
		return ref("duration")
	case t == nodeType:
		return obj("type", []string{"object", "null"})
	case t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(textUnmarshalerType):
		return obj("type", "string")
	}
	switch t.Kind() {
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Struct && t.Elem() != durationType {
			// "integrity:" alone is an empty struct (see decoder.value).
			return obj("anyOf", []any{g.typeSchema(t.Elem()), obj("type", "null")})
		}
		return g.typeSchema(t.Elem())
	case reflect.Struct:
		name := defName(t)
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = &jsonObj{} // placeholder: stops recursion
			g.defs[name] = g.structSchema(t)
		}
		return ref(name)
	case reflect.Slice, reflect.Array:
		return obj("type", "array", "items", g.typeSchema(t.Elem()))
	case reflect.Map:
		return obj("type", "object", "additionalProperties", g.typeSchema(t.Elem()))
	case reflect.String:
		if g.inAction {
			return obj("type", []string{"string", "number"})
		}
		return obj("type", "string")
	case reflect.Bool:
		return obj("type", "boolean")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return obj("type", "integer")
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return obj("type", "integer", "minimum", 0)
	case reflect.Float32, reflect.Float64:
		return obj("type", "number")
	}
	return &jsonObj{} // anything: the decoder reports it
}

// structSchema describes a struct: its fields as properties (doc tags as
// descriptions), nothing else allowed, plus what schemaRules adds.
func (g *schemaGen) structSchema(t reflect.Type) *jsonObj {
	props := &jsonObj{}
	for _, f := range fieldsOf(t) {
		fs := &jsonObj{}
		if f.Doc != "" {
			fs.set("description", f.Doc)
		}
		fs.merge(g.typeSchema(f.Type))
		if rule, ok := fieldRules[defName(t)+"."+f.Name]; ok {
			fs.merge(rule)
		}
		props.set(f.Name, fs)
	}
	o := obj("type", "object", "properties", props, "additionalProperties", false)
	if rule, ok := typeRules[defName(t)]; ok {
		o.merge(rule())
	}
	return o
}

// actions describes each catalog action's parameters and ties them to the
// timeline entry's `with:` with if/then on fault and step.
func (g *schemaGen) actions() error {
	var conds []any
	var faultNames, stepNames []string
	for _, e := range faults.All() {
		act := e.New()
		rv := reflect.ValueOf(act)
		if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
			return fmt.Errorf("scenario schema: catalog entry %s: New() returns a %T, want a pointer to a struct", e.Name, act)
		}
		g.inAction = true
		def := g.structSchema(rv.Elem().Type())
		g.inAction = false
		props := def.vals["properties"].(*jsonObj)
		for _, f := range fieldsOf(rv.Elem().Type()) {
			if v := rv.Elem().FieldByIndex(f.Index); !v.IsZero() {
				props.vals[f.Name].(*jsonObj).set("default", jsonValue(v))
			}
		}
		name := "action." + e.Name
		g.defs[name] = obj("description", fmt.Sprintf("%s %s: %s", e.Kind, e.Name, e.Summary)).merge(def)
		field := "fault"
		if e.Kind == faults.KindStep {
			field = "step"
			stepNames = append(stepNames, e.Name)
		} else {
			faultNames = append(faultNames, e.Name)
		}
		conds = append(conds, obj(
			"if", obj("properties", obj(field, obj("const", e.Name)), "required", []string{field}),
			"then", obj("properties", obj("with", ref(name))),
		))
	}
	entry := g.defs["TimelineEntry"]
	props := entry.vals["properties"].(*jsonObj)
	props.vals["fault"].(*jsonObj).set("enum", nonNil(faultNames))
	props.vals["step"].(*jsonObj).set("enum", nonNil(stepNames))
	allOf := entry.vals["allOf"].([]any)
	entry.set("allOf", append(allOf, conds...))
	return nil
}

// jsonValue is a parameter's default as the YAML would write it.
func jsonValue(v reflect.Value) any {
	if v.Type() == durationType {
		return v.Interface().(fmt.Stringer).String()
	}
	if v.Kind() == reflect.Pointer {
		return jsonValue(v.Elem())
	}
	return v.Interface()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// oneOfRequired says exactly one of the fields is present.
func oneOfRequired(fields ...string) *jsonObj {
	var alts []any
	for _, f := range fields {
		alts = append(alts, obj("required", []string{f}))
	}
	return obj("oneOf", alts)
}

func enumOf(values ...[]string) *jsonObj {
	var all []string
	for _, v := range values {
		all = append(all, v...)
	}
	return obj("enum", all)
}

var (
	fraction      = obj("minimum", 0, "maximum", 1)
	rate          = obj("minimum", 0)
	plaintextSize = obj("minimum", 1, "maximum", MaxPlaintext)
	exceptionRule = obj("pattern", `^([A-Z][A-Za-z0-9]*Exception|any)$`)
	allStates     = slices.Concat(StoreStates, KeyStates)
)

// fieldRules add what the types alone do not say about a field, keyed by
// "<def name>.<yaml name>". They repeat some of Validate's checks so that
// an editor flags them as one types.
var fieldRules = map[string]*jsonObj{
	"Scenario.name":                  obj("pattern", namePattern.String()),
	"TimelineEntry.id":               obj("pattern", idPattern.String()),
	"load.Config.sizes":              obj("minItems", 1, "items", obj("type", "integer").merge(plaintextSize)),
	"load.Config.max-late-fraction":  fraction,
	"load.MixEntry.op":               enumOf(load.Operations),
	"load.MixEntry.weight":           obj("minimum", 1),
	"load.Constant.rate":             rate,
	"load.Ramp.from":                 rate,
	"load.Ramp.to":                   rate,
	"load.Square.low":                rate,
	"load.Square.high":               rate,
	"load.Square.duty":               obj("exclusiveMinimum", 0, "maximum", 1),
	"load.Spike.base":                rate,
	"load.Spike.peak":                rate,
	"load.Poisson.rate":              rate,
	"CiphertextKeep.count":           obj("minimum", 1),
	"CiphertextKeep.size":            plaintextSize,
	"Condition.state":                enumOf(allStates),
	"Condition.code":                 enumOf(ConnectionErrorCodes),
	"Condition.errors":               exceptionRule,
	"StateExpect.to":                 enumOf(allStates),
	"StateExpect.code":               enumOf(ConnectionErrorCodes),
	"SequenceExpect.states":          obj("minItems", 1, "items", obj("type", "string").merge(enumOf(allStates))),
	"ErrorsExpect.exception":         exceptionRule,
	"ErrorsExpect.op":                enumOf(load.Operations),
	"ErrorsExpect.min":               obj("minimum", 0),
	"ErrorsExpect.max":               obj("minimum", 0),
	"LatencyExpect.op":               enumOf(load.Operations),
	"ErrorRateExpect.op":             enumOf(load.Operations),
	"ErrorRateExpect.min":            fraction,
	"ErrorRateExpect.max":            fraction,
	"ThroughputExpect.min":           rate,
	"ThroughputExpect.min-of-target": fraction,
	"IntegrityExpect.sample":         obj("minimum", 0),
	"SteadyExpect.error-rate":        fraction,
	"SteadyExpect.min-requests":      obj("minimum", 0),
	"Abort.error-rate":               fraction,
	"StackConfig.clusters":           obj("minimum", 1),
	"StackConfig.speed":              obj("exclusiveMinimum", 0),
}

// typeRules add constraints across a struct's fields: which are required,
// which exclude each other. A func, since actions() appends to allOf.
var typeRules = map[string]func() *jsonObj{
	"Scenario":    func() *jsonObj { return obj("required", []string{"name", "load"}) },
	"load.Config": func() *jsonObj { return obj("required", []string{"duration", "shape", "keys"}) },
	"load.Shape":  func() *jsonObj { return obj("minProperties", 1, "maxProperties", 1) },
	"TimelineEntry": func() *jsonObj {
		return obj("allOf", []any{oneOfRequired("at", "when"), oneOfRequired("fault", "step")})
	},
	"Expectation": func() *jsonObj { return oneOfRequired(expectKinds...) },
	"Abort": func() *jsonObj {
		return obj("anyOf", []any{obj("required", []string{"error-rate"}), obj("required", []string{"p99"})})
	},
	"StoreSetup":     func() *jsonObj { return obj("required", []string{"name", "cluster"}) },
	"KeySetup":       func() *jsonObj { return obj("required", []string{"name"}) },
	"CiphertextKeep": func() *jsonObj { return obj("required", []string{"key"}) },
}

// jsonObj is a JSON object that keeps its keys in insertion order, so that
// the schema reads in the order of the Go fields and is byte-for-byte
// reproducible.
type jsonObj struct {
	keys []string
	vals map[string]any
}

// obj builds a jsonObj from key, value pairs.
func obj(kv ...any) *jsonObj {
	o := &jsonObj{}
	for i := 0; i+1 < len(kv); i += 2 {
		o.set(kv[i].(string), kv[i+1])
	}
	return o
}

func (o *jsonObj) set(k string, v any) *jsonObj {
	if o.vals == nil {
		o.vals = map[string]any{}
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
	return o
}

// merge copies other's keys into o (other's values win) and returns o.
func (o *jsonObj) merge(other *jsonObj) *jsonObj {
	for _, k := range other.keys {
		o.set(k, other.vals[k])
	}
	return o
}

func (o *jsonObj) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, err := marshalNoEscape(k)
		if err != nil {
			return nil, err
		}
		vb, err := marshalNoEscape(o.vals[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// marshalNoEscape is json.Marshal without escaping <, > and &, which the
// descriptions use ("<id>.end").
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
