package translate

import (
	"bytes"
	"testing"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/guest"
	"virtsim/vmm"

	"virtsim/internal/insntable"
)

type kindLine struct {
	lineno int
	code   []byte
	text   string
	kind   Kind
	cause  string
	end    bool
}

func readKindTable(t *testing.T) []kindLine {
	t.Helper()
	rows, err := insntable.Read("testdata/kinds.txt", 5, 6)
	if err != nil {
		t.Fatal(err)
	}
	var lines []kindLine
	for _, r := range rows {
		k, err := ParseKind(r.Field(0))
		if err != nil {
			t.Fatalf("kinds.txt:%d: %v", r.Line, err)
		}
		lines = append(lines, kindLine{r.Line, r.Code, r.Text, k, r.Field(1), r.Field(2) == "end"})
	}
	if len(lines) < 100 {
		t.Fatalf("kinds.txt has only %d instructions", len(lines))
	}
	return lines
}

// TestKindTable: the table is what Classify says.
func TestKindTable(t *testing.T) {
	for _, l := range readKindTable(t) {
		inst, err := x86asm.Decode(l.code, 32)
		if err != nil {
			t.Errorf("kinds.txt:%d: decode % x: %v", l.lineno, l.code, err)
			continue
		}
		if got := x86asm.GNUSyntax(inst, 0, nil); got != l.text {
			t.Errorf("kinds.txt:%d: % x decodes as %q, table says %q", l.lineno, l.code, got, l.text)
		}
		c := Classify(inst)
		if c.Kind != l.kind || c.Cause != l.cause || c.EndsBlock != l.end {
			t.Errorf("kinds.txt:%d: %s: Classify = %v %q end=%v, table says %v %q end=%v", l.lineno, l.text, c.Kind, c.Cause, c.EndsBlock, l.kind, l.cause, l.end)
		}
	}
}

// Instructions that must never be copied: at CPL 1 Unicorn executes
// in/out without faulting, hlt/cli/sti would fault into the VMM as traps.
func TestNeverIdent(t *testing.T) {
	never := map[x86asm.Op]bool{
		x86asm.IN: true, x86asm.OUT: true, x86asm.INSB: true, x86asm.INSW: true, x86asm.INSD: true,
		x86asm.OUTSB: true, x86asm.OUTSW: true, x86asm.OUTSD: true, x86asm.HLT: true, x86asm.CLI: true,
		x86asm.STI: true, x86asm.PUSHF: true, x86asm.PUSHFD: true, x86asm.POPF: true, x86asm.POPFD: true,
	}
	seen := map[x86asm.Op]bool{}
	for _, l := range readKindTable(t) {
		inst, err := x86asm.Decode(l.code, 32)
		if err != nil {
			continue
		}
		if never[inst.Op] {
			seen[inst.Op] = true
			if l.kind == Ident {
				t.Errorf("kinds.txt:%d: %s is copied unchanged", l.lineno, l.text)
			}
		}
	}
	for op := range never {
		if !seen[op] {
			t.Errorf("kinds.txt has no %v", op)
		}
	}
}

