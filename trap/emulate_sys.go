package trap

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/vmm"
	"virtsim/vmm/x86"
)

// System instructions: the interrupt flag, halting, control registers,
// descriptor-table registers, MSRs, CPUID, the flags image and software
// interrupts. Every check is made against the virtual CPU: the virtual
// CPL and IOPL decide, never the real ones.

// cliSti: IF is virtual; at virtual CPL > IOPL the guest gets #GP(0), as
// it would on hardware (virtual-mode extensions, CR4.PVI, are not modelled).
func (m *emu) cliSti() error {
	if m.v.CPL > m.v.IOPL {
		return gp(0, "%v at virtual CPL %d with IOPL %d", m.inst.Op, m.v.CPL, m.v.IOPL)
	}
	on := m.inst.Op == x86asm.STI
	if on && !m.v.IF {
		m.out.Shadow = true // sti: interrupts wait one more instruction
	}
	m.setIF(on)
	m.keepRealFlags(m.cpu.Reg(EFLAGS))
	return nil
}

func (m *emu) hlt() error {
	if err := m.needCPL0(); err != nil {
		return err
	}
	m.out.Halt = true
	return nil
}

// movToCR writes a virtual control register and tells the platform.
func (m *emu) movToCR(cr x86asm.Reg, src x86asm.Arg) error {
	n := int(cr - x86asm.CR0)
	if n != 0 && n != 2 && n != 3 && n != 4 {
		return ud("mov to CR%d", n)
	}
	if err := m.needCPL0(); err != nil {
		return err
	}
	val, err := m.readOperand(src, 4)
	if err != nil {
		return err
	}
	switch n {
	case 0:
		if val&x86.CR0PG != 0 && val&x86.CR0PE == 0 {
			return gp(0, "CR0.PG set without CR0.PE (%#x)", val)
		}
		if val&x86.CR0NW != 0 && val&x86.CR0CD == 0 {
			return gp(0, "CR0.NW set without CR0.CD (%#x)", val)
		}
		old := m.v.CR0
		m.v.CR0 = val | x86.CR0ET // ET is hardwired to 1 (as on QEMU and Unicorn)
		m.e.P.CRWritten(0, old)
	case 2:
		m.v.CR2 = val
	case 3:
		old := m.v.CR3
		m.v.CR3 = val
		m.e.P.CRWritten(3, old)
	case 4:
		if val&x86.CR4Reserved != 0 {
			return gp(0, "reserved CR4 bits %#x", val&x86.CR4Reserved)
		}
		old := m.v.CR4
		m.v.CR4 = val
		m.e.P.CRWritten(4, old)
	}
	return nil
}

func (m *emu) movFromCR(dst x86asm.Arg, cr x86asm.Reg) error {
	n := int(cr - x86asm.CR0)
	var val uint32
	switch n {
	case 0:
		val = m.v.CR0
	case 2:
		val = m.v.CR2
	case 3:
		val = m.v.CR3
	case 4:
		val = m.v.CR4
	default:
		return ud("mov from CR%d", n)
	}
	if err := m.needCPL0(); err != nil {
		return err
	}
	return m.writeOperand(dst, 4, val)
}

// debugRegNum maps DRn to the register it names (vmm.DebugRegIndex:
// DR4/DR5 alias DR6/DR7 while CR4.DE is clear, #UD with it set; no DR8 up).
func (m *emu) debugRegNum(r x86asm.Reg) (int, error) {
	n, ok := vmm.DebugRegIndex(int(r-x86asm.DR0), m.v.CR4)
	if !ok {
		return 0, ud("mov with DR%d (CR4.DE %v)", int(r-x86asm.DR0), m.v.CR4&x86.CR4DE != 0)
	}
	return n, nil
}

// movToDR writes a debug register of the virtual CPU. The values are
// kept and read back; breakpoints they arm are not modelled (a documented
// limit: no guest-visible #DB from DR7).
func (m *emu) movToDR(dr x86asm.Reg, src x86asm.Arg) error {
	n, err := m.debugRegNum(dr)
	if err != nil {
		return err
	}
	if err := m.needCPL0(); err != nil {
		return err
	}
	val, err := m.readOperand(src, 4)
	if err != nil {
		return err
	}
	m.v.DR[n] = val
	return nil
}

