package reports

import (
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/keystorm/keystorm/harness/result"
)

// Markdown writes a short summary of r for a pull-request comment: the
// verdict line, a table of expectations, the load in one line and the
// timeline. Status is in words, not emoji or colour, so that it reads the
// same in a notification e-mail and to a screen reader.
//
// Every text from the result is escaped: a description is scenario input
// and must not turn into a link, an HTML tag or a broken table.
func Markdown(w io.Writer, r *result.Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### keystorm %s: %s (exit %d)\n\n", mdCode(r.Scenario), verdict(r), r.ExitCode)
	if r.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", mdText(r.Description))
	}
	fmt.Fprintf(&b, "Stack %s, seed %d, %s", mdText(r.Stack), r.Seed, secs(r.Duration))
	counts := r.Counts()
	for _, s := range []result.Status{result.Pass, result.Fail, result.Unknown, result.NotApplicable} {
		if counts[s] > 0 {
			fmt.Fprintf(&b, ", %d %s", counts[s], statusWord(s))
		}
	}
	b.WriteString(".\n")
	if r.Invalid != "" {
		fmt.Fprintf(&b, "\n**Invalid:** %s\n", mdText(r.Invalid))
	}
	if r.Aborted != "" {
		fmt.Fprintf(&b, "\n**Aborted:** %s\n", mdText(r.Aborted))
	}

	if len(r.Expectations) > 0 {
		b.WriteString("\n| Status | Expectation | Kind | Observed | Window |\n|---|---|---|---|---|\n")
		for _, e := range r.Expectations {
			what := mdCode(e.ID)
			if e.Description != "" {
				what += ": " + mdText(e.Description)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n",
				statusWord(e.Status), what, mdText(e.Kind), mdText(e.Detail), mdText(window(e.Window, "–")))
		}
	}

	fmt.Fprintf(&b, "\n**Load:** %s\n", mdText(loadLine(&r.Load)))
	if len(r.Timeline) > 0 {
		b.WriteString("\n**Timeline:**\n")
		for _, in := range r.Timeline {
			fmt.Fprintf(&b, "- %s %s %s (%s)", span(in.Start, in.End, "–"), mdText(in.Kind), mdCode(in.ID), mdText(in.Action))
			if in.Detail != "" {
				fmt.Fprintf(&b, ": %s", mdText(in.Detail))
			}
			if o := injectionOutcome(in); o != "ok" {
				fmt.Fprintf(&b, ", **%s**", mdText(o))
			}
			b.WriteString("\n")
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("reports: Markdown: %w", err)
	}
	return nil
}

// loadLine is the load in one line: what was sent of what was planned, the
// rate achieved against the target, latency percentiles, failures by
// outcome and the load generator's own lateness. The text and Markdown
// summaries share it so that they never disagree.
func loadLine(l *result.Load) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d planned sent", l.Sent, l.Planned)
	if l.Shape != "" {
		fmt.Fprintf(&b, " (%s)", l.Shape)
	}
	fmt.Fprintf(&b, ", %s achieved of %s target", rate(l.AchievedRate), rate(l.TargetRate))
	fmt.Fprintf(&b, "; %d ok", l.OK)
	for _, c := range failures(l.ByOutcome) {
		fmt.Fprintf(&b, ", %d %s", c.Count, c.Name)
	}
	fmt.Fprintf(&b, "; latency p50 %s, p99 %s, max %s", ms(l.Latency.P50), ms(l.Latency.P99), ms(l.Latency.Max))
	fmt.Fprintf(&b, "; %d late", l.Late)
	if l.Late > 0 {
		fmt.Fprintf(&b, " (max %s)", ms(l.MaxLateMS))
	}
	return b.String()
}

// mdText escapes s for Markdown text, table cells included: line breaks
// become spaces and every punctuation mark that could start a format, a
// link, an HTML tag, an entity or a cell is backslash-escaped (CommonMark
// allows escaping any ASCII punctuation). An underscore inside a word
// (INSUFFICIENT_CLOUDHSM_HSMS) cannot emphasise and is left alone, so that
// codes stay searchable in the comment's source.
func mdText(s string) string {
	rs := []rune(oneLine(s))
	var b strings.Builder
	for i, c := range rs {
		switch {
		case c == '_' && i > 0 && i+1 < len(rs) && wordRune(rs[i-1]) && wordRune(rs[i+1]):
		case strings.ContainsRune("\\`*_[]<>|~&#", c):
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func wordRune(c rune) bool { return unicode.IsLetter(c) || unicode.IsDigit(c) }

// mdCode sets an identifier in a code span, where nothing but a backtick
// or a pipe (which ends a table cell even there) needs care; such ids fall
// back to escaped text.
func mdCode(s string) string {
	if s == "" || strings.ContainsAny(s, "`|\n\r") {
		return mdText(s)
	}
	return "`" + s + "`"
}
