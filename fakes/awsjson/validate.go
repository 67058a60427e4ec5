package awsjson

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckOptions tune input checking.
type CheckOptions struct {
	// Patterns enforces the models' `pattern` constraints. Off by default: the documented
	// ids of the real services (cluster-1a23b4cdefg, backup-9g87f6edcba) do not match the
	// models' own patterns, so enforcing them would refuse what AWS documents.
	Patterns bool
}

// Check deserializes body as the named input shape and validates it the way the AWS JSON
// frontend does before an operation runs. It returns the normalized body (nulls and unknown
// members dropped, blobs re-encoded as standard base64), or an *Error: SerializationException
// when the body cannot be deserialized into the shape, ValidationException listing every
// violated constraint otherwise. An empty shapeName stands for an operation without input.
func (m *Model) Check(shapeName string, body []byte, opts CheckOptions) (json.RawMessage, error) {
	var shape *Shape
	if shapeName != "" {
		s, ok := m.Shapes[shapeName]
		if !ok || s.Type != "structure" {
			return nil, fmt.Errorf("check input: %q is not a structure shape of the model", shapeName)
		}
		shape = s
	}
	v, serr := m.decodeBody(shape, body)
	if serr != nil {
		return nil, serr
	}
	if shape != nil {
		c := checker{model: m, opts: opts}
		c.structure(shape, v, "", false)
		if len(c.violations) > 0 {
			return nil, clientError(ValidationException, validationMessage(c.violations))
		}
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("check input: re-encode body: %w", err)
	}
	return out, nil
}

// validationMessage is the AWS frontend's summary: "1 validation error detected: X" or
// "N validation errors detected: X; Y".
func validationMessage(violations []string) string {
	if len(violations) == 1 {
		return "1 validation error detected: " + violations[0]
	}
	return fmt.Sprintf("%d validation errors detected: %s", len(violations), strings.Join(violations, "; "))
}

// checker collects violations of a decoded value, in model member order.
type checker struct {
	model      *Model
	opts       CheckOptions
	violations []string
}

