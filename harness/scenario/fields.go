package scenario

import (
	"reflect"
	"strings"
)

// field is one YAML field of a struct, as the decoder, the schema and
// Describe see it. They all go through fieldsOf so that the three cannot
// disagree on what a struct's fields are called.
type field struct {
	// Name is the YAML key.
	Name string
	// Doc is the field's doc tag: a one-line description for the schema.
	Doc   string
	Index []int
	Type  reflect.Type
}

// fieldsOf lists t's YAML fields in declaration order, following yaml.v3's
// rules: the yaml tag's name (the lower-cased Go name when the tag has
// none), "-" and unexported fields skipped, ",inline" structs flattened.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() && !sf.Anonymous {
			continue
		}
		tag := sf.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			inner := sf.Type
			if inner.Kind() == reflect.Pointer {
				// yaml.v3 does not inline pointers either; skip rather
				// than panic on a nil one.
				continue
			}
			for _, f := range fieldsOf(inner) {
				f.Index = append([]int{i}, f.Index...)
				out = append(out, f)
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		out = append(out, field{Name: name, Doc: sf.Tag.Get("doc"), Index: []int{i}, Type: sf.Type})
	}
	return out
}

// fieldNames lists the YAML names of fields, for "want one of" messages.
func fieldNames(fs []field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}
