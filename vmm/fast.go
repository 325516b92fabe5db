package vmm

import (
	"encoding/binary"
	"fmt"

	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// Support for emulation the substrate does on its own between two entries
// into Go (vmm/unicorn's fast_cgo.go: cli and sti under trap).

// QuietResume reports whether the guest may run on from here with the Go
// side absent until its next entry, and with instructions the substrate
// emulates in the meantime counted in bulk (RecordN): no instruction
// counter, event trace, event callback or pause wants each event as it
// happens; no stop, pause, single step, interrupt window, clock start or
// failure is waiting for the engine to return; no interrupt is pending
// (opening the virtual IF would have to deliver it); no live input can
// raise one from another goroutine; and the guest does not page (a
// linear address is the guest-physical one, fixed until the VMM sees a
// write of CR0).
func (m *Machine) QuietResume() bool {
	return m.counter == nil && m.ExtraCounter == nil && !m.Cfg.Trace && m.Cfg.OnEvent == nil && m.pauseOn == nil &&
		!m.pause && !m.resume && m.stop.Kind == StopNone && !m.irqWindow && !m.inShadow && !m.wantClock && !m.wantFlush &&
		m.stepThen == nil && m.hookErr == nil && !m.crashInsn && !m.pendingUD && !m.rewind.pending && m.gate == nil &&
		!m.Cfg.LiveInput && m.Cfg.InputReader == nil && !m.interrupt.Load() && m.pauseAt == 0 &&
		!m.PendingIRQ() && !m.MMU().Paging()
}

// RecordN records n events of one kind at pc at once: events the
// substrate emulated on its own while QuietResume held.
func (m *Machine) RecordN(cause string, mech Mechanism, pc uint32, n uint64) {
	if m.Cfg.Trace || m.Cfg.OnEvent != nil || m.pauseOn != nil || m.counter != nil {
		for ; n > 0; n-- {
			m.Record(cause, mech, pc)
		}
		return
	}
	m.res.Counts[Key{cause, mech}] += n
}

// TimeIdle reports whether an I/O instruction's catch-up of device time
// (Sync) can change nothing but the time itself: no PIT channel counts
// or waits to start, the local APIC's timer is off, and no host input
// waits for the UART. Then an I/O instruction the substrate emulates on
// its own (the POST write) may skip it: the next one Go performs catches
// up the same.
func (m *Machine) TimeIdle() bool {
	for i := range m.PIT.ch {
		if m.PIT.ch[i].run || m.PIT.ch[i].pend {
			return false
		}
	}
	if m.LAPIC.timerOn {
		return false
	}
	m.Serial.mu.Lock()
	defer m.Serial.mu.Unlock()
	return len(m.Serial.host) == 0
}

// HookFastSite makes the machine's code hook run before the instruction
// at pc, so that the substrate's C side can emulate it there, before it
// raises its exception (vmm/unicorn's fast_cgo.go: a #GP costs Unicorn a
// longjmp and a context save and restore, a code hook a call). When the C
// side leaves the instruction alone, the hook's Go side does nothing and
// the instruction runs (and traps) as before.
func (m *Machine) HookFastSite(pc uint32) error {
	if _, err := m.E.HookCodeEager(uint64(pc), uint64(pc), func(uint64, uint32) {}); err != nil {
		return fmt.Errorf("vmm: hook %#x: %w", pc, err)
	}
	return m.DropTranslations(uint64(pc), uint64(pc)+1)
}

// System calls delivered in C (issue 16).
//
// Under native a system call from ring 3 (int $0x80 through a DPL-3 gate
// to a ring-0 handler) is the machine's delivery: Unicorn stops at the int
// with an exception, the machine reads the gate, points GDTR at a copy of
// the guest's GDT with a call gate appended, runs `lcall` from its
// trampoline (Unicorn switches to the TSS's inner stack), and at the
// landing rewrites the call frame into an interrupt frame (deliver.go):
// two entries into Go per system call. The C side of the engine can run
// the same steps (vmm/unicorn's FastGate) once the Go side has made one
// such delivery and armed it with everything it read on the way: the
// vector, the interrupted CS and SS, CR0 and CR3, IDTR and the gate's
// bytes, GDTR and the guest's GDT (equal to the trampoline's copy), TR and
// the TSS's inner stack, the trampoline's lcall. C delivers only while all
// of that is unchanged (it compares registers and bytes at every int), so
// it does exactly what the Go path would: the event counted (int/0xNN,
// mechanism machine), GDTR, the frame, ESP, EFLAGS and EIP as the Go path
// sets them. C does the int's part; the landing's part is the machine's
// own code (fastLandCode below), to which C points the call gate: no hook
// at the landing (a hook costs a walk of Unicorn's list of code hooks,
// and C's register writes there a second break out of its CPU loop, per
// system call). It is armed only when nothing else could happen on the way
// (QuietResume: no counting pass, trace, pause, pending interrupt; TimeIdle:
// no timer whose clock could enter Go between the int and the landing),
// for a plain int n (vector >= 0x20, no error code, no task switch, no
// paging, segments with base 0 whose Accessed bits are set already) under
// the machine's own delivery (no VMM: native). Every Go entry disarms it;
// one that comes between the int and the lcall finishes the delivery in
// Go (onFastGate hands it over as a pending gate).

// armGate runs at the end of the landing of a delivery g made by the
// machine (onLanding), with the inner stack pointer the landing found and
// the interrupted SS from the call frame.
func (m *Machine) armGate(g *pendingGate, landingESP, oldSS uint32) {
	t := g.t
	if !t.soft || t.HasCode || t.NoFrame || !g.swapped || g.cr3Swap || t.Vector < 0x20 || t.FrameCS&3 != 3 || x86.SelRPL(t.TargetSel) != 0 ||
		m.VMMTrap != nil || !m.QuietResume() || !m.TimeIdle() {
		return
	}
	idt, err1 := m.E.MMR(unicorn.IDTR)
	tr, err2 := m.E.MMR(unicorn.TR)
	if err1 != nil || err2 != nil || uint32(t.Vector)*8+7 > idt.Limit {
		return
	}
	fg := unicorn.FastGate{Vec: uint32(t.Vector), CS: t.FrameCS & 0xFFFF, SS: oldSS & 0xFFFF,
		CR0: m.reg(unicorn.CR0), CR3: m.reg(unicorn.CR3), IDT: idt, GDT: g.guestGDTR, TR: tr,
		Gate: idt.Base + uint32(t.Vector)*8, CopyAt: gateGDTAddr, Stub: stubAddr, StubBytes: m.stub,
		Mail: gateMailAddr, Handler: t.Handler}
	if fg.CR0&x86.CR0PG != 0 || m.ReadMem(fg.Gate, fg.GateBytes[:]) != nil || m.cpuRead(tr.Base+4, fg.TSSBytes[:]) != nil {
		return
	}
	fg.ESP0 = binary.LittleEndian.Uint32(fg.TSSBytes[0:])
	ss0 := binary.LittleEndian.Uint16(fg.TSSBytes[4:])
	idx := (g.guestGDTR.Limit + 1 + 7) / 8
	fg.Copy = unicorn.MMR{Base: gateGDTAddr, Limit: idx*8 + 7}
	// C points the copy's call gate at the landing code (the Go path's
	// transferInner points it back at the landing hook).
	fg.Slot = gateGDTAddr + idx*8
	gate := x86.Decode(fg.GateBytes[:])
	fg.ClearIF = gate.Type == x86.TypeIntGate32
	if landingESP != fg.ESP0-16 || gate.Offset != t.Handler || uint16(m.reg(unicorn.SS)) != ss0 || m.stub[0] != 0x9A {
		return
	}
	// Every segment the delivery loads or uses: base 0 (EIP and ESP are
	// the guest-physical addresses C reads and writes), Accessed already
	// set (segLoading changes nothing).
	for _, sel := range []uint16{uint16(fg.CS), uint16(fg.SS), gate.Selector, ss0} {
		if x86.SelTI(sel) || x86.SelIndex(sel) == 0 || uint32(x86.SelIndex(sel))*8+7 > g.guestGDTR.Limit {
			return
		}
		var raw [8]byte
		if m.ReadMem(g.guestGDTR.Base+uint32(x86.SelIndex(sel))*8, raw[:]) != nil || raw[5]&1 == 0 ||
			x86.Decode(raw[:]).Base != 0 {
			return
		}
	}
	// The landing code runs in the handler's code segment and reads the
	// mailbox through it: readable, and its limit must reach both.
	var raw [8]byte
	if m.ReadMem(g.guestGDTR.Base+uint32(x86.SelIndex(gate.Selector))*8, raw[:]) != nil {
		return
	}
	if cs := x86.Decode(raw[:]); raw[5]&0x1A != 0x1A || cs.Limit < gateMailAddr+unicorn.GateMailSize-1 {
		return // not a readable code segment (S, code, R) reaching the mailbox
	}
	// (The IDT gate's selector: a delivery Go finished for C carries no
	// TargetSel.)
	land := uint32(fastLandAddr)
	if !fg.ClearIF {
		land += fastLandTrapEntry
	}
	binary.LittleEndian.PutUint64(fg.SlotBytes[:], x86.EncodeGate(x86.TypeCallGate32, gate.Selector&^3, land, 3))
	binary.LittleEndian.PutUint64(m.landGate[:], x86.EncodeGate(x86.TypeCallGate32, gate.Selector&^3, landingAddr, 3))
	if m.E.ArmFastGate(fg) {
		m.fastGate = fg
	}
}

// onFastGate takes back what the C side did since the gate was armed: n
// system calls of vector vec delivered, and one still in flight if pending
// (finished by onLanding, as if the Go path had started it).
func (m *Machine) onFastGate(n uint64, vec uint32, pending *unicorn.FastGatePending) {
	m.RecordN(CauseInt(uint8(vec)), MechMachine, 0, n)
	if pending == nil {
		return
	}
	// Its lcall has not run: it goes to the landing hook, as on the Go path.
	if err := m.E.MemWrite(uint64(m.fastGate.Slot), m.landGate[:]); err != nil {
		m.fail(fmt.Errorf("vmm: restore the trampoline's call gate: %w", err))
		return
	}
	m.gateBuf = pendingGate{t: Transfer{Vector: uint8(vec), Handler: m.fastGate.Handler, FrameCS: pending.FrameCS,
		FrameFlags: pending.FrameFlags, RetEIP: pending.RetEIP, NewFlags: pending.NewFlags, EventPC: pending.RetEIP - 2, soft: true},
		swapped: true, guestGDTR: pending.GuestGDTR}
	m.gate = &m.gateBuf
}

// fastLandCode is the landing of a system call delivered in C
// (vs_fast_deliver): after the trampoline's lcall, at the handler's
// privilege on the inner stack ESP0, with the call frame [EIP, CS, ESP,
// SS] at ESP0-16, it does what onLanding does, from the mailbox C filled
// at the int: IF cleared for an interrupt gate (the gate leads to the cli;
// for a trap gate to the lgdt after it), the guest's GDTR back, the
// frame's CS and EIP words overwritten with the interrupt frame's EFLAGS
// and CS, ESP down to the frame's EIP, which C wrote at ESP0-20 (so the
// frame is [EIP, CS, EFLAGS, ESP, SS]), then the handler, with the
// interrupted EFLAGS (C delivers only with TF, NT, RF and VM clear: what
// the Go path's NewFlags would be). It reads through CS (armGate: readable,
// base 0, reaching the mailbox) and writes nothing but the frame. Code,
// not a hook: no walk of the code-hook list, no register writes from C,
// no second break out of Unicorn's CPU loop per system call. It returns
// the code and the offset of its trap-gate entry.
func fastLandCode() ([]byte, uint32) {
	cs := func(op []byte, disp uint32) []byte { // op with a %cs:disp32 operand
		return binary.LittleEndian.AppendUint32(append([]byte{0x2E}, op...), disp)
	}
	c := []byte{0xFA}                                                                 // cli (interrupt gates enter here)
	c = append(c, cs([]byte{0x0F, 0x01, 0x15}, gateMailAddr+unicorn.GateMailGDTR)...) // lgdt %cs:gdtr (trap gates enter here)
	c = append(c, 0x8D, 0x64, 0x24, 0x08)                                             // lea 8(%esp),%esp: above the frame's EIP and CS words
	c = append(c, cs([]byte{0xFF, 0x35}, gateMailAddr+unicorn.GateMailFlags)...)      // pushl %cs:flags
	c = append(c, cs([]byte{0xFF, 0x35}, gateMailAddr+unicorn.GateMailCS)...)         // pushl %cs:cs
	c = append(c, 0x8D, 0x64, 0x24, 0xFC)                                             // lea -4(%esp),%esp: the frame's EIP
	c = append(c, cs([]byte{0xFF, 0x25}, gateMailAddr+unicorn.GateMailHandler)...)    // jmp *%cs:handler
	return c, fastLandTrapEntry
}

// fastLandTrapEntry is where a trap gate enters fastLandCode: after the cli.
const fastLandTrapEntry = 1