func (m *emu) movFromDR(dst x86asm.Arg, dr x86asm.Reg) error {
	n, err := m.debugRegNum(dr)
	if err != nil {
		return err
	}
	if err := m.needCPL0(); err != nil {
		return err
	}
	return m.writeOperand(dst, 4, m.v.DebugReg(n))
}

// memArg is the instruction's memory operand, or #UD.
func (m *emu) memArg(i int) (x86asm.Mem, error) {
	if mem, ok := m.inst.Args[i].(x86asm.Mem); ok {
		return mem, nil
	}
	return x86asm.Mem{}, ud("%v needs a memory operand", m.inst.Op)
}

// lxdt: lgdt/lidt read a 6-byte pseudo-descriptor (limit16, base32; with a
// 16-bit operand size only 24 bits of base).
func (m *emu) lxdt() error {
	mem, err := m.memArg(0)
	if err != nil {
		return err
	}
	if err := m.needCPL0(); err != nil {
		return err
	}
	addr, err := m.ea(mem)
	if err != nil {
		return err
	}
	b, err := m.read(addr, 6)
	if err != nil {
		return err
	}
	dtr := DTR{Limit: binary.LittleEndian.Uint16(b), Base: binary.LittleEndian.Uint32(b[2:])}
	if m.inst.DataSize == 16 {
		dtr.Base &= 0xFFFFFF
	}
	if m.inst.Op == x86asm.LGDT {
		m.v.GDTR = dtr
		m.e.P.GDTLoaded()
	} else {
		m.v.IDTR = dtr
		m.e.P.IDTLoaded()
	}
	return nil
}

// umip: sgdt, sidt, sldt, str and smsw fault outside CPL 0 when the guest
// set CR4.UMIP.
func (m *emu) umip() error {
	if m.v.CR4&x86.CR4UMIP != 0 && m.v.CPL > 0 {
		return gp(0, "%v at virtual CPL %d with CR4.UMIP", m.inst.Op, m.v.CPL)
	}
	return nil
}

// sxdt: sgdt/sidt store the guest's GDTR/IDTR (the virtual answer).
func (m *emu) sxdt() error {
	mem, err := m.memArg(0)
	if err != nil {
		return err
	}
	if err := m.umip(); err != nil {
		return err
	}
	dtr := m.v.GDTR
	if m.inst.Op == x86asm.SIDT {
		dtr = m.v.IDTR
	}
	addr, err := m.ea(mem)
	if err != nil {
		return err
	}
	b := make([]byte, 6)
	binary.LittleEndian.PutUint16(b, dtr.Limit)
	binary.LittleEndian.PutUint32(b[2:], dtr.Base)
	return m.write(addr, b)
}

// storeSysSel: sldt/str store the guest's LDTR/TR selector (a 32-bit
// register destination is zero-extended, a memory one gets 16 bits).
func (m *emu) storeSysSel() error {
	if err := m.umip(); err != nil {
		return err
	}
	sel := m.v.LDTR
	if m.inst.Op == x86asm.STR {
		sel = m.v.TR
	}
	return m.writeOperand(m.inst.Args[0], 2, uint32(sel))
}

// smsw stores the guest's CR0: all of it into a 32-bit register (as
// current processors do), the low 16 bits into a 16-bit register or memory.
func (m *emu) smsw() error {
	if err := m.umip(); err != nil {
		return err
	}
	if r, ok := m.inst.Args[0].(x86asm.Reg); ok && regSize(r) == 4 {
		// Into a 32-bit register the SDM leaves the high half undefined;
		// QEMU (the oracle) zero-extends, and so do native and bt.
		return m.writeOperand(r, 4, m.v.CR0&0xFFFF)
	}
	return m.writeOperand(m.inst.Args[0], 2, m.v.CR0)
}

// lmsw loads CR0 bits 3..0 (PE MP EM TS); it cannot clear PE.
func (m *emu) lmsw() error {
	if err := m.needCPL0(); err != nil {
		return err
	}
	src, err := m.readOperand(m.inst.Args[0], 2)
	if err != nil {
		return err
	}
	old := m.v.CR0
	m.v.CR0 = old&^0xF | src&0xF | old&x86.CR0PE
	m.e.P.CRWritten(0, old)
	return nil
}

