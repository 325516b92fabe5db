package hwassist

import (
	"encoding/binary"
	"errors"
	"fmt"

	"virtsim/trap"
	"virtsim/vmm/x86"
)

// kvmCPU is trap's CPU interface over a copy of KVM's vCPU state (struct
// kvm_regs and struct kvm_sregs) and guest memory: what trap's emulator
// reads and writes when it finishes an instruction KVM's emulator refused,
// and what deliver uses to push an interrupt frame. The VMM writes the
// copy back with KVM_SET_REGS/KVM_SET_SREGS when something changed.
type kvmCPU struct {
	regs       kvmRegs
	sregs      kvmSregs
	regsDirty  bool
	sregsDirty bool
	mem        guestMemory
}

// guestMemory is what kvmCPU needs of the VM: guest-physical RAM and, when
// the guest has paging on, KVM's translation of a linear address.
type guestMemory interface {
	RAM() []byte
	// Translate maps a linear address to a physical one (paging on).
	Translate(linear uint32) (phys uint32, ok bool, err error)
}

func (c *kvmCPU) Reg(r trap.Reg) uint32 { return uint32(*c.regPtr(r)) }

func (c *kvmCPU) SetReg(r trap.Reg, v uint32) {
	p := c.regPtr(r)
	if uint32(*p) != v || *p>>32 != 0 {
		*p = uint64(v)
		c.regsDirty = true
	}
}

func (c *kvmCPU) regPtr(r trap.Reg) *uint64 {
	switch r {
	case trap.EAX:
		return &c.regs.RAX
	case trap.ECX:
		return &c.regs.RCX
	case trap.EDX:
		return &c.regs.RDX
	case trap.EBX:
		return &c.regs.RBX
	case trap.ESP:
		return &c.regs.RSP
	case trap.EBP:
		return &c.regs.RBP
	case trap.ESI:
		return &c.regs.RSI
	case trap.EDI:
		return &c.regs.RDI
	case trap.EIP:
		return &c.regs.RIP
	case trap.EFLAGS:
		return &c.regs.RFLAGS
	}
	panic(fmt.Sprintf("hwassist: register %d", r))
}

func (c *kvmCPU) segPtr(s trap.SegReg) *kvmSegment {
	switch s {
	case trap.ES:
		return &c.sregs.ES
	case trap.CS:
		return &c.sregs.CS
	case trap.SS:
		return &c.sregs.SS
	case trap.DS:
		return &c.sregs.DS
	case trap.FS:
		return &c.sregs.FS
	case trap.GS:
		return &c.sregs.GS
	}
	panic(fmt.Sprintf("hwassist: segment register %d", s))
}

// Seg returns the selector and the hidden descriptor cache KVM holds for
// it (unlike Unicorn, KVM exposes the cache).
func (c *kvmCPU) Seg(s trap.SegReg) trap.Segment {
	seg := c.segPtr(s)
	return trap.Segment{Sel: seg.Selector, Desc: descOf(*seg)}
}

// LoadSeg loads the selector and its descriptor cache.
func (c *kvmCPU) LoadSeg(s trap.SegReg, sel uint16, d x86.Descriptor) error {
	*c.segPtr(s) = segmentOf(sel, d)
	c.sregsDirty = true
	return nil
}

// descOf turns a KVM segment cache into a descriptor (with the raw bytes a
// GDT entry for it would hold).
func descOf(s kvmSegment) x86.Descriptor {
	d := x86.Descriptor{
		Base: uint32(s.Base), Limit: s.Limit, Type: s.Type & 0xF,
		S: s.S != 0, DPL: s.DPL & 3, Present: s.Present != 0 && s.Unusable == 0,
		DB: s.DB != 0, G: s.G != 0,
	}
	limit := s.Limit
	if d.G {
		limit >>= 12
	}
	hi := uint32(s.Base>>16)&0xFF | uint32(d.Type)<<8 | uint32(d.DPL)<<13 | limit&0xF0000 | uint32(s.Base)&0xFF000000
	if d.S {
		hi |= 1 << 12
	}
	if d.Present {
		hi |= 1 << 15
	}
	if s.AVL != 0 {
		hi |= 1 << 20
	}
	if s.L != 0 {
		hi |= 1 << 21
	}
	if d.DB {
		hi |= 1 << 22
	}
	if d.G {
		hi |= 1 << 23
	}
	lo := limit&0xFFFF | uint32(s.Base)<<16
	d.Raw = uint64(hi)<<32 | uint64(lo)
	return d
}

// segmentOf is the KVM segment cache for a loaded selector and its
// descriptor. The null selector makes the segment unusable (VT-x's term;
// KVM takes it on every flavour).
func segmentOf(sel uint16, d x86.Descriptor) kvmSegment {
	if x86.SelNull(sel) && !x86.SelTI(sel) {
		return kvmSegment{Selector: sel, Unusable: 1}
	}
	s := kvmSegment{
		Base: uint64(d.Base), Limit: d.Limit, Selector: sel, Type: d.Type,
		DPL: d.DPL, AVL: uint8(d.Raw>>52) & 1, L: uint8(d.Raw>>53) & 1,
	}
	if d.Present {
		s.Present = 1
	} else {
		s.Unusable = 1
	}
	if d.DB {
		s.DB = 1
	}
	if d.S {
		s.S = 1
	}
	if d.G {
		s.G = 1
	}
	return s
}

// errOutsideRAM is an access to guest-physical memory beyond RAM.
var errOutsideRAM = errors.New("outside guest RAM")

