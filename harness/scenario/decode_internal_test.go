package scenario

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// kitchen has a field of every kind the decoder supports, including those
// the scenario types do not use yet but catalog actions may.
type kitchen struct {
	U             uint              `yaml:"u"`
	I64           *int64            `yaml:"i64"`
	F64           *float64          `yaml:"f64"`
	D             *time.Duration    `yaml:"d"`
	M             map[string]int    `yaml:"m"`
	N             yaml.Node         `yaml:"n"`
	Addr          netip.Addr        `yaml:"addr"`
	Nested        []kitchenInner    `yaml:"nested"`
	Ptr           *kitchenInner     `yaml:"ptr"`
	Kept          string            `yaml:"kept"`
	Skip          string            `yaml:"-"`
	Tagged        map[string]string `yaml:"tagged"`
	kitchenInline `yaml:",inline"`
}

type kitchenInner struct {
	A int `yaml:"a"`
}

type kitchenInline struct {
	Flat bool `yaml:"flat"`
}

// decodeKitchen decodes src into a kitchen whose Kept is "default".
func decodeKitchen(t *testing.T, src string) (kitchen, []string) {
	t.Helper()
	root, perr := parseDocument("k.yaml", []byte(src))
	if perr != nil {
		return kitchen{}, []string{perr.Error()}
	}
	d := &decoder{file: "k.yaml", pos: positions{}}
	k := kitchen{Kept: "default"}
	d.value(root, reflect.ValueOf(&k).Elem(), "")
	var errs []string
	for _, e := range d.errs {
		errs = append(errs, e.Error())
	}
	return k, errs
}

func TestDecoderKinds(t *testing.T) {
	t.Parallel()
	k, errs := decodeKitchen(t, `
u: 7
i64: -3
f64: 2
d: 1m30s
m: {a: 1, b: 2}
n: {anything: [goes, here]}
addr: 10.0.0.1
nested: [{a: 1}, {a: 2}]
ptr:
flat: true
tagged: {x: "1"}
`)
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if k.U != 7 || *k.I64 != -3 || *k.F64 != 2 || *k.D != 90*time.Second {
		t.Errorf("scalars: %+v", k)
	}
	if !reflect.DeepEqual(k.M, map[string]int{"a": 1, "b": 2}) || k.Tagged["x"] != "1" {
		t.Errorf("maps: %v %v", k.M, k.Tagged)
	}
	if k.N.Kind != yaml.MappingNode || k.N.Line != 7 {
		t.Errorf("node: kind %v line %d", k.N.Kind, k.N.Line)
	}
	if k.Addr != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("addr: %v", k.Addr)
	}
	if !reflect.DeepEqual(k.Nested, []kitchenInner{{1}, {2}}) {
		t.Errorf("nested: %v", k.Nested)
	}
	if k.Ptr == nil || k.Ptr.A != 0 {
		t.Errorf("a null pointer to a struct is an empty struct, got %v", k.Ptr)
	}
	if k.Kept != "default" || !k.Flat {
		t.Errorf("kept %q flat %v", k.Kept, k.Flat)
	}
}

func TestDecoderErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, src, want string
	}{
		{"A negative number where an unsigned one is wanted is an error", "u: -1", `k.yaml:1:4: u: -1 is negative (want 0 or more)`},
		{"A float where an unsigned integer is wanted is an error", "u: 1.5", `k.yaml:1:4: u: 1.5 is not an integer (want a whole number, 0 or more)`},
		{"An integer too big for its field is an error", "i64: 99999999999999999999", `k.yaml:1:6: i64: 99999999999999999999 is out of range for this field`},
		{"Infinity is not a number here", "f64: .inf", `k.yaml:1:6: f64: .inf is not a finite number`},
		{"A text field reports its own parse error", "addr: nowhere", `k.yaml:1:7: addr: "nowhere": ParseAddr("nowhere"): unable to parse IP`},
		{"A duplicate map key is an error", "m: {a: 1, a: 2}", `k.yaml:1:11: m.a: duplicate key "a" (first at line 1)`},
		{"A skipped field is unknown", "Skip: x", `k.yaml:1:1: unknown field "Skip" (want one of: u, i64, f64, d, m, n, addr, nested, ptr, kept, tagged, flat)`},
		{"A list item of the wrong type is located at the item", "nested: [{a: 1}, 5]", `k.yaml:1:18: nested[1]: want a mapping (with a), got the integer 5`},
		{"A mapping as a field name is an error", "{a: 1}: 2", `k.yaml:1:1: want a field name, got a mapping`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, errs := decodeKitchen(t, tt.src)
			if got := strings.Join(errs, "\n"); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want string
	}{
		{"dutty", "duty"},            // an extra letter
		{"Encrpyt", "Encrypt"},       // two letters swapped
		{"delete-hsn", "delete-hsm"}, // a wrong letter
		{"c", ""},                    // one letter rewritten is no typo
		{"completely-else", ""},      // too far from everything
	} {
		if got := suggest(tt.in, []string{"duty", "Encrypt", "Decrypt", "delete-hsm", "a"}); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
