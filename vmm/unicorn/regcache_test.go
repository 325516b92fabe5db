package unicorn

import "testing"

// Inside HookIntrFault's handler the registers come from the snapshot the
// C side took, writes of the general registers, EIP and EFLAGS are queued
// (a read sees the new value), a Stop performs the queue first, and after
// the hook the CPU holds every written value.
func TestEagerHookRegisters(t *testing.T) {
	// int $0x80; int $0x81 (the second stops the run); hlt
	e := newVM(t, []byte{0xcd, 0x80, 0xcd, 0x81, 0xf4})
	setReg(t, e, EAX, 1)
	var seen []uint32
	if _, err := e.HookIntrFault(func(intno uint32) {
		if _, isInt, err := e.TakeFault(); err != nil || !isInt {
			t.Errorf("TakeFault: int=%v %v", isInt, err)
		}
		eax, _ := e.Reg(EAX)
		eip, _ := e.Reg(EIP)
		seen = append(seen, intno, eax, eip)
		switch intno {
		case 0x80:
			e.SetReg(EAX, eax+41) // queued
			e.SetReg(ECX, 7)
			if v, _ := e.Reg(EAX); v != 42 {
				t.Errorf("EAX read back %d inside the hook, want 42", v)
			}
			e.SetReg(EFLAGS, 0x2|0x1) // CF: read back after a flush
			if v, _ := e.Reg(EFLAGS); v&1 == 0 {
				t.Errorf("EFLAGS read back %#x inside the hook, want CF set", v)
			}
		case 0x81:
			e.SetReg(EDX, 9) // queued, then performed by Stop
			e.Stop()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(codeAddr, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	want := []uint32{0x80, 1, codeAddr + 2, 0x81, 42, codeAddr + 4}
	if len(seen) != len(want) {
		t.Fatalf("hook saw %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("hook saw %#x, want %#x", seen, want)
		}
	}
	e.forgetRegs() // read the CPU itself
	for r, v := range map[Reg]uint32{EAX: 42, ECX: 7, EDX: 9, EIP: codeAddr + 4} {
		if got := reg(t, e, r); got != v {
			t.Errorf("%v = %#x after the run, want %#x", r, got, v)
		}
	}
	if fl := reg(t, e, EFLAGS); fl&1 == 0 {
		t.Errorf("EFLAGS = %#x after the run, want CF set", fl)
	}
}

// GDTR and IDTR writes keep the snapshot: what it answers afterwards is
// what the CPU reads back (the limit's low 16 bits, no selector or flags).
func TestMMRWriteThrough(t *testing.T) {
	e := newVM(t, []byte{0xf4})
	for _, r := range []Reg{GDTR, IDTR} {
		for _, m := range []MMR{
			{Base: 0x12345678, Limit: 0x12345, Selector: 0x1b, Flags: 0x9b},
			{Base: 0xfffff000, Limit: 0xffff},
			{},
		} {
			if _, err := e.MMR(r); err != nil { // a valid snapshot first
				t.Fatal(err)
			}
			if err := e.SetMMR(r, m); err != nil {
				t.Fatal(err)
			}
			cached, err := e.MMR(r)
			if err != nil {
				t.Fatal(err)
			}
			e.forgetRegs()
			cpu, err := e.MMR(r)
			if err != nil {
				t.Fatal(err)
			}
			if cached != cpu {
				t.Errorf("%v after writing %+v: snapshot %+v, CPU %+v", r, m, cached, cpu)
			}
		}
	}
}

// A queued EFLAGS write is read back from the snapshot as Unicorn itself
// reads it after the write: every bit as written, bit 1 set. (The snapshot
// relies on it instead of re-reading EFLAGS after each write.)
func TestEFLAGSRoundTrip(t *testing.T) {
	vals := []uint32{0, 0x202, 0x246, 0x3202, 0x10202, 0x20202, 0x40202, 0x200202, 0xFFFFFFFF, 0x8d7, 0x28, 0x8000}
	// int $0x80 once per value, then hlt
	code := []byte{}
	for range vals {
		code = append(code, 0xcd, 0x80)
	}
	e := newVM(t, append(code, 0xf4))
	i := 0
	if _, err := e.HookIntrFault(func(uint32) {
		if _, _, err := e.TakeFault(); err != nil {
			t.Error(err)
		}
		v := vals[i]
		e.SetReg(EFLAGS, v) // queued
		snap, _ := e.Reg(EFLAGS)
		e.flushRegs()
		e.forgetRegs()
		cpu, _ := e.Reg(EFLAGS)
		if snap != cpu || cpu != v|2 {
			t.Errorf("EFLAGS %#x: the snapshot says %#x, the CPU %#x", v, snap, cpu)
		}
		e.SetReg(EFLAGS, 0x2) // run on with no TF, IF or VM
		i++
		if i == len(vals) {
			e.Stop()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(codeAddr, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if i != len(vals) {
		t.Fatalf("hook ran %d times, want %d", i, len(vals))
	}
}