// phys maps a linear address for an access of n bytes.
func (c *kvmCPU) phys(addr uint32, n int, write bool) (uint32, error) {
	if c.sregs.CR0&x86.CR0PG == 0 {
		return addr, nil
	}
	p, ok, err := c.mem.Translate(addr)
	if err != nil {
		return 0, err
	}
	if !ok {
		code := uint32(0)
		if write {
			code |= 2
		}
		if c.sregs.CS.Selector&3 == 3 {
			code |= 4
		}
		return 0, &trap.MemFault{Addr: addr, Write: write, Vector: x86.VecPF, Code: code}
	}
	return p, nil
}

// ReadLinear reads guest memory by linear address (page by page when
// paging is on).
func (c *kvmCPU) ReadLinear(addr uint32, b []byte) error {
	return c.access(addr, b, false)
}

// WriteLinear writes guest memory by linear address.
func (c *kvmCPU) WriteLinear(addr uint32, b []byte) error {
	return c.access(addr, b, true)
}

func (c *kvmCPU) access(addr uint32, b []byte, write bool) error {
	ram := c.mem.RAM()
	for len(b) > 0 {
		n := len(b)
		if c.sregs.CR0&x86.CR0PG != 0 {
			n = min(n, int(0x1000-addr&0xFFF))
		}
		p, err := c.phys(addr, n, write)
		if err != nil {
			return err
		}
		if uint64(p)+uint64(n) > uint64(len(ram)) {
			return fmt.Errorf("hwassist: %d bytes at guest-physical %#x: %w (%d MiB)", n, p, errOutsideRAM, len(ram)>>20)
		}
		if write {
			copy(ram[p:], b[:n])
		} else {
			copy(b[:n], ram[p:])
		}
		addr += uint32(n)
		b = b[n:]
	}
	return nil
}

func (c *kvmCPU) read32(addr uint32) (uint32, error) {
	var b [4]byte
	err := c.ReadLinear(addr, b[:])
	return binary.LittleEndian.Uint32(b[:]), err
}

// vcpuState is trap's VCPU as KVM's state shows it: under KVM the guest
// kernel really runs at CPL 0, so the "virtual" CPU is the real one.
func (c *kvmCPU) vcpuState() trap.VCPU {
	f := c.regs.RFLAGS
	return trap.VCPU{
		IF:   f&x86.FlagIF != 0,
		IOPL: x86.IOPL(uint32(f)),
		CPL:  uint8(c.sregs.CS.Selector & 3),
		CR0:  uint32(c.sregs.CR0), CR2: uint32(c.sregs.CR2), CR3: uint32(c.sregs.CR3), CR4: uint32(c.sregs.CR4),
		GDTR: trap.DTR{Base: uint32(c.sregs.GDT.Base), Limit: c.sregs.GDT.Limit},
		IDTR: trap.DTR{Base: uint32(c.sregs.IDT.Base), Limit: c.sregs.IDT.Limit},
		LDTR: c.sregs.LDT.Selector,
		TR:   c.sregs.TR.Selector,
		MSR:  map[uint32]uint64{},
	}
}

// applyVCPU copies what an emulated instruction changed in the VCPU back
// into the special registers (IF and IOPL are already in EFLAGS: the
// emulator runs with PassFlags).
func (c *kvmCPU) applyVCPU(v *trap.VCPU) error {
	s := &c.sregs
	set64 := func(p *uint64, v uint64) {
		if *p != v {
			*p, c.sregsDirty = v, true
		}
	}
	set64(&s.CR0, uint64(v.CR0))
	set64(&s.CR2, uint64(v.CR2))
	set64(&s.CR3, uint64(v.CR3))
	set64(&s.CR4, uint64(v.CR4))
	if s.GDT.Base != uint64(v.GDTR.Base) || s.GDT.Limit != v.GDTR.Limit {
		s.GDT.Base, s.GDT.Limit, c.sregsDirty = uint64(v.GDTR.Base), v.GDTR.Limit, true
	}
	if s.IDT.Base != uint64(v.IDTR.Base) || s.IDT.Limit != v.IDTR.Limit {
		s.IDT.Base, s.IDT.Limit, c.sregsDirty = uint64(v.IDTR.Base), v.IDTR.Limit, true
	}
	for _, t := range []struct {
		seg *kvmSegment
		sel uint16
	}{{&s.TR, v.TR}, {&s.LDT, v.LDTR}} {
		if t.seg.Selector == t.sel {
			continue
		}
		d, err := c.gdtDescriptor(t.sel)
		if err != nil {
			return err
		}
		*t.seg = segmentOf(t.sel, d)
		c.sregsDirty = true
	}
	return nil
}

// gdtDescriptor reads descriptor sel from the GDT (or, with TI set, the
// LDT).
func (c *kvmCPU) gdtDescriptor(sel uint16) (x86.Descriptor, error) {
	base, limit := uint32(c.sregs.GDT.Base), uint32(c.sregs.GDT.Limit)
	if x86.SelTI(sel) {
		base, limit = uint32(c.sregs.LDT.Base), c.sregs.LDT.Limit
		if c.sregs.LDT.Unusable != 0 || c.sregs.LDT.Present == 0 {
			return x86.Descriptor{}, fmt.Errorf("selector %#x names the LDT, but none is loaded", sel)
		}
	}
	off := uint32(x86.SelIndex(sel)) * 8
	if off+7 > limit {
		return x86.Descriptor{}, fmt.Errorf("selector %#x is beyond the table limit %#x", sel, limit)
	}
	var b [8]byte
	if err := c.ReadLinear(base+off, b[:]); err != nil {
		return x86.Descriptor{}, err
	}
	return x86.Decode(b[:]), nil
}
