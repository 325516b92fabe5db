package hwassist

import (
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// Two things hardware assist does that a VMM reading its exits must know,
// both measured with kvm_amd in scripts/kvm-nested.sh (and both
// architectural or in KVM's own code, so not artefacts of that rig):
//
//   - A single step over mov to SS or pop SS takes two instructions. Those
//     instructions block debug exceptions (and interrupts) until the next
//     instruction has run, so the single-step trap KVM_GUESTDBG_SINGLESTEP
//     arms fires only after the following one. Step then reports the PC
//     after both, where the Unicorn machine stops between them.
//   - After a triple fault on AMD-V the registers are gone. The SVM shutdown
//     intercept leaves the VMCB undefined, so KVM (svm.c,
//     shutdown_interception) clears it and INITs the vCPU before returning
//     KVM_EXIT_SHUTDOWN: KVM_GET_REGS then shows CS:IP f000:fff0 with paging
//     and protection off. VT-x keeps the state at the fault. The crash
//     report says so and gives the last state the VMM knew, the one it
//     entered the guest with.

// stepShadow reports whether inst blocks the single-step trap of the
// instruction after it: mov to SS and pop SS (the "MOV SS shadow").
func stepShadow(inst x86asm.Inst) bool {
	switch inst.Op {
	case x86asm.POP:
		return inst.Args[0] == x86asm.SS
	case x86asm.MOV:
		return inst.Args[0] == x86asm.SS
	}
	return false
}

// StepSpans reports how many instructions Step runs from pc: 2 when the
// instruction there is mov to SS or pop SS on hardware assist (see
// stepShadow), else 1.
func (v *VM) StepSpans(pc uint32) int {
	if !v.Flavour.Hardware() {
		return 1
	}
	if inst, err := v.decode(pc); err == nil && stepShadow(inst) {
		return 2
	}
	return 1
}

// initState reports whether a vCPU shows the x86 INIT state: CS selector
// 0xf000, IP 0xfff0, CR0.PE clear — which is what KVM on AMD-V leaves
// after a shutdown.
func initState(r kvmRegs, s kvmSregs) bool {
	return uint32(r.RIP) == 0xfff0 && s.CS.Selector == 0xf000 && s.CR0&1 == 0
}

// stateLost is the part of a crash report that replaces the registers
// when the flavour reinitialised the vCPU at the crash (initState on
// AMD-V): why they are gone, and the general registers the VMM last
// entered the guest with.
func stateLost(entry kvmRegs) string {
	return fmt.Sprintf("the registers at the fault are lost: on AMD-V KVM INITs the vCPU at a shutdown intercept (the VMCB is undefined after it), "+
		"so this is the state the guest was last entered with; the fault came at or after eip=%08x: "+
		"eax=%08x ebx=%08x ecx=%08x edx=%08x esi=%08x edi=%08x ebp=%08x esp=%08x eip=%08x eflags=%08x",
		uint32(entry.RIP), uint32(entry.RAX), uint32(entry.RBX), uint32(entry.RCX), uint32(entry.RDX),
		uint32(entry.RSI), uint32(entry.RDI), uint32(entry.RBP), uint32(entry.RSP), uint32(entry.RIP), uint32(entry.RFLAGS))
}
