package reports_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/reports"
)

// resultSchema compiles reports.ResultSchema once per test binary, with
// formats asserted (draft 2020-12 only annotates them by default), so that
// "started" must be an RFC 3339 date-time. Compiling also checks the schema
// itself against the draft 2020-12 meta-schema.
var resultSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(reports.ResultSchema))
	if err != nil {
		return nil, err
	}
	id, _ := doc.(map[string]any)["$id"].(string)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(id, doc); err != nil {
		return nil, err
	}
	return c.Compile(id)
})

// validate checks b against the schema; the error says where b is wrong.
func validate(t *testing.T, b []byte) error {
	t.Helper()
	sch, err := resultSchema()
	if err != nil {
		t.Fatalf("compile reports/result.schema.json: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return sch.Validate(inst)
}

// writeJSON is reports.JSON into bytes.
func writeJSON(t *testing.T, r *result.Result) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := reports.JSON(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var allStatuses = []result.Status{result.Pass, result.Fail, result.Unknown, result.NotApplicable}

func TestSchemaAcceptsTheFixtureAndItsGolden(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"testdata/result.json", "testdata/golden/result.json"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(t, b); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
	if err := validate(t, writeJSON(t, fixture(t))); err != nil {
		t.Errorf("JSON of the fixture: %v", err)
	}
}

func TestSchemaAcceptsJSONOutput(t *testing.T) {
	t.Parallel()
	started := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	type jsonCase struct {
		name string
		r    *result.Result
		// absent are fields that must be left out of this output.
		absent []string
	}
	tests := []jsonCase{
		{
			"a run with nothing in it - empty lists and maps, every optional field omitted, the schema filled in",
			&result.Result{Scenario: "empty", Stack: "embedded", Status: result.Pass},
			[]string{`"file"`, `"description"`, `"endpoint"`, `"invalid"`, `"aborted"`, `"history"`, `"errors"`, `"window"`},
		},
		{
			"an invalid run that never started its load - zero started time, no expectations",
			&result.Result{Scenario: "broken", Stack: "containers", Status: result.Unknown, ExitCode: result.ExitInvalid, Invalid: "setup failed: no HSM image"},
			nil,
		},
		{
			"an aborted run on an external stack - the abort expectation, setup before the load at negative times",
			&result.Result{
				Scenario: "aborted", Stack: "external", Endpoint: "https://kms.example:8443", Seed: -3, Started: started, Duration: 12.5,
				Status: result.Fail, ExitCode: result.ExitFail, Aborted: "error rate over 50% for 5s",
				Expectations: []result.Expectation{{ID: "abort", Kind: "abort", Description: "no abort condition is met", Status: result.Fail, Detail: "error rate over 50% for 5s"}},
				Timeline: []result.Injection{
					{ID: "setup:store:primary", Kind: "setup", Action: "create-store", Start: -4.2, End: -3.9},
					{ID: "cut", Kind: "fault", Action: "network-partition", Start: 3, End: 3, NotApplicable: true, Detail: "needs capability network"},
					{ID: "heal", Kind: "step", Action: "connect-store", Start: 6, End: 6.1, Error: "store not found"},
				},
				Transitions: []result.Transition{
					{At: -0.2, Subject: "store:primary", To: "CONNECTED"},
					{At: 4, Subject: "pool:primary", From: "2 HSMs", To: "0 HSMs"},
				},
				Load: result.Load{Shape: "constant 10/s", Planned: 125, Sent: 50, ByOutcome: map[string]int64{"error": 40, "http-503": 10}, ByOperation: map[string]int64{"Encrypt": 50}},
				Step: 1, Series: []result.Bucket{
					{Start: 0, Requests: 10, OK: 10},
					{Start: 1, Requests: 10, Errors: map[string]int64{}}, // an empty tally is omitted
					{Start: 2, Requests: 10, Errors: map[string]int64{"error": 10}, P50: 5000, P99: 5000},
				},
				History: "out/history.jsonl",
			},
			nil,
		},
	}
	// Every status, as the run's and as an expectation's, with and without
	// a detail and a window.
	for _, s := range allStatuses {
		r := &result.Result{Schema: result.Schema, Scenario: "status-" + string(s), Stack: "embedded", Started: started, Status: s}
		for i, es := range allStatuses {
			e := result.Expectation{ID: "e-" + string(es), Kind: "error-rate", Description: "under 1%", Status: es}
			if i%2 == 0 {
				e.Detail, e.Window = "0.2% of 1000", &result.Window{Start: 1, End: 2}
			}
			r.Expectations = append(r.Expectations, e)
		}
		tests = append(tests, jsonCase{"a run whose status is " + string(s), r, nil})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := writeJSON(t, tt.r)
			if err := validate(t, b); err != nil {
				t.Errorf("%v\n%s", err, b)
			}
			for _, f := range tt.absent {
				if bytes.Contains(b, []byte(f)) {
					t.Errorf("%s written although empty:\n%s", f, b)
				}
			}
		})
	}
}

// TestSchemaRejects proves the schema is not vacuous: each change to valid
// output breaks one rule, and validation says where.
func TestSchemaRejects(t *testing.T) {
	t.Parallel()
	good := writeJSON(t, fixture(t))
	if err := validate(t, good); err != nil {
		t.Fatalf("the unchanged fixture does not validate: %v", err)
	}
	type doc = map[string]any
	at := func(d doc, path ...any) doc { // the object at path
		var v any = d
		for _, p := range path {
			switch p := p.(type) {
			case string:
				v = v.(doc)[p]
			case int:
				v = v.([]any)[p]
			}
		}
		return v.(doc)
	}
	tests := []struct {
		name   string
		change func(d doc)
		want   string // in the error: where (a JSON pointer) and what
	}{
		{"seed as a string - wrong type", func(d doc) { d["seed"] = "42" }, "'/seed': got string, want integer"},
		{"an unknown field at the top", func(d doc) { d["verdict"] = "fail" }, "additional properties 'verdict' not allowed"},
		{"an unknown field in an expectation", func(d doc) { at(d, "expectations", 0)["severity"] = "high" }, "'/expectations/0': additional properties 'severity' not allowed"},
		{"an unknown field in the latency", func(d doc) { at(d, "load", "latency")["p999_ms"] = 1.0 }, "'/load/latency': additional properties 'p999_ms' not allowed"},
		{"a required field missing", func(d doc) { delete(d, "load") }, "missing property 'load'"},
		{"a required field of a transition missing", func(d doc) { delete(at(d, "transitions", 0), "to") }, "'/transitions/0': missing property 'to'"},
		{"a run status outside the enum", func(d doc) { d["status"] = "passed" }, "'/status': value must be one of"},
		{"an expectation status outside the enum", func(d doc) { at(d, "expectations", 1)["status"] = "PASS" }, "'/expectations/1/status': value must be one of"},
		{"a stack outside the enum", func(d doc) { d["stack"] = "kubernetes" }, "'/stack': value must be one of"},
		{"a timeline kind outside the enum", func(d doc) { at(d, "timeline", 0)["kind"] = "recovery" }, "'/timeline/0/kind': value must be one of"},
		{"exit code 3", func(d doc) { d["exit_code"] = 3 }, "'/exit_code': value must be one of"},
		{"another schema version", func(d doc) { d["schema"] = "keystorm.result/v2" }, "'/schema': value must be 'keystorm.result/v1'"},
		{"a null list - lists are [] when empty", func(d doc) { d["expectations"] = nil }, "'/expectations': got null, want array"},
		{"started not an RFC 3339 time", func(d doc) { d["started"] = "2025-06-01 12:00:00" }, "'/started': '2025-06-01 12:00:00' is not valid date-time"},
		{"not_applicable false - written only when true", func(d doc) { at(d, "timeline", 0)["not_applicable"] = false }, "'/timeline/0/not_applicable': value must be true"},
		{"an empty detail - omitted when empty, never blank", func(d doc) { at(d, "expectations", 0)["detail"] = "" }, "'/expectations/0/detail': minLength"},
		{"a negative count", func(d doc) { at(d, "load")["sent"] = -1 }, "'/load/sent': minimum"},
		{"a fractional count", func(d doc) { at(d, "load", "by_outcome")["ok"] = 1.5 }, "'/load/by_outcome/ok': got number, want integer"},
		{"a negative latency", func(d doc) { at(d, "load", "latency")["p99_ms"] = -1 }, "'/load/latency/p99_ms': minimum"},
		{"a bucket's errors counting ok", func(d doc) { at(d, "series", 20, "errors")["ok"] = 1 }, "invalid propertyName 'ok'"}, // not the pointer: jsonschema v6.0.3 reports a stale location for propertyNames (santhosh-tekuri/jsonschema#269)
		{"a bucket's errors empty - omitted when none", func(d doc) { at(d, "series", 20)["errors"] = doc{} }, "'/series/20/errors': minProperties"},
		{"a window without its end", func(d doc) { delete(at(d, "expectations", 0, "window"), "end_s") }, "'/expectations/0/window': missing property 'end_s'"},
		{"a subject without its kind", func(d doc) { at(d, "transitions", 0)["subject"] = "primary" }, "'/transitions/0/subject': 'primary' does not match pattern"},
		{"a scenario name with spaces", func(d doc) { d["scenario"] = "my scenario" }, "'/scenario': 'my scenario' does not match pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d doc
			dec := json.NewDecoder(bytes.NewReader(good))
			dec.UseNumber()
			if err := dec.Decode(&d); err != nil {
				t.Fatal(err)
			}
			tt.change(d)
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			err = validate(t, b)
			if err == nil {
				t.Fatal("the schema accepts it")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("the error does not say %s: %v", tt.want, err)
			}
		})
	}
}

