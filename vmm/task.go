package vmm

import (
	"encoding/binary"
	"fmt"

	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// A task gate in the IDT, under the machine model (native). Unicorn
// switches tasks itself for ljmp/lcall to a TSS and for iret with NT set,
// but it never reads the guest's IDT (the machine delivers every event),
// so an event whose IDT entry is a task gate is the machine's to switch:
// the running task's registers go into its TSS, the busy bits, the new
// TSS's back link and NT follow x86.TaskRules[TaskInt], CR0.TS is set,
// and the new task's CR3, LDT, flags, registers and segments are loaded
// (SDM vol. 3, 6.11.3 and 7.3); then the error code, if any, is pushed on
// the new task's stack. TR is written as Unicorn keeps it (the available
// type: SUBSTRATE.md), so a later iret with NT set returns through
// Unicorn's own task switch. A task in a more privileged ring is entered
// through the machine's privilege-switch trampoline (raiseTask). Not
// modelled: a switch into a less privileged task, and 16-bit TSSs; those
// stop the run and say so.

// ldtFlags is the LDTR cache's attributes: present, type LDT.
const ldtFlags = (x86.TypeLDT | 1<<7) << 8

func taskFault(vec uint8, sel uint16, format string, args ...any) *DeliveryFault {
	return &DeliveryFault{Vec: vec, Code: uint32(sel &^ 3), Why: fmt.Sprintf(format, args...)}
}

// deliverTask delivers vec through the task gate at that IDT entry.
func (m *Machine) deliverTask(cause string, vec uint8, code uint32, hasErr, soft bool, retEIP, eventPC uint32, idtBase uint32) *DeliveryFault {
	var raw [8]byte
	if err := m.ReadMem(idtBase+uint32(vec)*8, raw[:]); err != nil {
		return &DeliveryFault{Vec: x86.VecGP, Code: uint32(vec)*8 + 2, Why: err.Error()}
	}
	gate := x86.Decode(raw[:])
	cpl := uint8(m.reg(unicorn.CS) & 3)
	if soft && gate.DPL < cpl {
		return &DeliveryFault{Vec: x86.VecGP, Code: uint32(vec)*8 + 2, Why: fmt.Sprintf("int $%#x from CPL %d through a DPL-%d task gate", vec, cpl, gate.DPL)}
	}
	sel := gate.Selector
	d, err := m.Descriptor(sel)
	switch {
	case x86.SelTI(sel) || x86.SelNull(sel) || err != nil || !d.IsTSS():
		return taskFault(x86.VecGP, sel, "task gate %#x names %#x, not a TSS in the GDT", vec, sel)
	case d.Type&0x8 == 0:
		return &DeliveryFault{Vec: x86.VecGP, NotModelled: true, Why: fmt.Sprintf("task gate %#x: a switch to a 16-bit TSS is not modelled", vec)}
	case d.Type != x86.TypeTSS32Avail:
		return taskFault(x86.VecGP, sel, "task gate %#x: task %#x is busy", vec, sel)
	case !d.Present:
		return taskFault(x86.VecNP, sel, "TSS %#x not present", sel)
	case d.Limit < x86.TSS32Size-1:
		return taskFault(x86.VecTS, sel, "TSS %#x limit %#x too small", sel, d.Limit)
	}
	tr, err := m.E.MMR(unicorn.TR)
	if err != nil {
		m.fail(fmt.Errorf("vmm: read TR: %w", err))
		return nil
	}
	if x86.SelNull(tr.Selector) || tr.Limit < x86.TSSLDT-1 {
		return taskFault(x86.VecTS, tr.Selector, "task gate %#x: no 32-bit TSS loaded to save the running task in", vec)
	}
	img := make([]byte, x86.TSS32Size)
	if err := m.ReadMem(d.Base, img); err != nil {
		return taskFault(x86.VecTS, sel, "read TSS %#x: %v", sel, err)
	}
	next := x86.DecodeTaskState(img)
	newCPL := uint8(next.Seg[1] & 3)
	if newCPL > cpl || next.EFLAGS&x86.FlagVM != 0 {
		return &DeliveryFault{Vec: x86.VecTS, NotModelled: true,
			Why: fmt.Sprintf("task gate %#x: a task switch from CPL %d to a less privileged task (CS %#x, EFLAGS %#x) is not modelled", vec, cpl, next.Seg[1], next.EFLAGS)}
	}
	csd, f := m.codeTarget(next.Seg[1], m.Descriptor)
	if f != nil {
		f.Vec = x86.VecTS
		return f
	}
	if !csd.IsConforming() && csd.DPL != newCPL || csd.IsConforming() && csd.DPL > newCPL {
		return taskFault(x86.VecTS, next.Seg[1], "task CS %#x: DPL %d, RPL %d", next.Seg[1], csd.DPL, newCPL)
	}
	m.Record(cause, MechMachine, eventPC)

	// Save the running task; TaskRules[TaskInt]: it stays busy, the new
	// task is nested in it.
	saved := x86.TaskState{EIP: retEIP, EFLAGS: m.reg(unicorn.EFLAGS)}
	for i, r := range taskGPRs {
		saved.GPR[i] = m.reg(r)
	}
	for i, r := range taskSegs {
		saved.Seg[i] = uint16(m.reg(r))
	}
	if err := m.write(tr.Base+x86.TSSEIP, saved.Dynamic()); err != nil {
		return taskFault(x86.VecTS, tr.Selector, "save the running task: %v", err)
	}
	var link [2]byte
	binary.LittleEndian.PutUint16(link[:], tr.Selector)
	if err := m.write(d.Base+x86.TSSLink, link[:]); err != nil {
		return taskFault(x86.VecTS, sel, "write the back link: %v", err)
	}
	gdtr, err := m.E.MMR(unicorn.GDTR)
	if err != nil {
		m.fail(fmt.Errorf("vmm: read GDTR: %w", err))
		return nil
	}
	if err := m.write(gdtr.Base+uint32(x86.SelIndex(sel))*8+5, []byte{byte(d.Raw>>40) | 2}); err != nil {
		return taskFault(x86.VecTS, sel, "mark the TSS busy: %v", err)
	}

	// Load the new task.
	if err := m.E.SetMMR(unicorn.TR, unicorn.MMR{Selector: sel, Base: d.Base, Limit: d.Limit, Flags: trAvailFlags}); err != nil {
		m.fail(fmt.Errorf("vmm: load TR: %w", err))
		return nil
	}
	cr0 := m.reg(unicorn.CR0) | x86.CR0TS
	m.setReg(unicorn.CR0, cr0)
	if cr0&x86.CR0PG != 0 {
		if err := m.switchCR3(next.CR3); err != nil {
			m.fail(fmt.Errorf("vmm: task switch: load CR3: %w", err))
			return nil
		}
	}
	ldtr := unicorn.MMR{}
	if !x86.SelNull(next.LDT) {
		ld, err := m.Descriptor(next.LDT)
		if x86.SelTI(next.LDT) || err != nil || ld.S || ld.Type != x86.TypeLDT || !ld.Present {
			return taskFault(x86.VecTS, next.LDT, "task %#x names LDT %#x, not an LDT descriptor", sel, next.LDT)
		}
		ldtr = unicorn.MMR{Selector: next.LDT, Base: ld.Base, Limit: ld.Limit, Flags: ldtFlags}
	}
	if err := m.E.SetMMR(unicorn.LDTR, ldtr); err != nil {
		m.fail(fmt.Errorf("vmm: load LDTR: %w", err))
		return nil
	}
	flags := next.EFLAGS | x86.FlagNT | x86.FlagReserved1
	if newCPL < cpl {
		return m.raiseTask(vec, sel, d, next, csd, flags, code, hasErr, retEIP, eventPC)
	}
	m.setRegs(taskGPRs, next.GPR[:])
	m.setReg(unicorn.EFLAGS, flags)
	// CS first (same privilege), then SS and the data segments, as the
	// CPU checks them; Unicorn checks each load like the CPU.
	if f := m.loadTaskSegs(sel, next, []int{1, 2, 0, 3, 4, 5}); f != nil {
		return f
	}
	if f := m.pushTaskCode(next, code, hasErr); f != nil {
		return f
	}
	m.Complete(next.EIP)
	return nil
}

var (
	taskGPRs = []unicorn.Reg{unicorn.EAX, unicorn.ECX, unicorn.EDX, unicorn.EBX, unicorn.ESP, unicorn.EBP, unicorn.ESI, unicorn.EDI}
	taskSegs = []unicorn.Reg{unicorn.ES, unicorn.CS, unicorn.SS, unicorn.DS, unicorn.FS, unicorn.GS}
)

// loadTaskSegs loads the new task's segment registers in the order given
// (indexes into TaskState.Seg).
func (m *Machine) loadTaskSegs(sel uint16, next x86.TaskState, order []int) *DeliveryFault {
	for _, i := range order {
		s := next.Seg[i]
		if !x86.SelNull(s) || i == 1 || i == 2 {
			m.segLoading(s)
		}
		if err := m.E.SetReg(taskSegs[i], uint32(s)); err != nil {
			return taskFault(x86.VecTS, s, "task %#x: load %v with %#x: %v", sel, taskSegs[i], s, err)
		}
	}
	return nil
}

// pushTaskCode pushes an exception's error code on the new task's stack.
func (m *Machine) pushTaskCode(next x86.TaskState, code uint32, hasErr bool) *DeliveryFault {
	if !hasErr {
		return nil
	}
	esp := m.reg(unicorn.ESP) - 4
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], code)
	if err := m.write(m.segBase(next.Seg[2])+esp, b[:]); err != nil {
		return pfFault(err, taskFault(x86.VecSS, 0, "push the error code: %v", err))
	}
	m.setReg(unicorn.ESP, esp)
	return nil
}

