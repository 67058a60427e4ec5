package awsjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strconv"
)

// Messages of the AWS JSON frontend's deserializer. Their wording was measured against a
// live AWS JSON 1.1 (Coral) service by a third-party emulator (see README.md, "Choices");
// "Expected map or null", the Long/Boolean/Float/Double/ByteBuffer/Timestamp targets and the
// base64 text are extrapolated from them.
const (
	msgStartOfList = "Start of list found where not expected"
	msgStartOfMap  = "Start of structure or map found where not expected."
	msgNotList     = "Expected list or null"
	msgNotMap      = "Expected map or null"
	msgNotStruct   = "Expected null"
	msgBadBase64   = "Base64 encoded value is not valid"
)

// decodeBody parses a request body and converts it to the input shape the way the AWS
// frontend deserializes it, before any validation: JSON nulls are absent members (also
// inside lists and maps), unknown members are dropped, fractional numbers for integer
// members are truncated, blobs are decoded from base64. The result holds only
// map[string]any (structures and maps), []any, string, int64, float64, bool and []byte.
// A body that cannot be deserialized is a SerializationException.
//
// It reads the body once, guided by the shape, rather than decoding it into a generic tree
// and converting that: unknown members are skipped without being built. The result and the
// errors are those of the two-pass decoder it replaced (decode_oracle_test.go): a repeated
// member counts only in its last occurrence, and a structure reports the failing member
// first in model order.
func (m *Model) decodeBody(shape *Shape, body []byte) (map[string]any, *Error) {
	// A document that does not parse is refused whole, before any member is converted, as
	// the frontend parses before it converts; the reader then meets only valid JSON.
	if !json.Valid(body) {
		return nil, serializationError("")
	}
	r := reader{data: body}
	switch r.kind() {
	case kindObject:
	case kindArray:
		return nil, serializationError(msgStartOfList)
	default:
		return nil, serializationError("")
	}
	if shape == nil {
		return map[string]any{}, nil // an operation without input still takes an object
	}
	return m.decodeStructure(shape, &r)
}

func serializationError(message string) *Error {
	return clientError(SerializationException, message)
}

// decodeValue reads the next value, which is not null, as shape. It consumes the whole
// value even when it fails, so that the enclosing object or array can be read on.
func (m *Model) decodeValue(shape *Shape, r *reader) (any, *Error) {
	k := r.kind()
	want := kindObject
	switch shape.Type {
	case "list":
		want = kindArray
	case "structure", "map":
	default:
		return decodeScalar(shape.Type, k, r)
	}
	if k != want {
		r.skip()
		return nil, containerMismatch(shape.Type, k)
	}
	switch shape.Type {
	case "structure":
		return m.decodeStructure(shape, r)
	case "list":
		return m.decodeList(shape, r)
	}
	return m.decodeMap(shape, r)
}

// containerMismatch is the message for a value of the wrong JSON type where a structure,
// list or map belongs.
func containerMismatch(typ string, k kind) *Error {
	switch {
	case k == kindArray:
		return serializationError(msgStartOfList)
	case typ == "list" && k == kindObject:
		return serializationError(msgStartOfMap)
	case typ == "list":
		return serializationError(msgNotList)
	case typ == "map":
		return serializationError(msgNotMap)
	}
	return serializationError(msgNotStruct)
}

// decodeStructure reads an object as a structure: known members only, nulls absent.
func (m *Model) decodeStructure(shape *Shape, r *reader) (map[string]any, *Error) {
	out := make(map[string]any, len(shape.Members))
	var failed map[int]*Error // by member index; nil until a member fails
	r.enter()
	for r.more() {
		i, known := shape.byName[string(r.name())]
		if !known || r.kind() == kindNull {
			r.skip()
			if known { // a null overrides an earlier occurrence of the member
				delete(out, shape.Members[i].Name)
				delete(failed, i)
			}
			continue
		}
		mem := shape.Members[i]
		v, err := m.decodeValue(m.Shapes[mem.Shape], r)
		if err != nil {
			if failed == nil {
				failed = map[int]*Error{}
			}
			failed[i] = err
			delete(out, mem.Name)
			continue
		}
		out[mem.Name] = v
		delete(failed, i)
	}
	if len(failed) > 0 {
		return nil, failed[firstKey(failed)]
	}
	return out, nil
}

// decodeList reads an array: nulls are dropped, the first failing element answers.
func (m *Model) decodeList(shape *Shape, r *reader) ([]any, *Error) {
	elem := m.Shapes[shape.Element]
	out := []any{}
	var failed *Error
	r.enter()
	for r.more() {
		if failed != nil || r.kind() == kindNull {
			r.skip()
			continue
		}
		v, err := m.decodeValue(elem, r)
		if err != nil {
			failed = err
			continue
		}
		out = append(out, v)
	}
	if failed != nil {
		return nil, failed
	}
	return out, nil
}

