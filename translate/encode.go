package translate

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/vmm/unicorn"
)

// A small x86 encoder for the few instruction forms the translator emits
// itself (everything else is copied byte for byte: IDENT).

// reg is a 32-bit general register number as ModRM encodes it.
type reg uint8

const (
	rEAX reg = iota
	rECX
	rEDX
	rEBX
	rESP
	rEBP
	rESI
	rEDI
	rNone reg = 0xFF
)

// ucReg maps a register number to Unicorn's name for it.
var ucReg = [8]unicorn.Reg{unicorn.EAX, unicorn.ECX, unicorn.EDX, unicorn.EBX, unicorn.ESP, unicorn.EBP, unicorn.ESI, unicorn.EDI}

// code is machine code being assembled at a known address.
type code struct {
	base uint32
	b    []byte
}

func (c *code) pc() uint32                    { return c.base + uint32(len(c.b)) }
func (c *code) emit(bs ...byte)               { c.b = append(c.b, bs...) }
func (c *code) u32(v uint32)                  { c.b = binary.LittleEndian.AppendUint32(c.b, v) }
func (c *code) u16(v uint16)                  { c.b = binary.LittleEndian.AppendUint16(c.b, v) }
func (c *code) rel32(target uint32)           { c.u32(target - (c.pc() + 4)) }
func (c *code) modrmAbs(r uint8, addr uint32) { c.emit(r<<3 | 5); c.u32(addr) }

// jmp emits `jmp rel32` and returns the address of its rel32 field (the
// patch site of a chained exit).
func (c *code) jmp(target uint32) uint32 {
	c.emit(0xE9)
	site := c.pc()
	c.rel32(target)
	return site
}

// jcc emits `jcc rel32` with condition code cc (the low nibble of 0x7x).
func (c *code) jcc(cc byte, target uint32) uint32 {
	c.emit(0x0F, 0x80|cc)
	site := c.pc()
	c.rel32(target)
	return site
}

// jmpInd emits `jmp *addr`.
func (c *code) jmpInd(addr uint32) { c.emit(0xFF); c.modrmAbs(4, addr) }

func (c *code) pushImm(v uint32) { c.emit(0x68); c.u32(v) }

// store emits `mov %r, addr`; load `mov addr, %r`.
func (c *code) store(r reg, addr uint32) { c.emit(0x89); c.modrmAbs(uint8(r), addr) }
func (c *code) load(addr uint32, r reg)  { c.emit(0x8B); c.modrmAbs(uint8(r), addr) }

// load16 emits `mov addr, %r16`.
func (c *code) load16(addr uint32, r reg) { c.emit(0x66, 0x8B); c.modrmAbs(uint8(r), addr) }

// movzx emits `movzbl/movzwl addr, %r` (op 0xB6 or 0xB7).
func (c *code) movzx(op byte, addr uint32, r reg) { c.emit(0x0F, op); c.modrmAbs(uint8(r), addr) }

// movzxTab emits `movzbl/movzwl table(,%idx,scale), %r`.
func (c *code) movzxTab(op byte, table uint32, idx reg, scale uint8, r reg) {
	c.emit(0x0F, op, byte(r)<<3|4, scaleBits(scale)<<6|byte(idx)<<3|5)
	c.u32(table)
}

// loadTab emits `mov table(,%idx,scale), %r` (16-bit with op16).
func (c *code) loadTab(table uint32, idx reg, scale uint8, r reg, op16 bool) {
	if op16 {
		c.emit(0x66)
	}
	c.emit(0x8B, byte(r)<<3|4, scaleBits(scale)<<6|byte(idx)<<3|5)
	c.u32(table)
}

// storeByteImm emits `movb $imm, addr`; storeByte `mov %r8, addr` (r8 in
// ModRM's byte-register numbering: AL CL DL BL AH CH DH BH).
func (c *code) storeByteImm(addr uint32, imm byte) { c.emit(0xC6); c.modrmAbs(0, addr); c.emit(imm) }
func (c *code) storeByte(r8 uint8, addr uint32)    { c.emit(0x88); c.modrmAbs(r8, addr) }

// movRR emits `mov %src, %dst` (32-bit, or 16-bit with op16).
func (c *code) movRR(src, dst reg, op16 bool) {
	if op16 {
		c.emit(0x66)
	}
	c.emit(0x89, 0xC0|byte(src)<<3|byte(dst))
}

// lea emits `lea disp(%base,%index,1), %dst` (index may be rNone).
func (c *code) lea(dst reg, m mem) { c.emit(0x8D); c.mem(uint8(dst), m) }

