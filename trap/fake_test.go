package trap

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"

	"virtsim/vmm/x86"
)

// A fake CPU over a byte slice of guest memory (linear = physical), and a
// fake platform that records what the emulator asks of it.

const (
	memSize   = 0x20000
	codeAddr  = 0x0100          // the instruction under test
	gdtAddr   = 0x1000          // the guest GDT
	dataAddr  = 0x2000          // operands
	tssAddr   = 0x3000          // the guest TSS
	ldtAddr   = 0x4000          // the guest LDT
	strAddr   = 0x5000          // strings for ins/outs
	kstackTop = 0x8000          // kernel stack (ESP at start)
	ustackTop = 0x9000          // user stack
	pfPage    = 0x10000         // reads and writes of this page raise #PF
	ioMapOff  = 0x68            // I/O bitmap offset in the TSS
	tssLimit  = ioMapOff + 0x80 // bitmap for ports 0..0x3FF plus the 0xFF terminator byte
)

// Guest GDT selectors.
const (
	selKCode     = 0x08 // kernel code DPL 0
	selKData     = 0x10 // kernel data DPL 0
	selUCode     = 0x18 // user code DPL 3 (use 0x1B)
	selUData     = 0x20 // user data DPL 3 (use 0x23)
	selTSS       = 0x28 // 32-bit available TSS at tssAddr
	selKCodeNP   = 0x30 // kernel code, not present
	selLDT       = 0x38 // LDT at ldtAddr, 2 entries
	selConform   = 0x40 // conforming code DPL 0
	selKDataRO   = 0x48 // read-only data DPL 0
	selGate3     = 0x50 // 32-bit call gate DPL 3 -> 0x08:0x700, 1 parameter
	selTSS16     = 0x58 // 16-bit available TSS
	selKDataNA   = 0x60 // kernel data DPL 0, accessed bit clear
	selUExecOnly = 0x68 // execute-only code DPL 3
	selUDataNP   = 0x70 // user data DPL 3, not present
	selIntGate   = 0x78 // interrupt gate DPL 3 (not valid for lar)
	selGate0     = 0x80 // call gate DPL 0
	selKCodeLim  = 0x88 // kernel code DPL 0, limit 0xFFF
	selTSSNP     = 0x90 // 32-bit TSS, not present
	selKDataNP   = 0x98 // kernel data DPL 0, not present
	gdtLimit     = 0x9F
)

func flat(typ, dpl uint8) uint64 { return x86.EncodeSegment(0, 0xFFFFFFFF, typ, dpl, true, true) }

var guestGDT = map[uint16]uint64{
	selKCode:     flat(0xB, 0),
	selKData:     flat(0x3, 0),
	selUCode:     flat(0xB, 3),
	selUData:     flat(0x3, 3),
	selTSS:       x86.EncodeSystem(tssAddr, tssLimit, x86.TypeTSS32Avail, 0),
	selKCodeNP:   flat(0xB, 0) &^ (1 << 47),
	selLDT:       x86.EncodeSystem(ldtAddr, 0xF, x86.TypeLDT, 0),
	selConform:   flat(0xF, 0),
	selKDataRO:   flat(0x1, 0),
	selGate3:     x86.EncodeGate(x86.TypeCallGate32, selKCode, 0x700, 3) | 1<<32,
	selTSS16:     x86.EncodeSystem(tssAddr, 0x2B, x86.TypeTSS16Avail, 0),
	selKDataNA:   flat(0x2, 0),
	selUExecOnly: flat(0x9, 3),
	selUDataNP:   flat(0x3, 3) &^ (1 << 47),
	selIntGate:   x86.EncodeGate(x86.TypeIntGate32, selKCode, 0x700, 3),
	selGate0:     x86.EncodeGate(x86.TypeCallGate32, selKCode, 0x700, 0),
	selKCodeLim:  x86.EncodeSegment(0, 0xFFF, 0xB, 0, true, false),
	selTSSNP:     x86.EncodeSystem(tssAddr, tssLimit, x86.TypeTSS32Avail, 0) &^ (1 << 47),
	selKDataNP:   flat(0x3, 0) &^ (1 << 47),
}

// Guest LDT: selector 0x07 = user data DPL 3, 0x0C = kernel data DPL 0.
var guestLDT = []uint64{flat(0x3, 3), flat(0x3, 0)}

type fakeCPU struct {
	regs   [10]uint32
	segs   [6]Segment
	mem    []byte
	refuse map[SegReg]bool // LoadSeg fails for these
}