// TestTranslations translates every instruction of the table in a real
// instance: IDENT ones are copied byte for byte, the others rewritten as
// the table says (no fallback to a callout for these forms).
func TestTranslations(t *testing.T) {
	img, err := guest.LoadFlat([]byte{0xEB, 0xFE}, 0x100000, vmm.DefaultMemSize) // jmp .
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBT(img, vmm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	addr := uint32(0x200000)
	for _, l := range readKindTable(t) {
		code := append(append([]byte{}, l.code...), 0xEB, 0xFE)
		if err := b.WriteMem(addr, code); err != nil {
			t.Fatal(err)
		}
		blk, err := b.translate(addr, false)
		if err != nil {
			t.Errorf("kinds.txt:%d: %s: %v", l.lineno, l.text, err)
			continue
		}
		u := blk.units[0]
		tc := make([]byte, u.tcEnd-u.tc)
		if err := b.ReadMem(u.tc, tc); err != nil {
			t.Fatal(err)
		}
		switch {
		case u.fallback != "":
			t.Errorf("kinds.txt:%d: %s fell back to a callout: %s", l.lineno, l.text, u.fallback)
		case u.class.Kind != l.kind:
			t.Errorf("kinds.txt:%d: %s translated as %v", l.lineno, l.text, u.class.Kind)
		case l.kind == Ident && !bytes.Equal(tc, l.code):
			t.Errorf("kinds.txt:%d: %s is IDENT but its translation is % x", l.lineno, l.text, tc)
		case l.kind != Ident && bytes.Equal(tc, l.code):
			t.Errorf("kinds.txt:%d: %s is %v but was copied", l.lineno, l.text, l.kind)
		}
		addr += 0x20
	}
}

// TestDecodeGuestSALC: salc (0xD6) and the no-ops x86asm does not decode
// (hint NOPs, feni/fdisi/fsetpm) are instructions bt copies, with their
// lengths; other bytes decode as x86asm does.
func TestDecodeGuestSALC(t *testing.T) {
	inst, err := decodeGuest([]byte{0xD6, 0x90})
	if err != nil || inst.Len != 1 || Classify(inst).Kind != Ident {
		t.Errorf("salc: %v len %d kind %v, want a 1-byte Ident", err, inst.Len, Classify(inst).Kind)
	}
	if _, err := x86asm.Decode([]byte{0xD6}, 32); err == nil {
		t.Log("x86asm decodes salc now: decodeGuest's special case can go")
	}
	for _, c := range []struct {
		raw []byte
		len int
	}{
		{[]byte{0x0F, 0x19, 0xC0}, 3},                      // hint nop, register
		{[]byte{0x0F, 0x1C, 0x84, 0x24, 1, 0, 0, 0}, 8},    // hint nop, SIB and disp32
		{[]byte{0x66, 0x0F, 0x1A, 0x40, 0x10}, 5},          // prefixed, disp8
		{[]byte{0x0F, 0x0D, 0x05, 0, 0x10, 0, 0, 0x90}, 7}, // prefetch-class nop, absolute
		{[]byte{0xDB, 0xE4}, 2},                            // fsetpm
		{[]byte{0xDB, 0xE0}, 2},                            // feni
		{[]byte{0x0F, 0x1F, 0xFB}, 3},                      // nop r/m with reg 7
		{[]byte{0x0F, 0x18, 0x38}, 3},                      // 0F 18 /7
	} {
		inst, err := decodeGuest(c.raw)
		if err != nil || inst.Len != c.len || Classify(inst).Kind != Ident {
			t.Errorf("% x: %v len %d kind %v, want a %d-byte Ident", c.raw, err, inst.Len, Classify(inst).Kind, c.len)
		}
	}
	// listings name them (listing.go reads undecoded too)
	for raw, want := range map[string]string{"\xd6": "salc", "\xdb\xe4": "fsetpm", "\xdb\xe1": "fdisi", "\x0f\x1e\xfb": "nop (hint 0f 1e)"} {
		if name, _, ok := undecoded([]byte(raw)); !ok || name != want {
			t.Errorf("% x named %q, want %q", raw, name, want)
		}
	}
	if _, _, ok := undecoded([]byte{0x0F, 0x1F, 0x00}); ok {
		t.Error("nop r/m with reg 0, which x86asm decodes, counted as undecoded")
	}
	inst, err = decodeGuest([]byte{0x0F, 0xC7, 0x0D, 0, 0, 0, 0}) // cmpxchg8b
	if err != nil || inst.Op != x86asm.CMPXCHG8B || inst.Len != 7 {
		t.Errorf("cmpxchg8b: %v %v len %d", err, inst.Op, inst.Len)
	}
}
