package translate

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"golang.org/x/arch/x86/x86asm"
)

// Listings: a translated block beside the guest code it came from, both
// disassembled in AT&T syntax, for students (virtsim translate, the TUI's
// translation view).

// KeepHistory makes the instance remember every block it translates from
// now on, flushed and invalidated ones included, for Listing.
func (b *BT) KeepHistory() {
	if b.keep {
		return
	}
	b.keep = true
	live := append([]*block(nil), b.blocks...)
	sort.Slice(live, func(i, j int) bool { return live[i].seq < live[j].seq })
	for _, blk := range live {
		blk.code = make([]byte, blk.tcEnd-blk.tc)
		if err := b.OwnRead(blk.tc, blk.code); err != nil {
			blk.code = nil
		}
		b.history = append(b.history, blk)
	}
}

// Translation implements the terminal UI's translation view: the block
// containing pc — a TC address, or a guest address some live block covers
// — as guest code and as translated code, one instruction per line, the
// two aligned line by line (each guest instruction beside the first
// instruction made of it; empty guest lines beside the rest).
func (b *BT) Translation(pc uint32) (guestBlock, tcCode string, ok bool) {
	blk := b.blockAt(pc)
	if blk == nil {
		return "", "", false
	}
	rows := b.rows(blk)
	var g, c strings.Builder
	for _, r := range rows {
		// line i of guestBlock stands beside line i of tcCode: a guest
		// instruction translated into several is followed by empty lines
		if r.guest != "" || len(r.tc) > 0 {
			g.WriteString(r.guest + "\n")
			for i := 1; i < len(r.tc); i++ {
				g.WriteString("\n")
			}
		}
		for _, t := range r.tc {
			c.WriteString(t + "\n")
		}
	}
	return g.String(), c.String(), true
}

// blockAt finds the live block whose TC or guest code contains pc.
func (b *BT) blockAt(pc uint32) *block {
	if b.inCode(pc) {
		if blk, _ := b.locate(pc); blk != nil {
			return blk
		}
		if p, ok := b.points[pc]; ok && p.blk != nil {
			return p.blk
		}
		return nil
	}
	if blk := b.live(pc); blk != nil {
		return blk
	}
	var best *block
	for _, blk := range b.blocks {
		if !blk.dead && pc >= blk.guest && pc < blk.guestEnd && (best == nil || blk.seq > best.seq) {
			best = blk
		}
	}
	return best
}

// Listing writes every block translated since KeepHistory, in order.
func (b *BT) Listing(w io.Writer) error {
	for _, blk := range b.history {
		if _, err := io.WriteString(w, b.FormatBlock(blk)); err != nil {
			return err
		}
	}
	return nil
}

// row is one guest instruction and the TC instructions made of it.
type row struct {
	guest string
	tc    []string
}

const guestWidth = 58

// FormatBlock renders a block side by side: guest | translation.
func (b *BT) FormatBlock(blk *block) string {
	var sb strings.Builder
	state := ""
	switch {
	case blk.gen != b.gen:
		state = " (flushed)"
	case blk.dead:
		state = " (invalidated)"
	}
	kind := "block"
	if blk.shadow {
		kind = "shadow block"
	}
	fmt.Fprintf(&sb, "%s %d: guest %#08x-%#08x %s, %d instructions -> TC %#08x-%#08x, %d bytes%s\n",
		kind, blk.seq, blk.guest, blk.guestEnd, b.guestSym(blk.guest), len(blk.units), blk.tc, blk.tcEnd, blk.tcEnd-blk.tc, state)
	for _, r := range b.rows(blk) {
		for i, t := range r.tc {
			left := ""
			if i == 0 {
				left = r.guest
			}
			fmt.Fprintf(&sb, "  %-*s | %s\n", guestWidth, left, t)
		}
		if len(r.tc) == 0 {
			fmt.Fprintf(&sb, "  %-*s |\n", guestWidth, r.guest)
		}
	}
	sb.WriteString("\n")
	return sb.String()
}

// rows decodes a block's units and their translations.
func (b *BT) rows(blk *block) []row {
	code := blk.code
	if code == nil || (blk.gen == b.gen && !blk.dead) {
		code = make([]byte, blk.tcEnd-blk.tc)
		if err := b.OwnRead(blk.tc, code); err != nil {
			return nil
		}
	}
	at := func(a uint32) []byte {
		if a < blk.tc || a >= blk.tc+uint32(len(code)) {
			return nil
		}
		return code[a-blk.tc:]
	}
	var rows []row
	for i, u := range blk.units {
		mark, note := " ", ""
		if u.class.Kind != Ident {
			mark = "*"
			note = u.class.Kind.String()
			if u.class.Cause != "" {
				note += " " + u.class.Cause
			}
			if u.fallback != "" {
				note += " (fallback)"
			}
		}
		g := fmt.Sprintf("%s %08x  %-26s %s", mark, u.guest, b.guestText(u), note)
		end := u.tcEnd
		if i == len(blk.units)-1 {
			end = blk.tcEnd // the block's final exit
		}
		rows = append(rows, row{guest: strings.TrimRight(g, " "), tc: b.disasmTC(u.tc, end, at)})
	}
	return rows
}

