package hwassist

import (
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// The instructions whose single step runs the next one too on hardware
// assist, decoded from their bytes.
func TestStepShadow(t *testing.T) {
	for _, c := range []struct {
		code []byte
		want bool
	}{
		{[]byte{0x8E, 0xD0}, true},       // mov %eax,%ss
		{[]byte{0x66, 0x8E, 0xD0}, true}, // mov %ax,%ss
		{[]byte{0x8E, 0x10}, true},       // mov (%eax),%ss
		{[]byte{0x17}, true},             // pop %ss
		{[]byte{0x8E, 0xD8}, false},      // mov %eax,%ds
		{[]byte{0x8C, 0xD0}, false},      // mov %ss,%eax: reads SS
		{[]byte{0x1F}, false},            // pop %ds
		{[]byte{0xFB}, false},            // sti: its shadow blocks interrupts, not the trap
		{[]byte{0x31, 0xC0}, false},      // xor %eax,%eax
	} {
		inst, err := x86asm.Decode(c.code, 32)
		if err != nil {
			t.Fatalf("% x: %v", c.code, err)
		}
		if got := stepShadow(inst); got != c.want {
			t.Errorf("%s (% x): stepShadow %v, want %v", x86asm.GNUSyntax(inst, 0, nil), c.code, got, c.want)
		}
	}
}

// What KVM on AMD-V leaves after a shutdown (measured in the nested rig:
// eip=0000fff0 cs=f000 cr0=00000010) is recognised, a protected-mode crash
// is not, and the report of lost state names the entry's registers.
func TestInitStateAndLostReport(t *testing.T) {
	var reset kvmSregs
	reset.CS.Selector, reset.CR0 = 0xf000, 0x10
	if !initState(kvmRegs{RIP: 0xfff0, RDX: 0x663}, reset) {
		t.Error("the INIT state is not recognised")
	}
	var pm kvmSregs
	pm.CS.Selector, pm.CR0 = 0x08, 0x11
	if initState(kvmRegs{RIP: 0x100005}, pm) || initState(kvmRegs{RIP: 0xfff0}, pm) {
		t.Error("a protected-mode state taken for INIT")
	}
	r := stateLost(kvmRegs{RIP: 0x100000, RAX: 0x2badb002, RBX: 0x9000})
	for _, want := range []string{"registers at the fault are lost", "at or after eip=00100000", "eax=2badb002", "ebx=00009000"} {
		if !strings.Contains(r, want) {
			t.Errorf("report lacks %q: %s", want, r)
		}
	}
}
