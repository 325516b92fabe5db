package trap

import (
	"fmt"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/vmm/x86"
)

// Segmentation: descriptor look-ups in the guest's own tables, segment
// loads, far jmp/call/ret, iret, lar/lsl/verr/verw, lldt and ltr.
//
// Every check is the one the CPU makes (Intel SDM vol. 2, the pseudo-code
// of each instruction), made against the guest's descriptors and the
// virtual CPL. What reaches the real CPU is the platform's shadow of the
// guest's selector and descriptor (Platform.ShadowSelector and
// ShadowDescriptor): under ring compression the guest's RPL-0 selectors
// run as RPL 1 and its DPL-0 descriptors as DPL 1.

var segNames = [...]string{"es", "cs", "ss", "ds", "fs", "gs"}

func (s SegReg) String() string {
	if int(s) < len(segNames) {
		return segNames[s]
	}
	return fmt.Sprintf("seg(%d)", s)
}

// GuestSelectorer may be implemented by a Platform whose ShadowSelector
// does more than turn RPL 0 into RPL 1: it maps a selector the real CPU
// holds back to the guest's. Without it, a real selector s with RPL 1 is
// the guest's s with RPL 0 when ShadowSelector maps that back to s (so an
// identity shadow, as under KVM, leaves every selector as it is).
type GuestSelectorer interface {
	GuestSelector(real uint16) uint16
}

// guestSel is the guest's view of a selector the real CPU holds: what mov
// from a segment register, push of a segment register and lcall's pushed
// CS give the guest.
func (m *emu) guestSel(real uint16) uint16 {
	if g, ok := m.e.P.(GuestSelectorer); ok {
		return g.GuestSelector(real)
	}
	if x86.SelRPL(real) == 1 {
		if cand := real &^ 3; m.e.P.ShadowSelector(cand) == real {
			return cand
		}
	}
	return real
}

// lookup reads the guest descriptor sel names, from the guest GDT (VCPU
// GDTR) or, with TI set, from the guest LDT (VCPU LDTR, itself looked up
// in the GDT). ok is false for a null selector, an unusable LDT, or an
// index beyond the table limit; addr is the descriptor's linear address.
func (m *emu) lookup(sel uint16) (d x86.Descriptor, addr uint32, ok bool, err error) {
	base, limit := m.v.GDTR.Base, uint32(m.v.GDTR.Limit)
	if x86.SelTI(sel) {
		ldtSel := m.v.LDTR
		if x86.SelNull(ldtSel) || x86.SelTI(ldtSel) {
			return d, 0, false, nil
		}
		ld, _, lok, lerr := m.lookup(ldtSel)
		if lerr != nil || !lok || ld.S || ld.Type != x86.TypeLDT || !ld.Present {
			return d, 0, false, lerr
		}
		base, limit = ld.Base, ld.Limit
	} else if x86.SelNull(sel) {
		return d, 0, false, nil
	}
	off := uint32(x86.SelIndex(sel)) * 8
	if off+7 > limit {
		return d, 0, false, nil
	}
	b, err := m.read(base+off, 8)
	if err != nil {
		return d, 0, false, err
	}
	return x86.Decode(b), base + off, true, nil
}

// setAccessed sets a code or data descriptor's accessed bit in guest
// memory, as the CPU does when it loads the descriptor.
func (m *emu) setAccessed(d x86.Descriptor, addr uint32) (x86.Descriptor, error) {
	if !d.S || d.Accessed() {
		return d, nil
	}
	d.Raw |= 1 << 40
	d.Type |= 1
	return d, m.write(addr+5, []byte{byte(d.Raw >> 40)})
}

// transferAccessed is setAccessed for the descriptors a far transfer
// loads (jmp, call, ret, iret, a call gate's CS and SS): QEMU's TCG, the
// machine trap virtualizes (native), leaves their Accessed bit in guest
// memory as it is, and so does the VMM (the SDM would set it). The copy
// that goes into the real table has it set: the CPU then stores nothing
// into that read-only table while the VMM loads the register.
func (m *emu) transferAccessed(d x86.Descriptor, _ uint32) (x86.Descriptor, error) {
	if d.S {
		d.Raw |= 1 << 40
		d.Type |= 1
	}
	return d, nil
}

