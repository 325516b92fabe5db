package vmm

import (
	"golang.org/x/arch/x86/x86asm"

	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// Debug registers.
//
// A guest at CPL 0 may write DR0–DR7 at will (a kernel debugger, or a
// random instruction stream), but Unicorn 2.1 cannot take what such a
// write arms: once DR7 enables any breakpoint, execution breakpoint or data
// watchpoint alike, the next translated block ends the whole process with
// SIGSEGV inside generated code (found by difftest's sys family; pinned by
// TestDebugRegisters). So the machine never lets the substrate see
// a debug register: every mov to or from DRn is a site (like port I/O,
// found by the boot-time sweep and hooked at its one address), and the
// machine keeps the registers itself — written values read back, DR6 and
// DR7 with their always-1 bits, DR4/DR5 aliasing DR6/DR7 while CR4.DE is
// clear and #UD with it set — as trap's emulator does for the VMMs. What
// the breakpoints would do is not modelled: no #DB from DR7 (a documented
// limit, the same under every strategy). At CPL 1–3 the site lets the
// instruction run, and the CPU raises the #GP (a VMM's exit under trap).

// isDebugRegMove reports whether inst is mov to or from a debug register.
func isDebugRegMove(inst x86asm.Inst) bool {
	if inst.Op != x86asm.MOV {
		return false
	}
	for _, a := range inst.Args[:2] {
		if r, ok := a.(x86asm.Reg); ok && r >= x86asm.DR0 && r <= x86asm.DR15 {
			return true
		}
	}
	return false
}

// DebugRegValue is what mov from DRn reads when dr holds the values
// written: DR6 and DR7 have bits that always read as 1 (the reset values
// DR6 0xFFFF0FF0 and DR7 0x400, as QEMU's qemu32 and the SDM have them).
func DebugRegValue(dr *[8]uint32, n int) uint32 {
	switch n {
	case 6:
		return dr[6] | x86.DR6Fixed1
	case 7:
		return dr[7] | x86.DR7Fixed1
	}
	return dr[n]
}

// DebugRegIndex maps DRn to the register it names under cr4: DR4 and DR5
// alias DR6 and DR7 while CR4.DE is clear and are #UD with it set; DR8 up
// do not exist in 32-bit mode (#UD). ok is false for #UD.
func DebugRegIndex(n int, cr4 uint32) (int, bool) {
	switch {
	case n > 7:
		return 0, false
	case (n == 4 || n == 5) && cr4&x86.CR4DE != 0:
		return 0, false
	case n == 4 || n == 5:
		return n + 2, true
	}
	return n, true
}

// onDebugRegSite runs before a mov to or from DRn; handled is false when
// the instruction should run as it is (the code changed, or CPL > 0).
func (m *Machine) onDebugRegSite(pc uint32) (handled bool) {
	if m.reg(unicorn.CS)&3 != 0 {
		return false // the CPU raises #GP itself
	}
	inst, err := m.Decode(pc)
	if err != nil || !isDebugRegMove(inst) {
		return false
	}
	to := true
	dr, ok := inst.Args[0].(x86asm.Reg)
	g, _ := inst.Args[1].(x86asm.Reg)
	if !ok || dr < x86asm.DR0 || dr > x86asm.DR15 {
		dr, g, to = g, dr, false
	}
	n, ok := DebugRegIndex(int(dr-x86asm.DR0), m.reg(unicorn.CR4))
	if !ok {
		m.deliverException(x86.VecUD, 0, pc)
		return true
	}
	if to {
		v, _, _ := m.regVal(g)
		m.dr[n] = v
	} else {
		m.setGPR(g, DebugRegValue(&m.dr, n))
	}
	m.Complete(pc + uint32(inst.Len))
	return true
}
