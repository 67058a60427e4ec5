package awsjson

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// The botocore models are embedded rather than read from the machine's botocore at run time
// so that the wire shapes cannot drift under a running stack; models/README.md says where
// they come from.
//
//go:embed models/*.json.gz
var modelFiles embed.FS

// KMSModel returns the AWS KMS API model (2014-11-01), parsed once. It must not be modified.
func KMSModel() *Model { return kmsModel() }

// CloudHSMModel returns the AWS CloudHSM v2 API model (2017-04-28), parsed once. It must not
// be modified.
func CloudHSMModel() *Model { return cloudHSMModel() }

var (
	kmsModel      = sync.OnceValue(func() *Model { return mustLoadEmbedded("models/kms-2014-11-01.json.gz") })
	cloudHSMModel = sync.OnceValue(func() *Model { return mustLoadEmbedded("models/cloudhsmv2-2017-04-28.json.gz") })
)

// mustLoadEmbedded panics because an embedded model that does not parse is a build defect,
// not a run-time condition a caller could handle; the package tests load both models.
func mustLoadEmbedded(name string) *Model {
	raw, err := modelFiles.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("awsjson: read embedded model %s: %v", name, err))
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		panic(fmt.Sprintf("awsjson: gunzip embedded model %s: %v", name, err))
	}
	m, err := ParseModel(zr)
	if err != nil {
		panic(fmt.Sprintf("awsjson: parse embedded model %s: %v", name, err))
	}
	return m
}

// A Model is the part of a botocore service model (service-2.json) that a server needs: the
// metadata that routes and signs requests, the operations, and the shapes that validate
// their input. A parsed Model is immutable and safe for concurrent use.
type Model struct {
	Metadata   Metadata
	Operations map[string]*Operation
	Shapes     map[string]*Shape
}

// Metadata is the model's service metadata.
type Metadata struct {
	APIVersion     string
	ServiceID      string
	Protocol       string // "json" for both KMS and CloudHSM v2
	JSONVersion    string // "1.1"
	TargetPrefix   string // X-Amz-Target prefix: "TrentService", "BaldrApiService"
	EndpointPrefix string // "kms", "cloudhsmv2"
	// SigningName is the SigV4 service name: the model's signingName, or its endpointPrefix
	// when it has none, as botocore resolves it ("kms", "cloudhsm").
	SigningName string
}

// An Operation is one API action.
type Operation struct {
	Name   string
	Input  string   // input shape name; "" when the operation takes no input
	Output string   // output shape name; "" when it returns nothing
	Errors []string // error shape names the model lists for it
}

// A Shape is a named type of the model.
type Shape struct {
	Name string
	// Type is one of structure, string, integer, long, float, double, boolean, blob,
	// timestamp, list, map.
	Type    string
	Members []Member // structure members, in model order
	Element string   // list: the member shape
	Key     string   // map: the key shape
	Value   string   // map: the value shape
	// Min and Max bound the length of strings (characters), blobs (bytes), lists and maps
	// (entries), or the value of numbers; nil when absent.
	Min, Max  *int64
	Enum      []string
	Pattern   string
	Sensitive bool // values are never echoed back in validation messages
	Exception bool
	Fault     bool // a server-side error: HTTP 500

	byName  map[string]int
	paths   []string       // per member, its name as validation messages show it (lowerFirst)
	pattern *regexp.Regexp // nil when Pattern is empty or is not valid RE2
}

// A Member is one field of a structure.
type Member struct {
	Name     string
	Shape    string
	Required bool
}

// Member returns the structure member called name.
func (s *Shape) Member(name string) (Member, bool) {
	i, ok := s.byName[name]
	if !ok {
		return Member{}, false
	}
	return s.Members[i], true
}

// Operation returns the operation called name.
func (m *Model) Operation(name string) (*Operation, bool) {
	op, ok := m.Operations[name]
	return op, ok
}

// Shape returns the shape called name.
func (m *Model) Shape(name string) (*Shape, bool) {
	s, ok := m.Shapes[name]
	return s, ok
}