// loadReal loads a segment register of the real CPU with the shadow of
// the guest's selector and descriptor.
func (m *emu) loadReal(s SegReg, sel uint16, d x86.Descriptor) error {
	rsel, rd := m.e.P.ShadowSelector(sel), m.e.P.ShadowDescriptor(d)
	if err := m.cpu.LoadSeg(s, rsel, rd); err != nil {
		return fmt.Errorf("%w: the CPU refused to load %v with %#x (guest %#x): %v", ErrUnsupported, s, rsel, sel, err)
	}
	return nil
}

// ---- segment loads ---------------------------------------------------------------

// ssDesc checks a selector for SS at privilege cpl.
func (m *emu) ssDesc(sel uint16, cpl uint8) (x86.Descriptor, uint32, error) {
	if x86.SelNull(sel) {
		return x86.Descriptor{}, 0, gp(0, "null selector for SS")
	}
	d, addr, ok, err := m.lookup(sel)
	if err != nil {
		return d, 0, err
	}
	switch {
	case !ok:
		return d, 0, gpSel(sel, "SS selector %#x is beyond its table", sel)
	case x86.SelRPL(sel) != cpl:
		return d, 0, gpSel(sel, "SS selector %#x: RPL %d != CPL %d", sel, x86.SelRPL(sel), cpl)
	case !d.IsWritableData():
		return d, 0, gpSel(sel, "SS selector %#x is not a writable data segment (%v)", sel, d)
	case d.DPL != cpl:
		return d, 0, gpSel(sel, "SS selector %#x: DPL %d != CPL %d", sel, d.DPL, cpl)
	case !d.Present:
		return d, 0, ssFault(x86.SelErrorCode(sel), "SS segment %#x not present", sel)
	}
	return d, addr, nil
}

// dataDesc checks a non-null selector for DS, ES, FS or GS.
func (m *emu) dataDesc(sel uint16) (x86.Descriptor, uint32, error) {
	d, addr, ok, err := m.lookup(sel)
	if err != nil {
		return d, 0, err
	}
	cpl, rpl := m.v.CPL, x86.SelRPL(sel)
	switch {
	case !ok:
		return d, 0, gpSel(sel, "selector %#x is beyond its table", sel)
	case !d.IsReadable():
		return d, 0, gpSel(sel, "selector %#x is not a data or readable code segment (%v)", sel, d)
	case !d.IsConforming() && (rpl > d.DPL || cpl > d.DPL):
		return d, 0, gpSel(sel, "selector %#x: DPL %d < max(CPL %d, RPL %d)", sel, d.DPL, cpl, rpl)
	case !d.Present:
		return d, 0, np(sel, "segment %#x not present", sel)
	}
	return d, addr, nil
}

// loadSegInsn loads segment register r with sel as mov, pop and lds..lss
// do: SS with its checks (and the interrupt shadow), DS/ES/FS/GS with
// theirs (a null selector is allowed), CS never (#UD).
func (m *emu) loadSegInsn(r x86asm.Reg, sel uint16) error {
	s, ok := segOf(r)
	if !ok {
		return errUnsupported("segment register %v", r)
	}
	switch s {
	case CS:
		return ud("load of CS by %v", m.inst.Op)
	case SS:
		d, addr, err := m.ssDesc(sel, m.v.CPL)
		if err != nil {
			return err
		}
		if d, err = m.setAccessed(d, addr); err != nil {
			return err
		}
		if err := m.loadReal(SS, sel, d); err != nil {
			return err
		}
		// mov and pop into SS inhibit interrupts for one instruction, so
		// that the ESP load after it completes the switch of stacks.
		m.out.Shadow = m.inst.Op == x86asm.MOV || m.inst.Op == x86asm.POP
		return nil
	}
	if x86.SelNull(sel) {
		if err := m.cpu.LoadSeg(s, sel, x86.Descriptor{}); err != nil {
			return fmt.Errorf("%w: the CPU refused a null %v: %v", ErrUnsupported, s, err)
		}
		return nil
	}
	d, addr, err := m.dataDesc(sel)
	if err != nil {
		return err
	}
	if d, err = m.setAccessed(d, addr); err != nil {
		return err
	}
	return m.loadReal(s, sel, d)
}

