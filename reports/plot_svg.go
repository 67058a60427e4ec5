package reports

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"html/template"
	"regexp"
	"strings"

	"gonum.org/v1/plot/vg/vgsvg"
)

// The SVG backend writes a standalone document; inlineSVG makes it an
// element of the page.
//
// Text is safe to hand to html/template as trusted: vgsvg escapes every
// string it draws with html.EscapeString (tested with a hostile fault id),
// and every other byte of the SVG is numbers and constants of gonum's.

// svgFonts is how vgsvg names the one face the charts use, and what the
// page names instead: Liberation Sans when the reader has it (the text was
// measured with it), else a face of the same widths, else any sans-serif,
// never the browser's default serif.
var svgFonts = strings.NewReplacer(
	"font-family:Liberation Sans;", "font-family:Liberation Sans,Arial,Helvetica,sans-serif;",
)

// svgOpenTag is vgsvg's opening <svg> tag; its viewBox is all the page
// keeps of it.
var svgOpenTag = regexp.MustCompile(`<svg [^>]*viewBox="([0-9. ]+)"[^>]*>`)

// inlineSVG renders c as an <svg> element for an HTML page, named title
// for a screen reader (role img, with an aria-label and a <title>). It
// drops what is only for a standalone file: the XML declaration, the
// generator's comment, the width and height in points (the page sizes the
// chart), and the namespaces (an HTML parser puts <svg> in its namespace;
// and they are URLs, which the page must not seem to load).
func inlineSVG(c *vgsvg.Canvas, title string) (template.HTML, error) {
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", fmt.Errorf("render SVG: %w", err)
	}
	doc := b.String()
	start := strings.Index(doc, "<svg ")
	loc := svgOpenTag.FindStringSubmatchIndex(doc)
	if start < 0 || loc == nil || loc[0] != start {
		return "", errors.New("render SVG: no <svg> element with a viewBox")
	}
	name := html.EscapeString(title)
	var out strings.Builder
	out.WriteString(`<svg viewBox="` + doc[loc[2]:loc[3]] + `" role="img" aria-label="` + name + `"><title>` + name + "</title>\n")
	out.WriteString(svgFonts.Replace(strings.TrimSpace(doc[loc[1]:])))
	return template.HTML(out.String()), nil
}
