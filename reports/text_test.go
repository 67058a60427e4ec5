package reports_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/keystorm/keystorm/reports"
)

func TestTextInvalidRun(t *testing.T) {
	t.Parallel()
	r := fixture(t)
	r.Invalid = "the load generator fell behind"
	r.ExitCode = 2
	var b bytes.Buffer
	if err := reports.Text(&b, r); err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(b.String(), "\n")
	if first != "keystorm flagship: INVALID (exit 2)" {
		t.Errorf("verdict line %q", first)
	}
	if !strings.Contains(b.String(), "  invalid: the load generator fell behind\n") {
		t.Errorf("no reason given:\n%s", b.String())
	}
}