// popSeg: pop %ss/%ds/%es/%fs/%gs (pop %cs does not exist).
func (m *emu) popSeg(r x86asm.Reg) error {
	size := m.opSize()
	val, err := m.readStack(0, size)
	if err != nil {
		return err
	}
	esp := m.spAt(int32(size)) // by the old SS
	if err := m.loadSegInsn(r, uint16(val)); err != nil {
		return err
	}
	m.cpu.SetReg(ESP, esp)
	return nil
}

// pushSeg pushes the guest's view of a selector (zero-extended to 32 bits
// with a 32-bit operand size).
func (m *emu) pushSeg(r x86asm.Reg) error {
	s, _ := segOf(r)
	return m.push(m.opSize(), uint32(m.guestSel(m.cpu.Seg(s).Sel)))
}

// movFromSeg stores the guest's view of a selector: a 32-bit register is
// zero-extended, memory gets 16 bits.
func (m *emu) movFromSeg(dst x86asm.Arg, r x86asm.Reg) error {
	s, _ := segOf(r)
	return m.writeOperand(dst, 2, uint32(m.guestSel(m.cpu.Seg(s).Sel)))
}

// lxs: lds, les, lfs, lgs, lss — a far pointer (offset, then selector)
// from memory into a segment register and a general register.
func (m *emu) lxs() error {
	dst, ok := m.inst.Args[0].(x86asm.Reg)
	if !ok {
		return errUnsupported("%v destination %v", m.inst.Op, m.inst.Args[0])
	}
	mem, err := m.memArg(1)
	if err != nil {
		return err
	}
	seg := map[x86asm.Op]x86asm.Reg{x86asm.LDS: x86asm.DS, x86asm.LES: x86asm.ES,
		x86asm.LFS: x86asm.FS, x86asm.LGS: x86asm.GS, x86asm.LSS: x86asm.SS}[m.inst.Op]
	size := m.opSize()
	addr, err := m.ea(mem)
	if err != nil {
		return err
	}
	off, err := m.readN(addr, size)
	if err != nil {
		return err
	}
	sel, err := m.readN(addr+uint32(size), 2)
	if err != nil {
		return err
	}
	if err := m.loadSegInsn(seg, uint16(sel)); err != nil {
		return err
	}
	return m.setReg(dst, off)
}

// ---- far transfers -------------------------------------------------------------

// codeDesc checks the target of a far return or iret: selector sel
// returning from privilege cpl.
func (m *emu) retCodeDesc(sel uint16, cpl uint8) (x86.Descriptor, uint32, error) {
	if x86.SelNull(sel) {
		return x86.Descriptor{}, 0, gp(0, "return to a null CS")
	}
	d, addr, ok, err := m.lookup(sel)
	if err != nil {
		return d, 0, err
	}
	rpl := x86.SelRPL(sel)
	switch {
	case !ok:
		return d, 0, gpSel(sel, "CS selector %#x is beyond its table", sel)
	case rpl < cpl:
		return d, 0, gpSel(sel, "return to CS %#x: RPL %d < CPL %d", sel, rpl, cpl)
	case !d.IsCode():
		return d, 0, gpSel(sel, "CS selector %#x is not a code segment (%v)", sel, d)
	case d.IsConforming() && d.DPL > rpl:
		return d, 0, gpSel(sel, "conforming CS %#x: DPL %d > RPL %d", sel, d.DPL, rpl)
	case !d.IsConforming() && d.DPL != rpl:
		return d, 0, gpSel(sel, "CS %#x: DPL %d != RPL %d", sel, d.DPL, rpl)
	case !d.Present:
		return d, 0, np(sel, "code segment %#x not present", sel)
	case rpl == 1 || rpl == 2:
		// Ring compression gives the guest kernel ring 1 and the guest's
		// rings 1 and 2 real ring 2, but the VCPU knows rings 0 and 3 only.
		return d, 0, errUnsupported("a return to guest ring %d (CS %#x): trap-and-emulate runs guest code at rings 0 and 3 only", rpl, sel)
	}
	return d, addr, nil
}

// realCPL is the real CPL a guest CS selector runs at.
func (m *emu) realCPL(guestCS uint16) uint8 {
	return x86.SelRPL(m.e.P.ShadowSelector(guestCS))
}