// cmovz emits `cmovz %src, %dst`.
func (c *code) cmovz(src, dst reg, op16 bool) {
	if op16 {
		c.emit(0x66)
	}
	c.emit(0x0F, 0x44, 0xC0|byte(dst)<<3|byte(src))
}

func scaleBits(s uint8) byte {
	switch s {
	case 2:
		return 1
	case 4:
		return 2
	case 8:
		return 3
	}
	return 0
}

// mem is a 32-bit memory operand: [seg:] disp(base, index, scale).
type mem struct {
	seg         byte // segment-override prefix byte, 0 for none
	base, index reg  // rNone when absent
	scale       uint8
	disp        int32
}

func absMem(addr uint32) mem { return mem{base: rNone, index: rNone, scale: 1, disp: int32(addr)} }

// uses reports whether the operand's address depends on r.
func (m mem) uses(r reg) bool { return m.base == r || m.index == r }

// mem emits the ModRM (with reg field r), SIB and displacement of m.
func (c *code) mem(r uint8, m mem) {
	if m.base == rNone && m.index == rNone {
		c.modrmAbs(r, uint32(m.disp))
		return
	}
	needSIB := m.index != rNone || m.base == rESP
	var mod byte
	switch {
	case m.base == rNone:
		mod = 0 // SIB with no base: disp32
	case m.disp == 0 && m.base != rEBP:
		mod = 0
	case m.disp >= -128 && m.disp <= 127:
		mod = 1
	default:
		mod = 2
	}
	if !needSIB {
		c.emit(mod<<6 | r<<3 | byte(m.base))
	} else {
		idx, base := byte(4), byte(5)
		if m.index != rNone {
			idx = byte(m.index)
		}
		if m.base != rNone {
			base = byte(m.base)
		}
		c.emit(mod<<6|r<<3|4, scaleBits(m.scale)<<6|idx<<3|base)
	}
	switch {
	case m.base == rNone || mod == 2:
		c.u32(uint32(m.disp))
	case mod == 1:
		c.emit(byte(int8(m.disp)))
	}
}

// withSeg emits m's segment-override prefix, if any.
func (c *code) withSeg(m mem) {
	if m.seg != 0 {
		c.emit(m.seg)
	}
}

var segPrefix = map[x86asm.Reg]byte{
	x86asm.ES: 0x26, x86asm.CS: 0x2E, x86asm.SS: 0x36, x86asm.DS: 0x3E, x86asm.FS: 0x64, x86asm.GS: 0x65,
}

// gpr32 maps a 32-bit register to its number.
func gpr32(r x86asm.Reg) (reg, bool) {
	if r >= x86asm.EAX && r <= x86asm.EDI {
		return reg(r - x86asm.EAX), true
	}
	return rNone, false
}

// gpr16 maps a 16-bit register to its number.
func gpr16(r x86asm.Reg) (reg, bool) {
	if r >= x86asm.AX && r <= x86asm.DI {
		return reg(r - x86asm.AX), true
	}
	return rNone, false
}

// memOf converts a decoded 32-bit-addressing memory operand.
func memOf(a x86asm.Mem) (mem, error) {
	m := mem{base: rNone, index: rNone, scale: 1, disp: int32(a.Disp)}
	if a.Segment != 0 {
		p, ok := segPrefix[a.Segment]
		if !ok {
			return m, fmt.Errorf("segment %v", a.Segment)
		}
		m.seg = p
	}
	if a.Base != 0 {
		r, ok := gpr32(a.Base)
		if !ok {
			return m, fmt.Errorf("base register %v (16-bit addressing)", a.Base)
		}
		m.base = r
	}
	if a.Index != 0 {
		r, ok := gpr32(a.Index)
		if !ok || r == rESP {
			return m, fmt.Errorf("index register %v", a.Index)
		}
		m.index = r
		m.scale = a.Scale
	}
	return m, nil
}

// scratch picks a register among EAX, ECX, EDX, EBX that none of avoid uses.
func scratch(avoid ...func(reg) bool) (reg, error) {
	for _, r := range []reg{rEAX, rECX, rEDX, rEBX} {
		ok := true
		for _, f := range avoid {
			if f(r) {
				ok = false
			}
		}
		if ok {
			return r, nil
		}
	}
	return rNone, fmt.Errorf("no scratch register free")
}

// saveSlot is where scratch register r is saved in the guest-owned page.
func saveSlot(r reg) uint32 {
	switch r {
	case rEAX:
		return vrwSaveEAX
	case rECX:
		return vrwSaveECX
	case rEDX:
		return vrwSaveEDX
	}
	return vrwSaveEBX
}

// ucEIP is Unicorn's EIP (for tests and the listing).
var ucEIP = unicorn.EIP
