package vmm

import (
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// fakeRegs: flat segments except SS (base 0x10000), made-up registers.
type fakeRegs map[x86asm.Reg]uint32

func (f fakeRegs) GPR(r x86asm.Reg) uint32 {
	switch {
	case r >= x86asm.AL && r <= x86asm.BL:
		return f[r-x86asm.AL+x86asm.EAX] & 0xFF
	case r >= x86asm.AX && r <= x86asm.DI:
		return f[r-x86asm.AX+x86asm.EAX] & 0xFFFF
	}
	return f[r]
}

func (f fakeRegs) SegBase(r x86asm.Reg) uint32 {
	if r == x86asm.SS {
		return 0x10000
	}
	return 0
}

// Which accesses an instruction makes by itself (its operand, its stack,
// its string) and which it does not (a descriptor the CPU reads for it).
func TestNamesAccess(t *testing.T) {
	regs := fakeRegs{x86asm.EAX: 0x12, x86asm.EBX: 0xFF000000, x86asm.ESP: 0x2000, x86asm.EBP: 0x3000,
		x86asm.ESI: 0xFF001000, x86asm.EDI: 0xFF002000}
	for _, c := range []struct {
		name string
		code []byte
		addr uint32
		size int
		want bool
	}{
		{"mov 0x10(%ebx),%eax", []byte{0x8b, 0x43, 0x10}, 0xFF000010, 4, true},
		{"mov 0x10(%ebx),%eax, another address", []byte{0x8b, 0x43, 0x10}, 0xFF000014, 4, false},
		{"movb $1,0x13(%ebx), the byte", []byte{0xc6, 0x43, 0x13, 1}, 0xFF000013, 1, true},
		{"lea 0x10(%ebx),%eax names nothing", []byte{0x8d, 0x43, 0x10}, 0xFF000010, 4, false},
		{"mov 4(%ebp),%eax through SS", []byte{0x8b, 0x45, 4}, 0x13004, 4, true},
		{"push %eax below ESP", []byte{0x50}, 0x11FFC, 4, true},
		{"pop %eax at ESP", []byte{0x58}, 0x12000, 4, true},
		{"iret pops its frame", []byte{0xcf}, 0x12008, 4, true},
		{"iret: a descriptor is the CPU's", []byte{0xcf}, 0xFF000020, 8, false},
		{"mov %ax,%ds: the descriptor is the CPU's", []byte{0x8e, 0xd8}, 0xFF000010, 8, false},
		{"movsl reads at ESI", []byte{0xa5}, 0xFF001000, 4, true},
		{"movsl writes at EDI", []byte{0xa5}, 0xFF002000, 4, true},
		{"stosl writes at EDI only", []byte{0xab}, 0xFF001000, 4, false},
		{"xlat reads EBX+AL", []byte{0xd7}, 0xFF000012, 1, true},
		{"ljmp *(%ebx): the pointer", []byte{0xff, 0x2b}, 0xFF000004, 2, true},
		{"ljmp *(%ebx): the descriptor", []byte{0xff, 0x2b}, 0xFF000008, 8, false},
	} {
		inst, err := x86asm.Decode(c.code, 32)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := namesAccess(inst, regs, c.addr, c.size); got != c.want {
			t.Errorf("%s (%v) at %#x: %v, want %v", c.name, inst, c.addr, got, c.want)
		}
	}
}
