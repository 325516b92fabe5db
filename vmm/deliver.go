package vmm

import (
	"encoding/binary"
	"fmt"
	"strings"

	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// Exception and interrupt delivery: the machine model's job.
//
// Unicorn never reads the IDT: every exception and every int n ends in its
// interrupt hook, and nothing reaches guest code unless the machine moves it
// there. So the machine does what the CPU would (Intel SDM vol. 3, 6.12):
// read the gate from the IDT currently loaded, check it, and either push
// EFLAGS, CS, EIP (and an error code) on the current stack — when the
// handler runs at the same privilege — or switch to the inner stack named
// by the TSS first.
//
// The host cannot raise the privilege level by writing CS or SS (Unicorn
// refuses). A call gate can: the machine appends a DPL-3 call gate that
// targets the handler's code segment to a copy of the loaded GDT, points
// GDTR at the copy and runs `lcall $gate,$0` from a trampoline in the VMM
// region. Unicorn performs the privilege switch — SS:ESP from the TSS, old
// SS, ESP, CS, EIP pushed — and arrives at the landing address, where a
// code hook restores the GDTR, rewrites the call frame into an interrupt
// frame (inserting EFLAGS and the error code) and jumps to the handler.
//
// A fault raised while delivering an event follows the double-fault rule
// (x86.Escalate); a fault while delivering #DF is a triple fault, which
// shuts the machine down: a crash with a report, as QEMU's -no-reboot does.

// pendingGate is a privilege-raising transfer in flight through the call gate.
type pendingGate struct {
	t         Transfer
	swapped   bool        // GDTR points at the machine's copy; restore guestGDTR
	guestGDTR unicorn.MMR // the GDTR to restore
	cr3Swap   bool        // CR3 names the trampoline's page directory; restore guestCR3
	guestCR3  uint32
	saved     savedStack // a NoFrame transfer: what the call frame overwrites
}

// undo puts the guest's GDTR and CR3 back after the trampoline.
func (m *Machine) undoGate(g *pendingGate) {
	if g.swapped {
		m.restoreGDTR(g.guestGDTR)
	}
	if g.cr3Swap {
		if err := m.leaveTrampolineCR3(g.guestCR3); err != nil {
			m.fail(fmt.Errorf("vmm: leave the trampoline's page directory: %w", err))
		}
	}
}

// DeliveryFault is an exception raised while delivering another.
type DeliveryFault struct {
	Vec  uint8
	Code uint32
	CR2  uint32 // for a #PF: the linear address that faulted
	Why  string
	// NotModelled: the CPU would deliver the event, but through a
	// mechanism this delivery path does not model. ReadGate says so for a
	// task gate, which the machine (deliverTask) and trap's VMM
	// (Emulator.TaskGate) switch tasks through and other paths do not. The
	// run stops with Why instead of raising Vec, which the guest would
	// never see.
	NotModelled bool
}

func (f *DeliveryFault) Error() string {
	return fmt.Sprintf("%s(%#x): %s", x86.VectorName(f.Vec), f.Code, f.Why)
}

// onInterrupt is Unicorn's interrupt hook: an exception or int n.
func (m *Machine) onInterrupt(intno uint32) {
	// Pitfall 1: TakeFault also resets Unicorn's "previous exception" so
	// the next fault is not promoted to #DF — after int n too: without it,
	// under bt the first #GP at ring 3 after a system call arrived as #DF
	// (difftest's corpus guest ring3). The machine follows the double-fault
	// rule itself (escalate). It comes first: its context restore would
	// drop the register snapshot a read before it took.
	code, isInt, err := m.E.TakeFault()
	if err != nil {
		m.fail(fmt.Errorf("vmm: %w", err))
		return
	}
	m.restoreSwaps() // a load of the guest's page under the VMM's faulted before it ended
	if m.rewind.pending {
		// The rest of a block whose denied I/O instruction is being
		// rewound (safetyNet) raised it: the engine stops here, the
		// registers go back and the instruction runs again at its site,
		// so nothing of what followed it may happen (a hlt there would
		// halt the VM).
		m.E.Stop()
		return
	}
	pc := m.pc()
	vec := uint8(intno)
	if g := m.gate; g != nil {
		// A fault raised by the trampoline's lcall: the delivery of g.vec failed.
		m.gate = nil
		m.undoGate(g)
		m.setReg(unicorn.EIP, g.t.EventPC)
		f := &DeliveryFault{Vec: vec, Code: code, Why: "raised during the privilege switch through the TSS"}
		if vec == x86.VecPF {
			f.CR2 = m.reg(unicorn.CR2)
		}
		m.escalate(g.t.Vector, f, g.t.EventPC, nil)
		return
	}
	if isInt {
		// int n, int3, into: EIP is already past the instruction.
		start := pc - 1
		var b [2]byte
		if err := m.ReadMem(pc-2, b[:]); err == nil && b[0] == 0xCD && b[1] == vec {
			start = pc - 2
		}
		m.deliver(CauseInt(vec), vec, 0, false, true, pc, start)
		return
	}
	m.deliverException(vec, code, pc)
}

// deliverException delivers a fault raised by the instruction at pc.
func (m *Machine) deliverException(vec uint8, code uint32, pc uint32) {
	exc, _ := x86.ExceptionFor(vec)
	ret := pc
	if exc.Class == x86.Trap && vec != x86.VecDB {
		ret = pc + uint32(m.insnLen(pc))
	}
	// A #DB from Unicorn is TF's single-step trap (the machine keeps the
	// debug registers itself): Unicorn raises it with EIP already past the
	// traced instruction, which is where the frame returns to, and the
	// CPU records it in DR6.BS.
	if vec == x86.VecDB {
		m.dr[6] |= x86.DR6BS
	}
	m.deliver(CauseExc(vec), vec, code, exc.ErrorCode, false, ret, pc)
}

func (m *Machine) insnLen(pc uint32) int {
	inst, err := m.Decode(pc)
	if err != nil {
		return 1
	}
	return inst.Len
}

// deliver runs one delivery attempt and escalates on failure. cause is the
// event: recorded as a machine event if guest code receives it, handed to
// the VMM (an exit) if the real IDT leads there.
//
// The double-fault rule is about exceptions: a fault raised while
// delivering int n (int $0x0d through a DPL-0 gate from ring 3: #GP with
// the IDT entry as error code) is an ordinary exception of the int
// instruction, delivered as such; only a fault while delivering that one
// escalates.
func (m *Machine) deliver(cause string, vec uint8, code uint32, hasErr, soft bool, retEIP, eventPC uint32) {
	f := m.tryDeliver(cause, vec, code, hasErr, soft, retEIP, eventPC)
	if f == nil {
		return
	}
	if f.NotModelled {
		m.Crash(eventPC, "delivering %s: %s", x86.VectorName(vec), f.Why)
		return
	}
	if soft {
		e, _ := x86.ExceptionFor(f.Vec)
		m.deliver(CauseExc(f.Vec), f.Vec, f.Code, e.ErrorCode, false, eventPC, eventPC)
		return
	}
	m.escalate(vec, f, eventPC, nil)
}

// escalate handles fault f raised while delivering vector first.
func (m *Machine) escalate(first uint8, f *DeliveryFault, eventPC uint32, chain []string) {
	if f.NotModelled {
		m.Crash(eventPC, "delivering %s: %s", x86.VectorName(first), f.Why)
		return
	}
	chain = append(chain, fmt.Sprintf("delivering %s raised %s", x86.VectorName(first), f))
	next, triple := x86.Escalate(first, f.Vec)
	if triple {
		m.Crash(eventPC, "triple fault: %s", strings.Join(chain, "; "))
		return
	}
	code, hasErr := f.Code, true
	if next == x86.VecDF {
		code = 0
	} else if e, ok := x86.ExceptionFor(next); ok {
		hasErr = e.ErrorCode
	}
	if next == x86.VecPF {
		// libunicorn 2.1 puts a host-written CR2 into CR3 as well
		// (TestCR2WriteAlsoSetsCR3): keep the address space.
		cr3 := m.reg(unicorn.CR3)
		m.setRegs([]unicorn.Reg{unicorn.CR2, unicorn.CR3}, []uint32{f.CR2, cr3})
	}
	if f2 := m.tryDeliver(CauseExc(next), next, code, hasErr, false, eventPC, eventPC); f2 != nil {
		m.escalate(next, f2, eventPC, chain)
	}
}

// Descriptor reads the descriptor a selector names from the loaded GDT (or LDT).
func (m *Machine) Descriptor(sel uint16) (x86.Descriptor, error) {
	table := unicorn.GDTR
	if x86.SelTI(sel) {
		table = unicorn.LDTR
	}
	t, err := m.E.MMR(table)
	if err != nil {
		return x86.Descriptor{}, fmt.Errorf("vmm: read %v: %w", table, err)
	}
	off := uint32(x86.SelIndex(sel)) * 8
	if off+7 > t.Limit {
		return x86.Descriptor{}, fmt.Errorf("selector %#x beyond %v limit %#x", sel, table, t.Limit)
	}
	var b [8]byte // on the stack: no allocation per exit
	if err := m.cpuRead(t.Base+off, b[:]); err != nil {
		return x86.Descriptor{}, err
	}
	return x86.Decode(b[:]), nil
}

// segBase is the base of the segment a selector names (0 for the null
// selector, which the entry state uses with flat caches).
func (m *Machine) segBase(sel uint16) uint32 {
	if x86.SelIndex(sel) == 0 && !x86.SelTI(sel) {
		return 0
	}
	d, err := m.Descriptor(sel)
	if err != nil {
		return 0
	}
	return d.Base
}

// Trap is an event the real IDT routes into the VMM: the gate's handler
// lies in the VMM region. The machine calls the VMM's handler with it
// instead of pushing a frame: this transfer of control is an exit.
type Trap struct {
	Cause    string // the event: "int/0x80", "exc/#GP", "irq/0"
	Vector   uint8
	Code     uint32
	HasCode  bool
	Soft     bool   // int n, int3, into
	External bool   // an interrupt from the PIC
	RetEIP   uint32 // the EIP a frame would save (the faulting instruction, or after it)
	PC       uint32 // the instruction that caused the event
}

// Transfer is a control transfer into a handler, with the frame it pushes.
// The machine performs it for hardware delivery; a VMM uses it to reflect
// an event into the guest's own handler.
type Transfer struct {
	Vector    uint8
	Handler   uint32         // EIP of the handler
	TargetSel uint16         // the real code selector the handler runs with (RPL = its privilege)
	Target    x86.Descriptor // its descriptor
	// Frame contents: CS and EFLAGS as the handler will see them in its
	// frame (a VMM may show the guest its own view), EIP to return to, and
	// the error code.
	FrameCS, FrameFlags uint32
	RetEIP              uint32
	Code                uint32
	HasCode             bool
	NewFlags            uint32 // EFLAGS the handler starts with
	EventPC             uint32
	// Landed, if set, runs once a transfer to a more privileged level has
	// landed (CS, SS, ESP, EFLAGS and EIP set as above): a task switch
	// through a task gate uses the privilege switch and then loads the
	// rest of the new task (task.go).
	Landed func()
	// NoFrame: the transfer pushes nothing and the handler starts on
	// InnerSS:InnerESP, not on the TSS's stack (sysenter). The call-gate
	// trampoline still pushes its call frame on the TSS's inner stack: the
	// 16 bytes it overwrites there are put back on landing.
	NoFrame  bool
	InnerSS  uint16
	InnerESP uint32
	// soft: the machine's own delivery of an int n (tryDeliver), which
	// the C side may take over afterwards (fast.go's armGate).
	soft bool
}

// tryDeliver delivers one event through the loaded IDT, or returns the
// fault that delivery raised.
func (m *Machine) tryDeliver(cause string, vec uint8, code uint32, hasErr, soft bool, retEIP, eventPC uint32) *DeliveryFault {
	idtCode := uint32(vec)*8 + 2 // error code naming an IDT entry (IDT bit set)
	idtr, err := m.E.MMR(unicorn.IDTR)
	if err != nil {
		m.fail(fmt.Errorf("vmm: read IDTR: %w", err))
		return nil
	}
	gate, f := m.readGate(m.cpuRead, idtr.Base, idtr.Limit, vec) // the IDT the CPU has loaded
	if f != nil && f.NotModelled {
		return m.deliverTask(cause, vec, code, hasErr, soft, retEIP, eventPC, idtr.Base) // a task gate: task.go
	}
	if f != nil {
		return f
	}
	if inVMM(gate.Offset) && m.VMMTrap != nil {
		// The real IDT leads into the VMM: an exit.
		m.VMMTrap(Trap{Cause: cause, Vector: vec, Code: code, HasCode: hasErr, Soft: soft,
			External: strings.HasPrefix(cause, "irq/"), RetEIP: retEIP, PC: eventPC})
		return nil
	}
	cs := m.reg(unicorn.CS)
	cpl := uint8(cs & 3)
	if soft && gate.DPL < cpl {
		return &DeliveryFault{Vec: x86.VecGP, Code: idtCode, Why: fmt.Sprintf("int $%#x from CPL %d through a DPL-%d gate", vec, cpl, gate.DPL)}
	}
	if !gate.Present {
		return &DeliveryFault{Vec: x86.VecNP, Code: idtCode, Why: fmt.Sprintf("IDT entry %#x not present", vec)}
	}
	target, f := m.codeTarget(gate.Selector, m.Descriptor)
	if f != nil {
		return f
	}
	m.Record(cause, MechMachine, eventPC)
	eflags := m.reg(unicorn.EFLAGS)
	newFlags := eflags &^ (x86.FlagTF | x86.FlagNT | x86.FlagRF | x86.FlagVM)
	if gate.Type == x86.TypeIntGate32 {
		newFlags &^= x86.FlagIF
	}
	newCPL := target.DPL
	if target.IsConforming() {
		newCPL = cpl
	}
	return m.TransferTo(Transfer{
		Vector: vec, Handler: gate.Offset,
		TargetSel: gate.Selector&^3 | uint16(newCPL), Target: target,
		FrameCS: cs, FrameFlags: eflags, RetEIP: retEIP, Code: code, HasCode: hasErr,
		NewFlags: newFlags, EventPC: eventPC, soft: soft,
	})
}

// ReadGate reads and checks IDT entry vec of the guest's table at
// base/limit.
func (m *Machine) ReadGate(base, limit uint32, vec uint8) (x86.Descriptor, *DeliveryFault) {
	return m.readGate(m.ReadMem, base, limit, vec)
}

func (m *Machine) readGate(read func(uint32, []byte) error, base, limit uint32, vec uint8) (x86.Descriptor, *DeliveryFault) {
	idtCode := uint32(vec)*8 + 2
	if uint32(vec)*8+7 > limit {
		return x86.Descriptor{}, &DeliveryFault{Vec: x86.VecGP, Code: idtCode, Why: fmt.Sprintf("vector %#x is beyond the IDT limit %#x", vec, limit)}
	}
	var raw [8]byte // on the stack: no allocation per exit
	if err := read(base+uint32(vec)*8, raw[:]); err != nil {
		return x86.Descriptor{}, &DeliveryFault{Vec: x86.VecGP, Code: idtCode, Why: fmt.Sprintf("IDT entry unreadable: %v", err)}
	}
	gate := x86.Decode(raw[:])
	if !gate.IsGate() || (gate.Type != x86.TypeIntGate32 && gate.Type != x86.TypeTrapGate32) {
		why := fmt.Sprintf("IDT entry %#x is not a 32-bit interrupt or trap gate (%v)", vec, gate)
		if gate.Type == x86.TypeTaskGate && gate.IsGate() && gate.Present {
			why = fmt.Sprintf("IDT entry %#x is a task gate: hardware task switching through the IDT is not modelled", vec)
			return x86.Descriptor{}, &DeliveryFault{Vec: x86.VecGP, Code: idtCode, Why: why, NotModelled: true}
		}
		return x86.Descriptor{}, &DeliveryFault{Vec: x86.VecGP, Code: idtCode, Why: why}
	}
	return gate, nil
}

// codeTarget resolves and checks a gate's target code segment.
func (m *Machine) codeTarget(sel uint16, lookup func(uint16) (x86.Descriptor, error)) (x86.Descriptor, *DeliveryFault) {
	target, err := lookup(sel)
	selCode := uint32(sel &^ 3)
	if err != nil || x86.SelIndex(sel) == 0 || !target.IsCode() {
		return target, &DeliveryFault{Vec: x86.VecGP, Code: selCode, Why: fmt.Sprintf("the gate targets selector %#x, which is not a code segment", sel)}
	}
	if !target.Present {
		return target, &DeliveryFault{Vec: x86.VecNP, Code: selCode, Why: fmt.Sprintf("handler code segment %#x not present", sel)}
	}
	return target, nil
}

// TransferTo performs a transfer: on the current stack when the handler
// runs at the current privilege level, else through the call-gate
// trampoline onto the inner stack named by the loaded TSS.
func (m *Machine) TransferTo(t Transfer) *DeliveryFault {
	cpl := uint8(m.reg(unicorn.CS) & 3)
	newCPL := x86.SelRPL(t.TargetSel)
	switch {
	case newCPL > cpl:
		return &DeliveryFault{Vec: x86.VecGP, Code: uint32(t.TargetSel &^ 3), Why: fmt.Sprintf("handler segment %#x is less privileged than CPL %d", t.TargetSel, cpl)}
	case newCPL == cpl:
		return m.transferSamePL(t)
	}
	return m.transferInner(t)
}

func (m *Machine) transferSamePL(t Transfer) *DeliveryFault {
	if t.NoFrame {
		return m.transferNoFrame(t)
	}
	var fw [6]uint32 // on the stack: no allocation per delivery
	frame := fw[:0]
	if t.HasCode {
		frame = append(frame, t.Code)
	}
	frame = append(frame, t.RetEIP, t.FrameCS&0xFFFF, t.FrameFlags)
	ss := m.reg(unicorn.SS)
	esp := m.reg(unicorn.ESP) - uint32(4*len(frame))
	var fb [24]byte
	if err := m.write(m.segBase(uint16(ss))+esp, words(fb[:0], frame)); err != nil {
		return pfFault(err, &DeliveryFault{Vec: x86.VecSS, Code: 0, Why: fmt.Sprintf("cannot push the interrupt frame: %v", err)})
	}
	if uint32(t.TargetSel) != m.reg(unicorn.CS) {
		m.segLoading(t.TargetSel)
		if err := m.E.SetReg(unicorn.CS, uint32(t.TargetSel)); err != nil {
			return &DeliveryFault{Vec: x86.VecGP, Code: uint32(t.TargetSel &^ 3), Why: fmt.Sprintf("load handler CS: %v", err)}
		}
	}
	m.setRegs([]unicorn.Reg{unicorn.ESP, unicorn.EFLAGS}, []uint32{esp, t.NewFlags})
	m.Complete(t.Handler)
	return nil
}

// transferInner switches to a more privileged level through the call-gate
// trampoline; onLanding completes the transfer.
func (m *Machine) transferInner(t Transfer) *DeliveryFault {
	tr, err := m.E.MMR(unicorn.TR)
	if err != nil {
		m.fail(fmt.Errorf("vmm: read TR: %w", err))
		return nil
	}
	if tr.Limit < 0x67 {
		return &DeliveryFault{Vec: x86.VecTS, Code: uint32(tr.Selector &^ 3), Why: "no 32-bit TSS loaded (ltr) to supply the inner stack"}
	}
	// The switch loads the handler's CS and the inner SS named by the TSS.
	m.segLoading(t.TargetSel)
	var ss [2]byte
	if err := m.cpuRead(tr.Base+4+8*uint32(newCPLOf(t)), ss[:]); err == nil {
		m.segLoading(binary.LittleEndian.Uint16(ss[:]))
	}
	var saved savedStack
	if t.NoFrame {
		saved = m.saveCallFrameArea(tr.Base, newCPLOf(t))
	}
	gdtr, err := m.E.MMR(unicorn.GDTR)
	if err != nil {
		m.fail(fmt.Errorf("vmm: read GDTR: %w", err))
		return nil
	}
	var gateBytes [8]byte
	binary.LittleEndian.PutUint64(gateBytes[:], x86.EncodeGate(x86.TypeCallGate32, t.TargetSel&^3, landingAddr-t.Target.Base, 3))
	var idx uint32
	if m.GateSlot != 0 {
		// The VMM's own GDT keeps a slot for the machine's gate.
		idx = uint32(m.GateSlot)
		if err := m.cpuWrite(gdtr.Base+idx*8, gateBytes[:]); err != nil {
			m.fail(err)
			return nil
		}
	} else {
		// The loaded GDT is the guest's: append the gate to a copy.
		idx = (gdtr.Limit + 1 + 7) / 8
		if idx > 8191 {
			m.Crash(t.EventPC, "cannot deliver %s to an inner ring: the guest GDT is full, leaving no slot for the machine's call gate", x86.VectorName(t.Vector))
			return nil
		}
		gdt, err := m.readScratch(gdtr.Base, int(gdtr.Limit)+1)
		if err != nil {
			return pfFault(err, &DeliveryFault{Vec: x86.VecGP, Code: 0, Why: fmt.Sprintf("GDT unreadable: %v", err)})
		}
		// The machine's own pages: physical addresses, never the guest's
		// linear space.
		if err := m.E.MemWrite(gateGDTAddr, gdt); err != nil {
			m.fail(err)
			return nil
		}
		if err := m.E.MemWrite(uint64(gateGDTAddr+idx*8), gateBytes[:]); err != nil {
			m.fail(err)
			return nil
		}
		if err := m.E.SetMMR(unicorn.GDTR, unicorn.MMR{Base: gateGDTAddr, Limit: idx*8 + 7}); err != nil {
			m.fail(fmt.Errorf("vmm: set GDTR: %w", err))
			return nil
		}
	}
	sel := uint16(idx<<3 | 3)
	stub := [7]byte{0x9A, 0, 0, 0, 0, byte(sel), byte(sel >> 8)} // lcall $sel, $0
	// The stub is the same for every delivery through the same gate slot:
	// rewritten (and its translation dropped) only when it changes.
	newStub := stub != m.stub
	if newStub {
		if err := m.E.MemWrite(stubAddr, stub[:]); err != nil {
			m.fail(err)
			return nil
		}
		m.stub = stub
	}
	// With the guest paging, the trampoline runs on the machine's own page
	// directory, which maps the machine's pages (paging.go).
	guestCR3, cr3Swap, err := m.enterTrampolineCR3()
	if err != nil {
		m.Crash(t.EventPC, "cannot deliver %s to an inner ring under paging: %v", x86.VectorName(t.Vector), err)
		return nil
	}
	// Host writes do not invalidate translated code (pitfall 5).
	if newStub {
		if err := m.DropTranslations(stubAddr, stubAddr+uint64(len(stub))); err != nil {
			m.fail(err)
			return nil
		}
	}
	m.gateBuf = pendingGate{t: t, swapped: m.GateSlot == 0, guestGDTR: gdtr, cr3Swap: cr3Swap, guestCR3: guestCR3, saved: saved}
	m.gate = &m.gateBuf // the machine's own: no allocation per delivery
	csBase := m.segBase(uint16(m.reg(unicorn.CS)))
	if fl := m.reg(unicorn.EFLAGS); fl&x86.FlagTF != 0 {
		// The trampoline's lcall must not single-step: with the guest's TF
		// (a #DB from a traced user instruction) it would raise a second
		// #DB at the landing, delivered from ring 0. The frame keeps the
		// guest's flags (FrameFlags); landing sets NewFlags.
		m.setReg(unicorn.EFLAGS, fl&^x86.FlagTF)
	}
	m.setReg(unicorn.EIP, stubAddr-csBase)
	return nil
}

// onLanding runs at the call gate's target, now at the handler's privilege
// level on the inner stack, with the call frame [EIP, CS, ESP, SS] pushed.
func (m *Machine) onLanding(addr uint64, size uint32) {
	g := m.gate
	if g == nil {
		m.Crash(uint32(addr), "guest reached the machine's privilege-switch landing pad outside a delivery")
		return
	}
	m.gate = nil
	m.undoGate(g)
	t := g.t
	if t.NoFrame {
		m.restoreCallFrameArea(g.saved)
		if f := m.transferNoFrame(t); f != nil {
			m.Crash(t.EventPC, "privilege switch without a frame: %s", f.Why)
		}
		return
	}
	esp := m.reg(unicorn.ESP)
	var call [16]byte
	err := m.ReadMem(m.segBase(uint16(m.reg(unicorn.SS)))+esp, call[:])
	if err != nil {
		m.Crash(t.EventPC, "privilege switch: inner stack unreadable: %v", err)
		return
	}
	oldESP := binary.LittleEndian.Uint32(call[8:])
	oldSS := binary.LittleEndian.Uint32(call[12:])
	var fw [6]uint32 // on the stack: no allocation per delivery
	frame := fw[:0]
	if t.HasCode {
		frame = append(frame, t.Code)
	}
	frame = append(frame, t.RetEIP, t.FrameCS&0xFFFF, t.FrameFlags, oldESP, oldSS&0xFFFF)
	newESP := esp + 16 - uint32(4*len(frame))
	ssBase := m.segBase(uint16(m.reg(unicorn.SS)))
	var fb [24]byte
	if err := m.write(ssBase+newESP, words(fb[:0], frame)); err != nil {
		m.Crash(t.EventPC, "privilege switch: cannot push the interrupt frame: %v", err)
		return
	}
	m.setRegs([]unicorn.Reg{unicorn.ESP, unicorn.EFLAGS}, []uint32{newESP, t.NewFlags})
	m.Complete(t.Handler)
	if t.Landed != nil {
		t.Landed()
		return
	}
	m.armGate(g, esp, oldSS)
}

func newCPLOf(t Transfer) uint8 { return x86.SelRPL(t.TargetSel) }

// segLoading prepares a segment load the machine makes the CPU do: the
// descriptor's Accessed bit is set as the CPU would set it, before the CPU
// reads the descriptor (see Machine.SegLoading).
func (m *Machine) segLoading(sel uint16) {
	if m.SegLoading != nil {
		m.SegLoading(sel)
		return
	}
	if x86.SelTI(sel) || x86.SelIndex(sel) == 0 {
		return
	}
	gdtr, err := m.E.MMR(unicorn.GDTR)
	if err != nil || uint32(x86.SelIndex(sel))*8+7 > gdtr.Limit {
		return
	}
	addr := gdtr.Base + uint32(x86.SelIndex(sel))*8 + 5
	var b [1]byte
	if err := m.cpuRead(addr, b[:]); err == nil && b[0]&0x10 != 0 && b[0]&1 == 0 {
		b[0] |= 1
		_ = m.cpuWrite(addr, b[:]) // the loaded GDT: a write the CPU would make
	}
}

func (m *Machine) restoreGDTR(g unicorn.MMR) {
	if err := m.E.SetMMR(unicorn.GDTR, g); err != nil {
		m.fail(fmt.Errorf("vmm: restore GDTR: %w", err))
	}
}

// words appends ws to b little-endian (b's array on the caller's stack:
// no allocation per delivery).
func words(b []byte, ws []uint32) []byte {
	for _, w := range ws {
		b = binary.LittleEndian.AppendUint32(b, w)
	}
	return b
}
