package reports_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/keystorm/keystorm/reports"
)

func TestMarkdownListsEveryExpectation(t *testing.T) {
	t.Parallel()
	r := fixture(t)
	var b bytes.Buffer
	if err := reports.Markdown(&b, r); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, e := range r.Expectations {
		if !strings.Contains(md, "`"+e.ID+"`") {
			t.Errorf("the summary lacks expectation %s", e.ID)
		}
	}
	for _, want := range []string{"FAIL (exit 1)", "| FAIL | `beta-latency`", "| N/A | `secondary-partition`", "**Load:**", "**Timeline:**"} {
		if !strings.Contains(md, want) {
			t.Errorf("the summary lacks %q", want)
		}
	}
}

func TestMarkdownEscapes(t *testing.T) {
	t.Parallel()
	r := fixture(t)
	r.Description = "<script>alert(1)</script> [link](javascript:x) *bold*"
	r.Expectations[0].Detail = "a | b\nc"
	var b bytes.Buffer
	if err := reports.Markdown(&b, r); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	if strings.Contains(md, "<script>") || strings.Contains(md, "[link]") || strings.Contains(md, " *bold*") {
		t.Errorf("markup from the result is live:\n%s", md)
	}
	// Every expectation row keeps its six cell borders: a pipe in a detail
	// must not add a cell, nor a line break end the row.
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| Status") {
			continue
		}
		if n := strings.Count(line, "|") - strings.Count(line, `\|`); n != 6 {
			t.Errorf("row has %d cell borders, want 6: %s", n, line)
		}
	}
}