// fullResult sets every field of a Result, omitted-when-empty ones
// included; TestSchemaCoversTheGoType checks that it does.
func fullResult() *result.Result {
	return &result.Result{
		Schema: result.Schema, Scenario: "full", File: "scenarios/full.yaml", Description: "every field set",
		Stack: "external", Endpoint: "https://kms.example", Seed: 7, Started: time.Date(2025, 6, 1, 12, 0, 0, 5e8, time.UTC), Duration: 61.5,
		Status: result.Unknown, ExitCode: result.ExitInvalid, Invalid: "the load generator fell behind", Aborted: "error rate over 50%",
		Expectations: []result.Expectation{{ID: "beta-latency", Kind: "latency", Description: "p99 < 250 ms", Status: result.Fail, Detail: "p99 612 ms",
			Window: &result.Window{Name: "kill-hsms..add-hsm.end", Start: 20, End: 37.6}}},
		Load: result.Load{Shape: "constant 100/s", Planned: 6000, Sent: 5998, OK: 4503, TargetRate: 100, AchievedRate: 99.97, Late: 3, MaxLateMS: 14.2,
			Latency:   result.Latencies{P50: 3.4, P90: 9.8, P95: 41.2, P99: 612, Max: 5003, Mean: 12.7},
			ByOutcome: map[string]int64{"ok": 4503, "error": 15}, ByOperation: map[string]int64{"Encrypt": 2999}},
		Timeline: []result.Injection{{ID: "kill-hsms", Kind: "fault", Action: "delete-hsm", Detail: "deleted 2 of 2", Start: 20, End: 20.4,
			Error: "cluster not found", NotApplicable: true}},
		Transitions: []result.Transition{{At: 24, Subject: "store:primary", From: "CONNECTED", To: "DISCONNECTED", Code: "INSUFFICIENT_CLOUDHSM_HSMS"}},
		Step:        1,
		Series:      []result.Bucket{{Start: 20, Requests: 100, OK: 70, Errors: map[string]int64{"error": 30}, P50: 4.2, P99: 5003}},
		History:     "history.jsonl",
	}
}

