package reports

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/keystorm/keystorm/harness/result"
)

// Format names: the keys of the maps Write and WriteFormats return, and
// what `keystorm report --format` takes.
const (
	FormatJSON       = "json"
	FormatHTML       = "html"
	FormatJUnit      = "junit"
	FormatMarkdown   = "markdown"
	FormatPrometheus = "prometheus"
	FormatVegeta     = "vegeta"
	FormatText       = "text" // printed, never a file
)

// format is one report: its name, the file it is written to ("" for the
// text summary, which is printed) and its writer.
type format struct {
	name, file string
	render     func(w io.Writer, r *result.Result, base time.Time) error
}

// formats are in the order Write writes them, text last.
var formats = []format{
	{FormatJSON, FileJSON, func(w io.Writer, r *result.Result, _ time.Time) error { return JSON(w, r) }},
	{FormatHTML, FileHTML, func(w io.Writer, r *result.Result, _ time.Time) error { return HTML(w, r) }},
	{FormatJUnit, FileJUnit, func(w io.Writer, r *result.Result, _ time.Time) error { return JUnit(w, r) }},
	{FormatMarkdown, FileMD, func(w io.Writer, r *result.Result, _ time.Time) error { return Markdown(w, r) }},
	{FormatPrometheus, FileProm, func(w io.Writer, r *result.Result, _ time.Time) error { return Prometheus(w, r) }},
	{FormatVegeta, FileVegeta, func(w io.Writer, r *result.Result, base time.Time) error {
		if r.History == "" {
			return errors.New("reports: vegeta: the result names no history")
		}
		return Vegeta(w, r.History, base)
	}},
	{FormatText, "", func(w io.Writer, r *result.Result, _ time.Time) error { return Text(w, r) }},
}

func formatNamed(name string) (format, bool) {
	i := slices.IndexFunc(formats, func(f format) bool { return f.name == name })
	if i < 0 {
		return format{}, false
	}
	return formats[i], true
}

// Formats lists every format's name in Write's order, text last.
func Formats() []string {
	names := make([]string, len(formats))
	for i, f := range formats {
		names[i] = f.name
	}
	return names
}

// FormatFile is the name of the file a format is written to: "" for text
// (printed, never written) and for a name that is not a format.
func FormatFile(name string) string {
	f, _ := formatNamed(name)
	return f.file
}

// ParseFormats reads a comma-separated list of format names, such as
// "junit,html". It returns each format once, in Formats' order whatever the
// list's, so that the files come out the same way however they were asked
// for. An empty or unknown name is an error naming it and the valid ones.
func ParseFormats(list string) ([]string, error) {
	want := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if _, ok := formatNamed(name); !ok {
			if name == "" {
				return nil, fmt.Errorf("an empty format name: want a comma-separated list of %s", strings.Join(Formats(), ", "))
			}
			return nil, fmt.Errorf("unknown format %q: want some of %s", name, strings.Join(Formats(), ", "))
		}
		want[name] = true
	}
	var out []string
	for _, f := range formats {
		if want[f.name] {
			out = append(out, f.name)
		}
	}
	return out, nil
}

// Render writes one format of r to w, as Write would into its file; base
// is the wall time the history's offsets count from (r.Started when zero).
// The vegeta format needs r.History.
func Render(w io.Writer, name string, r *result.Result, base time.Time) error {
	f, ok := formatNamed(name)
	if !ok {
		return fmt.Errorf("reports: unknown format %q", name)
	}
	if base.IsZero() {
		base = r.Started
	}
	return f.render(w, r, base)
}

// WriteFormats is Write for some formats only: it writes the named ones
// (nil: those Write writes) into dir, created if missing, and returns the
// path of each by format. Every name is checked first, so that a bad one
// writes nothing: it must be a format with a file (not text), and vegeta
// needs r.History. As Write, a format that fails does not stop the others;
// the error joins every failure and the map holds only the files written
// whole.
func WriteFormats(dir string, r *result.Result, base time.Time, names []string) (map[string]string, error) {
	if names == nil {
		for _, f := range formats {
			if f.file != "" && (f.name != FormatVegeta || r.History != "") {
				names = append(names, f.name)
			}
		}
	}
	var jobs []format
	for _, name := range names {
		f, ok := formatNamed(name)
		switch {
		case !ok:
			return nil, fmt.Errorf("reports: unknown format %q", name)
		case f.file == "":
			return nil, fmt.Errorf("reports: %s is printed, not written to a file", name)
		case f.name == FormatVegeta && r.History == "":
			return nil, errors.New("reports: vegeta: the result names no history")
		}
		jobs = append(jobs, f)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	if base.IsZero() {
		base = r.Started
	}
	paths := map[string]string{}
	var errs []error
	for _, f := range jobs {
		p := filepath.Join(dir, f.file)
		if err := writeFile(p, func(w io.Writer) error { return f.render(w, r, base) }); err != nil {
			errs = append(errs, fmt.Errorf("reports: %s: %w", f.name, err))
			continue
		}
		paths[f.name] = p
	}
	return paths, errors.Join(errs...)
}
