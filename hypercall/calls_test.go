package hypercall

import (
	"encoding/binary"
	"math/rand"
	"testing"

	"virtsim/guest"
	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// A booted, not yet running PV guest whose RAM the tests arrange by hand.
func bootedVMM(t testing.TB) *VMM {
	t.Helper()
	_, img := loadBoth(t, "hello")
	p, err := NewVMM(img, vmm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

const scratch = 0x200000 // free guest RAM for the tests' tables

func (p *VMM) put(t *testing.T, addr uint32, b []byte) {
	t.Helper()
	if err := p.WriteMem(addr, b); err != nil {
		t.Fatal(err)
	}
}

func dtr(limit uint16, base uint32) []byte {
	b := make([]byte, 6)
	binary.LittleEndian.PutUint16(b, limit)
	binary.LittleEndian.PutUint32(b[2:], base)
	return b
}

func desc(raw uint64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, raw)
	return b
}

// a GDT like the runtime's: null, kernel code, kernel data, user code, user data
func (p *VMM) putGDT(t *testing.T, at uint32, extra ...uint64) uint32 {
	entries := []uint64{0,
		x86.EncodeSegment(0, 0xFFFFFFFF, 0xB, 0, true, true),
		x86.EncodeSegment(0, 0xFFFFFFFF, 0x3, 0, true, true),
		x86.EncodeSegment(0, 0xFFFFFFFF, 0xB, 3, true, true),
		x86.EncodeSegment(0, 0xFFFFFFFF, 0x3, 3, true, true)}
	entries = append(entries, extra...)
	for i, e := range entries {
		p.put(t, at+uint32(i)*8, desc(e))
	}
	return uint32(len(entries))*8 - 1
}

// Bad hypercall numbers and bad arguments return errors; the VMM neither
// crashes nor stops the guest, and nothing it owns changes.
func TestHypercallErrors(t *testing.T) {
	p := bootedVMM(t)
	mem := p.Cfg.MemSize
	limit := p.putGDT(t, scratch, x86.EncodeGate(x86.TypeCallGate32, 0x08, 0x1000, 3))
	p.put(t, scratch+0x100, dtr(uint16(limit), scratch))        // GDT with a call gate
	p.put(t, scratch+0x108, dtr(0xFFFF, scratch))               // 8192 entries
	p.put(t, scratch+0x110, dtr(0x7FF, mem-0x100))              // table beyond RAM
	p.put(t, scratch+0x118, dtr(0x800, scratch))                // IDT of 257 gates
	p.put(t, scratch+0x120, dtr(uint16(limit-8), scratch))      // a good GDT
	p.put(t, scratch+0x200, make([]byte, 2*MulticallEntrySize)) // multicall entries
	cases := []struct {
		name string
		nr   uint32
		a    [6]uint32
		want Errno
	}{
		{"unknown number", 7, [6]uint32{}, ENOSYS},
		{"number past the page", 128, [6]uint32{}, ENOSYS},
		{"huge number", 0xFFFFFFFF, [6]uint32{}, ENOSYS},
		{"set_gdt: pointer beyond RAM", HcSetGDT, [6]uint32{mem}, EFAULT},
		{"set_gdt: pointer straddling the end of RAM", HcSetGDT, [6]uint32{mem - 3}, EFAULT},
		{"set_gdt: pointer into the VMM region", HcSetGDT, [6]uint32{vmm.VMMBase}, EFAULT},
		{"set_gdt: pointer wrapping around", HcSetGDT, [6]uint32{0xFFFFFFFE}, EFAULT},
		{"set_gdt: call gate", HcSetGDT, [6]uint32{scratch + 0x100}, EINVAL},
		{"set_gdt: too many entries", HcSetGDT, [6]uint32{scratch + 0x108}, EINVAL},
		{"set_gdt: table beyond RAM", HcSetGDT, [6]uint32{scratch + 0x110}, EFAULT},
		{"set_trap_table: beyond RAM", HcSetTrapTable, [6]uint32{mem - 2}, EFAULT},
		{"set_trap_table: too long", HcSetTrapTable, [6]uint32{scratch + 0x118}, EINVAL},
		{"set_trap_table: table beyond RAM", HcSetTrapTable, [6]uint32{scratch + 0x110}, EFAULT},
		{"stack_switch: null ss", HcStackSwitch, [6]uint32{0, 0x1000}, EINVAL},
		{"stack_switch: code segment", HcStackSwitch, [6]uint32{0x08, 0x1000}, EINVAL},
		{"stack_switch: user data", HcStackSwitch, [6]uint32{0x23, 0x1000}, EINVAL},
		{"stack_switch: beyond the GDT", HcStackSwitch, [6]uint32{0x400, 0x1000}, EINVAL},
		{"stack_switch: not a selector", HcStackSwitch, [6]uint32{0x10010, 0x1000}, EINVAL},
		{"set_callbacks: null cs", HcSetCallbacks, [6]uint32{0, 0x100000}, EINVAL},
		{"set_callbacks: data segment", HcSetCallbacks, [6]uint32{0x10, 0x100000}, EINVAL},
		{"set_callbacks: RPL 3", HcSetCallbacks, [6]uint32{0x0B, 0x100000}, EINVAL},
		{"set_callbacks: eip beyond RAM", HcSetCallbacks, [6]uint32{0x08, mem}, EFAULT},
		{"multicall: too many", HcMulticall, [6]uint32{scratch + 0x200, MaxMulticall + 1}, EINVAL},
		{"multicall: entries beyond RAM", HcMulticall, [6]uint32{mem - 16, 1}, EFAULT},
		{"multicall: count overflowing", HcMulticall, [6]uint32{scratch, 0x08000000}, EINVAL},
		{"console_io: read", HcConsoleIO, [6]uint32{1, 1, scratch}, ENOSYS},
		{"console_io: unknown command", HcConsoleIO, [6]uint32{7, 1, scratch}, EINVAL},
		{"console_io: too long", HcConsoleIO, [6]uint32{0, MaxConsoleWrite + 1, scratch}, EINVAL},
		{"console_io: buffer beyond RAM", HcConsoleIO, [6]uint32{0, 16, mem - 8}, EFAULT},
		{"console_io: buffer in the VMM", HcConsoleIO, [6]uint32{0, 16, vmm.VMMBase}, EFAULT},
		{"iret inside a multicall only", HcIret, [6]uint32{}, EINVAL},
		{"mmuext_op: unknown command", HcMMUExtOp, [6]uint32{99, 0}, EINVAL},
		{"mmuext_op: unaligned CR3", HcMMUExtOp, [6]uint32{MMUExtNewBaseptr, scratch + 4}, EINVAL},
		{"mmuext_op: CR3 beyond RAM", HcMMUExtOp, [6]uint32{MMUExtNewBaseptr, mem}, EFAULT},
		{"sched_op: unknown command", HcSchedOp, [6]uint32{3, 0}, EINVAL},
		{"io_out: size 3", HcIOOut, [6]uint32{0x80, 3, 0}, EINVAL},
		{"io_out: size 0", HcIOOut, [6]uint32{0x80, 0, 0}, EINVAL},
		{"io_out: port beyond 64K", HcIOOut, [6]uint32{0x10000, 1, 0}, EINVAL},
		{"io_out: access past the last port", HcIOOut, [6]uint32{0xFFFF, 2, 0}, EINVAL},
		{"io_in: size 8", HcIOIn, [6]uint32{0x20, 8}, EINVAL},
		{"set_cr0: PE clear", HcSetCR0, [6]uint32{x86.CR0ET}, EINVAL},
		{"set_cr0: paging with no directory registered", HcSetCR0, [6]uint32{x86.CR0PE | x86.CR0PG}, EINVAL},
		{"mmu_update: entry beyond RAM", HcMMUUpdate, [6]uint32{mem, 0}, EFAULT},
		{"mmu_update: entry in the VMM", HcMMUUpdate, [6]uint32{vmm.VMMBase, 0}, EFAULT},
		{"mmu_update: frame beyond RAM", HcMMUUpdate, [6]uint32{scratch, mem | 1}, EINVAL},
		{"mmu_update: frame in the VMM", HcMMUUpdate, [6]uint32{scratch, vmm.VMMBase | 3}, EINVAL},
		{"set_cr4: not PSE", HcSetCR4, [6]uint32{x86.CR4PAE}, EINVAL},
		{"set_cr0: reserved bit", HcSetCR0, [6]uint32{x86.CR0PE | 1<<8}, EINVAL},
		{"set_cr0: NW without CD", HcSetCR0, [6]uint32{x86.CR0PE | x86.CR0NW}, EINVAL},
	}
	// "iret inside a multicall only": call() refuses HcIret (the top level
	// handles it before call).
	before := p.V
	var gdtBefore [64]byte
	if err := p.ReadMem(0xFF000000, gdtBefore[:]); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		out := p.call(c.nr, c.a, false)
		if out.ret != c.want.Ret() {
			t.Errorf("%s: EAX %#x (%d), want -%v", c.name, out.ret, int32(out.ret), c.want)
		}
		if out.cause == "" {
			t.Errorf("%s: no event cause", c.name)
		}
		if st := p.Stopped(); st.Kind != vmm.StopNone {
			t.Fatalf("%s: the guest stopped: %v", c.name, st)
		}
	}
	if p.V.GDTR != before.GDTR || p.V.IDTR != before.IDTR || p.V.CR0 != before.CR0 || p.V.CR3 != before.CR3 || p.stackSet || p.callbackSel != 0 {
		t.Errorf("refused hypercalls changed the virtual CPU: %+v -> %+v (stack %v, callback %#x)", before, p.V, p.stackSet, p.callbackSel)
	}
	var gdtAfter [64]byte
	if err := p.ReadMem(0xFF000000, gdtAfter[:]); err != nil {
		t.Fatal(err)
	}
	if gdtAfter != gdtBefore {
		t.Error("a refused set_gdt changed the real GDT")
	}
	// Inside a multicall: nested multicall, iret, block and halt are refused
	// entry by entry; the multicall itself succeeds.
	for _, op := range []struct {
		nr, a0 uint32
	}{{HcMulticall, 0}, {HcIret, 0}, {HcSchedOp, SchedBlock}, {HcSchedOp, SchedHalt}, {77, 0}} {
		e := make([]byte, MulticallEntrySize)
		binary.LittleEndian.PutUint32(e, op.nr)
		binary.LittleEndian.PutUint32(e[8:], op.a0)
		p.put(t, scratch+0x200, e)
		out := p.call(HcMulticall, [6]uint32{scratch + 0x200, 1}, false)
		var res [4]byte
		if err := p.ReadMem(scratch+0x204, res[:]); err != nil {
			t.Fatal(err)
		}
		want := EINVAL.Ret()
		if op.nr == 77 {
			want = ENOSYS.Ret()
		}
		if out.ret != 0 || binary.LittleEndian.Uint32(res[:]) != want {
			t.Errorf("multicall of op %d/%d: multicall %#x, entry %#x; want 0 and %#x", op.nr, op.a0, out.ret, binary.LittleEndian.Uint32(res[:]), want)
		}
	}
}

// The good paths: what each hypercall records and publishes.
func TestHypercallsRecord(t *testing.T) {
	p := bootedVMM(t)
	limit := p.putGDT(t, scratch)
	p.put(t, scratch+0x100, dtr(uint16(limit), scratch))
	if out := p.call(HcSetGDT, [6]uint32{scratch + 0x100}, false); out.ret != 0 || out.cause != "priv/lgdt" {
		t.Fatalf("set_gdt: %+v", out)
	}
	var si [6]byte
	if err := p.ReadMem(SharedInfo+SIGDTR, si[:]); err != nil || binary.LittleEndian.Uint16(si[:]) != uint16(limit) || binary.LittleEndian.Uint32(si[2:]) != scratch {
		t.Errorf("shared-info GDTR % x, want limit %#x base %#x", si, limit, scratch)
	}
	// the real GDT holds the shadow: kernel code with DPL 1
	d, err := p.Descriptor(0x08)
	if err != nil || !d.IsCode() || d.DPL != 1 {
		t.Errorf("real GDT entry 1: %v %v, want DPL-1 code", d, err)
	}
	// stack_switch writes the real TSS's SS1:ESP1
	if out := p.call(HcStackSwitch, [6]uint32{0x10, 0x123450}, false); out.ret != 0 {
		t.Fatalf("stack_switch: %+v", out)
	}
	tr, err := p.E.MMR(unicorn.TR)
	if err != nil {
		t.Fatal(err)
	}
	var ss1 [8]byte
	if err := p.ReadMem(tr.Base+x86.TSSESP1, ss1[:]); err != nil || binary.LittleEndian.Uint32(ss1[:]) != 0x123450 || binary.LittleEndian.Uint16(ss1[4:]) != 0x11 {
		t.Errorf("real TSS SS1:ESP1 = % x", ss1)
	}
	// set_trap_table with a DPL-3 system-call gate: installed in the real IDT
	idt := uint32(scratch + 0x1000)
	p.put(t, idt+0x80*8, desc(x86.EncodeGate(x86.TypeIntGate32, 0x08, 0x101234, 3)))
	p.put(t, scratch+0x108, dtr(0x7FF, idt))
	if out := p.call(HcSetTrapTable, [6]uint32{scratch + 0x108}, false); out.ret != 0 || out.cause != "priv/lidt" {
		t.Fatalf("set_trap_table: %+v", out)
	}
	real := realGate(t, p, SyscallVector)
	if real.Offset != 0x101234 || real.Selector != 0x09 || real.DPL != 3 || real.Type != x86.TypeTrapGate32 || !p.sysGate {
		t.Errorf("real gate 0x80: %v", real)
	}
	// a gate that is no longer DPL 3: the VMM's entry again
	p.put(t, idt+0x80*8, desc(x86.EncodeGate(x86.TypeIntGate32, 0x08, 0x101234, 0)))
	p.call(HcSetTrapTable, [6]uint32{scratch + 0x108}, false)
	if real := realGate(t, p, SyscallVector); real.Offset < vmm.VMMBase || p.sysGate {
		t.Errorf("real gate 0x80 after a DPL-0 registration: %v", real)
	}
	// set_cr0, new_baseptr: recorded and published
	if out := p.call(HcSetCR0, [6]uint32{x86.CR0PE | x86.CR0TS}, false); out.ret != 0 || out.cause != "priv/mov-cr0" || p.V.CR0 != x86.CR0PE|x86.CR0TS|x86.CR0ET {
		t.Errorf("set_cr0: %+v, CR0 %#x", out, p.V.CR0)
	}
	if out := p.call(HcMMUExtOp, [6]uint32{MMUExtNewBaseptr, 0x300000}, false); out.ret != 0 || out.cause != "priv/mov-cr3" || p.V.CR3 != 0x300000 {
		t.Errorf("new_baseptr: %+v, CR3 %#x", out, p.V.CR3)
	}
	var cr [12]byte
	if err := p.ReadMem(SharedInfo+SICR0, cr[:]); err != nil || binary.LittleEndian.Uint32(cr[0:]) != p.V.CR0 || binary.LittleEndian.Uint32(cr[8:]) != 0x300000 {
		t.Errorf("shared-info CR0/CR3: % x", cr)
	}
	for _, cmd := range []uint32{MMUExtTLBFlushLocal, MMUExtInvlpgLocal} {
		if out := p.call(HcMMUExtOp, [6]uint32{cmd, 0x400000}, false); out.ret != 0 {
			t.Errorf("mmuext_op %d: %+v", cmd, out)
		}
	}
	if p.counters["tlb-flushes"] != 2 || p.counters["invlpg"] != 1 {
		t.Errorf("counters %v", p.counters)
	}
	// console_io: the bytes reach COM1, the count comes back
	p.put(t, scratch+0x300, []byte("hi there"))
	if out := p.call(HcConsoleIO, [6]uint32{ConsoleIOWrite, 8, scratch + 0x300}, false); out.ret != 8 || p.Serial.Output.String() != "hi there" {
		t.Errorf("console_io: %+v, serial %q", out, p.Serial.Output.String())
	}
	// io_in of the PIC's IMR: the value in EDX
	if out := p.call(HcIOIn, [6]uint32{guest.PortPIC1Data, 1}, false); out.ret != 0 || !out.setEDX || out.cause != "io/in:0x21" {
		t.Errorf("io_in: %+v", out)
	}
	// a multicall of two io_outs and a yield
	mc := make([]byte, 3*MulticallEntrySize)
	for i, e := range [][3]uint32{{HcIOOut, guest.PortPOST, 1}, {HcIOOut, guest.PortPOST, 1}, {HcSchedOp, SchedYield, 0}} {
		binary.LittleEndian.PutUint32(mc[i*MulticallEntrySize:], e[0])
		binary.LittleEndian.PutUint32(mc[i*MulticallEntrySize+8:], e[1])
		binary.LittleEndian.PutUint32(mc[i*MulticallEntrySize+12:], e[2])
		binary.LittleEndian.PutUint32(mc[i*MulticallEntrySize+4:], 0xDEAD)
	}
	p.put(t, scratch+0x400, mc)
	writes := p.Post.Writes
	if out := p.call(HcMulticall, [6]uint32{scratch + 0x400, 3}, false); out.ret != 0 || p.Post.Writes != writes+2 {
		t.Errorf("multicall: %+v, %d POST writes", out, p.Post.Writes-writes)
	}
	back := make([]byte, 3*MulticallEntrySize)
	if err := p.ReadMem(scratch+0x400, back); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if r := binary.LittleEndian.Uint32(back[i*MulticallEntrySize+4:]); r != 0 {
			t.Errorf("multicall entry %d result %#x", i, r)
		}
	}
	if p.counters["multicall/io_out"] != 2 || p.counters["multicall/sched_op"] != 1 {
		t.Errorf("counters %v", p.counters)
	}
	// shutdown stops the VM with the status's low byte
	p.call(HcSchedOp, [6]uint32{SchedShutdown, 0x1234}, false)
	if st := p.Stopped(); st.Kind != vmm.StopExit || st.Status != 0x34 {
		t.Errorf("after shutdown: %v", st)
	}
}