// ErrorStatus is the HTTP status the service answers an error shape with: 500 for a shape
// the model marks as a fault, 400 for other exceptions. ok is false when name is not an
// exception shape of the model.
func (m *Model) ErrorStatus(name string) (status int, ok bool) {
	s, found := m.Shapes[name]
	if !found || !s.Exception {
		return 0, false
	}
	if s.Fault {
		return 500, true
	}
	return 400, true
}

// errorMessageMember is how the model spells an error shape's message member: KMS uses
// "message", CloudHSM v2 "Message". Framework errors (SerializationException and the like)
// are not in the model and use "message", as the AWS frontend does.
func (m *Model) errorMessageMember(name string) string {
	if s, ok := m.Shapes[name]; ok && s.Exception {
		for _, mem := range s.Members {
			if strings.EqualFold(mem.Name, "message") {
				return mem.Name
			}
		}
	}
	return "message"
}

// ParseModel reads a botocore service-2.json document. Every shape reference is checked, so
// code walking a parsed Model never meets a dangling name.
func ParseModel(r io.Reader) (*Model, error) {
	var raw rawModel
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, fmt.Errorf("decode model: %w", err)
	}
	md := raw.Metadata
	m := &Model{
		Metadata: Metadata{
			APIVersion:     md.APIVersion,
			ServiceID:      md.ServiceID,
			Protocol:       md.Protocol,
			JSONVersion:    md.JSONVersion,
			TargetPrefix:   md.TargetPrefix,
			EndpointPrefix: md.EndpointPrefix,
			SigningName:    md.SigningName,
		},
		Operations: make(map[string]*Operation, len(raw.Operations)),
		Shapes:     make(map[string]*Shape, len(raw.Shapes)),
	}
	if m.Metadata.SigningName == "" {
		m.Metadata.SigningName = md.EndpointPrefix
	}
	if m.Metadata.TargetPrefix == "" || m.Metadata.SigningName == "" {
		return nil, fmt.Errorf("model %q: metadata lacks targetPrefix or signing name", md.ServiceID)
	}
	for name, rs := range raw.Shapes {
		s, err := rs.shape(name)
		if err != nil {
			return nil, fmt.Errorf("shape %s: %w", name, err)
		}
		m.Shapes[name] = s
	}
	for name, ro := range raw.Operations {
		op := &Operation{Name: name, Input: ro.Input.Shape, Output: ro.Output.Shape}
		for _, e := range ro.Errors {
			op.Errors = append(op.Errors, e.Shape)
		}
		m.Operations[name] = op
	}
	if err := m.checkReferences(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Model) checkReferences() error {
	known := func(name string) bool { _, ok := m.Shapes[name]; return ok }
	for _, op := range m.Operations {
		for _, ref := range append([]string{op.Input, op.Output}, op.Errors...) {
			if ref != "" && !known(ref) {
				return fmt.Errorf("operation %s: unknown shape %q", op.Name, ref)
			}
		}
	}
	for _, s := range m.Shapes {
		var refs []string
		switch s.Type {
		case "structure":
			for _, mem := range s.Members {
				refs = append(refs, mem.Shape)
			}
		case "list":
			refs = append(refs, s.Element)
		case "map":
			refs = append(refs, s.Key, s.Value)
		}
		for _, ref := range refs {
			if !known(ref) {
				return fmt.Errorf("shape %s: unknown shape %q", s.Name, ref)
			}
		}
	}
	return nil
}

type rawModel struct {
	Metadata struct {
		APIVersion     string `json:"apiVersion"`
		ServiceID      string `json:"serviceId"`
		Protocol       string `json:"protocol"`
		JSONVersion    string `json:"jsonVersion"`
		TargetPrefix   string `json:"targetPrefix"`
		EndpointPrefix string `json:"endpointPrefix"`
		SigningName    string `json:"signingName"`
	} `json:"metadata"`
	Operations map[string]struct {
		Input  shapeRef   `json:"input"`
		Output shapeRef   `json:"output"`
		Errors []shapeRef `json:"errors"`
	} `json:"operations"`
	Shapes map[string]rawShape `json:"shapes"`
}

