package tui

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/guest"
	"virtsim/trap"
)

// codeLine is one disassembled instruction.
type codeLine struct {
	Addr  uint32
	Bytes []byte
	Text  string // AT&T syntax, as the guest sources are written
	Label string // the symbol that starts at Addr, if any
	// Cause is the event cause the instruction produces (trap.Classify):
	// "priv/cli", "io/out:0x80", "sens/popf", "int/0x80", "cpuid", or "".
	Cause string
	Bad   bool // undecodable bytes
}

// disassemble decodes code (guest memory from base) so that one
// instruction starts exactly at pc, and returns the lines with the index of
// pc's line (-1 if pc is outside the window). Decoding starts at the
// nearest symbol of the image before pc from which it lands on pc (and
// reaches back through earlier symbols that decode onto that one), else at
// the earliest offset that lands on pc: x86 code resynchronizes within a
// few instructions, so only the first lines of the window can be wrong.
func disassemble(base uint32, code []byte, pc uint32, img *guest.Image) ([]codeLine, int) {
	if pc < base || uint64(pc) >= uint64(base)+uint64(len(code)) {
		return nil, -1
	}
	// symbols in the window, nearest to pc first
	var syms []uint32
	if img != nil {
		for _, s := range img.Symbols {
			if s.Addr >= base && s.Addr <= pc && (len(syms) == 0 || syms[len(syms)-1] != s.Addr) {
				syms = append(syms, s.Addr)
			}
		}
	}
	slices.Reverse(syms)
	start, found := pc, false
	for i, a := range syms {
		if syncs(code[a-base:], a, pc) {
			// earlier symbols extend the context if they decode onto this one
			start, found = a, true
			for _, b := range syms[i+1:] {
				if !syncs(code[b-base:], b, start) {
					break
				}
				start = b
			}
			break
		}
	}
	for a := base; !found && a < pc; a++ {
		if syncs(code[a-base:], a, pc) {
			start, found = a, true
		}
	}
	var lines []codeLine
	cur := -1
	for off := int(start - base); off < len(code); {
		addr := base + uint32(off)
		if addr == pc {
			cur = len(lines)
		}
		l := codeLine{Addr: addr}
		if img != nil {
			if name, o, ok := img.SymbolAt(addr); ok && o == 0 {
				l.Label = name
			}
		}
		inst, err := x86asm.Decode(code[off:], 32)
		if err != nil || inst.Len == 0 {
			if off+maxInsn > len(code) {
				break // truncated by the window, not bad
			}
			l.Bytes, l.Text, l.Bad = code[off:off+1], fmt.Sprintf(".byte %#02x", code[off]), true
			lines = append(lines, l)
			off++
			continue
		}
		l.Bytes = code[off : off+inst.Len]
		l.Text = x86asm.GNUSyntax(inst, uint64(addr), symLookup(img))
		l.Cause = trap.Classify(inst).Cause
		lines = append(lines, l)
		off += inst.Len
	}
	return lines, cur
}

const maxInsn = 15

// syncs reports whether decoding code (at address a) lands on pc.
func syncs(code []byte, a, pc uint32) bool {
	off := 0
	for a+uint32(off) < pc {
		inst, err := x86asm.Decode(code[off:], 32)
		if err != nil || inst.Len == 0 {
			return false
		}
		off += inst.Len
	}
	return a+uint32(off) == pc
}

// symLookup names addresses inside the image for GNUSyntax.
func symLookup(img *guest.Image) x86asm.SymLookup {
	if img == nil {
		return nil
	}
	lo, hi := img.Bounds()
	return func(addr uint64) (string, uint64) {
		if addr < uint64(lo) || addr >= hi {
			return "", 0
		}
		name, off, ok := img.SymbolAt(uint32(addr))
		if !ok {
			return "", 0
		}
		return name, addr - uint64(off)
	}
}

// symbolize names an address "sym+0x4" (or the bare hex when no symbol
// fits).
func symbolize(img *guest.Image, addr uint32) string {
	if img != nil {
		if name, off, ok := img.SymbolAt(addr); ok {
			if off == 0 {
				return name
			}
			return fmt.Sprintf("%s+%#x", name, off)
		}
	}
	return fmt.Sprintf("%#08x", addr)
}

// hexBytes prints instruction bytes compactly ("0f 01 15").
func hexBytes(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%02x", c)
	}
	return sb.String()
}