// decodeMap reads an object as a map: every key, null values dropped. When several
// values fail, the one under the smallest key answers (the frontend names one of them).
func (m *Model) decodeMap(shape *Shape, r *reader) (map[string]any, *Error) {
	valShape := m.Shapes[shape.Value]
	out := map[string]any{}
	var failed map[string]*Error
	r.enter()
	for r.more() {
		k := string(r.name())
		if r.kind() == kindNull {
			r.skip()
			delete(out, k)
			delete(failed, k)
			continue
		}
		v, err := m.decodeValue(valShape, r)
		if err != nil {
			if failed == nil {
				failed = map[string]*Error{}
			}
			failed[k] = err
			delete(out, k)
			continue
		}
		out[k] = v
		delete(failed, k)
	}
	if len(failed) > 0 {
		return nil, failed[firstKey(failed)]
	}
	return out, nil
}

// firstKey is the smallest key of a non-empty map.
func firstKey[K int | string, V any](m map[K]V) K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return slices.Min(keys)
}

// decodeScalar reads the next value, of kind k, as a scalar type.
func decodeScalar(typ string, k kind, r *reader) (any, *Error) {
	switch k {
	case kindObject, kindArray:
		r.skip()
		return nil, scalarMismatch(k, scalarTarget(typ))
	case kindString:
		return convertScalar(typ, k, r.rawString())
	}
	return convertScalar(typ, k, r.literal())
}

// convertScalar converts a string, number or boolean token to a scalar type.
func convertScalar(typ string, k kind, tok []byte) (any, *Error) {
	switch typ {
	case "string":
		if k == kindString {
			return unquote(tok), nil
		}
	case "integer":
		if k == kindNumber {
			return decodeInteger(string(tok), math.MinInt32, math.MaxInt32, "an Integer")
		}
	case "long":
		if k == kindNumber {
			return decodeInteger(string(tok), math.MinInt64, math.MaxInt64, "a Long")
		}
	case "float", "double":
		if k == kindNumber {
			f, err := strconv.ParseFloat(string(tok), 64)
			if err != nil {
				return nil, serializationError("NUMBER_VALUE can not be converted to a Double")
			}
			return f, nil
		}
	case "boolean":
		if k == kindTrue || k == kindFalse {
			return k == kindTrue, nil
		}
	case "blob":
		if k == kindString {
			return decodeBlob(tok)
		}
	case "timestamp":
		// The JSON protocols send timestamps as epoch seconds; strings are refused rather
		// than guessed at (choice).
		if k == kindNumber {
			f, err := strconv.ParseFloat(string(tok), 64)
			if err != nil {
				return nil, serializationError("NUMBER_VALUE can not be converted to a Timestamp")
			}
			return f, nil
		}
	default:
		// ParseModel admits no other type.
		return nil, serializationError("")
	}
	return nil, scalarMismatch(k, scalarTarget(typ))
}

// scalarTarget names a scalar type the way the frontend's messages do.
func scalarTarget(typ string) string {
	switch typ {
	case "string":
		return "a String"
	case "integer":
		return "an Integer"
	case "long":
		return "a Long"
	case "float":
		return "a Float"
	case "double":
		return "a Double"
	case "boolean":
		return "a Boolean"
	case "blob":
		return "a ByteBuffer"
	case "timestamp":
		return "a Timestamp"
	}
	return ""
}

// decodeInteger accepts a JSON number in [lo, hi]. A fraction is truncated toward zero, as
// the AWS frontend does; a value out of the Java type's range cannot be deserialized.
func decodeInteger(n string, lo, hi int64, target string) (any, *Error) {
	if i, err := strconv.ParseInt(n, 10, 64); err == nil {
		if i < lo || i > hi {
			return nil, serializationError("NUMBER_VALUE can not be converted to " + target)
		}
		return i, nil
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil || math.IsInf(f, 0) || f < float64(lo) || f >= float64(hi)+1 {
		return nil, serializationError("NUMBER_VALUE can not be converted to " + target)
	}
	return int64(f), nil // int64 conversion truncates toward zero
}

// decodeBlob decodes a base64 string token. Without escapes the token's bytes are the
// string's, and are decoded in place of an unquoted copy.
func decodeBlob(tok []byte) (any, *Error) {
	src := tok[1 : len(tok)-1]
	if bytes.IndexByte(src, '\\') >= 0 {
		src = []byte(unquote(tok))
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	n, err := base64.StdEncoding.Decode(b, src)
	if err != nil {
		return nil, serializationError(msgBadBase64)
	}
	return b[:n], nil
}

// scalarMismatch is the message for a value of the wrong JSON type where a scalar belongs.
func scalarMismatch(k kind, target string) *Error {
	switch k {
	case kindArray:
		return serializationError(msgStartOfList)
	case kindObject:
		return serializationError(msgStartOfMap)
	case kindString:
		return serializationError("STRING_VALUE can not be converted to " + target)
	case kindNumber:
		return serializationError("NUMBER_VALUE can not be converted to " + target)
	case kindTrue:
		return serializationError("TRUE_VALUE can not be converted to " + target)
	case kindFalse:
		return serializationError("FALSE_VALUE can not be converted to " + target)
	}
	return serializationError("")
}
