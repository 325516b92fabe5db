package tui

import (
	"fmt"
	"strings"
	"testing"

	"virtsim/guest"
)

func listing(lines []codeLine, cur int) string {
	var b strings.Builder
	for i, l := range lines {
		if l.Label != "" {
			fmt.Fprintf(&b, "%s:\n", l.Label)
		}
		mark := " "
		if i == cur {
			mark = ">"
		}
		fmt.Fprintf(&b, "%s %08x %s", mark, l.Addr, l.Text)
		if l.Cause != "" {
			fmt.Fprintf(&b, " [%s]", l.Cause)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func TestDisassemble(t *testing.T) {
	img := fxImage()
	code := append(append([]byte(nil), fxCode...), 0, 0)
	lines, cur := disassemble(fxMain, code, fxLoop+1, img)
	got := listing(lines, cur)
	want := `main:
  00101000 mov $0xfa0,%ecx
  00101005 xor %ebx,%ebx
irq_toggle_loop:
  00101007 cli [priv/cli]
> 00101008 sti [priv/sti]
  00101009 inc %ebx
  0010100a dec %ecx
  0010100b jne irq_toggle_loop
  0010100d cli [priv/cli]
  0010100e out %al,$0x80 [io/out:0x80]
  00101010 lgdtl gdt [priv/lgdt]
  00101017 popf [sens/popf]
  00101018 hlt [hlt]
  00101019 ret
  0010101a add %al,(%eax)
`
	if got != want {
		t.Errorf("listing:\n%s\nwant:\n%s", got, want)
	}
}

// Bytes before the nearest symbol that do not decode onto it (data, such
// as a multiboot header) must not shift the instructions at the PC.
func TestDisassembleDataBeforeCode(t *testing.T) {
	// header: 0x02 0xb0 would decode as "add 0x..(%eax),%dh" and swallow the
	// first bytes of _start
	data := []byte{0x02, 0xb0, 0xad, 0x1b}
	code := []byte{0xbc, 0x00, 0x10, 0x00, 0x00, 0xfc, 0x90} // mov $0x1000,%esp; cld; nop
	img := &guest.Image{Symbols: []guest.Symbol{{Name: "header", Addr: 0x1000}, {Name: "_start", Addr: 0x1004}}}
	lines, cur := disassemble(0x1000, append(data, code...), 0x1009, img)
	if cur < 0 || lines[cur].Text != "cld" || lines[0].Addr != 0x1004 || lines[0].Label != "_start" {
		t.Errorf("got:\n%s", listing(lines, cur))
	}
}

// Without symbols, decoding starts at the earliest offset that lands on
// the PC.
func TestDisassembleNoSymbols(t *testing.T) {
	code := []byte{0x00, 0xfa, 0xfb, 0x43, 0xf4}
	lines, cur := disassemble(0x2000, code[1:], 0x2002, nil)
	if got := listing(lines, cur); got != "  00002000 cli [priv/cli]\n  00002001 sti [priv/sti]\n> 00002002 inc %ebx\n  00002003 hlt [hlt]\n" {
		t.Errorf("got:\n%s", got)
	}
	if _, cur := disassemble(0x2000, code, 0x3000, nil); cur != -1 {
		t.Errorf("pc outside the window: cur = %d", cur)
	}
	// undecodable bytes show as .byte and decoding goes on
	lines, cur = disassemble(0x2000, []byte{0x0f, 0x0b, 0xd6, 0x90, 0x90, 0x90}, 0x2003, nil)
	if cur < 0 || lines[cur].Text != "nop" {
		t.Errorf("got:\n%s", listing(lines, cur))
	}
}
