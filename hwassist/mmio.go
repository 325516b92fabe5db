package hwassist

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/vmm"
)

// Memory-mapped devices under KVM.
//
// Guest RAM is KVM's only memory slot, so an access anywhere else — the
// local APIC's page at 0xFEE00000, the I/O APIC's at 0xFEC00000 — is a
// fault in the nested (or, under PVM, the shadow) page tables that KVM
// cannot resolve. KVM's instruction emulator then decodes the instruction
// that made it and hands user space the access itself: KVM_EXIT_MMIO with
// the physical address, the length and, for a store, the bytes stored.
// The VMM performs it on the same device models the Unicorn strategies use
// (vmm.Platform) and, for a load, writes the value read into kvm_run's
// data field; KVM completes the instruction with it on the next KVM_RUN
// (complete_emulated_mmio). No instruction decoding is the VMM's: unlike
// the Unicorn machine (vmm/mmio.go), which must find and emulate the
// instruction itself, the VMM under KVM sees only accesses, of any
// instruction KVM's emulator knows (mov, movzx, test, or, xchg, ...).
//
// Each access is an event with the device register's cause
// (mmio/lapic:EOI, mmio/ioapic:IOWIN) and mechanism vmexit: the exit is
// what the access costs, as QEMU's user-space APIC (-machine
// kernel_irqchip=off) pays it. With KVM's in-kernel APIC the same accesses
// would never reach user space.
//
// The event's PC: KVM leaves RIP at a load (it completes on the next
// entry) but past a store (the emulator finished it before exiting). For a
// store the VMM finds the instruction that ends at RIP and stores to the
// device's page offset (mmioPC); if none is found the event carries RIP.

// decideMMIO is decide's KVM_EXIT_MMIO row: an access to a device register
// is performed (actMMIO); one where there is neither RAM nor a device, or
// one no device register takes (wider than 4 bytes, or across two
// registers), stops the guest with a crash naming it.
func decideMMIO(e kvmExit) decision {
	op := "read"
	if e.MMIOWrite {
		op = "write"
	}
	cause, ok := vmm.MMIOCauseAt(e.MMIOAddr)
	if !ok {
		return decision{Action: actCrash, Why: fmt.Sprintf("guest %s of %d bytes at physical address %#x: no RAM and no device there (KVM_EXIT_MMIO)", op, e.MMIOLen, e.MMIOAddr)}
	}
	if e.MMIOLen != 1 && e.MMIOLen != 2 && e.MMIOLen != 4 || e.MMIOAddr&3+uint64(e.MMIOLen) > 4 {
		return decision{Action: actCrash, Why: fmt.Sprintf("guest %s of %d bytes at physical address %#x (%s): device registers take aligned accesses of 1, 2 or 4 bytes (KVM_EXIT_MMIO)", op, e.MMIOLen, e.MMIOAddr, cause)}
	}
	return decision{Action: actMMIO, Cause: cause, Mech: vmm.MechVMExit, Event: true}
}

// onMMIO handles a device access (actMMIO): the event (which moves guest
// time, so the timers are current), then the access.
func (v *VM) onMMIO(e kvmExit, d decision) {
	v.record(d.Cause, d.Mech, v.mmioPC(e))
	v.performMMIO(e)
}

// performMMIO performs an MMIO exit's access on the device models and
// answers a load in kvm_run.
func (v *VM) performMMIO(e kvmExit) {
	val, _ := v.MMIO(e.MMIOAddr, int(e.MMIOLen), e.MMIOWrite, leUint(e.MMIOData[:e.MMIOLen]))
	if !e.MMIOWrite {
		answerMMIO(v.run, val, e.MMIOLen)
	}
}

// answerMMIO writes a load's value, n bytes little-endian, into kvm_run's
// mmio.data: what KVM's emulator gives the instruction on the next entry.
func answerMMIO(run []byte, val uint32, n uint32) {
	var b [8]byte
	binary.LittleEndian.PutUint32(b[:], val)
	copy(run[runExit+mmioData:runExit+mmioData+8], b[:n])
}

// mmioPC is the address of the instruction that made an MMIO exit's
// access: RIP for a load; for a store, the instruction that ends at RIP
// and stores to the access's page offset (storesAt), or RIP if none does.
func (v *VM) mmioPC(e kvmExit) uint32 {
	rip := uint32(v.regs.RIP)
	if !e.MMIOWrite {
		return rip
	}
	return v.endingAt(rip, func(inst x86asm.Inst) bool { return v.storesAt(inst, e) })
}

// storesAt reports whether inst stores e.MMIOLen bytes to memory at an
// address with e's page offset, with the registers as they are (a store
// to a device changes none).
func (v *VM) storesAt(inst x86asm.Inst, e kvmExit) bool {
	if inst.MemBytes != int(e.MMIOLen) {
		return false
	}
	mem, ok := inst.Args[0].(x86asm.Mem)
	if !ok {
		return false
	}
	return v.effectiveAddr(mem)&0xFFF == uint32(e.MMIOAddr)&0xFFF
}

// effectiveAddr is a memory operand's offset (segment bases aside: the
// page offset is all storesAt compares, and the flat segments of every
// guest here have base 0).
func (v *VM) effectiveAddr(mem x86asm.Mem) uint32 {
	ea := uint32(mem.Disp)
	if mem.Base != 0 {
		ea += v.gpr(mem.Base)
	}
	if mem.Index != 0 {
		ea += v.gpr(mem.Index) * uint32(mem.Scale)
	}
	return ea
}

// gpr is a 32-bit general register's value at the last exit.
func (v *VM) gpr(r x86asm.Reg) uint32 {
	regs := [8]uint64{v.regs.RAX, v.regs.RCX, v.regs.RDX, v.regs.RBX, v.regs.RSP, v.regs.RBP, v.regs.RSI, v.regs.RDI}
	if r >= x86asm.EAX && r <= x86asm.EDI {
		return uint32(regs[r-x86asm.EAX])
	}
	return 0
}