func (c *fakeCPU) Reg(r Reg) uint32       { return c.regs[r] }
func (c *fakeCPU) SetReg(r Reg, v uint32) { c.regs[r] = v }
func (c *fakeCPU) Seg(s SegReg) Segment   { return c.segs[s] }
func (c *fakeCPU) LoadSeg(s SegReg, sel uint16, d x86.Descriptor) error {
	if c.refuse[s] {
		return fmt.Errorf("fake: refusing to load %v", s)
	}
	c.segs[s] = Segment{sel, d}
	return nil
}

func (c *fakeCPU) access(addr uint32, n int, write bool) error {
	for i := 0; i < n; i++ {
		a := addr + uint32(i)
		if a>>12 == pfPage>>12 {
			code := uint32(0)
			if write {
				code = 2
			}
			return fmt.Errorf("fake: %w", &MemFault{Addr: a, Write: write, Vector: x86.VecPF, Code: code})
		}
		if a >= uint32(len(c.mem)) {
			return fmt.Errorf("fake: linear %#x beyond guest memory", a)
		}
	}
	return nil
}

func (c *fakeCPU) ReadLinear(addr uint32, b []byte) error {
	if err := c.access(addr, len(b), false); err != nil {
		return err
	}
	copy(b, c.mem[addr:])
	return nil
}

func (c *fakeCPU) WriteLinear(addr uint32, b []byte) error {
	if err := c.access(addr, len(b), true); err != nil {
		return err
	}
	copy(c.mem[addr:], b)
	return nil
}

func (c *fakeCPU) put32(addr, v uint32) { binary.LittleEndian.PutUint32(c.mem[addr:], v) }
func (c *fakeCPU) put16(addr uint32, v uint16) {
	binary.LittleEndian.PutUint16(c.mem[addr:], v)
}
func (c *fakeCPU) get32(addr uint32) uint32 { return binary.LittleEndian.Uint32(c.mem[addr:]) }
func (c *fakeCPU) get16(addr uint32) uint16 { return binary.LittleEndian.Uint16(c.mem[addr:]) }

// pushFrame lays words (first = lowest address) at ESP-4*len and moves ESP.
func (c *fakeCPU) pushFrame(words ...uint32) {
	esp := c.regs[ESP] - 4*uint32(len(words))
	for i, w := range words {
		c.put32(esp+4*uint32(i), w)
	}
	c.regs[ESP] = esp
}

type ioRec struct {
	Port uint16
	Size int
	Val  uint32
}

type fakePlatform struct {
	log   []string
	outs  []ioRec
	ins   []ioRec
	inVal []uint32 // successive values In returns; then 0x11223344
}

func (p *fakePlatform) In(port uint16, size int) uint32 {
	v := uint32(0x11223344)
	if len(p.inVal) > 0 {
		v, p.inVal = p.inVal[0], p.inVal[1:]
	}
	v &= mask(size)
	p.ins = append(p.ins, ioRec{port, size, v})
	return v
}
func (p *fakePlatform) Out(port uint16, size int, v uint32) {
	p.outs = append(p.outs, ioRec{port, size, v})
}
func (p *fakePlatform) CPUID(leaf, sub uint32) [4]uint32 {
	return [4]uint32{leaf + 1, sub + 2, 0x6c65746e, 0x49656e69}
}
func (p *fakePlatform) GDTLoaded() { p.log = append(p.log, "gdt") }
func (p *fakePlatform) IDTLoaded() { p.log = append(p.log, "idt") }
func (p *fakePlatform) TRLoaded()  { p.log = append(p.log, "tr") }
func (p *fakePlatform) LDTLoaded() { p.log = append(p.log, "ldt") }
func (p *fakePlatform) CRWritten(n int, old uint32) {
	p.log = append(p.log, fmt.Sprintf("cr%d old=%#x", n, old))
}
func (p *fakePlatform) InvalidatePage(addr uint32) {
	p.log = append(p.log, fmt.Sprintf("invlpg %#x", addr))
}

// Ring compression: RPL 0 runs as RPL 1, DPL 0 as DPL 1.
func (p *fakePlatform) ShadowSelector(sel uint16) uint16 {
	if !x86.SelNull(sel) && x86.SelRPL(sel) == 0 {
		return sel | 1
	}
	return sel
}
func (p *fakePlatform) ShadowDescriptor(d x86.Descriptor) x86.Descriptor {
	if d.S && d.DPL == 0 {
		return d.WithDPL(1)
	}
	return d
}

// env is one test machine.
type env struct {
	c *fakeCPU
	v *VCPU
	p *fakePlatform
	e *Emulator
}

func gdtDesc(sel uint16) x86.Descriptor {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], guestGDT[sel&^7])
	return x86.Decode(b[:])
}

// shadowSeg is the real segment register for a guest selector.
func (en *env) shadowSeg(sel uint16) Segment {
	return Segment{en.p.ShadowSelector(sel), en.p.ShadowDescriptor(gdtDesc(sel))}
}

