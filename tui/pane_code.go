package tui

import (
	"fmt"

	"virtsim/guest"
)

// codePane is the disassembly around the guest's PC.
type codePane struct {
	img    *guest.Image
	pc     uint32
	lines  []codeLine
	cur    int
	valid  bool // a snapshot has arrived
	hasCPU bool // and the strategy exposes the CPU
}

func (p *codePane) set(img *guest.Image, s Snapshot) {
	p.img, p.pc, p.valid, p.hasCPU = img, s.PC, true, s.HasCPU
	p.lines, p.cur = disassemble(s.CodeBase, s.Code, s.PC, img)
}

// where names the PC for the title: "irq_toggle_loop+0x1".
func (p *codePane) where() string {
	if !p.hasCPU {
		return ""
	}
	return symbolize(p.img, p.pc)
}

func (p *codePane) view(w, h int) []string {
	if !p.valid {
		return box(nil, w, h)
	}
	if !p.hasCPU {
		return box([]string{stDim.Render("no code to show: this strategy does not expose its CPU")}, w, h)
	}
	if p.cur < 0 {
		return box([]string{stDim.Render(fmt.Sprintf("no guest memory at %#08x", p.pc))}, w, h)
	}
	showBytes := w >= 64
	// display rows: a label row before each symbol, then the instruction
	type row struct {
		text string
		line int // index into p.lines, or -1 for a label
	}
	var rows []row
	curRow := 0
	for i, l := range p.lines {
		if l.Label != "" {
			rows = append(rows, row{stLabel.Render(l.Label + ":"), -1})
		}
		if i == p.cur {
			curRow = len(rows)
		}
		rows = append(rows, row{p.render(l, i == p.cur, showBytes, w), i})
	}
	// keep the current line a third of the way down
	start := max(0, curRow-h/3)
	if start+h > len(rows) {
		start = max(0, len(rows)-h)
	}
	var out []string
	for _, r := range rows[start:min(len(rows), start+h)] {
		out = append(out, r.text)
	}
	return box(out, w, h)
}

func (p *codePane) render(l codeLine, cur, showBytes bool, w int) string {
	mark := "  "
	if cur {
		mark = "▶ "
	}
	s := fmt.Sprintf("%s%08x  ", mark, l.Addr)
	if showBytes {
		s += fmt.Sprintf("%-21s", hexBytes(l.Bytes[:min(len(l.Bytes), 7)]))
	}
	text := l.Text
	if l.Bad {
		text = "(bad) " + text
	}
	tag := l.Cause
	room := w - len([]rune(s)) - 1
	if tag != "" && len(text)+2+len(tag) <= room {
		text = fmt.Sprintf("%-*s%s", room-len(tag), text, tag)
		if cur {
			return stCurrent.Render(fit(s+text, w))
		}
		return s + text[:room-len(tag)] + causeStyle(tag).Render(tag)
	}
	if cur {
		return stCurrent.Render(fit(s+text, w))
	}
	return s + text
}