// nullDataSegs: after a return to an outer ring, DS, ES, FS and GS that
// the new privilege may not use (data or non-conforming code with DPL <
// CPL, by the real caches) are loaded with the null selector.
func (m *emu) nullDataSegs(realCPL uint8) error {
	for _, s := range []SegReg{ES, DS, FS, GS} {
		seg := m.cpu.Seg(s)
		d := seg.Desc
		if x86.SelNull(seg.Sel) || !d.S {
			continue
		}
		if (d.IsData() || !d.IsConforming()) && d.DPL < realCPL {
			if err := m.cpu.LoadSeg(s, 0, x86.Descriptor{}); err != nil {
				return fmt.Errorf("%w: the CPU refused a null %v: %v", ErrUnsupported, s, err)
			}
		}
	}
	return nil
}

// farTarget reads the selector:offset of ljmp/lcall.
func (m *emu) farTarget() (sel uint16, off uint32, err error) {
	size := m.opSize()
	switch a := m.inst.Args[0].(type) {
	case x86asm.Imm:
		imm, ok := m.inst.Args[1].(x86asm.Imm)
		if !ok {
			return 0, 0, errUnsupported("far pointer operand %v", m.inst.Args[1])
		}
		return uint16(a), uint32(imm) & mask(size), nil
	case x86asm.Mem:
		addr, err := m.ea(a)
		if err != nil {
			return 0, 0, err
		}
		o, err := m.readN(addr, size)
		if err != nil {
			return 0, 0, err
		}
		s, err := m.readN(addr+uint32(size), 2)
		return uint16(s), o, err
	}
	return 0, 0, ud("far %v with a register operand", m.inst.Op)
}

// farJmpCall: ljmp and lcall, direct or through memory, to a code segment
// of the guest GDT/LDT or through a call gate.
func (m *emu) farJmpCall() error {
	sel, off, err := m.farTarget()
	if err != nil {
		return err
	}
	call := m.inst.Op == x86asm.LCALL
	cpl := m.v.CPL
	if x86.SelNull(sel) {
		return gp(0, "far %v to a null selector", m.inst.Op)
	}
	d, addr, ok, err := m.lookup(sel)
	if err != nil {
		return err
	}
	if !ok {
		return gpSel(sel, "selector %#x is beyond its table", sel)
	}
	switch {
	case d.IsCode():
		rpl := x86.SelRPL(sel)
		switch {
		case d.IsConforming() && d.DPL > cpl:
			return gpSel(sel, "conforming code %#x: DPL %d > CPL %d", sel, d.DPL, cpl)
		case !d.IsConforming() && (rpl > cpl || d.DPL != cpl):
			return gpSel(sel, "code %#x: RPL %d, DPL %d at CPL %d", sel, rpl, d.DPL, cpl)
		case !d.Present:
			return np(sel, "code segment %#x not present", sel)
		case off > d.Limit:
			return gp(0, "offset %#x beyond the limit %#x of %#x", off, d.Limit, sel)
		}
		return m.transfer(sel&^3|uint16(cpl), d, addr, off, call, m.opSize())
	case !d.S && (d.Type == x86.TypeCallGate32 || d.Type == x86.TypeCallGate16):
		return m.viaCallGate(sel, d, call)
	case !d.S && (d.Type == x86.TypeTaskGate || d.IsTSS()):
		return m.farTask(sel, d) // task.go
	}
	return gpSel(sel, "far %v to %#x, neither code nor a call gate (%v)", m.inst.Op, sel, d)
}

// transfer completes a far jmp/call at the same privilege: lcall pushes
// the guest's CS and the return EIP, then CS is loaded (RPL = CPL).
func (m *emu) transfer(cs uint16, d x86.Descriptor, addr, off uint32, call bool, size int) error {
	d, err := m.transferAccessed(d, addr)
	if err != nil {
		return err
	}
	if call {
		if err := m.push(size, uint32(m.guestSel(m.cpu.Seg(CS).Sel)), m.next&mask(size)); err != nil {
			return err
		}
	}
	if err := m.loadReal(CS, cs, d); err != nil {
		return err
	}
	m.next = off
	return nil
}

