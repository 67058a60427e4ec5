package awsjson

// The two-pass decoder decode.go replaced (encoding/json into any, then a walk of the tree),
// kept as the oracle of TestDecodeMatchesOracle and FuzzDecode: the streaming decoder must
// give the same tree or the same error for every body.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
)

// oracleDecodeBody is the decoder the streaming one replaced: it parses a request body and converts it to the input shape the way the AWS
// frontend deserializes it, before any validation: JSON nulls are absent members (also
// inside lists and maps), unknown members are dropped, fractional numbers for integer
// members are truncated, blobs are decoded from base64. The result holds only
// map[string]any (structures and maps), []any, string, int64, float64, bool and []byte.
// A body that cannot be deserialized is a SerializationException.
func (m *Model) oracleDecodeBody(shape *Shape, body []byte) (map[string]any, *Error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keep integers exact; float64 would round longs
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, serializationError("")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, serializationError("") // trailing data after the document
	}
	switch v.(type) {
	case map[string]any:
	case []any:
		return nil, serializationError(msgStartOfList)
	default:
		return nil, serializationError("")
	}
	if shape == nil {
		return map[string]any{}, nil // an operation without input still takes an object
	}
	out, err := m.oracleDecodeValue(shape, v)
	if err != nil {
		return nil, err
	}
	return out.(map[string]any), nil
}

// oracleDecodeValue converts one non-null JSON value to shape.
func (m *Model) oracleDecodeValue(shape *Shape, v any) (any, *Error) {
	switch shape.Type {
	case "structure":
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, oracleMismatch(v, msgNotStruct)
		}
		out := make(map[string]any, len(obj))
		for _, mem := range shape.Members {
			val, present := obj[mem.Name]
			if !present || val == nil {
				continue
			}
			conv, err := m.oracleDecodeValue(m.Shapes[mem.Shape], val)
			if err != nil {
				return nil, err
			}
			out[mem.Name] = conv
		}
		return out, nil
	case "list":
		arr, ok := v.([]any)
		if !ok {
			if _, isMap := v.(map[string]any); isMap {
				return nil, serializationError(msgStartOfMap)
			}
			return nil, serializationError(msgNotList)
		}
		elem := m.Shapes[shape.Element]
		out := make([]any, 0, len(arr))
		for _, e := range arr {
			if e == nil {
				continue
			}
			conv, err := m.oracleDecodeValue(elem, e)
			if err != nil {
				return nil, err
			}
			out = append(out, conv)
		}
		return out, nil
	case "map":
		obj, ok := v.(map[string]any)
		if !ok {
			if _, isList := v.([]any); isList {
				return nil, serializationError(msgStartOfList)
			}
			return nil, serializationError(msgNotMap)
		}
		valShape := m.Shapes[shape.Value]
		out := make(map[string]any, len(obj))
		for k, e := range obj {
			if e == nil {
				continue
			}
			conv, err := m.oracleDecodeValue(valShape, e)
			if err != nil {
				return nil, err
			}
			out[k] = conv
		}
		return out, nil
	case "string":
		if s, ok := v.(string); ok {
			return s, nil
		}
		return nil, oracleScalarMismatch(v, "a String")
	case "integer":
		return oracleDecodeInteger(v, math.MinInt32, math.MaxInt32, "an Integer")
	case "long":
		return oracleDecodeInteger(v, math.MinInt64, math.MaxInt64, "a Long")
	case "float", "double":
		n, ok := v.(json.Number)
		if !ok {
			if shape.Type == "float" {
				return nil, oracleScalarMismatch(v, "a Float")
			}
			return nil, oracleScalarMismatch(v, "a Double")
		}
		f, err := n.Float64()
		if err != nil {
			return nil, serializationError("NUMBER_VALUE can not be converted to a Double")
		}
		return f, nil
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, oracleScalarMismatch(v, "a Boolean")
	case "blob":
		s, ok := v.(string)
		if !ok {
			return nil, oracleScalarMismatch(v, "a ByteBuffer")
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, serializationError(msgBadBase64)
		}
		return b, nil
	case "timestamp":
		// The JSON protocols send timestamps as epoch seconds; strings are refused rather
		// than guessed at (choice).
		n, ok := v.(json.Number)
		if !ok {
			return nil, oracleScalarMismatch(v, "a Timestamp")
		}
		f, err := n.Float64()
		if err != nil {
			return nil, serializationError("NUMBER_VALUE can not be converted to a Timestamp")
		}
		return f, nil
	}
	// ParseModel admits no other type.
	return nil, serializationError("")
}

// oracleDecodeInteger accepts a JSON number in [lo, hi]. A fraction is truncated toward zero, as
// the AWS frontend does; a value out of the Java type's range cannot be deserialized.
func oracleDecodeInteger(v any, lo, hi int64, target string) (any, *Error) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, oracleScalarMismatch(v, target)
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		if i < lo || i > hi {
			return nil, serializationError("NUMBER_VALUE can not be converted to " + target)
		}
		return i, nil
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || f < float64(lo) || f >= float64(hi)+1 {
		return nil, serializationError("NUMBER_VALUE can not be converted to " + target)
	}
	return int64(f), nil // int64 conversion truncates toward zero
}

// oracleScalarMismatch is the message for a value of the wrong JSON type where a scalar belongs.
func oracleScalarMismatch(v any, target string) *Error {
	switch x := v.(type) {
	case []any:
		return serializationError(msgStartOfList)
	case map[string]any:
		return serializationError(msgStartOfMap)
	case string:
		return serializationError("STRING_VALUE can not be converted to " + target)
	case json.Number:
		return serializationError("NUMBER_VALUE can not be converted to " + target)
	case bool:
		if x {
			return serializationError("TRUE_VALUE can not be converted to " + target)
		}
		return serializationError("FALSE_VALUE can not be converted to " + target)
	}
	return serializationError("")
}

// mismatch is the message for a non-object where a structure belongs.
func oracleMismatch(v any, scalarMessage string) *Error {
	if _, ok := v.([]any); ok {
		return serializationError(msgStartOfList)
	}
	return serializationError(scalarMessage)
}