// raiseTask completes a switch into a more privileged task: the host
// cannot raise CPL by a register write, so the machine's privilege-switch
// trampoline (TransferTo) enters the task's ring at its EIP, on its own
// stack (the new TSS's stack slot for that ring names it for the
// trampoline's call gate, and is put back after), and the rest of the task
// is loaded once there (Transfer.Landed). The trampoline's frame lands below
// the task's ESP, in memory the task does not own yet.
func (m *Machine) raiseTask(vec uint8, sel uint16, d x86.Descriptor, next x86.TaskState, csd x86.Descriptor, flags, code uint32, hasErr bool, retEIP, eventPC uint32) *DeliveryFault {
	newCPL := uint32(next.Seg[1] & 3)
	slot := d.Base + x86.TSSESP0 + 8*newCPL
	var orig, stack [8]byte
	if err := m.ReadMem(slot, orig[:]); err != nil {
		return taskFault(x86.VecTS, sel, "read TSS %#x: %v", sel, err)
	}
	binary.LittleEndian.PutUint32(stack[0:], next.GPR[4])
	binary.LittleEndian.PutUint32(stack[4:], uint32(next.Seg[2]))
	if err := m.write(slot, stack[:]); err != nil {
		return taskFault(x86.VecTS, sel, "write TSS %#x: %v", sel, err)
	}
	landed := func() {
		if err := m.write(slot, orig[:]); err != nil {
			m.fail(fmt.Errorf("vmm: task switch: restore TSS %#x: %w", sel, err))
			return
		}
		m.setRegs(taskGPRs, next.GPR[:])
		m.setReg(unicorn.EFLAGS, flags)
		if f := m.loadTaskSegs(sel, next, []int{0, 3, 4, 5}); f != nil {
			m.Crash(eventPC, "delivering %s through a task gate: %s", x86.VectorName(vec), f.Why)
			return
		}
		if f := m.pushTaskCode(next, code, hasErr); f != nil {
			m.Crash(eventPC, "delivering %s through a task gate: %s", x86.VectorName(vec), f.Why)
		}
	}
	f := m.TransferTo(Transfer{
		Vector: vec, Handler: next.EIP, TargetSel: next.Seg[1], Target: csd,
		FrameCS: m.reg(unicorn.CS), FrameFlags: m.reg(unicorn.EFLAGS), RetEIP: retEIP,
		NewFlags: flags, EventPC: eventPC, Landed: landed,
	})
	if f != nil {
		_ = m.write(slot, orig[:]) // the switch did not start: the TSS as it was
	}
	return f
}
