package hwassist

import (
	"encoding/binary"
	"errors"
	"fmt"

	"virtsim/trap"
	"virtsim/vmm"
	"virtsim/vmm/x86"
)

// Delivering an interrupt or exception through the guest's IDT by hand.
//
// KVM delivers exceptions the guest raises itself, and the interrupts the
// VMM injects. But when KVM's emulator refuses `int n` (PVM, see doc.go),
// the software interrupt is the VMM's to deliver, and so is an exception
// that the user-space emulation of a refused instruction raises (a #GP
// from an iret's checks, say). The VMM does what the CPU does (Intel SDM
// vol. 3, 6.12.1): read the gate, check it, switch to the inner stack the
// TSS names if the handler is more privileged, push the frame (SS and ESP
// of the interrupted code first when the stack changes, then EFLAGS, CS,
// EIP and the error code), clear TF, NT, RF and VM (and IF through an
// interrupt gate), and load CS:EIP from the gate — all on the copy of the
// vCPU state, which the caller writes back to KVM.

// event is one interrupt or exception to deliver.
type event struct {
	Vector  uint8
	Code    uint32
	HasCode bool
	Soft    bool   // int n, int3, into: the gate's DPL is checked against CPL
	Ret     uint32 // the EIP the frame saves
}

// deliver delivers ev, raised by the instruction at pc, escalating a fault
// raised on the way by the double-fault rules (such a fault saves pc: it
// is restartable). It returns the events actually attempted, in order (the
// last one is the handler the guest continues in), or the chain that ended
// in a triple fault.
func deliver(c *kvmCPU, ev event, pc uint32) (delivered []event, err error) {
	var chain []string
	for {
		f := deliverOnce(c, ev)
		if f == nil {
			return append(delivered, ev), nil
		}
		chain = append(chain, fmt.Sprintf("delivering %s raised %s", x86.VectorName(ev.Vector), f))
		next, triple := x86.Escalate(ev.Vector, f.Vec)
		if triple {
			return delivered, &tripleFault{chain}
		}
		code, hasCode := f.Code, true
		if next == x86.VecDF {
			code = 0
		} else if e, ok := x86.ExceptionFor(next); ok {
			hasCode = e.ErrorCode
		}
		delivered = append(delivered, ev)
		ev = event{Vector: next, Code: code, HasCode: hasCode, Ret: pc}
	}
}

// tripleFault is a delivery that failed three times: the CPU shuts down.
type tripleFault struct{ chain []string }

func (t *tripleFault) Error() string {
	s := "triple fault"
	for _, c := range t.chain {
		s += "; " + c
	}
	return s
}

// deliverOnce makes one delivery attempt.
func deliverOnce(c *kvmCPU, ev event) *vmm.DeliveryFault {
	vec := ev.Vector
	idtCode := uint32(vec)*8 + 2 // error code naming an IDT entry (IDT bit set)
	idt := c.sregs.IDT
	if uint32(vec)*8+7 > uint32(idt.Limit) {
		return &vmm.DeliveryFault{Vec: x86.VecGP, Code: idtCode, Why: fmt.Sprintf("vector %#x is beyond the IDT limit %#x", vec, idt.Limit)}
	}
	var raw [8]byte
	if err := c.ReadLinear(uint32(idt.Base)+uint32(vec)*8, raw[:]); err != nil {
		return c.memDeliveryFault(err, x86.VecGP, idtCode, "IDT entry unreadable")
	}
	gate := x86.Decode(raw[:])
	if !gate.IsGate() || (gate.Type != x86.TypeIntGate32 && gate.Type != x86.TypeTrapGate32) {
		why := fmt.Sprintf("IDT entry %#x is not a 32-bit interrupt or trap gate (%v)", vec, gate)
		if gate.IsGate() && gate.Type == x86.TypeTaskGate {
			why = fmt.Sprintf("IDT entry %#x is a task gate (hardware task switching is not modelled)", vec)
		}
		return &vmm.DeliveryFault{Vec: x86.VecGP, Code: idtCode, Why: why}
	}
	cpl := uint8(c.sregs.CS.Selector & 3)
	if ev.Soft && gate.DPL < cpl {
		return &vmm.DeliveryFault{Vec: x86.VecGP, Code: idtCode, Why: fmt.Sprintf("int $%#x from CPL %d through a DPL-%d gate", vec, cpl, gate.DPL)}
	}
	if !gate.Present {
		return &vmm.DeliveryFault{Vec: x86.VecNP, Code: idtCode, Why: fmt.Sprintf("IDT entry %#x not present", vec)}
	}
	sel := gate.Selector
	selCode := uint32(sel &^ 3)
	if x86.SelNull(sel) && !x86.SelTI(sel) {
		return &vmm.DeliveryFault{Vec: x86.VecGP, Code: 0, Why: fmt.Sprintf("gate %#x targets the null selector", vec)}
	}
	target, err := c.gdtDescriptor(sel)
	if err != nil || !target.IsCode() {
		return &vmm.DeliveryFault{Vec: x86.VecGP, Code: selCode, Why: fmt.Sprintf("gate %#x targets selector %#x, which is not a code segment", vec, sel)}
	}
	if !target.Present {
		return &vmm.DeliveryFault{Vec: x86.VecNP, Code: selCode, Why: fmt.Sprintf("handler code segment %#x not present", sel)}
	}
	newCPL := target.DPL
	if target.IsConforming() {
		newCPL = cpl
	}
	if newCPL > cpl {
		return &vmm.DeliveryFault{Vec: x86.VecGP, Code: selCode, Why: fmt.Sprintf("handler segment %#x (DPL %d) is less privileged than CPL %d", sel, newCPL, cpl)}
	}
	eflags := uint32(c.regs.RFLAGS)
	frame := []uint32{ev.Ret, uint32(c.sregs.CS.Selector), eflags}
	ssSeg, esp := c.sregs.SS, uint32(c.regs.RSP)
	if newCPL < cpl {
		// The inner stack: SS and ESP for newCPL from the current TSS.
		newSS, newESP, f := c.innerStack(newCPL)
		if f != nil {
			return f
		}
		frame = append(frame, esp, uint32(c.sregs.SS.Selector))
		ssSeg, esp = newSS, newESP
	}
	if ev.HasCode {
		frame = append([]uint32{ev.Code}, frame...)
	}
	// Highest address first: SS, ESP, EFLAGS, CS, EIP, error code.
	buf := make([]byte, 4*len(frame))
	for i, w := range frame {
		binary.LittleEndian.PutUint32(buf[4*i:], w)
	}
	esp -= uint32(len(buf))
	if err := c.WriteLinear(uint32(ssSeg.Base)+esp, buf); err != nil {
		return c.memDeliveryFault(err, x86.VecSS, 0, "cannot push the interrupt frame")
	}
	// Commit.
	c.sregs.SS = ssSeg
	c.sregs.CS = segmentOf(sel&^3|uint16(newCPL), target)
	c.sregs.CS.Type |= 1 // accessed, as the CPU leaves the cache
	c.sregsDirty = true
	newFlags := eflags &^ (x86.FlagTF | x86.FlagNT | x86.FlagRF | x86.FlagVM)
	if gate.Type == x86.TypeIntGate32 {
		newFlags &^= x86.FlagIF
	}
	c.regs.RFLAGS = uint64(newFlags)
	c.regs.RSP = uint64(esp)
	c.regs.RIP = uint64(gate.Offset)
	c.regsDirty = true
	return nil
}