// TestSchemaCoversTheGoType keeps the schema and result.Result in step both
// ways: every field the Go type writes is in the schema (a fully populated
// Result validates although every object is closed), and every property of
// the schema is a field of the type, required exactly when the field is
// not omitempty.
func TestSchemaCoversTheGoType(t *testing.T) {
	t.Parallel()
	full := fullResult()
	notZero(t, "Result", reflect.ValueOf(full).Elem())
	b := writeJSON(t, full)
	if err := validate(t, b); err != nil {
		t.Errorf("a fully populated Result does not validate: %v\n%s", err, b)
	}

	var schema map[string]any
	if err := json.Unmarshal(reports.ResultSchema, &schema); err != nil {
		t.Fatal(err)
	}
	if id, _ := schema["$id"].(string); !strings.HasSuffix(id, "/reports/result.schema.json") {
		t.Errorf("$id %q is not where the schema is published", id)
	}
	defs := schema["$defs"].(map[string]any)
	sameFields(t, "Result", reflect.TypeFor[result.Result](), schema, defs)

	var enum []result.Status
	for _, v := range defs["status"].(map[string]any)["enum"].([]any) {
		enum = append(enum, result.Status(v.(string)))
	}
	if !slices.Equal(enum, allStatuses) {
		t.Errorf("the schema's statuses are %v, result's are %v", enum, allStatuses)
	}
}

