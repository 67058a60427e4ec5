package awsjson

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// A kind is the JSON type of a value, as far as conversion cares.
type kind int

const (
	kindObject kind = iota
	kindArray
	kindString
	kindNumber
	kindTrue
	kindFalse
	kindNull
)

// A reader walks a JSON document that json.Valid has accepted, so it has no error cases:
// every method assumes the grammar holds.
type reader struct {
	data []byte
	pos  int
}

// kind skips white space and tells the kind of the next value without consuming it.
func (r *reader) kind() kind {
	r.skipSpace()
	switch r.data[r.pos] {
	case '{':
		return kindObject
	case '[':
		return kindArray
	case '"':
		return kindString
	case 't':
		return kindTrue
	case 'f':
		return kindFalse
	case 'n':
		return kindNull
	}
	return kindNumber
}

// skipSpace skips what JSON counts as white space.
func (r *reader) skipSpace() {
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

// enter consumes the opening bracket of the object or array at the reader.
func (r *reader) enter() {
	r.skipSpace()
	r.pos++
}

// more moves to the next element of the object or array being read, past its comma, and
// reports whether there is one; at the closing bracket it consumes it and returns false.
func (r *reader) more() bool {
	r.skipSpace()
	switch r.data[r.pos] {
	case ',':
		r.pos++
	case '}', ']':
		r.pos++
		return false
	}
	return true
}

// name consumes an object member's name and its colon and returns the name, unquoted.
// Without escapes or invalid UTF-8 that is the token's own bytes, so that a lookup with
// m[string(name)] allocates nothing.
func (r *reader) name() []byte {
	r.skipSpace()
	tok := r.rawString()
	r.skipSpace()
	r.pos++ // ':'
	if s := tok[1 : len(tok)-1]; plain(s) {
		return s
	}
	return []byte(unquote(tok))
}

// rawString consumes a string and returns its token, quotes and escapes included.
func (r *reader) rawString() []byte {
	start := r.pos
	r.pos++ // the opening quote
	for {
		i := bytes.IndexByte(r.data[r.pos:], '"')
		r.pos += i + 1
		if !escaped(r.data[start+1 : r.pos-1]) {
			return r.data[start:r.pos]
		}
	}
}

// escaped reports whether s ends in an odd number of backslashes, which escape the quote
// after it.
func escaped(s []byte) bool {
	n := 0
	for n < len(s) && s[len(s)-1-n] == '\\' {
		n++
	}
	return n%2 == 1
}

// literal consumes a number, true, false or null and returns its token.
func (r *reader) literal() []byte {
	start := r.pos
	for r.pos < len(r.data) {
		switch r.data[r.pos] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return r.data[start:r.pos]
		}
		r.pos++
	}
	return r.data[start:r.pos]
}

// skip consumes the next value however deeply it nests, without recursion.
func (r *reader) skip() {
	depth := 0
	for {
		r.skipSpace()
		switch r.data[r.pos] {
		case '{', '[':
			depth++
			r.pos++
		case '}', ']':
			depth--
			r.pos++
		case ',', ':':
			r.pos++
		case '"':
			r.rawString()
		default:
			r.literal()
		}
		if depth == 0 {
			return
		}
	}
}

// unquote decodes a string token exactly as encoding/json does: escapes resolved, invalid
// UTF-8 and lone surrogates replaced by U+FFFD.
func unquote(tok []byte) string {
	if s := tok[1 : len(tok)-1]; plain(s) {
		return string(s)
	}
	var out string
	if err := json.Unmarshal(tok, &out); err != nil {
		return "" // unreachable: json.Valid accepted the document the token is from
	}
	return out
}

// plain reports whether a string token's content is the string itself: no escapes, valid
// UTF-8. It is encoding/json's own fast path.
func plain(content []byte) bool {
	return bytes.IndexByte(content, '\\') < 0 && utf8.Valid(content)
}
