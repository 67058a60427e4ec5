package scenario

import (
	"fmt"
	"sort"
	"strings"
)

// An Error is one problem of a scenario file, located so that an editor can
// jump to it.
type Error struct {
	File string
	// Line and Column are 1-based; 0 when unknown (a scenario built in Go
	// rather than read from a file).
	Line, Column int
	// Path is the field's path in the document, such as
	// "load.shape.square.duty" or "timeline[1].with.cluster"; list indexes
	// are 0-based, as in yq and jq. Empty for the file as a whole.
	Path string
	// Msg says what is wrong and what was expected.
	Msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a scenario file, in file order. Parse and
// Load return it (as *Errors) so that a user fixes a file in one round, not
// one error per run.
type Errors struct {
	List []*Error
}

// Error lists the problems one per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, err := range e.List {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error.
func (e *Errors) Unwrap() []error {
	out := make([]error, len(e.List))
	for i, err := range e.List {
		out[i] = err
	}
	return out
}

// sortByPosition orders errors by line and column, keeping the order of
// checks among errors at the same place (and unlocated ones first).
func sortByPosition(list []*Error) {
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].Line != list[j].Line {
			return list[i].Line < list[j].Line
		}
		return list[i].Column < list[j].Column
	})
}

// asErrors turns Validate's []error into an *Errors, keeping any error that
// is not an *Error (there should be none) as an unlocated one.
func asErrors(file string, errs []error) *Errors {
	out := &Errors{}
	for _, err := range errs {
		if e, ok := err.(*Error); ok {
			out.List = append(out.List, e)
		} else {
			out.List = append(out.List, &Error{File: file, Msg: err.Error()})
		}
	}
	sortByPosition(out.List)
	return out
}

// Pos is where a value is in its file.
type Pos struct {
	Line, Column int
}

// positions maps a field's path to where its value was written. Validation
// uses it to locate errors in the file, and defaults use it to tell a field
// left out from one set to its zero value (weight: 0 is an error, not "use
// the default").
type positions map[string]posEntry

type posEntry struct {
	Pos
	// null is true for a key with no value ("with:"): present, but not set.
	null bool
}

// at returns the position of path's value, or of its nearest ancestor that
// was written (a missing field is reported where its parent is).
func (p positions) at(path string) Pos {
	for {
		if e, ok := p[path]; ok {
			return e.Pos
		}
		if path == "" {
			return Pos{}
		}
		path = parentPath(path)
	}
}

// isSet tells whether path was given a non-null value in the file.
func (p positions) isSet(path string) bool {
	e, ok := p[path]
	return ok && !e.null
}

// parentPath drops the last segment: "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a"
// -> "".
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// joinPath appends a field name to a path.
func joinPath(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// indexPath appends a list index to a path.
func indexPath(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}