// viaCallGate: ljmp/lcall through a call gate; lcall to a more privileged
// non-conforming segment switches to the stack the guest's TSS names for
// the new CPL and copies the gate's parameters. (Under ring compression
// the real CPU may refuse the privilege raise: CPU.LoadSeg says so, and
// Emulate reports ErrUnsupported.)
func (m *emu) viaCallGate(gsel uint16, gate x86.Descriptor, call bool) error {
	cpl, rpl := m.v.CPL, x86.SelRPL(gsel)
	if gate.DPL < cpl || gate.DPL < rpl {
		return gpSel(gsel, "call gate %#x: DPL %d < max(CPL %d, RPL %d)", gsel, gate.DPL, cpl, rpl)
	}
	if !gate.Present {
		return np(gsel, "call gate %#x not present", gsel)
	}
	tsel := gate.Selector
	if x86.SelNull(tsel) {
		return gp(0, "call gate %#x targets a null selector", gsel)
	}
	td, taddr, ok, err := m.lookup(tsel)
	if err != nil {
		return err
	}
	size, off := 4, gate.Offset
	if gate.Type == x86.TypeCallGate16 {
		size, off = 2, off&0xFFFF
	}
	switch {
	case !ok:
		return gpSel(tsel, "call gate target %#x is beyond its table", tsel)
	case !td.IsCode():
		return gpSel(tsel, "call gate target %#x is not code (%v)", tsel, td)
	case td.DPL > cpl:
		return gpSel(tsel, "call gate target %#x: DPL %d > CPL %d", tsel, td.DPL, cpl)
	case !call && !td.IsConforming() && td.DPL != cpl:
		return gpSel(tsel, "ljmp through a gate to %#x: DPL %d != CPL %d", tsel, td.DPL, cpl)
	case !td.Present:
		return np(tsel, "code segment %#x not present", tsel)
	case off > td.Limit:
		return gp(0, "gate offset %#x beyond the limit %#x of %#x", off, td.Limit, tsel)
	}
	if !call || td.IsConforming() || td.DPL == cpl {
		return m.transfer(tsel&^3|uint16(cpl), td, taddr, off, call, size)
	}
	return m.callInner(tsel, td, taddr, off, gate, size)
}

// callInner is lcall through a gate to inner privilege td.DPL.
func (m *emu) callInner(tsel uint16, td x86.Descriptor, taddr, off uint32, gate x86.Descriptor, size int) error {
	newCPL := td.DPL
	tsFault := func(sel uint16, format string, args ...any) error {
		return &Fault{Vector: x86.VecTS, Code: x86.SelErrorCode(sel), HasCode: true, Why: fmt.Sprintf(format, args...)}
	}
	tr := m.v.TR
	tss, _, ok, err := m.lookup(tr)
	if err != nil {
		return err
	}
	if !ok || x86.SelTI(tr) || !tss.IsTSS() || tss.Type&0x8 == 0 {
		return tsFault(tr, "no 32-bit TSS (TR %#x) to switch stacks through", tr)
	}
	ssOff := uint32(x86.TSSSS0) + 8*uint32(newCPL)
	if ssOff+1 > tss.Limit {
		return tsFault(tr, "TSS %#x too short for the ring-%d stack", tr, newCPL)
	}
	newESP, err := m.readN(tss.Base+uint32(x86.TSSESP0)+8*uint32(newCPL), 4)
	if err != nil {
		return err
	}
	ssw, err := m.readN(tss.Base+ssOff, 2)
	if err != nil {
		return err
	}
	newSS := uint16(ssw)
	if x86.SelNull(newSS) {
		return tsFault(newSS, "TSS names a null SS for ring %d", newCPL)
	}
	sd, saddr, ok, err := m.lookup(newSS)
	if err != nil {
		return err
	}
	switch {
	case !ok || x86.SelRPL(newSS) != newCPL || !sd.IsWritableData() || sd.DPL != newCPL:
		return tsFault(newSS, "TSS stack segment %#x unusable at ring %d (%v)", newSS, newCPL, sd)
	case !sd.Present:
		return ssFault(x86.SelErrorCode(newSS), "TSS stack segment %#x not present", newSS)
	}
	// The new frame: old SS, old ESP, the parameters, old CS, return EIP.
	nparams := int(gate.Raw>>32) & 0x1F
	vals := []uint32{uint32(m.guestSel(m.cpu.Seg(SS).Sel)), m.cpu.Reg(ESP)}
	for i := nparams - 1; i >= 0; i-- {
		p, err := m.readStack(int32(i*size), size)
		if err != nil {
			return err
		}
		vals = append(vals, p)
	}
	vals = append(vals, uint32(m.guestSel(m.cpu.Seg(CS).Sel)), m.next&mask(size))
	frame := make([]byte, 0, len(vals)*size)
	for i := len(vals) - 1; i >= 0; i-- {
		frame = append(frame, putLE(size, vals[i])...)
	}
	espAfter := newESP - uint32(len(frame))
	if sd.S && sd.Present && !sd.DB {
		espAfter = newESP&0xFFFF0000 | uint32(uint16(newESP)-uint16(len(frame)))
		if err := m.write(sd.Base+espAfter&0xFFFF, frame); err != nil {
			return err
		}
	} else if err := m.write(sd.Base+espAfter, frame); err != nil {
		return err
	}
	if sd, err = m.transferAccessed(sd, saddr); err != nil {
		return err
	}
	if td, err = m.transferAccessed(td, taddr); err != nil {
		return err
	}
	cs := tsel&^3 | uint16(newCPL)
	if newCPL == 0 && m.cpu.Seg(CS).Sel&3 == 3 {
		// From user code: no register write raises the real CPL (the VMM's
		// privilege switch does, Outcome.Inner).
		m.out.Inner = &InnerCall{CS: cs, SS: newSS, CSDesc: td, SSDesc: sd, ESP: espAfter, EIP: off}
		m.v.CPL = newCPL
		m.next = off
		return nil
	}
	if err := m.loadReal(SS, newSS, sd); err != nil {
		return err
	}
	if err := m.loadReal(CS, cs, td); err != nil {
		return err
	}
	m.cpu.SetReg(ESP, espAfter)
	m.v.CPL = newCPL
	m.next = off
	return nil
}

