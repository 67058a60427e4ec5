package reports_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keystorm/keystorm/reports"
)

func TestParseFormats(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, list string
		want       []string
		wantErr    []string // in the error
	}{
		{"One format", "junit", []string{"junit"}, nil},
		{"In Write's order whatever the list's", "text,junit,json", []string{"json", "junit", "text"}, nil},
		{"Each once", "html, html ,html", []string{"html"}, nil},
		{"Every format", "json,html,junit,markdown,prometheus,vegeta,text", reports.Formats(), nil},
		{"An unknown name - named, with the valid ones", "json,pdf", nil, []string{`"pdf"`, "json, html, junit, markdown, prometheus, vegeta, text"}},
		{"A file name is not a format name", "junit.xml", nil, []string{`"junit.xml"`}},
		{"Names are lower case", "JSON", nil, []string{`"JSON"`}},
		{"An empty name", "json,,html", nil, []string{"empty format name"}},
		{"Nothing at all", "", nil, []string{"empty format name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := reports.ParseFormats(tc.list)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("ParseFormats(%q) = %v, want an error", tc.list, got)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("ParseFormats(%q) = %v, %v; want %v", tc.list, got, err, tc.want)
			}
		})
	}
}

// TestRenderIsWhatWriteWrites: one format rendered alone (as `keystorm
// report --out -` prints it) is byte for byte the file Write writes.
func TestRenderIsWhatWriteWrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files, err := reports.Write(dir, fixture(t), base)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range reports.Formats() {
		var b bytes.Buffer
		if err := reports.Render(&b, f, fixture(t), base); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		var want []byte
		if f == reports.FormatText {
			var tb bytes.Buffer
			reports.Text(&tb, fixture(t))
			want = tb.Bytes()
		} else {
			if want, err = os.ReadFile(files[f]); err != nil {
				t.Errorf("%s: %v", f, err)
				continue
			}
			if filepath.Base(files[f]) != reports.FormatFile(f) {
				t.Errorf("%s: Write named it %s, FormatFile %s", f, filepath.Base(files[f]), reports.FormatFile(f))
			}
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s: Render differs from Write's file", f)
		}
	}
	if err := reports.Render(&bytes.Buffer{}, "pdf", fixture(t), base); err == nil {
		t.Error("Render of an unknown format: no error")
	}
}

func TestWriteFormatsWritesOnlyThoseAsked(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out")
	paths, err := reports.WriteFormats(dir, fixture(t), base, []string{reports.FormatJUnit, reports.FormatHTML})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"junit": filepath.Join(dir, reports.FileJUnit), "html": filepath.Join(dir, reports.FileHTML)}
	if len(paths) != len(want) || paths["junit"] != want["junit"] || paths["html"] != want["html"] {
		t.Errorf("WriteFormats returned %v, want %v", paths, want)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{reports.FileJUnit, reports.FileHTML}) && !slices.Equal(names, []string{reports.FileHTML, reports.FileJUnit}) {
		t.Errorf("the directory holds %v, want only %s and %s", names, reports.FileHTML, reports.FileJUnit)
	}
}

func TestWriteFormatsNilIsWrite(t *testing.T) {
	t.Parallel()
	r := fixture(t)
	r.History = ""
	paths, err := reports.WriteFormats(t.TempDir(), r, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for f := range paths {
		got = append(got, f)
	}
	slices.Sort(got)
	if want := []string{"html", "json", "junit", "markdown", "prometheus"}; !slices.Equal(got, want) {
		t.Errorf("WriteFormats(nil) without a history wrote %v, want %v", got, want)
	}
}

func TestWriteFormatsRejectsBeforeWriting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		names     []string
		noHistory bool
	}{
		{"An unknown format", []string{"json", "pdf"}, false},
		{"Text is printed, not a file", []string{"json", "text"}, false},
		{"Vegeta without a history", []string{"json", "vegeta"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := fixture(t)
			if tc.noHistory {
				r.History = ""
			}
			dir := filepath.Join(t.TempDir(), "out")
			if _, err := reports.WriteFormats(dir, r, base, tc.names); err == nil {
				t.Error("no error")
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("a rejected call made its directory: %v", err)
			}
		})
	}
}
