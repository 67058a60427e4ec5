package reports

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/keystorm/keystorm/harness/result"
)

// JSON writes r as indented JSON in the documented schema (README.md,
// "keystorm.result/v1"): what `keystorm report` and other tools read back.
//
// Lists are written as [] when empty, never null, and the schema is filled
// in when the caller left it blank, so that a consumer can rely on the
// documented shape whatever the producer did. HTML characters are left
// unescaped: the file is read by people and tools, never embedded in a page.
func JSON(w io.Writer, r *result.Result) error {
	c := *r
	if c.Schema == "" {
		c.Schema = result.Schema
	}
	c.Expectations = orEmpty(c.Expectations)
	c.Timeline = orEmpty(c.Timeline)
	c.Transitions = orEmpty(c.Transitions)
	c.Series = orEmpty(c.Series)
	if c.Load.ByOutcome == nil {
		c.Load.ByOutcome = map[string]int64{}
	}
	if c.Load.ByOperation == nil {
		c.Load.ByOperation = map[string]int64{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		return fmt.Errorf("reports: JSON: %w", err)
	}
	return nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