func realGate(t *testing.T, p *VMM, vec uint8) x86.Descriptor {
	t.Helper()
	idtr, err := p.E.MMR(unicorn.IDTR)
	if err != nil {
		t.Fatal(err)
	}
	var b [8]byte
	if err := p.ReadMem(idtr.Base+uint32(vec)*8, b[:]); err != nil {
		t.Fatal(err)
	}
	return x86.Decode(b[:])
}

// Random hypercalls with random arguments, some pointing at the guest's
// own tables: the VMM never panics and never crashes the guest; the only
// way a call may stop it is shutdown (or an io_out to the debug-exit port).
func TestHypercallFuzz(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	nrs := []uint32{0, 1, 2, 3, 4, 13, 18, 23, 26, 29, 48, 49, 50, 51, 127, 128, 0xFFFFFFFF}
	for round := 0; round < 20; round++ {
		p := bootedVMM(t)
		for i := 0; i < 300 && p.Stopped().Kind == vmm.StopNone; i++ {
			var a [6]uint32
			for j := range a {
				switch rng.Intn(4) {
				case 0:
					a[j] = rng.Uint32()
				case 1:
					a[j] = uint32(rng.Intn(0x40))
				case 2:
					a[j] = 0x100000 + uint32(rng.Intn(0x3000))
				default:
					a[j] = p.Cfg.MemSize - uint32(rng.Intn(64))
				}
			}
			nr := nrs[rng.Intn(len(nrs))]
			if nr == HcSchedOp && a[0] == SchedShutdown && rng.Intn(4) != 0 {
				a[0] = SchedYield
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("hypercall %d %#x panicked: %v", nr, a, r)
					}
				}()
				p.call(nr, a, false)
			}()
			if st := p.Stopped(); st.Kind != vmm.StopNone && st.Kind != vmm.StopExit {
				t.Fatalf("hypercall %d %#x: the guest stopped: %v", nr, a, st)
			}
		}
	}
}