// outerStack checks the SS:ESP popped by a return to the outer ring rpl.
func (m *emu) outerStack(at int32, size int, rpl uint8) (esp uint32, ss uint16, d x86.Descriptor, addr uint32, err error) {
	if esp, err = m.readStack(at, size); err != nil {
		return
	}
	ssw, err := m.readStack(at+int32(size), size)
	if err != nil {
		return
	}
	ss = uint16(ssw)
	d, addr, err = m.ssDesc(ss, rpl)
	return
}

// setOuterESP writes the ESP popped for the outer ring (only SP on a
// 16-bit stack).
func (m *emu) setOuterESP(esp uint32, d x86.Descriptor) {
	if d.S && d.Present && !d.DB {
		esp = m.cpu.Reg(ESP)&0xFFFF0000 | esp&0xFFFF
	}
	m.cpu.SetReg(ESP, esp)
}

// lret: far return, lret $n releasing n bytes of parameters; to an outer
// ring it also pops ESP and SS.
func (m *emu) lret() error {
	size := m.opSize()
	var n int32
	if imm, ok := m.inst.Args[0].(x86asm.Imm); ok {
		n = int32(uint16(imm))
	}
	eip, err := m.readStack(0, size)
	if err != nil {
		return err
	}
	csw, err := m.readStack(int32(size), size)
	if err != nil {
		return err
	}
	sel, cpl := uint16(csw), m.v.CPL
	d, addr, err := m.retCodeDesc(sel, cpl)
	if err != nil {
		return err
	}
	if eip > d.Limit {
		return gp(0, "return EIP %#x beyond the limit %#x of %#x", eip, d.Limit, sel)
	}
	rpl := x86.SelRPL(sel)
	if rpl == cpl {
		if d, err = m.transferAccessed(d, addr); err != nil {
			return err
		}
		if err := m.loadReal(CS, sel, d); err != nil {
			return err
		}
		m.cpu.SetReg(ESP, m.spAt(2*int32(size)+n))
		m.next = eip
		return nil
	}
	esp, ss, sd, saddr, err := m.outerStack(2*int32(size)+n, size, rpl)
	if err != nil {
		return err
	}
	if rpl == 3 && m.cpu.Seg(CS).Sel&3 != 3 && size == 4 && sd.DB {
		// To user code from the kernel's real ring: a real iret does it
		// (Outcome.Outer), nulling the data segments user code may not use.
		if _, err := m.transferAccessed(d, addr); err != nil {
			return err
		}
		if _, err := m.transferAccessed(sd, saddr); err != nil {
			return err
		}
		m.out.Outer = &OuterReturn{CS: sel, SS: ss, EIP: eip, ESP: esp + uint32(n)}
		m.v.CPL = 3
		m.next = eip
		return nil
	}
	if err := m.toOuter(sel, d, addr, ss, sd, saddr); err != nil {
		return err
	}
	m.setOuterESP(esp+uint32(n), sd)
	m.next = eip
	return nil
}

