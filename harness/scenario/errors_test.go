package scenario_test

import (
	"strings"
	"testing"

	"github.com/keystorm/keystorm/harness/scenario"
)

// base is a small valid scenario, 9 lines long: cases append to it, so
// their own lines start at 10.
const base = `name: t
setup:
  clusters: [a, b]
  stores: [{name: s1, cluster: a}]
  keys: [{name: k1, store: s1}]
load:
  duration: 60s
  shape: {constant: {rate: 10}}
  keys: [k1]
`

func TestBaseIsValid(t *testing.T) {
	t.Parallel()
	if _, err := scenario.Parse("x.yaml", []byte(base)); err != nil {
		t.Fatalf("Parse(base): %v", err)
	}
}

// TestParseErrors feeds snippets to Parse and compares every error line,
// position and wording included: the messages are the user interface.
func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		yaml string
		want []string
	}{
		// The file as a whole.
		{
			name: "An empty file is an error",
			yaml: "",
			want: []string{`x.yaml: empty file: want a scenario (a mapping with name, load, ...)`},
		},
		{
			name: "A file of comments only is empty",
			yaml: "# nothing yet\n",
			want: []string{`x.yaml: empty file: want a scenario (a mapping with name, load, ...)`},
		},
		{
			name: "Several YAML documents are an error at the second",
			yaml: base + "---\nname: u\n",
			want: []string{`x.yaml:10:1: a second YAML document starts here: a scenario file holds one document (split it into several files)`},
		},
		{
			name: "A syntax error names its line",
			yaml: "name: t\nload: [\n",
			want: []string{`x.yaml:2: YAML syntax: did not find expected node content`},
		},
		{
			name: "A list instead of a scenario is a wrong type",
			yaml: "- name: t\n",
			want: []string{`x.yaml:1:1: want a mapping (with name, description, covers, seed, timeout, stack, setup, load, timeline, chaos, expect, abort), got a list`},
		},

		// Unknown fields, at every level.
		{
			name: "An unknown field at the top level is an error, with a suggestion",
			yaml: base + "nmae: u\n",
			want: []string{`x.yaml:10:1: unknown field "nmae": did you mean name? (want one of: name, description, covers, seed, timeout, stack, setup, load, timeline, chaos, expect, abort)`},
		},
		{
			name: "An unknown field in a nested block is an error",
			yaml: strings.Replace(base, "{constant: {rate: 10}}", "\n    square: {low: 1, high: 2, period: 5s, dutty: 0.3}", 1),
			want: []string{`x.yaml:9:43: load.shape.square: unknown field "dutty": did you mean duty? (want one of: low, high, period, duty, for)`},
		},
		{
			name: "An unknown field inside with is an error",
			yaml: base + "timeline:\n  - at: 1s\n    fault: delete-hsm\n    with: {cluster: a, hsms: 2}\n",
			want: []string{`x.yaml:13:24: timeline[0].with: unknown field "hsms" (want one of: cluster, count)`},
		},

		// Wrong types.
		{
			name: "A string where an integer is wanted is an error",
			yaml: base + "seed: forty-two\n",
			want: []string{`x.yaml:10:7: seed: want an integer, got the string "forty-two"`},
		},
		{
			name: "A float where an integer is wanted is an error",
			yaml: base + "timeline:\n  - at: 1s\n    step: create-hsm\n    with: {cluster: a, count: 1.5}\n",
			want: []string{`x.yaml:13:31: timeline[0].with.count: 1.5 is not an integer (want a whole number)`},
		},
		{
			name: "A mapping where a list is wanted is an error",
			yaml: strings.Replace(base, "keys: [k1]", "keys: {k1: 1}", 1),
			want: []string{`x.yaml:9:9: load.keys: want a list, got a mapping`},
		},
		{
			name: "A list where a mapping is wanted is an error",
			yaml: base + "stack: [1]\n",
			want: []string{`x.yaml:10:8: stack: want a mapping (with clusters, speed, connect-duration), got a list`},
		},
		{
			name: "A boolean where a string is wanted is an error",
			yaml: base + "description: true\n",
			want: []string{`x.yaml:10:14: description: want a string, got the boolean true (quote it if you mean the text: "true")`},
		},
		{
			name: "A string where a boolean is wanted is an error",
			yaml: strings.Replace(base, "cluster: a}", "cluster: a, connect: maybe}", 1),
			want: []string{`x.yaml:4:44: setup.stores[0].connect: want true or false, got the string "maybe"`},
		},
		{
			name: "A string where a number is wanted is an error",
			yaml: strings.Replace(base, "rate: 10", "rate: lots", 1),
			want: []string{`x.yaml:8:28: load.shape.constant.rate: want a number, got the string "lots"`},
		},

		// Durations.
		{
			name: "A bare number as a duration asks for a unit",
			yaml: strings.Replace(base, "duration: 60s", "duration: 60", 1),
			want: []string{`x.yaml:7:13: load.duration: 60 is a bare number: a duration needs a unit (want e.g. 60s, 2m)`},
		},
		{
			name: "A quoted bare number as a duration asks for a unit too",
			yaml: strings.Replace(base, "duration: 60s", `duration: "60"`, 1),
			want: []string{`x.yaml:7:13: load.duration: 60 is a bare number: a duration needs a unit (want e.g. 60s, 2m)`},
		},
		{
			name: "Words are not a duration",
			yaml: strings.Replace(base, "duration: 60s", "duration: ten seconds", 1),
			want: []string{`x.yaml:7:13: load.duration: "ten seconds" is not a duration (want e.g. 30s, 2m, 1m30s)`},
		},
		{
			name: "A negative duration is an error",
			yaml: base + "timeout: -5m\n",
			want: []string{`x.yaml:10:10: timeout: -5m is negative (want 0 or more)`},
		},

		// Actions.
		{
			name: "An unknown fault is an error, with the closest name",
			yaml: base + "timeline:\n  - at: 1s\n    fault: delete-hsn\n",
			want: []string{`x.yaml:12:12: timeline[0].fault: unknown fault "delete-hsn" (see keystorm faults; did you mean delete-hsm?)`},
		},
		{
			name: "A fault used as a step is an error",
			yaml: base + "timeline:\n  - at: 1s\n    step: delete-hsm\n    with: {cluster: a}\n",
			want: []string{`x.yaml:12:11: timeline[0].step: "delete-hsm" is a fault, not a recovery step (write fault: delete-hsm)`},
		},
		{
			name: "A step used as a fault is an error",
			yaml: base + "timeline:\n  - at: 1s\n    fault: create-hsm\n    with: {cluster: a}\n",
			want: []string{`x.yaml:12:12: timeline[0].fault: "create-hsm" is a recovery step, not a fault (write step: create-hsm)`},
		},

		// Keys.
		{
			name: "A duplicate key is an error at the second",
			yaml: strings.Replace(base, "{rate: 10}", "{rate: 10, rate: 20}", 1),
			want: []string{`x.yaml:8:32: load.shape.constant.rate: duplicate key "rate" (first at line 8)`},
		},
		{
			name: "A key merged from an anchor is decoded, and the mapping's own key wins",
			yaml: base + "timeline:\n  - at: 1s\n    fault: delete-hsm\n    with: &w {cluster: a, count: \"1\"}\n  - id: again\n    at: 2s\n    fault: delete-hsm\n    with: {<<: *w, count: x}\n",
			want: []string{`x.yaml:17:27: timeline[1].with.count: "x", want "all" or a number of HSMs of at least 1`},
		},

		{
			name: "Every decoding error of a file is reported, in file order",
			yaml: "name: t\nnme: u\nload:\n  duration: 1\n  sizes: {a: 1}\ntimeline:\n  - at: 5\n    fault: delet-hsm\n",
			want: []string{
				`x.yaml:2:1: unknown field "nme": did you mean name? (want one of: name, description, covers, seed, timeout, stack, setup, load, timeline, chaos, expect, abort)`,
				`x.yaml:4:13: load.duration: 1 is a bare number: a duration needs a unit (want e.g. 1s, 2m)`,
				`x.yaml:5:10: load.sizes: want a list, got a mapping`,
				`x.yaml:7:9: timeline[0].at: 5 is a bare number: a duration needs a unit (want e.g. 5s, 2m)`,
				`x.yaml:8:12: timeline[0].fault: unknown fault "delet-hsm" (see keystorm faults; did you mean delete-hsm?)`,
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkErrors(t, tt.yaml, tt.want)
		})
	}
}

// checkErrors parses yaml and compares Parse's error, line by line.
func checkErrors(t *testing.T, yaml string, want []string) {
	t.Helper()
	s, err := scenario.Parse("x.yaml", []byte(yaml))
	if err == nil {
		t.Fatalf("Parse succeeded, want errors:\n%s", strings.Join(want, "\n"))
	}
	if s != nil {
		t.Errorf("Parse returned a scenario with its errors: want nil")
	}
	got := strings.Split(err.Error(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Parse errors:\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