// newEnv: the guest kernel at virtual CPL 0 (real CPL 1), virtual IF=0,
// IOPL 0, on its kernel stack, with the guest GDT, TSS, LDT and code in
// memory. The real EFLAGS hold the VMM's IF=1 and IOPL=0.
func newEnv(code string) *env {
	c := &fakeCPU{mem: make([]byte, memSize)}
	p := &fakePlatform{}
	en := &env{c: c, p: p, e: &Emulator{P: p}}
	for sel, raw := range guestGDT {
		binary.LittleEndian.PutUint64(c.mem[gdtAddr+uint32(sel):], raw)
	}
	for i, raw := range guestLDT {
		binary.LittleEndian.PutUint64(c.mem[ldtAddr+8*i:], raw)
	}
	// TSS: ring-0 stack, I/O bitmap denying every port except 0x80 and 0x3F8-0x3FF.
	c.put32(tssAddr+x86.TSSESP0, kstackTop-0x100)
	c.put16(tssAddr+x86.TSSSS0, selKData)
	c.put16(tssAddr+x86.TSSIOMap, ioMapOff)
	for i := uint32(0); i <= 0x80; i++ {
		c.mem[tssAddr+ioMapOff+i] = 0xFF
	}
	c.mem[tssAddr+ioMapOff+0x80/8] &^= 1 << (0x80 % 8)
	c.mem[tssAddr+ioMapOff+0x3F8/8] = 0
	b, err := hex.DecodeString(code)
	if err != nil {
		panic(err)
	}
	copy(c.mem[codeAddr:], b)

	c.regs[EIP] = codeAddr
	c.regs[ESP] = kstackTop
	c.regs[EFLAGS] = x86.FlagReserved1 | x86.FlagIF
	c.segs[CS] = en.shadowSeg(selKCode)
	for _, s := range []SegReg{SS, DS, ES, FS, GS} {
		c.segs[s] = en.shadowSeg(selKData)
	}
	en.v = &VCPU{
		CR0:  x86.CR0PE | x86.CR0ET,
		GDTR: DTR{Base: gdtAddr, Limit: gdtLimit},
		IDTR: DTR{Base: 0x6000, Limit: 0x7FF},
		TR:   selTSS,
	}
	return en
}

// user moves the guest to virtual CPL 3 on its user segments.
func (en *env) user() {
	en.v.CPL = 3
	en.c.segs[CS] = en.shadowSeg(selUCode | 3)
	for _, s := range []SegReg{SS, DS, ES, FS, GS} {
		en.c.segs[s] = en.shadowSeg(selUData | 3)
	}
	en.c.regs[ESP] = ustackTop
}

func (en *env) run() (Outcome, error) { return en.e.Emulate(en.c, en.v, codeAddr) }

// snapshot is the whole machine state, for "a fault changes nothing".
type snapshot struct {
	regs [10]uint32
	segs [6]Segment
	mem  []byte
	v    VCPU
	log  int
	io   int
}

func (en *env) snap() snapshot {
	v := *en.v
	v.MSR = maps.Clone(en.v.MSR)
	return snapshot{en.c.regs, en.c.segs, bytes.Clone(en.c.mem), v, len(en.p.log), len(en.p.outs) + len(en.p.ins)}
}

// diff describes how the machine changed since s ("" if it did not).
func (en *env) diff(s snapshot) string {
	var d []string
	if en.c.regs != s.regs {
		d = append(d, fmt.Sprintf("registers %x -> %x", s.regs, en.c.regs))
	}
	if en.c.segs != s.segs {
		d = append(d, "segment registers changed")
	}
	if !bytes.Equal(en.c.mem, s.mem) {
		for i := range s.mem {
			if s.mem[i] != en.c.mem[i] {
				d = append(d, fmt.Sprintf("memory at %#x", i))
				break
			}
		}
	}
	if !reflect.DeepEqual(*en.v, s.v) {
		d = append(d, fmt.Sprintf("VCPU %+v -> %+v", s.v, *en.v))
	}
	if len(en.p.log) != s.log || len(en.p.outs)+len(en.p.ins) != s.io {
		d = append(d, fmt.Sprintf("platform calls %v %v %v", en.p.log, en.p.outs, en.p.ins))
	}
	return strings.Join(d, "; ")
}

// faultString spells a fault the way test tables do: "#GP(0x28)", "#UD",
// "int 0x80".
func faultString(f *Fault) string {
	if f == nil {
		return ""
	}
	if f.Soft {
		return fmt.Sprintf("int %#x", f.Vector)
	}
	s := x86.VectorName(f.Vector)
	if f.HasCode {
		s += fmt.Sprintf("(%#x)", f.Code)
	}
	return s
}

func isPanic(err error) bool {
	return errors.Is(err, ErrInternal) && strings.Contains(err.Error(), "panic")
}