// clts clears the virtual CR0.TS; the platform hears of it as a CR0 write
// (it may mirror TS for lazy FPU switching).
func (m *emu) clts() error {
	if err := m.needCPL0(); err != nil {
		return err
	}
	old := m.v.CR0
	m.v.CR0 &^= x86.CR0TS
	m.e.P.CRWritten(0, old)
	return nil
}

func (m *emu) invlpg() error {
	mem, err := m.memArg(0)
	if err != nil {
		return err
	}
	if err := m.needCPL0(); err != nil {
		return err
	}
	addr, err := m.ea(mem)
	if err != nil {
		return err
	}
	m.e.P.InvalidatePage(addr)
	return nil
}

func (m *emu) rdmsr() error {
	if err := m.needCPL0(); err != nil {
		return err
	}
	idx := m.cpu.Reg(ECX)
	val, ok := m.v.MSR[idx]
	if !ok {
		info, known := MSRFor(idx)
		if !known {
			return gp(0, "rdmsr of unknown MSR %#x", idx)
		}
		val = info.Reset
	}
	m.cpu.SetReg(EAX, uint32(val))
	m.cpu.SetReg(EDX, uint32(val>>32))
	return nil
}

func (m *emu) wrmsr() error {
	if err := m.needCPL0(); err != nil {
		return err
	}
	idx := m.cpu.Reg(ECX)
	val := uint64(m.cpu.Reg(EDX))<<32 | uint64(m.cpu.Reg(EAX))
	_, touched := m.v.MSR[idx]
	info, known := MSRFor(idx)
	if !known && !touched {
		return gp(0, "wrmsr of unknown MSR %#x", idx)
	}
	if known && info.WriteIgnored {
		return nil // as qemu32: accepted, no effect
	}
	if m.v.MSR == nil {
		m.v.MSR = make(map[uint32]uint64)
	}
	m.v.MSR[idx] = val
	return nil
}

func (m *emu) cpuid() error {
	r := m.e.P.CPUID(m.cpu.Reg(EAX), m.cpu.Reg(ECX))
	m.cpu.SetReg(EAX, r[0])
	m.cpu.SetReg(EBX, r[1])
	m.cpu.SetReg(ECX, r[2])
	m.cpu.SetReg(EDX, r[3])
	return nil
}

// pushf pushes the guest's flags: the real ones with the virtual IF and
// IOPL (VM and RF are cleared in the image, as the CPU does).
func (m *emu) pushf() error {
	size := m.opSize()
	img := m.guestFlags() &^ (x86.FlagRF | x86.FlagVM)
	return m.push(size, img&mask(size))
}

// popf pops into the guest's flags: the arithmetic and control flags go to
// the real EFLAGS; IOPL changes only at virtual CPL 0 and IF only at
// virtual CPL <= IOPL — elsewhere they are silently kept, as hardware
// keeps them. The real IF and IOPL stay the VMM's.
func (m *emu) popf() error {
	size := m.opSize()
	val, err := m.readStack(0, size)
	if err != nil {
		return err
	}
	changeable := uint32(x86.FlagsPopf) & mask(size)
	nf := m.cpu.Reg(EFLAGS)&^changeable | val&changeable
	nf &^= x86.FlagRF
	if m.v.CPL <= m.v.IOPL {
		m.setIF(val&x86.FlagIF != 0)
	}
	if m.v.CPL == 0 {
		m.v.IOPL = x86.IOPL(val)
	}
	m.cpu.SetReg(ESP, m.spAt(int32(size)))
	m.keepRealFlags(nf)
	return nil
}

// softInt: int n, int3 and into (when OF=1) complete and hand the vector
// to the VMM, which reflects it through the guest's IDT (checking the
// gate's DPL against the virtual CPL first).
func (m *emu) softInt() error {
	if m.inst.Op == x86asm.INTO {
		if m.cpu.Reg(EFLAGS)&x86.FlagOF == 0 {
			return nil // no overflow: into does nothing
		}
		return &Fault{Vector: x86.VecOF, Soft: true, Why: "into with OF=1"}
	}
	imm, ok := m.inst.Args[0].(x86asm.Imm)
	if !ok {
		return errUnsupported("int without an immediate vector")
	}
	why := fmt.Sprintf("int $%#x", uint8(imm))
	if m.inst.Len == 1 {
		why = "int3"
	}
	return &Fault{Vector: uint8(imm), Soft: true, Why: why}
}
