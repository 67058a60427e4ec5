package reports_test

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/reports"
)

// The JUnit shape as a CI server reads it back.
type (
	xSuites struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Errors   int      `xml:"errors,attr"`
		Skipped  int      `xml:"skipped,attr"`
		Suites   []xSuite `xml:"testsuite"`
	}
	xSuite struct {
		Name     string  `xml:"name,attr"`
		Tests    int     `xml:"tests,attr"`
		Failures int     `xml:"failures,attr"`
		Errors   int     `xml:"errors,attr"`
		Skipped  int     `xml:"skipped,attr"`
		Cases    []xCase `xml:"testcase"`
	}
	xCase struct {
		Name      string `xml:"name,attr"`
		Classname string `xml:"classname,attr"`
		Failure   *xMsg  `xml:"failure"`
		Error     *xMsg  `xml:"error"`
		Skipped   *xMsg  `xml:"skipped"`
	}
	xMsg struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
)

func parseJUnit(t *testing.T, b []byte) xSuites {
	t.Helper()
	var s xSuites
	if err := xml.Unmarshal(b, &s); err != nil {
		t.Fatalf("JUnit does not parse: %v\n%s", err, b)
	}
	return s
}

func TestJUnitCounts(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := reports.JUnit(&b, fixture(t)); err != nil {
		t.Fatal(err)
	}
	doc := parseJUnit(t, b.Bytes())
	if len(doc.Suites) != 1 {
		t.Fatalf("%d suites, want 1", len(doc.Suites))
	}
	s := doc.Suites[0]
	if s.Name != "flagship" {
		t.Errorf("suite name %q, want flagship", s.Name)
	}
	// Seven expectations and the run.
	if s.Tests != 8 || len(s.Cases) != 8 {
		t.Errorf("tests=%d with %d testcases, want 8", s.Tests, len(s.Cases))
	}
	var failures, errs, skipped int
	for _, c := range s.Cases {
		if c.Classname != "keystorm.flagship" {
			t.Errorf("testcase %q has classname %q", c.Name, c.Classname)
		}
		if c.Failure != nil {
			failures++
		}
		if c.Error != nil {
			errs++
		}
		if c.Skipped != nil {
			skipped++
			if !strings.HasPrefix(c.Skipped.Message, "not applicable: ") {
				t.Errorf("skipped message %q", c.Skipped.Message)
			}
		}
	}
	if failures != 1 || errs != 1 || skipped != 1 {
		t.Errorf("counted %d failures, %d errors, %d skipped; want 1 each", failures, errs, skipped)
	}
	if s.Failures != failures || s.Errors != errs || s.Skipped != skipped {
		t.Errorf("suite says %d/%d/%d, testcases say %d/%d/%d", s.Failures, s.Errors, s.Skipped, failures, errs, skipped)
	}
	fail := s.Cases[2]
	if fail.Failure == nil || !strings.HasPrefix(fail.Name, "beta-latency: ") || fail.Failure.Message != "p99 612 ms > 250 ms (p50 3.9 ms, 1423 requests)" {
		t.Errorf("the failed latency expectation reads %+v", fail)
	}
	if run := s.Cases[7]; run.Name != "run" || run.Error != nil {
		t.Errorf("the run testcase of a valid run: %+v", run)
	}
}

func TestJUnitInvalidRunErrors(t *testing.T) {
	t.Parallel()
	r := fixture(t)
	r.Invalid = "the load generator fell behind: 12% of sends late"
	var b bytes.Buffer
	if err := reports.JUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	s := parseJUnit(t, b.Bytes()).Suites[0]
	run := s.Cases[len(s.Cases)-1]
	if run.Name != "run" || run.Error == nil || !strings.Contains(run.Error.Message, "fell behind") {
		t.Errorf("the run testcase of an invalid run: %+v", run)
	}
	if s.Errors != 2 {
		t.Errorf("errors=%d, want 2 (the undecided expectation and the run)", s.Errors)
	}
}

func TestJUnitSuites(t *testing.T) {
	t.Parallel()
	a := fixture(t)
	b := &result.Result{Scenario: "quiet", Status: result.Pass, Expectations: []result.Expectation{
		{ID: "steady", Kind: "steady-state", Status: result.Pass},
		{ID: "odd <&]]> detail", Kind: "errors", Status: result.Fail, Detail: "]]> & <b>"},
	}}
	var out bytes.Buffer
	if err := reports.JUnitSuites(&out, []*result.Result{a, b}); err != nil {
		t.Fatal(err)
	}
	doc := parseJUnit(t, out.Bytes())
	if len(doc.Suites) != 2 || doc.Suites[1].Name != "quiet" {
		t.Fatalf("suites: %+v", doc.Suites)
	}
	if doc.Tests != 8+3 || doc.Failures != 2 || doc.Errors != 1 || doc.Skipped != 1 {
		t.Errorf("totals tests=%d failures=%d errors=%d skipped=%d", doc.Tests, doc.Failures, doc.Errors, doc.Skipped)
	}
	if got := doc.Suites[1].Cases[1].Failure; got == nil || got.Message != "]]> & <b>" {
		t.Errorf("a detail with markup does not survive: %+v", got)
	}
}
