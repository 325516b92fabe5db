package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// Minimum terminal size the main view lays out in; smaller terminals get a
// message instead of a garbled screen.
const (
	minWidth  = 60
	minHeight = 16
)

// mainLayout is the geometry of the main view: a status bar, code beside
// the CPU, the event log across the full width, counts beside the serial
// output, and the help bar. Heights are content rows, without the pane
// title rows.
type mainLayout struct {
	W, H                   int
	TopH, EventsH, BottomH int
	CodeW, CPUW            int
	CountsW, SerialW       int
}

func layoutFor(w, h int) mainLayout {
	l := mainLayout{W: w, H: h}
	content := h - 2 - 3 // status and help bars, three title rows
	l.BottomH = max(3, content/5)
	l.TopH = max(8, min(20, (content*9+10)/20))
	l.EventsH = content - l.TopH - l.BottomH
	if l.EventsH < 4 {
		l.TopH -= 4 - l.EventsH
		l.EventsH = 4
	}
	// code takes what the CPU table leaves (the CPU pane needs ~38 columns
	// with the general registers beside it, 26 without)
	l.CPUW = 39
	if w >= 120 {
		l.CPUW = 46
	}
	if w < 76 {
		l.CPUW = 27
	}
	l.CodeW = w - l.CPUW - 1
	l.CountsW = max(min(w/2, 72), 48)
	l.SerialW = w - l.CountsW - 1
	return l
}

// fit truncates s (which may hold ANSI styles) to width w and pads it with
// spaces to exactly w columns.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if lipgloss.Width(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	if pad := w - lipgloss.Width(s); pad > 0 {
		s += strings.Repeat(" ", pad)
	}
	return s
}

// box makes exactly h lines of exactly w columns.
func box(lines []string, w, h int) []string {
	out := make([]string, h)
	for i := range out {
		if i < len(lines) {
			out[i] = fit(lines[i], w)
		} else {
			out[i] = strings.Repeat(" ", max(w, 0))
		}
	}
	return out
}

// beside joins equal-height blocks left to right with a one-column gap.
func beside(blocks ...[]string) []string {
	h := 0
	for _, b := range blocks {
		h = max(h, len(b))
	}
	out := make([]string, h)
	for i := range out {
		var sb strings.Builder
		for j, b := range blocks {
			if j > 0 {
				sb.WriteString(stRule.Render("│"))
			}
			if i < len(b) {
				sb.WriteString(b[i])
			}
		}
		out[i] = sb.String()
	}
	return out
}

// title renders a pane's title row: the name, details, then a rule.
func title(name, detail string, w int) string {
	s := stTitle.Render(name)
	if detail != "" {
		s += " " + stDim.Render(detail)
	}
	s = fit(s, w)
	used := lipgloss.Width(strings.TrimRight(ansi.Strip(s), " "))
	if used+2 <= w {
		s = ansi.Truncate(s, used, "") + " " + stRule.Render(strings.Repeat("─", w-used-1))
	}
	return s
}

// wrap breaks plain text into lines of at most w columns at spaces.
func wrap(s string, w int) []string {
	if w <= 0 {
		return nil
	}
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			switch {
			case line == "":
				line = word
			case lipgloss.Width(line)+1+lipgloss.Width(word) <= w:
				line += " " + word
			default:
				lines = append(lines, line)
				line = word
			}
		}
		lines = append(lines, line)
	}
	return lines
}

// scrolled shows h lines of text from *off (clamped), the last line saying
// how much more there is and how to scroll when it does not all fit.
func scrolled(text []string, off *int, h int) []string {
	if h <= 0 {
		return nil
	}
	*off = max(0, min(*off, len(text)-h+1))
	if len(text) <= h {
		*off = 0
		return text
	}
	out := text[*off:]
	if len(out) > h {
		out = append(append([]string(nil), out[:h-1]...), stDim.Render(fmt.Sprintf("↓ %d more lines: j/↓ or space scrolls, k/↑ back", len(out)-h+1)))
	}
	return out
}

// hanging lays out a definition: head (kept as it is, padded to indent
// columns) then text wrapped under itself at column indent. A head wider
// than indent puts the text on the next lines.
func hanging(head, text string, w, indent int) []string {
	if w-indent < 20 {
		return wrap(strings.TrimSpace(head)+" "+text, w)
	}
	lines := wrap(text, w-indent)
	pad := strings.Repeat(" ", indent)
	var out []string
	first := head + strings.Repeat(" ", max(0, indent-lipgloss.Width(head)))
	if lipgloss.Width(head) > indent-1 {
		out, first = append(out, head), pad
	}
	for i, l := range lines {
		if i == 0 {
			out = append(out, first+l)
		} else {
			out = append(out, pad+l)
		}
	}
	return out
}

// indented wraps plain text to w columns, continuation lines indented.
func indented(s string, w, indent int) []string {
	lines := wrap(s, w)
	if len(lines) <= 1 || w-indent < 20 {
		return lines
	}
	rest := strings.Join(strings.Fields(strings.TrimPrefix(strings.Join(strings.Fields(s), " "), lines[0])), " ")
	out := []string{lines[0]}
	for _, l := range wrap(rest, w-indent) {
		out = append(out, strings.Repeat(" ", indent)+l)
	}
	return out
}