type shapeRef struct {
	Shape string `json:"shape"`
}

type rawShape struct {
	Type      string         `json:"type"`
	Required  []string       `json:"required"`
	Members   orderedMembers `json:"members"`
	Member    shapeRef       `json:"member"`
	Key       shapeRef       `json:"key"`
	Value     shapeRef       `json:"value"`
	Min       json.Number    `json:"min"`
	Max       json.Number    `json:"max"`
	Enum      []string       `json:"enum"`
	Pattern   string         `json:"pattern"`
	Sensitive bool           `json:"sensitive"`
	Exception bool           `json:"exception"`
	Fault     bool           `json:"fault"`
}

func (rs rawShape) shape(name string) (*Shape, error) {
	s := &Shape{
		Name:      name,
		Type:      rs.Type,
		Element:   rs.Member.Shape,
		Key:       rs.Key.Shape,
		Value:     rs.Value.Shape,
		Enum:      rs.Enum,
		Pattern:   rs.Pattern,
		Sensitive: rs.Sensitive,
		Exception: rs.Exception,
		Fault:     rs.Fault,
	}
	switch s.Type {
	case "structure", "string", "integer", "long", "float", "double", "boolean", "blob", "timestamp", "list", "map":
	default:
		return nil, fmt.Errorf("unsupported type %q", s.Type)
	}
	var err error
	if s.Min, err = bound(rs.Min); err != nil {
		return nil, fmt.Errorf("min: %w", err)
	}
	if s.Max, err = bound(rs.Max); err != nil {
		return nil, fmt.Errorf("max: %w", err)
	}
	required := make(map[string]bool, len(rs.Required))
	for _, r := range rs.Required {
		required[r] = true
	}
	s.byName = make(map[string]int, len(rs.Members))
	for i, mem := range rs.Members {
		s.Members = append(s.Members, Member{Name: mem.name, Shape: mem.ref.Shape, Required: required[mem.name]})
		s.byName[mem.name] = i
		s.paths = append(s.paths, lowerFirst(mem.name))
	}
	for r := range required {
		if _, ok := s.byName[r]; !ok {
			return nil, fmt.Errorf("required member %q is not a member", r)
		}
	}
	if s.Pattern != "" {
		// AWS matches the whole value (Java's matches()), not a substring as Smithy's docs
		// suggest: it reports 'table_map1' as failing [0-9a-zA-Z-]*, which any string
		// contains. A pattern RE2 cannot compile (a Java-only construct) is left unenforced
		// rather than failing the whole model: patterns are advisory here (CheckOptions).
		s.pattern, _ = regexp.Compile(`^(?:` + javaToRE2(s.Pattern) + `)$`)
	}
	return s, nil
}

// bound parses a min/max. Both models only use integers; a fractional bound would need a
// different representation, so it is refused loudly rather than silently truncated.
func bound(n json.Number) (*int64, error) {
	if n == "" {
		return nil, nil
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("not an integer: %q", n)
	}
	return &v, nil
}

var javaUnicodeEscape = regexp.MustCompile(`\\u([0-9a-fA-F]{4})`)

// javaToRE2 rewrites the one Java regex idiom the models use that RE2 spells differently:
// \uXXXX is \x{XXXX} in RE2.
func javaToRE2(p string) string {
	return javaUnicodeEscape.ReplaceAllString(p, `\x{$1}`)
}

// orderedMembers keeps structure members in model order, which a plain map would lose;
// validation messages list violations in that order.
type orderedMembers []namedRef

type namedRef struct {
	name string
	ref  shapeRef
}

func (o *orderedMembers) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("members: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("members: want an object, got %v", tok)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("members: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return fmt.Errorf("members: want a name, got %v", tok)
		}
		var ref shapeRef
		if err := dec.Decode(&ref); err != nil {
			return fmt.Errorf("member %s: %w", name, err)
		}
		*o = append(*o, namedRef{name: name, ref: ref})
	}
	return nil
}
