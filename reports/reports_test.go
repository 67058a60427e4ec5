package reports_test

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keystorm/keystorm/harness/result"
	"github.com/keystorm/keystorm/reports"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// base is the wall time the fixture history's offsets count from: the
// fixture result's Started.
var base = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const historyFixture = "testdata/history.jsonl"

// fixture loads testdata/result.json afresh, so that a test may change its
// copy: a flagship-like run with two stores, an HSM deletion at 20 s and
// its recovery from 35 s, a failed latency expectation, an undecided one
// and a not-applicable one.
func fixture(t *testing.T) *result.Result {
	t.Helper()
	r, err := result.Read("testdata/result.json")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// golden compares got with testdata/golden/name byte for byte, or
// rewrites the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("update %s: %v", path, err)
		}
		t.Logf("updated %s", path)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended); got:\n%s", path, got)
	}
}

func TestGolden(t *testing.T) {
	t.Parallel()
	formats := []struct {
		name  string
		write func(io.Writer, *result.Result) error
	}{
		{reports.FileJSON, reports.JSON},
		{reports.FileHTML, reports.HTML},
		{reports.FileJUnit, reports.JUnit},
		{reports.FileMD, reports.Markdown},
		{reports.FileProm, reports.Prometheus},
		{"summary.txt", reports.Text},
		{reports.FileVegeta, func(w io.Writer, r *result.Result) error { return reports.Vegeta(w, r.History, base) }},
	}
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := f.write(&b, fixture(t)); err != nil {
				t.Fatal(err)
			}
			golden(t, f.name, b.Bytes())
			// Twice from the same input gives the same bytes: nothing
			// depends on map order or the clock.
			var again bytes.Buffer
			if err := f.write(&again, fixture(t)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), again.Bytes()) {
				t.Error("two writes of the same result differ")
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	r := fixture(t)
	var b bytes.Buffer
	if err := reports.JSON(&b, r); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "result.json")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := result.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := reports.JSON(&again, back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), again.Bytes()) {
		t.Errorf("JSON does not survive a round trip:\n%s\nthen\n%s", b.Bytes(), again.Bytes())
	}
}

func TestJSONEmptyListsAreArrays(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := reports.JSON(&b, &result.Result{Scenario: "empty"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"schema": "keystorm.result/v1"`, `"expectations": []`, `"timeline": []`, `"transitions": []`, `"series": []`, `"by_outcome": {}`} {
		if !bytes.Contains(b.Bytes(), []byte(want)) {
			t.Errorf("JSON lacks %s:\n%s", want, b.Bytes())
		}
	}
}

func TestWrite(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	paths, err := reports.Write(dir, fixture(t), base)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"json":       reports.FileJSON,
		"html":       reports.FileHTML,
		"junit":      reports.FileJUnit,
		"markdown":   reports.FileMD,
		"prometheus": reports.FileProm,
		"vegeta":     reports.FileVegeta,
	}
	if len(paths) != len(want) {
		t.Errorf("Write returned %v, want %d formats", paths, len(want))
	}
	for format, file := range want {
		if got := paths[format]; got != filepath.Join(dir, file) {
			t.Errorf("path of %s = %q, want %q", format, got, filepath.Join(dir, file))
			continue
		}
		got, err := os.ReadFile(paths[format])
		if err != nil {
			t.Fatal(err)
		}
		gold, err := os.ReadFile(filepath.Join("testdata", "golden", file))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, gold) {
			t.Errorf("%s written by Write differs from its golden file", file)
		}
	}
}

func TestWriteWithoutHistory(t *testing.T) {
	t.Parallel()
	r := fixture(t)
	r.History = ""
	paths, err := reports.Write(t.TempDir(), r, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := paths["vegeta"]; ok {
		t.Error("vegeta results written without a history")
	}
	if len(paths) != 5 {
		t.Errorf("Write returned %v, want 5 formats", paths)
	}
}

func TestWriteKeepsGoingAfterAFailure(t *testing.T) {
	t.Parallel()
	r := fixture(t)
	r.History = filepath.Join(t.TempDir(), "missing.jsonl")
	dir := t.TempDir()
	paths, err := reports.Write(dir, r, base)
	if err == nil {
		t.Fatal("Write with a missing history: no error")
	}
	if _, ok := paths["vegeta"]; ok {
		t.Error("a failed format is in the returned paths")
	}
	if _, err := os.Stat(filepath.Join(dir, reports.FileVegeta)); !os.IsNotExist(err) {
		t.Errorf("a failed format left its file behind: %v", err)
	}
	if len(paths) != 5 {
		t.Errorf("the other formats were not all written: %v", paths)
	}
}
