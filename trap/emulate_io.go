package trap

import (
	"golang.org/x/arch/x86/x86asm"

	"virtsim/vmm/x86"
)

// Port I/O: in, out, ins, outs (with and without rep), on the platform's
// device bus, after the protection check the guest's own state asks for.

// ioAllowed is the I/O permission check against the virtual state: at
// virtual CPL <= IOPL every port is allowed; otherwise every bit of the
// accessed ports must be clear in the I/O permission bitmap of the
// guest's TSS (TR -> guest GDT descriptor -> base; bitmap offset at +102;
// bits beyond the TSS limit count as set), else #GP(0).
func (m *emu) ioAllowed(port uint16, size int) error {
	if m.v.CPL <= m.v.IOPL {
		return nil
	}
	tr := m.v.TR
	deny := func(format string, args ...any) error {
		return gp(0, "I/O to port %#x at virtual CPL %d > IOPL %d: "+format,
			append([]any{port, m.v.CPL, m.v.IOPL}, args...)...)
	}
	if x86.SelNull(tr) || x86.SelTI(tr) {
		return deny("no task register")
	}
	d, _, ok, err := m.lookup(tr)
	if err != nil {
		return err
	}
	if !ok || d.S || (d.Type != x86.TypeTSS32Avail && d.Type != x86.TypeTSS32Busy) {
		return deny("TR %#x is not a 32-bit TSS", tr)
	}
	if d.Limit < x86.TSS32MinLim {
		return deny("TSS limit %#x too small for an I/O bitmap", d.Limit)
	}
	iomap, err := m.readN(d.Base+x86.TSSIOMap, 2)
	if err != nil {
		return err
	}
	off := iomap + uint32(port)/8
	if off+1 > d.Limit {
		return deny("bitmap byte %#x is beyond the TSS limit %#x", off+1, d.Limit)
	}
	bits, err := m.readN(d.Base+off, 2)
	if err != nil {
		return err
	}
	need := uint32(1)<<uint(size) - 1
	if bits>>(port%8)&need != 0 {
		return deny("denied by the I/O permission bitmap")
	}
	return nil
}

// portOf reads an immediate or DX port operand.
func (m *emu) portOf(a x86asm.Arg) (uint16, error) {
	switch a := a.(type) {
	case x86asm.Imm:
		return uint16(a), nil
	case x86asm.Reg:
		if a == x86asm.DX {
			return uint16(m.cpu.Reg(EDX)), nil
		}
	}
	return 0, errUnsupported("port operand %v", a)
}

// inOut: in %dx/imm -> AL/AX/EAX; out AL/AX/EAX -> %dx/imm.
func (m *emu) inOut() error {
	in := m.inst.Op == x86asm.IN
	portArg, regArg := m.inst.Args[0], m.inst.Args[1]
	if in {
		portArg, regArg = regArg, portArg
	}
	reg, ok := regArg.(x86asm.Reg)
	if !ok {
		return errUnsupported("%v data operand %v", m.inst.Op, regArg)
	}
	port, err := m.portOf(portArg)
	if err != nil {
		return err
	}
	size := regSize(reg)
	if size == 0 {
		return errUnsupported("%v data operand %v", m.inst.Op, reg)
	}
	if in {
		m.out.Cause = causeIn(port)
	} else {
		m.out.Cause = causeOut(port)
	}
	if err := m.ioAllowed(port, size); err != nil {
		return err
	}
	if in {
		return m.setReg(reg, m.e.P.In(port, size)&mask(size))
	}
	v, err := m.getReg(reg)
	if err != nil {
		return err
	}
	m.e.P.Out(port, size, v)
	return nil
}

func (m *emu) hasRep() bool {
	for _, p := range m.inst.Prefix {
		if p == 0 {
			break
		}
		if p&(x86asm.PrefixIgnored|x86asm.PrefixInvalid) != 0 {
			continue
		}
		if b := p & 0xFF; b == x86asm.PrefixREP || b == x86asm.PrefixREPN {
			return true
		}
	}
	return false
}

// stringIO: ins (port DX -> ES:EDI) and outs (DS:ESI, or the override
// segment -> port DX), one element, or ECX elements with rep; EDI/ESI move
// by the element size, backwards when EFLAGS.DF is set. With a 16-bit
// address size CX, SI and DI are used. A fault part-way through a rep
// leaves the registers at the element that faulted, as hardware does.
func (m *emu) stringIO() error {
	var size int
	in := false
	switch m.inst.Op {
	case x86asm.INSB:
		size, in = 1, true
	case x86asm.INSW:
		size, in = 2, true
	case x86asm.INSD:
		size, in = 4, true
	case x86asm.OUTSB:
		size = 1
	case x86asm.OUTSW:
		size = 2
	case x86asm.OUTSD:
		size = 4
	}
	port := uint16(m.cpu.Reg(EDX))
	if in {
		m.out.Cause = causeIn(port)
	} else {
		m.out.Cause = causeOut(port)
	}
	if err := m.ioAllowed(port, size); err != nil {
		return err
	}
	// Segment and index register.
	seg, idxReg := ES, EDI
	if !in {
		seg, idxReg = DS, ESI
		for _, a := range m.inst.Args {
			if mem, ok := a.(x86asm.Mem); ok && mem.Segment != 0 {
				if s, ok := segOf(mem.Segment); ok {
					seg = s
				}
			}
		}
	}
	base := m.cpu.Seg(seg).Desc.Base
	amask := uint32(0xFFFFFFFF)
	if m.inst.AddrSize == 16 {
		amask = 0xFFFF
	}
	idx := m.cpu.Reg(idxReg)
	cnt := m.cpu.Reg(ECX)
	step := uint32(size)
	if m.cpu.Reg(EFLAGS)&x86.FlagDF != 0 {
		step = -step
	}
	rep := m.hasRep()
	start, done := idx, uint32(0)
	limit := MaxRepIterations
	if m.e.RepPerExit > 0 {
		limit = m.e.RepPerExit
	}
	commit := func() {
		m.cpu.SetReg(idxReg, idx)
		if rep {
			m.cpu.SetReg(ECX, cnt)
		}
	}
	for n := 0; ; n++ {
		if rep && cnt&amask == 0 {
			break
		}
		if n == limit {
			m.next = m.pc // resume the rep where it stopped
			break
		}
		addr := base + idx&amask
		if in {
			v := m.e.P.In(port, size) & mask(size)
			if err := m.writeN(addr, size, v); err != nil {
				commit()
				return err
			}
		} else {
			v, err := m.readN(addr, size)
			if err != nil {
				commit()
				return err
			}
			m.e.P.Out(port, size, v)
		}
		idx = idx&^amask | (idx+step)&amask
		done++
		if !rep {
			break
		}
		cnt = cnt&^amask | (cnt-1)&amask
	}
	commit()
	if dw, ok := m.cpu.(deviceWriter); ok && in && done > 0 {
		// the device's data: code translated from there is stale
		lo := base + start&amask
		if int32(step) < 0 {
			lo -= (done - 1) * uint32(size)
		}
		return dw.DeviceWrote(lo, done*uint32(size))
	}
	return nil
}

// deviceWriter is a CPU whose translated code must be told of memory a
// device wrote (an ins's data): Unicorn's, whose code cache does not see
// host writes (vmm/dma.go). Hardware keeps itself coherent: KVM's CPU
// needs nothing.
type deviceWriter interface {
	DeviceWrote(lin, n uint32) error
}
