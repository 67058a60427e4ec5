package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/reports"
)

// resultFile writes reports/testdata/result.json, changed by edit, into
// dir as name, and returns its path.
func resultFile(t *testing.T, dir, name string, edit func(*result.Result)) string {
	t.Helper()
	r, err := result.Read("../../reports/testdata/result.json")
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(r)
	}
	var b bytes.Buffer
	if err := reports.JSON(&b, r); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCompareExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old := resultFile(t, dir, "old.json", nil)
	same := resultFile(t, dir, "same.json", nil)
	// The fixture's achieved rate is 100/s, its p99 612 ms, 1495 of 5998
	// requests failed.
	slower := resultFile(t, dir, "slower.json", func(r *result.Result) { r.Load.AchievedRate = 85 })
	laggier := resultFile(t, dir, "laggier.json", func(r *result.Result) { r.Load.Latency.P99 = 1224 })
	failing := resultFile(t, dir, "failing.json", func(r *result.Result) {
		r.Load.ByOutcome["http-500"] = 6
		r.Load.ByOutcome["ok"] -= 6
	})
	regressed := resultFile(t, dir, "regressed.json", func(r *result.Result) { r.Expectations[0].Status = result.Fail })
	renamed := resultFile(t, dir, "renamed.json", func(r *result.Result) { r.Scenario = "flagship-v2" })

	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string // in stdout
	}{
		{"Same run - exit 0", []string{old, same}, exitOK,
			[]string{"keystorm compare: flagship", "expectations: 7 unchanged, 0 regressed, 0 fixed", "verdict: within tolerances"}},
		{"Throughput down 15% - exit 1", []string{old, slower}, exitFailed,
			[]string{"-15.0%     -10%   BREACHED", "verdict: BREACHED", "throughput dropped 15.0% (> 10%): 100.0/s -> 85.0/s"}},
		{"Throughput down 15% within 20% - exit 0", []string{"--max-throughput-drop", "20%", old, slower}, exitOK,
			[]string{"-20%", "verdict: within tolerances"}},
		{"Tolerance as a fraction", []string{"--max-throughput-drop", "0.2", old, slower}, exitOK,
			[]string{"verdict: within tolerances"}},
		{"Tighter tolerance after the files", []string{old, slower, "--max-throughput-drop=5%"}, exitFailed,
			[]string{"throughput dropped 15.0% (> 5%)"}},
		{"p99 doubled - exit 1", []string{old, laggier}, exitFailed,
			[]string{"p99 rose 100.0% (> 25%): 612 ms -> 1224 ms"}},
		{"p99 doubled with the check off - exit 0", []string{"--max-p99-rise", "off", old, laggier}, exitOK,
			[]string{"+100.0%    off", "verdict: within tolerances"}},
		{"A 0.1-point error rise within the default - exit 0", []string{old, failing}, exitOK,
			[]string{"http-500                   0      6      +6", "verdict: within tolerances"}},
		{"A 0.1-point error rise with none allowed - exit 1", []string{"--max-error-rate-rise", "0", old, failing}, exitFailed,
			[]string{"error rate rose 0.10 pp (> 0.00 pp): 24.92% -> 25.03%"}},
		{"An expectation regressed - exit 1", []string{old, regressed}, exitFailed,
			[]string{"REGRESSED   primary-disconnects   PASS -> FAIL", "expectation primary-disconnects regressed: PASS -> FAIL"}},
		{"Scenario renamed - a warning, exit 0", []string{old, renamed}, exitOK,
			[]string{`warning: different scenarios: old "flagship", new "flagship-v2"`, "verdict: within tolerances"}},
		{"Markdown - the table for a comment", []string{"--markdown", old, slower}, exitFailed,
			[]string{"### keystorm compare `flagship`: BREACHED", "| throughput | 100.0/s | 85.0/s | **-15.0%** (breached) | -10% |"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := keystorm(t, append([]string{"compare"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			if stderr != "" {
				t.Errorf("stderr not empty:\n%s", stderr)
			}
		})
	}
}

func TestCompareBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := resultFile(t, dir, "good.json", nil)
	otherSchema := resultFile(t, dir, "other-schema.json", func(r *result.Result) { r.Schema = "keystorm.capacity/v1" })
	notJSON := filepath.Join(dir, "not-json.json")
	if err := os.WriteFile(notJSON, []byte("p99: 3 ms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.json")

	for _, tc := range []struct {
		name string
		args []string
		want []string // in stderr
	}{
		{"A missing file - named", []string{good, missing}, []string{"NEW: ", missing, "no such file"}},
		{"Another schema - named", []string{otherSchema, good}, []string{"OLD: ", otherSchema, `schema "keystorm.capacity/v1", want "keystorm.result/v1"`}},
		{"Not JSON - named", []string{good, notJSON}, []string{notJSON}},
		{"Both bad - both named", []string{missing, notJSON}, []string{"OLD: ", missing, "NEW: ", notJSON}},
		{"One file", []string{good}, []string{"want OLD.json and NEW.json, got 1 file(s)"}},
		{"Three files", []string{good, good, good}, []string{"got 3 file(s)"}},
		{"A word for a tolerance - the flag named", []string{"--max-p99-rise", "lots", good, good},
			[]string{`invalid value "lots" for flag -max-p99-rise`}},
		{"Ten for ten percent - the flag named", []string{"--max-throughput-drop", "10", good, good},
			[]string{`invalid value "10" for flag -max-throughput-drop`, "a fraction is at most 1"}},
		{"An error rate over 100% - the flag named", []string{good, good, "--max-error-rate-rise", "150%"},
			[]string{`invalid value "150%" for flag -max-error-rate-rise`}},
		{"An unknown flag", []string{"--max-p50-rise", "10%", good, good}, []string{"flag provided but not defined: -max-p50-rise"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := keystorm(t, append([]string{"compare"}, tc.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want 2; stderr:\n%s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if stdout != "" {
				t.Errorf("stdout not empty:\n%s", stdout)
			}
		})
	}
}

func TestCompareHelp(t *testing.T) {
	t.Parallel()
	code, _, stderr := keystorm(t, "compare", "-h")
	if code != exitOK {
		t.Errorf("compare -h: exit %d, want 0", code)
	}
	for _, w := range []string{"Usage: keystorm compare [flags] OLD.json NEW.json", "-max-throughput-drop FRACTION", "(default 10%)", "(default 25%)", "(default 1%)", "-markdown"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("compare -h lacks %q:\n%s", w, stderr)
		}
	}
	_, _, stderr = keystorm(t, "help")
	if !strings.Contains(stderr, "compare       compare two runs' result.json") {
		t.Errorf("help does not list compare:\n%s", stderr)
	}
}