// toOuter loads CS and SS for a return to an outer ring and moves the
// virtual CPL there.
func (m *emu) toOuter(cs uint16, d x86.Descriptor, addr uint32, ss uint16, sd x86.Descriptor, saddr uint32) error {
	var err error
	if d, err = m.transferAccessed(d, addr); err != nil {
		return err
	}
	if sd, err = m.transferAccessed(sd, saddr); err != nil {
		return err
	}
	if err := m.loadReal(CS, cs, d); err != nil {
		return err
	}
	if err := m.loadReal(SS, ss, sd); err != nil {
		return err
	}
	m.v.CPL = x86.SelRPL(cs)
	return m.nullDataSegs(m.realCPL(cs))
}

// iret: return from an interrupt, to the same ring or an outer one, in
// protected mode (no nested-task return, no return to virtual-8086 mode).
// EFLAGS.IF is popped into the VCPU when the virtual CPL <= IOPL and IOPL
// when the virtual CPL is 0; the other flags go to the real EFLAGS, whose
// IF and IOPL become the VMM's (IF=1, IOPL=0; see Emulator.PassFlags).
func (m *emu) iret() error {
	if m.cpu.Reg(EFLAGS)&x86.FlagNT != 0 {
		return m.taskReturn() // task.go
	}
	size := m.opSize()
	eip, err := m.readStack(0, size)
	if err != nil {
		return err
	}
	csw, err := m.readStack(int32(size), size)
	if err != nil {
		return err
	}
	fl, err := m.readStack(2*int32(size), size)
	if err != nil {
		return err
	}
	cpl := m.v.CPL
	if size == 4 && fl&x86.FlagVM != 0 && cpl == 0 {
		return errUnsupported("iret to virtual-8086 mode")
	}
	sel := uint16(csw)
	d, addr, err := m.retCodeDesc(sel, cpl)
	if err != nil {
		return err
	}
	if eip > d.Limit {
		return gp(0, "return EIP %#x beyond the limit %#x of %#x", eip, d.Limit, sel)
	}
	rpl := x86.SelRPL(sel)
	var (
		esp   uint32
		ss    uint16
		sd    x86.Descriptor
		saddr uint32
	)
	if rpl > cpl {
		if esp, ss, sd, saddr, err = m.outerStack(3*int32(size), size, rpl); err != nil {
			return err
		}
	}
	// Commit.
	if rpl > cpl {
		if err := m.toOuter(sel, d, addr, ss, sd, saddr); err != nil {
			return err
		}
		m.setOuterESP(esp, sd)
	} else {
		if d, err = m.transferAccessed(d, addr); err != nil {
			return err
		}
		if err := m.loadReal(CS, sel, d); err != nil {
			return err
		}
		m.cpu.SetReg(ESP, m.spAt(3*int32(size)))
	}
	if cpl <= m.v.IOPL {
		m.setIF(fl&x86.FlagIF != 0)
	}
	if cpl == 0 {
		m.v.IOPL = x86.IOPL(fl)
	}
	changeable := uint32(x86.FlagsPopf|x86.FlagRF) & mask(size)
	m.setRealFlags(m.cpu.Reg(EFLAGS)&^changeable|fl&changeable, true, 0)
	m.next = eip
	return nil
}

// ---- descriptor queries -------------------------------------------------------------

// visible reports whether a descriptor passes the privilege check of
// lar, lsl, verr and verw at virtual CPL cpl: conforming code always,
// anything else when DPL >= max(CPL, RPL).
func visible(d x86.Descriptor, sel uint16, cpl uint8) bool {
	return d.IsConforming() || (d.DPL >= cpl && d.DPL >= x86.SelRPL(sel))
}

