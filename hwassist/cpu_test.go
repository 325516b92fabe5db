package hwassist

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"virtsim/trap"
	"virtsim/vmm/x86"
)

type fakeMem struct{ ram []byte }

func (f *fakeMem) RAM() []byte { return f.ram }
func (f *fakeMem) Translate(linear uint32) (uint32, bool, error) {
	return 0, false, errors.New("paging is off in these tests")
}

// Layout of the test machine.
const (
	tGDT      = 0x1000
	tIDT      = 0x2000
	tTSS      = 0x3000
	kCS, kDS  = 0x08, 0x10
	uCS, uDS  = 0x1b, 0x23
	tssSel    = 0x28
	sysVec    = 0x80
	sysEntry  = 0x5000
	gpEntry   = 0x6000
	dfEntry   = 0x7000
	kStackTop = 0x9000
)

// testCPU is a vCPU with a GDT (kernel and user code and data, a TSS), an
// IDT with a DPL-3 interrupt gate for int $0x80, a DPL-0 one for vector
// 0x81, a #GP trap gate and a #DF handler, running at cpl.
func testCPU(t *testing.T, cpl uint8) *kvmCPU {
	t.Helper()
	mem := &fakeMem{ram: make([]byte, 1<<20)}
	le := binary.LittleEndian
	gdt := []uint64{
		0,
		x86.EncodeSegment(0, 0xFFFFFFFF, 0xA, 0, true, true),
		x86.EncodeSegment(0, 0xFFFFFFFF, 0x2, 0, true, true),
		x86.EncodeSegment(0, 0xFFFFFFFF, 0xA, 3, true, true),
		x86.EncodeSegment(0, 0xFFFFFFFF, 0x2, 3, true, true),
		x86.EncodeSystem(tTSS, 0x67, x86.TypeTSS32Busy, 0),
	}
	for i, d := range gdt {
		le.PutUint64(mem.ram[tGDT+8*i:], d)
	}
	gate := func(vec uint8, typ uint8, off uint32, dpl uint8) {
		le.PutUint64(mem.ram[tIDT+8*int(vec):], x86.EncodeGate(typ, kCS, off, dpl))
	}
	gate(sysVec, x86.TypeIntGate32, sysEntry, 3)
	gate(0x81, x86.TypeIntGate32, sysEntry, 0)
	gate(x86.VecGP, x86.TypeTrapGate32, gpEntry, 0)
	gate(x86.VecDF, x86.TypeIntGate32, dfEntry, 0)
	le.PutUint32(mem.ram[tTSS+x86.TSSESP0:], kStackTop)
	le.PutUint32(mem.ram[tTSS+x86.TSSSS0:], kDS)

	c := &kvmCPU{mem: mem}
	desc := func(i int) x86.Descriptor {
		var b [8]byte
		le.PutUint64(b[:], gdt[i])
		return x86.Decode(b[:])
	}
	c.sregs.GDT = kvmDtable{Base: tGDT, Limit: uint16(8*len(gdt) - 1)}
	c.sregs.IDT = kvmDtable{Base: tIDT, Limit: 0x7FF}
	c.sregs.TR = segmentOf(tssSel, desc(5))
	c.sregs.CR0 = x86.CR0PE | x86.CR0ET
	if cpl == 3 {
		c.sregs.CS, c.sregs.SS = segmentOf(uCS, desc(3)), segmentOf(uDS, desc(4))
		c.regs.RSP = 0x80000
	} else {
		c.sregs.CS, c.sregs.SS = segmentOf(kCS, desc(1)), segmentOf(kDS, desc(2))
		c.regs.RSP = 0x70000
	}
	c.sregs.DS = c.sregs.SS
	c.regs.RIP = 0x4000
	c.regs.RFLAGS = x86.FlagReserved1 | x86.FlagIF
	return c
}

func (c *kvmCPU) words(t *testing.T, addr uint32, n int) []uint32 {
	t.Helper()
	out := make([]uint32, n)
	for i := range out {
		v, err := c.read32(addr + uint32(4*i))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = v
	}
	return out
}