func (b *BT) guestText(u unit) string {
	raw := b.fetch(u.guest)
	if name, n, ok := undecoded(raw); ok && n == u.len {
		return name
	}
	if inst, err := x86asm.Decode(raw, 32); err == nil && inst.Len == u.len {
		return x86asm.GNUSyntax(inst, uint64(u.guest), b.guestSymLookup)
	}
	// The code has changed since: the instruction as it was translated.
	if name, _, ok := undecoded(u.raw[:u.nraw]); ok {
		return name
	}
	inst, err := x86asm.Decode(u.raw[:u.nraw], 32)
	if u.class.Kind == Undecodable || err != nil {
		if u.nraw == 0 {
			return "(bad)"
		}
		return fmt.Sprintf("(bad) %#02x", u.raw[0])
	}
	return x86asm.GNUSyntax(inst, uint64(u.guest), nil)
}

// disasmTC disassembles [lo, hi) of the TC.
func (b *BT) disasmTC(lo, hi uint32, at func(uint32) []byte) []string {
	var out []string
	for pc := lo; pc < hi; {
		raw := at(pc)
		if raw == nil {
			break
		}
		if n := hi - pc; uint32(len(raw)) > n {
			raw = raw[:n]
		}
		if name, n, ok := undecoded(raw); ok { // a guest instruction copied as it is
			out = append(out, fmt.Sprintf("%08x  %s", pc, name))
			pc += uint32(n)
			continue
		}
		inst, err := x86asm.Decode(raw, 32)
		if err != nil || inst.Len == 0 {
			out = append(out, fmt.Sprintf("%08x  .byte %#02x", pc, raw[0]))
			pc++
			continue
		}
		out = append(out, fmt.Sprintf("%08x  %s", pc, x86asm.GNUSyntax(inst, uint64(pc), b.tcSymLookup)))
		pc += uint32(inst.Len)
	}
	return out
}

func (b *BT) guestSym(a uint32) string {
	if name, off, ok := b.Img.SymbolAt(a); ok {
		if off == 0 {
			return "<" + name + ">"
		}
		return fmt.Sprintf("<%s+%d>", name, off)
	}
	return ""
}

func (b *BT) guestSymLookup(a uint64) (string, uint64) {
	if name, off, ok := b.Img.SymbolAt(uint32(a)); ok {
		return name, a - uint64(off)
	}
	return "", 0
}

// vcpuNames name the VMM's data in TC listings.
var vcpuNames = []struct {
	addr uint32
	name string
}{
	{vrwIF, "vcpu.IF"}, {vrwIOPL, "vcpu.IOPL"}, {vrwSaveEAX, "vcpu.save_eax"}, {vrwSaveECX, "vcpu.save_ecx"},
	{vrwSaveEDX, "vcpu.save_edx"}, {vrwSaveEBX, "vcpu.save_ebx"},
	{vroGDTR, "vcpu.GDTR"}, {vroIDTR, "vcpu.IDTR"}, {vroCR0, "vcpu.CR0"}, {vroTR, "vcpu.TR"}, {vroLDTR, "vcpu.LDTR"},
	{popfTab, "popf_flags"}, {pushfTab, "pushf_flags"}, {rpl3Tab, "rpl3"},
	{selViewAddr, "selector_view"}, {retTabAddr, "lookup_miss"}, {l1TabAddr, "lookup_l1"}, {l2Base, "lookup_l2"},
}

func (b *BT) tcSymLookup(a64 uint64) (string, uint64) {
	a := uint32(a64)
	switch {
	case a >= stubBase && a < stubBase+stubAreaSize:
		i := a - stubBase
		if int(i) < len(b.stubs) {
			s := b.stubs[i]
			if s.kind == stubRetMiss || s.kind == stubRetResume {
				return "callout." + s.kind.String(), a64
			}
			return fmt.Sprintf("callout.%s.%x", s.kind, s.guest), a64
		}
		return "callout", a64
	case a >= slotsAddr && a < slotsAddr+slotsSize:
		return fmt.Sprintf("slot%d", (a-slotsAddr)/4), a64
	case a >= tcBase && a < b.tcEnd:
		if blk := b.blockStarting(a); blk != nil {
			return fmt.Sprintf("tc.%x", blk.guest), a64
		}
		return "", 0
	}
	i := sort.Search(len(vcpuNames), func(i int) bool { return vcpuNames[i].addr > a }) - 1
	if i >= 0 && a-vcpuNames[i].addr < 0x20000 {
		return vcpuNames[i].name, uint64(vcpuNames[i].addr)
	}
	return "", 0
}

func (b *BT) blockStarting(a uint32) *block {
	for _, blk := range b.blocks {
		if blk.tc == a {
			return blk
		}
		if blk.prologue == a {
			return blk
		}
	}
	return nil
}

func init() {
	sort.Slice(vcpuNames, func(i, j int) bool { return vcpuNames[i].addr < vcpuNames[j].addr })
}