// structure checks the members of obj. Paths are what AWS shows: member names with the
// first letter lowercased ("SAMLOptions" -> "sAMLOptions"), joined with dots.
func (c *checker) structure(shape *Shape, obj map[string]any, path string, sensitive bool) {
	for i, mem := range shape.Members {
		p := shape.paths[i]
		if path != "" {
			p = path + "." + p
		}
		val, present := obj[mem.Name]
		if !present {
			if mem.Required {
				c.violations = append(c.violations,
					fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", p))
			}
			continue
		}
		c.value(c.model.Shapes[mem.Shape], val, p, sensitive)
	}
}

// value checks one present value at path.
func (c *checker) value(shape *Shape, v any, path string, sensitive bool) {
	sensitive = sensitive || shape.Sensitive
	for _, constraint := range c.violated(shape, v) {
		c.add(v, path, sensitive, constraint)
	}
	switch shape.Type {
	case "structure":
		c.structure(shape, v.(map[string]any), path, sensitive)
	case "list":
		elem := c.model.Shapes[shape.Element]
		items := v.([]any)
		if elem.Type == "structure" {
			// AWS numbers list elements from 1 and names them "member".
			for i, item := range items {
				c.structure(elem, item.(map[string]any), fmt.Sprintf("%s.%d.member", path, i+1), sensitive || elem.Sensitive)
			}
			return
		}
		// Constraints on scalar (or nested collection) elements are reported once for the
		// whole list, listing every constraint of the element shape, as AWS does.
		if slices.ContainsFunc(items, func(item any) bool { return c.fails(elem, item) }) {
			c.add(v, path, sensitive || elem.Sensitive,
				"Member must satisfy constraint: ["+strings.Join(c.describe(elem), ", ")+"]")
		}
	case "map":
		obj := v.(map[string]any)
		keys := sortedKeys(obj)
		key := c.model.Shapes[shape.Key]
		if slices.ContainsFunc(keys, func(k string) bool { return c.fails(key, k) }) {
			c.add(v, path, sensitive || key.Sensitive,
				"Map keys must satisfy constraint: ["+strings.Join(c.describe(key), ", ")+"]")
		}
		val := c.model.Shapes[shape.Value]
		if val.Type == "structure" {
			for _, k := range keys {
				c.structure(val, obj[k].(map[string]any), path+"."+k, sensitive || val.Sensitive)
			}
			return
		}
		if slices.ContainsFunc(keys, func(k string) bool { return c.fails(val, obj[k]) }) {
			c.add(v, path, sensitive || val.Sensitive,
				"Map value must satisfy constraint: ["+strings.Join(c.describe(val), ", ")+"]")
		}
	}
}

func (c *checker) add(v any, path string, sensitive bool, constraint string) {
	if sensitive {
		c.violations = append(c.violations,
			fmt.Sprintf("Value at '%s' failed to satisfy constraint: %s", path, constraint))
		return
	}
	c.violations = append(c.violations,
		fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: %s", render(v), path, constraint))
}

// violated lists the shape's own constraints that v breaks, in the order describe lists
// them. Constraints of list elements and map entries are not the shape's own.
func (c *checker) violated(shape *Shape, v any) []string {
	var out []string
	size, sized := sizeOf(shape, v)
	if sized {
		if shape.Max != nil && size > *shape.Max {
			out = append(out, fmt.Sprintf("Member must have %s less than or equal to %d", sizeWord(shape), *shape.Max))
		}
		if shape.Min != nil && size < *shape.Min {
			out = append(out, fmt.Sprintf("Member must have %s greater than or equal to %d", sizeWord(shape), *shape.Min))
		}
	}
	if s, ok := v.(string); ok {
		if len(shape.Enum) > 0 && !slices.Contains(shape.Enum, s) {
			out = append(out, enumConstraint(shape))
		}
		if c.opts.Patterns && shape.pattern != nil && !shape.pattern.MatchString(s) {
			out = append(out, "Member must satisfy regular expression pattern: "+shape.Pattern)
		}
	}
	return out
}

// fails reports whether v breaks any constraint of shape, its elements' included.
func (c *checker) fails(shape *Shape, v any) bool {
	if len(c.violated(shape, v)) > 0 {
		return true
	}
	switch shape.Type {
	case "list":
		elem := c.model.Shapes[shape.Element]
		return slices.ContainsFunc(v.([]any), func(item any) bool { return c.fails(elem, item) })
	case "map":
		obj := v.(map[string]any)
		key, val := c.model.Shapes[shape.Key], c.model.Shapes[shape.Value]
		for k, item := range obj {
			if c.fails(key, k) || c.fails(val, item) {
				return true
			}
		}
	case "structure":
		sub := checker{model: c.model, opts: c.opts}
		sub.structure(shape, v.(map[string]any), "", false)
		return len(sub.violations) > 0
	}
	return false
}

// describe lists every constraint of shape as AWS words it inside "[...]".
func (c *checker) describe(shape *Shape) []string {
	var out []string
	if shape.Max != nil {
		out = append(out, fmt.Sprintf("Member must have %s less than or equal to %d", sizeWord(shape), *shape.Max))
	}
	if shape.Min != nil {
		out = append(out, fmt.Sprintf("Member must have %s greater than or equal to %d", sizeWord(shape), *shape.Min))
	}
	if len(shape.Enum) > 0 {
		out = append(out, enumConstraint(shape))
	}
	if c.opts.Patterns && shape.pattern != nil {
		out = append(out, "Member must satisfy regular expression pattern: "+shape.Pattern)
	}
	switch shape.Type {
	case "list":
		if inner := c.describe(c.model.Shapes[shape.Element]); len(inner) > 0 {
			out = append(out, "Member must satisfy constraint: ["+strings.Join(inner, ", ")+"]")
		}
	case "map":
		if inner := c.describe(c.model.Shapes[shape.Key]); len(inner) > 0 {
			out = append(out, "Map keys must satisfy constraint: ["+strings.Join(inner, ", ")+"]")
		}
		if inner := c.describe(c.model.Shapes[shape.Value]); len(inner) > 0 {
			out = append(out, "Map value must satisfy constraint: ["+strings.Join(inner, ", ")+"]")
		}
	}
	return out
}

func enumConstraint(shape *Shape) string {
	return "Member must satisfy enum value set: [" + strings.Join(shape.Enum, ", ") + "]"
}

// sizeOf is what min/max bound: characters of a string (Unicode code points, as Smithy
// defines length), decoded bytes of a blob, entries of a list or map, the value of a number.
func sizeOf(shape *Shape, v any) (int64, bool) {
	switch x := v.(type) {
	case string:
		return int64(utf8.RuneCountInString(x)), true
	case []byte:
		return int64(len(x)), true
	case []any:
		return int64(len(x)), true
	case map[string]any:
		if shape.Type == "map" {
			return int64(len(x)), true
		}
	case int64:
		return x, true
	case float64:
		if shape.Type == "float" || shape.Type == "double" {
			return int64(x), true
		}
	}
	return 0, false
}

func sizeWord(shape *Shape) string {
	switch shape.Type {
	case "integer", "long", "float", "double":
		return "value"
	}
	return "length"
}

// render prints a value the way AWS echoes it in a validation message, which is Java's
// toString of the deserialized value: lists as [a, b], maps as {k=v}, blobs as the
// ByteBuffer that holds them.
func render(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case []byte:
		return fmt.Sprintf("java.nio.HeapByteBuffer[pos=0 lim=%d cap=%d]", len(x), len(x))
	case []any:
		parts := make([]string, len(x))
		for i, item := range x {
			parts[i] = render(item)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := sortedKeys(x)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + render(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func lowerFirst(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToLower(r)) + s[size:]
}
