package trap

import (
	"golang.org/x/arch/x86/x86asm"

	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// Fast system calls under trap-and-emulate.
//
// sysenter from guest user code would enter whatever the real SYSENTER
// MSRs name: on a real CPU, the VMM's own entry, so every guest system
// call made this way is an exit (Unicorn, which does not perform sysenter,
// hands it to the machine's site hook: vmm/sysenter.go). The VMM performs
// the guest's sysenter against its virtual MSRs: into the guest kernel at
// CPL 1 (ring compression), on the guest's SYSENTER_ESP, with the virtual
// IF cleared. The kernel's sysexit faults at CPL 1 (it needs CPL 0) and the
// VMM performs it too: back to guest user code at EDX on ECX's stack.

// onSysenter is the machine's OnSysenter: an exit for every sysenter.
func (t *VMM) onSysenter(pc uint32) bool {
	t.SyncCPL()
	t.sysenter(pc, vmm.MechTrap)
	return true
}

// sysenter performs a guest sysenter at pc, an exit by mech (a trap at the
// machine's site hook, or a binary translator's callout for one in kernel
// code).
func (t *VMM) sysenter(pc uint32, mech vmm.Mechanism) {
	m := t.Machine
	m.Record(vmm.CauseSysenter, mech, pc)
	msr := func(id uint32) uint32 { return uint32(t.V.MSR[id]) }
	cs, ss, ok := vmm.SysenterTarget(msr(vmm.MSRSysenterCS), msr(vmm.MSRSysenterESP), msr(vmm.MSRSysenterEIP))
	if !ok {
		t.Reflect(x86.VecGP, 0, true, false, pc, pc)
		return
	}
	target, err := t.GuestDescriptor(cs)
	if err != nil || !target.IsCode() || target.DPL != 0 {
		m.Crash(pc, "trap: sysenter: SYSENTER_CS %#x does not name a DPL-0 code descriptor in the guest GDT, which the VMM needs to load CS", cs)
		return
	}
	// From user code, the trampoline that raises the privilege level
	// pushes its call frame on the real TSS's ring-1 stack: the guest
	// TSS's kernel stack. (From the kernel no ring changes.)
	if m.Reg(unicorn.CS)&3 == 3 {
		if f := t.loadKernelStack(); f != nil {
			m.Crash(pc, "trap: sysenter: %s (the VMM's privilege switch passes through it)", f.Why)
			return
		}
	}
	t.V.IF = false
	t.V.CPL = 0
	handler := msr(vmm.MSRSysenterEIP)
	if t.Redirect != nil {
		handler = t.Redirect(handler)
	}
	if f := m.TransferTo(vmm.Transfer{
		Handler: handler, TargetSel: t.ShadowSelector(cs), Target: t.ShadowDescriptor(target),
		NewFlags: t.entryFlags(m.Reg(unicorn.EFLAGS)), // the virtual IF is clear now
		EventPC:  pc, NoFrame: true, InnerSS: t.ShadowSelector(ss), InnerESP: msr(vmm.MSRSysenterESP),
	}); f != nil {
		m.Crash(pc, "trap: sysenter into the guest kernel: %s", f.Why)
	}
}

// fastSyscall performs a sysenter or sysexit at pc that reached the
// emulator's path (a #GP at CPL 1, or a binary translator's callout):
// reports whether the instruction there is one, and handles it if so.
func (t *VMM) fastSyscall(pc uint32, mech vmm.Mechanism) bool {
	inst, err := t.Decode(pc)
	if err != nil {
		return false
	}
	switch inst.Op {
	case x86asm.SYSENTER:
		t.sysenter(pc, mech)
		return true
	case x86asm.SYSEXIT:
		t.sysexit(pc, mech)
		return true
	}
	return false
}

// sysexit performs the guest kernel's sysexit at pc.
func (t *VMM) sysexit(pc uint32, mech vmm.Mechanism) {
	m := t.Machine
	m.Record(vmm.CauseSysexit, mech, pc)
	cs := uint32(t.V.MSR[vmm.MSRSysenterCS])
	if t.V.CPL != 0 || cs&0xFFFC == 0 {
		t.Reflect(x86.VecGP, 0, true, false, pc, pc)
		return
	}
	ucs, uss := vmm.SysexitTarget(cs)
	t.V.CPL = 3
	// sysexit keeps EFLAGS: user code gets the kernel's IF, which the real
	// IF already shows under MirrorIF; otherwise the real IF stays set.
	flags := m.Reg(unicorn.EFLAGS)
	if !t.MirrorIF {
		flags |= x86.FlagIF
	}
	if err := m.ReturnOuter(m.Reg(unicorn.EDX), uint32(ucs), flags, m.Reg(unicorn.ECX), uint32(uss)); err != nil {
		m.Crash(pc, "trap: sysexit: %v", err)
	}
}