// larLsl: lar loads the access rights, lsl the limit (granularity
// applied) of the guest's descriptor; ZF says whether the selector was
// valid for the instruction at the virtual CPL.
func (m *emu) larLsl() error {
	dst, ok := m.inst.Args[0].(x86asm.Reg)
	if !ok {
		return errUnsupported("%v destination %v", m.inst.Op, m.inst.Args[0])
	}
	sw, err := m.readOperand(m.inst.Args[1], 2)
	if err != nil {
		return err
	}
	sel := uint16(sw)
	d, _, ok, err := m.lookup(sel)
	if err != nil {
		return err
	}
	lar := m.inst.Op == x86asm.LAR
	if ok && !d.S {
		switch d.Type {
		case x86.TypeTSS16Avail, x86.TypeLDT, x86.TypeTSS16Busy, x86.TypeTSS32Avail, x86.TypeTSS32Busy:
		case x86.TypeCallGate16, x86.TypeTaskGate, x86.TypeCallGate32:
			ok = lar // gates have access rights, not limits
		default:
			ok = false
		}
	}
	if !ok || !visible(d, sel, m.v.CPL) {
		m.setZF(false)
		return nil
	}
	val := d.Limit
	if lar {
		val = d.AccessRights()
	}
	if regSize(dst) == 2 {
		val &= 0xFFFF
	}
	if err := m.setReg(dst, val); err != nil {
		return err
	}
	m.setZF(true)
	return nil
}

// verrVerw: ZF=1 when the guest's segment is readable (verr) or writable
// (verw) at the virtual CPL.
func (m *emu) verrVerw() error {
	sw, err := m.readOperand(m.inst.Args[0], 2)
	if err != nil {
		return err
	}
	sel := uint16(sw)
	d, _, ok, err := m.lookup(sel)
	if err != nil {
		return err
	}
	okay := ok && d.S && visible(d, sel, m.v.CPL)
	if m.inst.Op == x86asm.VERR {
		okay = okay && d.IsReadable()
	} else {
		okay = okay && d.IsWritableData()
	}
	m.setZF(okay)
	return nil
}

// ---- LDTR and TR ---------------------------------------------------------------------

func (m *emu) lldt() error {
	if err := m.needCPL0(); err != nil {
		return err
	}
	sw, err := m.readOperand(m.inst.Args[0], 2)
	if err != nil {
		return err
	}
	sel := uint16(sw)
	if !x86.SelNull(sel) {
		if x86.SelTI(sel) {
			return gpSel(sel, "lldt of an LDT selector %#x", sel)
		}
		d, _, ok, err := m.lookup(sel)
		switch {
		case err != nil:
			return err
		case !ok:
			return gpSel(sel, "LDT selector %#x is beyond the GDT", sel)
		case d.S || d.Type != x86.TypeLDT:
			return gpSel(sel, "selector %#x is not an LDT descriptor (%v)", sel, d)
		case !d.Present:
			return np(sel, "LDT %#x not present", sel)
		}
	}
	m.v.LDTR = sel
	m.e.P.LDTLoaded()
	return nil
}

// ltr loads TR from an available TSS descriptor of the guest GDT and marks
// it busy in guest memory, as the CPU does.
func (m *emu) ltr() error {
	if err := m.needCPL0(); err != nil {
		return err
	}
	sw, err := m.readOperand(m.inst.Args[0], 2)
	if err != nil {
		return err
	}
	sel := uint16(sw)
	if x86.SelNull(sel) {
		return gp(0, "ltr of a null selector")
	}
	if x86.SelTI(sel) {
		return gpSel(sel, "ltr of an LDT selector %#x", sel)
	}
	d, addr, ok, err := m.lookup(sel)
	switch {
	case err != nil:
		return err
	case !ok:
		return gpSel(sel, "TSS selector %#x is beyond the GDT", sel)
	case d.S || (d.Type != x86.TypeTSS32Avail && d.Type != x86.TypeTSS16Avail):
		return gpSel(sel, "selector %#x is not an available TSS (%v)", sel, d)
	case !d.Present:
		return np(sel, "TSS %#x not present", sel)
	}
	if err := m.write(addr+5, []byte{byte(d.Raw>>40) | 0x2}); err != nil {
		return err
	}
	m.v.TR = sel
	m.e.P.TRLoaded()
	return nil
}