// innerStack reads SS:ESP for privilege level pl from the current TSS
// and checks the stack segment.
func (c *kvmCPU) innerStack(pl uint8) (kvmSegment, uint32, *vmm.DeliveryFault) {
	tr := c.sregs.TR
	trCode := uint32(tr.Selector &^ 3)
	if tr.Unusable != 0 || tr.Present == 0 || x86.SelNull(tr.Selector) || (tr.Type != x86.TypeTSS32Busy && tr.Type != x86.TypeTSS32Avail) {
		return kvmSegment{}, 0, &vmm.DeliveryFault{Vec: x86.VecTS, Code: trCode, Why: "no 32-bit TSS is loaded to supply the inner stack"}
	}
	off := uint32(x86.TSSESP0) + 8*uint32(pl)
	if off+5 > tr.Limit {
		return kvmSegment{}, 0, &vmm.DeliveryFault{Vec: x86.VecTS, Code: trCode, Why: fmt.Sprintf("the TSS (limit %#x) is too short for the ring-%d stack", tr.Limit, pl)}
	}
	var b [8]byte
	if err := c.ReadLinear(uint32(tr.Base)+off, b[:]); err != nil {
		return kvmSegment{}, 0, c.memDeliveryFault(err, x86.VecTS, trCode, "TSS unreadable")
	}
	esp := binary.LittleEndian.Uint32(b[0:])
	ss := binary.LittleEndian.Uint16(b[4:])
	ssCode := uint32(ss &^ 3)
	if x86.SelNull(ss) {
		return kvmSegment{}, 0, &vmm.DeliveryFault{Vec: x86.VecTS, Code: ssCode, Why: fmt.Sprintf("the TSS names a null SS for ring %d", pl)}
	}
	d, err := c.gdtDescriptor(ss)
	switch {
	case err != nil || x86.SelRPL(ss) != pl || !d.IsWritableData() || d.DPL != pl:
		return kvmSegment{}, 0, &vmm.DeliveryFault{Vec: x86.VecTS, Code: ssCode, Why: fmt.Sprintf("the TSS's SS %#x is not a writable ring-%d data segment (%v)", ss, pl, d)}
	case !d.Present:
		return kvmSegment{}, 0, &vmm.DeliveryFault{Vec: x86.VecSS, Code: ssCode, Why: fmt.Sprintf("stack segment %#x not present", ss)}
	}
	seg := segmentOf(ss, d)
	seg.Type |= 1
	return seg, esp, nil
}

// memDeliveryFault turns a memory error during delivery into the fault it
// raises: the page fault the access took (setting CR2), or vec(code).
func (c *kvmCPU) memDeliveryFault(err error, vec uint8, code uint32, what string) *vmm.DeliveryFault {
	var mf *trap.MemFault
	if errors.As(err, &mf) {
		if mf.Vector == x86.VecPF {
			c.sregs.CR2, c.sregsDirty = uint64(mf.Addr), true
		}
		return &vmm.DeliveryFault{Vec: mf.Vector, Code: mf.Code, Why: what + ": " + mf.Error()}
	}
	return &vmm.DeliveryFault{Vec: vec, Code: code, Why: what + ": " + err.Error()}
}