// notZero fails for every field under v left at its zero value, so that a
// field added to result.Result must be added to fullResult (and so checked
// against the schema).
func notZero(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	if v.IsZero() || (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0 {
		t.Errorf("fullResult leaves %s empty: set it so that the schema is checked for it", path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		notZero(t, path, v.Elem())
	case reflect.Slice:
		for i := range v.Len() {
			notZero(t, fmt.Sprintf("%s[%d]", path, i), v.Index(i))
		}
	case reflect.Struct:
		if v.Type().PkgPath() != reflect.TypeFor[result.Result]().PkgPath() {
			return // time.Time: not zero is enough
		}
		for i := range v.NumField() {
			notZero(t, path+"."+v.Type().Field(i).Name, v.Field(i))
		}
	}
}

// sameFields compares the JSON fields of struct type typ with the schema
// object node: the same names, and required exactly when not omitempty;
// closed with additionalProperties false. It follows struct fields and
// slices of structs into their own schema objects.
func sameFields(t *testing.T, path string, typ reflect.Type, node, defs map[string]any) {
	t.Helper()
	node = deref(node, defs)
	if node["additionalProperties"] != false {
		t.Errorf("%s: the schema object is not closed (additionalProperties false)", path)
	}
	props, _ := node["properties"].(map[string]any)
	var required []string
	for _, r := range node["required"].([]any) {
		required = append(required, r.(string))
	}
	seen := map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		seen[name] = true
		where := path + "." + f.Name + " (" + name + ")"
		prop, ok := props[name].(map[string]any)
		if !ok {
			t.Errorf("%s is not in the schema", where)
			continue
		}
		if omit, req := strings.Contains(opts, "omitempty"), slices.Contains(required, name); omit == req {
			t.Errorf("%s: omitempty %v but required %v in the schema", where, omit, req)
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft.PkgPath() == typ.PkgPath():
			sameFields(t, where, ft, prop, defs)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			items, _ := prop["items"].(map[string]any)
			sameFields(t, where+"[]", ft.Elem(), items, defs)
		}
	}
	for name := range props {
		if !seen[name] {
			t.Errorf("%s: the schema has %q, which the Go type never writes", path, name)
		}
	}
}

// deref follows a local $ref ("#/$defs/name").
func deref(node, defs map[string]any) map[string]any {
	if ref, ok := node["$ref"].(string); ok {
		if d, ok := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any); ok {
			return d
		}
	}
	return node
}