func eqWords(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDeliverSamePrivilege(t *testing.T) {
	c := testCPU(t, 0)
	got, err := deliver(c, event{Vector: sysVec, Soft: true, Ret: 0x4002}, 0x4000)
	if err != nil || len(got) != 1 {
		t.Fatalf("deliver: %v %v", got, err)
	}
	if c.regs.RIP != sysEntry || c.regs.RSP != 0x70000-12 || c.regs.RFLAGS&x86.FlagIF != 0 || c.sregs.CS.Selector != kCS {
		t.Errorf("after delivery eip=%#x esp=%#x flags=%#x cs=%#x", c.regs.RIP, c.regs.RSP, c.regs.RFLAGS, c.sregs.CS.Selector)
	}
	if f := c.words(t, 0x70000-12, 3); !eqWords(f, []uint32{0x4002, kCS, x86.FlagReserved1 | x86.FlagIF}) {
		t.Errorf("frame % x", f)
	}
	if !c.regsDirty || !c.sregsDirty {
		t.Error("delivery did not mark the state for write-back")
	}
}

func TestDeliverFromUserSwitchesStacks(t *testing.T) {
	c := testCPU(t, 3)
	if _, err := deliver(c, event{Vector: sysVec, Soft: true, Ret: 0x4002}, 0x4000); err != nil {
		t.Fatal(err)
	}
	if c.sregs.SS.Selector != kDS || c.sregs.CS.Selector != kCS || c.sregs.CS.DPL != 0 || c.regs.RSP != kStackTop-20 {
		t.Errorf("ss=%#x cs=%#x dpl=%d esp=%#x", c.sregs.SS.Selector, c.sregs.CS.Selector, c.sregs.CS.DPL, c.regs.RSP)
	}
	want := []uint32{0x4002, uCS, x86.FlagReserved1 | x86.FlagIF, 0x80000, uDS}
	if f := c.words(t, kStackTop-20, 5); !eqWords(f, want) {
		t.Errorf("frame %x, want %x", f, want)
	}
	if got := c.vcpuState().CPL; got != 0 {
		t.Errorf("CPL after delivery %d", got)
	}
}

func TestDeliverGateDPLCheckRaisesGP(t *testing.T) {
	c := testCPU(t, 3)
	got, err := deliver(c, event{Vector: 0x81, Soft: true, Ret: 0x4002}, 0x4000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Vector != x86.VecGP || got[1].Code != 0x81*8+2 || got[1].Ret != 0x4000 {
		t.Fatalf("delivered %+v, want int 0x81 escalated to #GP(0x40a) returning to the int", got)
	}
	// #GP from CPL 3 to its CPL-0 trap gate: the error code is pushed.
	want := []uint32{0x81*8 + 2, 0x4000, uCS, x86.FlagReserved1 | x86.FlagIF, 0x80000, uDS}
	if f := c.words(t, kStackTop-24, 6); !eqWords(f, want) {
		t.Errorf("frame %x, want %x", f, want)
	}
	if c.regs.RIP != gpEntry || c.regs.RFLAGS&x86.FlagIF == 0 {
		t.Errorf("eip=%#x flags=%#x: a trap gate keeps IF", c.regs.RIP, c.regs.RFLAGS)
	}
}

func TestDeliverEscalatesToTripleFault(t *testing.T) {
	c := testCPU(t, 0)
	c.sregs.IDT.Limit = 0x7F // vectors 0-15 only: 0x80 is beyond, and so on
	binary.LittleEndian.PutUint64(c.mem.RAM()[tIDT+8*x86.VecGP:], 0)
	got, err := deliver(c, event{Vector: sysVec, Soft: true, Ret: 0x4002}, 0x4000)
	if err != nil {
		t.Fatalf("want #DF to be delivered: %v", err)
	}
	if last := got[len(got)-1]; last.Vector != x86.VecDF || c.regs.RIP != dfEntry {
		t.Fatalf("delivered %+v, eip %#x", got, c.regs.RIP)
	}
	c = testCPU(t, 0)
	c.sregs.IDT.Limit = 0
	_, err = deliver(c, event{Vector: sysVec, Soft: true, Ret: 0x4002}, 0x4000)
	var tf *tripleFault
	if !errors.As(err, &tf) || !strings.Contains(err.Error(), "triple fault") || len(tf.chain) != 3 {
		t.Fatalf("want a triple fault with its chain, got %v", err)
	}
}

func TestDeliverNeedsATSS(t *testing.T) {
	c := testCPU(t, 3)
	c.sregs.TR = kvmSegment{Unusable: 1}
	got, err := deliver(c, event{Vector: sysVec, Soft: true, Ret: 0x4002}, 0x4000)
	// #TS cannot be delivered either (it would need the same stack): #DF,
	// which also needs it: triple fault.
	if err == nil {
		t.Fatalf("delivered %+v without a TSS", got)
	}
}

func TestSegmentRoundTrip(t *testing.T) {
	for _, raw := range []uint64{
		x86.EncodeSegment(0, 0xFFFFFFFF, 0xB, 0, true, true),
		x86.EncodeSegment(0x12345678, 0xFFFF, 0x3, 3, false, false),
		x86.EncodeSystem(0x106a20, 0x67, x86.TypeTSS32Busy, 0),
	} {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], raw)
		d := x86.Decode(b[:])
		s := segmentOf(0x18, d)
		if got := descOf(s); got.Raw != raw || got.Base != d.Base || got.Limit != d.Limit {
			t.Errorf("%#016x → %+v → %#016x", raw, s, got.Raw)
		}
	}
	if s := segmentOf(0, x86.Descriptor{}); s.Unusable != 1 || s.Present != 0 {
		t.Errorf("the null selector should make the segment unusable: %+v", s)
	}
}

func TestCPUInterface(t *testing.T) {
	c := testCPU(t, 0)
	var cpu trap.CPU = c
	cpu.SetReg(trap.EAX, 0x2BADB002)
	if c.regs.RAX != 0x2BADB002 || cpu.Reg(trap.EAX) != 0x2BADB002 || !c.regsDirty {
		t.Error("SetReg/Reg")
	}
	if err := cpu.WriteLinear(0x100000-2, []byte{1, 2, 3}); err == nil || !errors.Is(err, errOutsideRAM) {
		t.Errorf("a write past RAM: %v", err)
	}
	if s := cpu.Seg(trap.CS); s.Sel != kCS || !s.Desc.IsCode() || s.Desc.DPL != 0 {
		t.Errorf("Seg(CS) = %+v", s)
	}
	v := c.vcpuState()
	v.GDTR.Limit = 0x17
	v.CR0 |= x86.CR0TS
	c.sregsDirty = false
	if err := c.applyVCPU(&v); err != nil || !c.sregsDirty || c.sregs.GDT.Limit != 0x17 || c.sregs.CR0&x86.CR0TS == 0 {
		t.Errorf("applyVCPU: %v %+v", err, c.sregs)
	}
}
