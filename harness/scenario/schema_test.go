package scenario_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/keystorm/keystorm/harness/faults"
	"github.com/keystorm/keystorm/harness/scenario"
)

var update = flag.Bool("update", false, "rewrite scenarios/schema.json and the testdata golden files")

// schemaFile is the committed schema, relative to this package.
const schemaFile = "../../scenarios/schema.json"

// TestSchema keeps the committed schema in step with the Go types.
func TestSchema(t *testing.T) {
	t.Parallel()
	got, err := scenario.Schema()
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	if *update {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatalf("update schema: %v", err)
		}
		return
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("read committed schema: %v (run go test ./harness/scenario -run TestSchema -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("scenarios/schema.json differs from the schema the Go types give: run go test ./harness/scenario -run TestSchema -update, and commit it")
	}
}

func TestSchemaIsDeterministic(t *testing.T) {
	t.Parallel()
	a, err := scenario.Schema()
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	b, _ := scenario.Schema()
	if !bytes.Equal(a, b) {
		t.Fatal("two calls of Schema gave different output")
	}
	if !bytes.HasSuffix(a, []byte("}\n")) || !bytes.HasPrefix(a, []byte("{\n  \"$schema\"")) {
		t.Errorf("want a 2-space indented object and a trailing newline, got %.40q...%q", a, a[len(a)-3:])
	}
}

// schemaDoc decodes the generated schema.
func schemaDoc(t *testing.T) map[string]any {
	t.Helper()
	b, err := scenario.Schema()
	if err != nil {
		t.Fatalf("Schema: %v", err)
	}
	if !json.Valid(b) {
		t.Fatal("Schema is not valid JSON")
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("decode schema: %v", err)
	}
	return doc
}

func TestSchemaIsValidJSON(t *testing.T) {
	t.Parallel()
	doc := schemaDoc(t)
	if got := doc["$schema"]; got != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v, want draft 2020-12", got)
	}
	// Every $ref must point at a $def.
	defs := doc["$defs"].(map[string]any)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				name, found := strings.CutPrefix(r, "#/$defs/")
				if _, ok := defs[name]; !found || !ok {
					t.Errorf("$ref %q points at no $def", r)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
}

// TestSchemaHasEveryField checks that each struct of the format, the
// catalog's actions included, is described with exactly its YAML fields.
func TestSchemaHasEveryField(t *testing.T) {
	t.Parallel()
	doc := schemaDoc(t)
	var objects []map[string]any
	objects = append(objects, doc)
	for _, d := range doc["$defs"].(map[string]any) {
		objects = append(objects, d.(map[string]any))
	}
	described := func(fields []string) bool {
		for _, o := range objects {
			props, _ := o["properties"].(map[string]any)
			var keys []string
			for k := range props {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if slices.Equal(keys, fields) {
				return true
			}
		}
		return false
	}

	roots := []reflect.Type{reflect.TypeFor[scenario.Scenario]()}
	for _, e := range faults.All() {
		roots = append(roots, reflect.TypeOf(e.New()).Elem())
	}
	seen := map[reflect.Type]bool{}
	var visit func(t reflect.Type)
	visit = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == reflect.TypeFor[yaml.Node]() || seen[typ] {
			return
		}
		seen[typ] = true
		var fields []string
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fields = append(fields, name)
			visit(f.Type)
		}
		sort.Strings(fields)
		if !described(fields) {
			t.Errorf("%s: no schema object has exactly its fields %v", typ, fields)
		}
	}
	for _, r := range roots {
		visit(r)
	}

	// And each action's with: is tied to its name.
	defs := doc["$defs"].(map[string]any)
	entry, _ := json.Marshal(defs["TimelineEntry"])
	for _, e := range faults.All() {
		if _, ok := defs["action."+e.Name]; !ok {
			t.Errorf("no $defs/action.%s", e.Name)
		}
		if !bytes.Contains(entry, []byte(`{"const":"`+e.Name+`"}`)) {
			t.Errorf("TimelineEntry has no if/then for %s", e.Name)
		}
	}
}
