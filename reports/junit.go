package reports

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/keystorm/keystorm/harness/result"
)

// The JUnit XML schema as CI servers read it (Jenkins, GitLab, GitHub
// actions that publish test results). Marshalling these types, rather than
// printing strings, is what keeps a detail holding "<" or "]]>" from
// breaking the file.
type (
	junitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Time     string       `xml:"time,attr"`
		Suites   []junitSuite `xml:"testsuite"`
	}
	junitSuite struct {
		Name       string          `xml:"name,attr"`
		Tests      int             `xml:"tests,attr"`
		Failures   int             `xml:"failures,attr"`
		Errors     int             `xml:"errors,attr"`
		Skipped    int             `xml:"skipped,attr"`
		Time       string          `xml:"time,attr"`
		Timestamp  string          `xml:"timestamp,attr,omitempty"`
		File       string          `xml:"file,attr,omitempty"`
		Properties []junitProperty `xml:"properties>property,omitempty"`
		Cases      []junitCase     `xml:"testcase"`
	}
	junitProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	junitCase struct {
		Name      string        `xml:"name,attr"`
		Classname string        `xml:"classname,attr"`
		Time      string        `xml:"time,attr"`
		Failure   *junitMessage `xml:"failure"`
		Error     *junitMessage `xml:"error"`
		Skipped   *junitMessage `xml:"skipped"`
		SystemOut string        `xml:"system-out,omitempty"`
	}
	junitMessage struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr,omitempty"`
		Text    string `xml:",chardata"`
	}
)

// JUnit writes r as JUnit XML: one <testsuite> named after the scenario,
// one <testcase> per expectation, and a "run" testcase that errors when the
// run is invalid, so that CI marks an untrustworthy run red even when no
// expectation failed.
func JUnit(w io.Writer, r *result.Result) error {
	return JUnitSuites(w, []*result.Result{r})
}

// JUnitSuites writes several runs (one scenario each) as one JUnit file,
// one <testsuite> per run, for a CI job that runs a set of scenarios.
func JUnitSuites(w io.Writer, rs []*result.Result) error {
	doc := junitSuites{Name: "keystorm"}
	var total float64
	for _, r := range rs {
		s := junitSuiteOf(r)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
		total += r.Duration
		doc.Suites = append(doc.Suites, s)
	}
	doc.Time = junitTime(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("reports: JUnit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("reports: JUnit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("reports: JUnit: %w", err)
	}
	return nil
}

func junitSuiteOf(r *result.Result) junitSuite {
	class := "keystorm." + r.Scenario
	s := junitSuite{
		Name: r.Scenario,
		Time: junitTime(r.Duration),
		File: r.File,
	}
	if !r.Started.IsZero() {
		s.Timestamp = r.Started.UTC().Format(time.RFC3339)
	}
	prop := func(name, value string) {
		if value != "" {
			s.Properties = append(s.Properties, junitProperty{name, value})
		}
	}
	prop("description", r.Description)
	prop("stack", r.Stack)
	prop("endpoint", r.Endpoint)
	prop("seed", strconv.FormatInt(r.Seed, 10))
	prop("status", string(r.Status))
	prop("exit_code", strconv.Itoa(r.ExitCode))
	prop("invalid", r.Invalid)
	prop("aborted", r.Aborted)
	prop("history", r.History)

	for _, e := range r.Expectations {
		c := junitCase{
			Name:      e.ID,
			Classname: class,
			Time:      junitTime(0),
			SystemOut: junitBody(e),
		}
		if e.Description != "" {
			c.Name += ": " + oneLine(e.Description)
		}
		msg := oneLine(e.Detail)
		switch e.Status {
		case result.Pass:
		case result.Fail:
			s.Failures++
			c.Failure = &junitMessage{Message: orWord(msg, "failed"), Type: e.Kind, Text: junitBody(e)}
			c.SystemOut = ""
		case result.NotApplicable:
			s.Skipped++
			c.Skipped = &junitMessage{Message: "not applicable: " + orWord(msg, "the target lacks what it needs")}
		default: // Unknown, or a status this version does not know
			s.Errors++
			c.Error = &junitMessage{Message: orWord(msg, "could not be decided"), Type: string(e.Status), Text: junitBody(e)}
			c.SystemOut = ""
		}
		s.Cases = append(s.Cases, c)
	}

	run := junitCase{Name: "run", Classname: class, Time: junitTime(r.Duration)}
	if r.Invalid != "" {
		s.Errors++
		run.Error = &junitMessage{Message: "invalid: " + oneLine(r.Invalid), Type: "invalid", Text: r.Invalid}
	}
	if r.Aborted != "" {
		run.SystemOut = "aborted: " + r.Aborted
	}
	s.Cases = append(s.Cases, run)
	s.Tests = len(s.Cases)
	return s
}

// junitBody is the long form of an expectation's verdict, shown by CI
// servers under the failure.
func junitBody(e result.Expectation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s (%s)\n", statusWord(e.Status), e.ID, e.Kind)
	if e.Description != "" {
		fmt.Fprintf(&b, "expected: %s\n", e.Description)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, "observed: %s\n", e.Detail)
	}
	if e.Window != nil {
		fmt.Fprintf(&b, "window: %s\n", window(e.Window, "-"))
	}
	return b.String()
}

// junitTime is seconds with millisecond precision, the form JUnit readers
// parse.
func junitTime(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }

func orWord(s, word string) string {
	if s == "" {
		return word
	}
	return s
}
