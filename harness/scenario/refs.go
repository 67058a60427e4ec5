package scenario

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// A Ref is a point in a run that conditions (when.after) and windows
// (from, to, after) refer to: "start" (the load's start), "end" (its end),
// a timeline entry's id (when its action started) or "<id>.end" (when it
// ended), each with an optional offset: "kill+5s", "restore.end-10s".
type Ref struct {
	// Name is "start", "end" or a timeline entry's id.
	Name string
	// End is true for "<id>.end".
	End bool
	// Offset is added to the point.
	Offset time.Duration
}

// Reference names that are not timeline ids.
const (
	RefStart = "start"
	RefEnd   = "end"
)

// idPattern is what a timeline id, and so the name in a Ref, may be: no
// dots (".end" is the suffix) and no "+" (the offset).
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// ParseRef parses a reference. Since ids may contain dashes, a "-" starts
// an offset only when what follows is a duration with a unit: "net-2" is
// the id net-2, "net-2s" is net minus two seconds (which is why Validate
// refuses ids like "net-2s").
func ParseRef(s string) (Ref, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Ref{}, fmt.Errorf("empty reference (want start, end, an id or <id>.end, with an optional +/-duration)")
	}
	name := s
	if i := strings.LastIndexByte(s, '+'); i >= 0 {
		off, err := parseOffset(s[i+1:])
		if err != nil {
			return Ref{}, fmt.Errorf("reference %q: offset %q %v", s, strings.TrimSpace(s[i+1:]), err)
		}
		return parseRefName(s, strings.TrimSpace(s[:i]), off)
	}
	if i := strings.LastIndexByte(s, '-'); i > 0 {
		if off, err := parseOffset(s[i+1:]); err == nil {
			return parseRefName(s, strings.TrimSpace(s[:i]), -off)
		}
	}
	return parseRefName(s, name, 0)
}

// parseOffset parses a reference's offset: a duration with a unit.
func parseOffset(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("is not a duration (want e.g. 5s, 1m)")
	}
	if strings.Trim(s, "0123456789.") == "" {
		return 0, fmt.Errorf("needs a unit (want e.g. %ss)", s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("is not a duration (want e.g. 5s, 1m)")
	}
	return d, nil
}

func parseRefName(s, name string, off time.Duration) (Ref, error) {
	r := Ref{Name: name, Offset: off}
	if base, ok := strings.CutSuffix(name, ".end"); ok {
		r.Name, r.End = base, true
	}
	switch {
	case r.Name == "":
		return Ref{}, fmt.Errorf("reference %q names nothing (want start, end, an id or <id>.end)", s)
	case r.End && (r.Name == RefStart || r.Name == RefEnd):
		return Ref{}, fmt.Errorf("reference %q: only a timeline entry has an .end", s)
	case !idPattern.MatchString(r.Name):
		return Ref{}, fmt.Errorf("reference %q: want start, end, an id or <id>.end, with an optional +/-duration", s)
	}
	return r, nil
}

// String writes r back as ParseRef reads it.
func (r Ref) String() string {
	s := r.Name
	if r.End {
		s += ".end"
	}
	switch {
	case r.Offset > 0:
		s += "+" + r.Offset.String()
	case r.Offset < 0:
		s += "-" + (-r.Offset).String()
	}
	return s
}
