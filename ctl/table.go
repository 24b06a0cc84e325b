package ctl

import (
	"io"
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// renderTable draws hdr and rows in the box style of etcdctl's tables
// (olekukonko/tablewriter 1.x defaults as etcdctl configures them): light
// box-drawing borders, headers upper-cased with '_' as a space and centred,
// cells right-aligned, one space of padding each side.
func renderTable(w io.Writer, hdr []string, rows [][]string) {
	titles := make([]string, len(hdr))
	widths := make([]int, len(hdr))
	for i, h := range hdr {
		titles[i] = tableTitle(h)
		widths[i] = displayWidth(titles[i])
	}
	for _, row := range rows {
		for i := range hdr {
			if i < len(row) {
				widths[i] = max(widths[i], displayWidth(row[i]))
			}
		}
	}
	var sb strings.Builder
	border := func(left, mid, right string) {
		sb.WriteString(left)
		for i, wd := range widths {
			if i > 0 {
				sb.WriteString(mid)
			}
			sb.WriteString(strings.Repeat("─", wd+2))
		}
		sb.WriteString(right)
		sb.WriteByte('\n')
	}
	line := func(cells []string, align func(s string, wd int) string) {
		sb.WriteString("│")
		for i, wd := range widths {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			sb.WriteString(" ")
			sb.WriteString(align(c, wd))
			sb.WriteString(" │")
		}
		sb.WriteByte('\n')
	}
	border("┌", "┬", "┐")
	line(titles, func(s string, wd int) string {
		// Centred over the padded cell; an odd gap leaves more on the right.
		gap := wd + 2 - displayWidth(s)
		left := gap / 2
		return strings.Repeat(" ", left-1) + s + strings.Repeat(" ", gap-left-1)
	})
	if len(rows) > 0 {
		border("├", "┼", "┤")
		for _, row := range rows {
			line(row, func(s string, wd int) string {
				return strings.Repeat(" ", wd-displayWidth(s)) + s
			})
		}
	}
	border("└", "┴", "┘")
	io.WriteString(w, sb.String())
}

// tableTitle formats a header as the table library does: '_' (and '.'
// not between digits or spaces) become spaces, then upper case.
func tableTitle(h string) string {
	rs := []rune(h)
	isNumOrSpace := func(r rune) bool { return unicode.IsDigit(r) || r == ' ' }
	for i, r := range rs {
		switch r {
		case '_':
			rs[i] = ' '
		case '.':
			if (i != 0 && !isNumOrSpace(rs[i-1])) || (i != len(rs)-1 && !isNumOrSpace(rs[i+1])) {
				rs[i] = ' '
			}
		}
	}
	t := strings.TrimSpace(string(rs))
	if t == "" && h != "" {
		t = " "
	}
	return strings.ToUpper(t)
}

// displayWidth counts terminal columns: wide East Asian characters take two.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			if unicode.Is(unicode.Mn, r) {
				continue
			}
			n++
		}
	}
	return n
}

// RenderTable draws hdr and rows as etcdctl's tables look; basaltutl
// draws etcdutl's (same library, same configuration) with it.
func RenderTable(w io.Writer, hdr []string, rows [][]string) { renderTable(w, hdr, rows) }
