package trap

import (
	"encoding/binary"
	"testing"

	"virtsim/vmm/x86"
)

// A second task for the task-switch tests: its TSS at tss2Addr, named by
// selTSS2 past the fake GDT's usual limit.
const (
	selTSS2  = 0xA0
	tss2Addr = 0x3800
	task2EIP = 0x700
)

// withTask2 adds the second TSS (available, DPL dpl) and its state:
// kernel segments, EAX=0x22, ESP in the kernel stack, IF set.
func withTask2(dpl uint8) func(en *env) {
	return func(en *env) {
		c := en.c
		binary.LittleEndian.PutUint64(c.mem[gdtAddr+selTSS2:], x86.EncodeSystem(tss2Addr, x86.TSS32Size-1, x86.TypeTSS32Avail, dpl))
		en.v.GDTR.Limit = selTSS2 + 7
		c.put32(tss2Addr+x86.TSSEIP, task2EIP)
		c.put32(tss2Addr+x86.TSSEIP+4, x86.FlagReserved1|x86.FlagIF)
		c.put32(tss2Addr+x86.TSSEIP+8, 0x22)               // EAX
		c.put32(tss2Addr+x86.TSSEIP+8+4*4, kstackTop-0x40) // ESP
		for i, sel := range []uint16{selKData, selKCode, selKData, selKData, 0, selKData} {
			c.put16(tss2Addr+x86.TSSEIP+40+4*uint32(i), sel)
		}
		c.regs[EAX] = 0x11
		c.mem[gdtAddr+selTSS+5] |= 2 // the running task is busy, as ltr left it
	}
}

func accessByte(en *env, sel uint16) byte { return en.c.mem[gdtAddr+uint32(sel)+5] }

// checkIn checks the state of the second task after a switch into it.
func checkIn(t *testing.T, en *env, nested bool) {
	t.Helper()
	c := en.c
	if en.v.TR != selTSS2 || en.v.CR0&x86.CR0TS == 0 {
		t.Errorf("TR = %#x, CR0 = %#x: want TR %#x and TS set", en.v.TR, en.v.CR0, selTSS2)
	}
	wantReg(t, en, EAX, 0x22)
	wantReg(t, en, ESP, kstackTop-0x40)
	if !en.v.IF || c.regs[EFLAGS]&x86.FlagIF == 0 {
		t.Errorf("virtual IF %v, real EFLAGS %#x: want the task's IF=1 (and the VMM's)", en.v.IF, c.regs[EFLAGS])
	}
	if got := c.regs[EFLAGS]&x86.FlagNT != 0; got != nested {
		t.Errorf("NT = %v, want %v", got, nested)
	}
	if c.segs[CS] != en.shadowSeg(selKCode) || c.segs[FS].Sel != 0 {
		t.Errorf("CS %+v FS %+v", c.segs[CS], c.segs[FS])
	}
	if accessByte(en, selTSS2) != 0x8B {
		t.Errorf("new TSS access byte %#x, want busy (0x8b)", accessByte(en, selTSS2))
	}
	// The outgoing task: busy under a call, available after a jmp.
	if want := map[bool]byte{false: 0x89, true: 0x8B}[nested]; accessByte(en, selTSS) != want {
		t.Errorf("old TSS access byte %#x, want %#x", accessByte(en, selTSS), want)
	}
	// Saved in its TSS: EIP after the instruction, EAX.
	if got := c.get32(tssAddr + x86.TSSEIP); got != codeAddr+7 {
		t.Errorf("saved EIP %#x, want %#x", got, codeAddr+7)
	}
	if got := c.get32(tssAddr + x86.TSSEIP + 8); got != 0x11 {
		t.Errorf("saved EAX %#x", got)
	}
	link := uint16(c.get32(tss2Addr))
	if nested && link != selTSS {
		t.Errorf("back link %#x, want %#x", link, selTSS)
	}
	if !nested && link != 0 {
		t.Errorf("ljmp wrote the back link %#x", link)
	}
}

func TestEmulateTaskSwitch(t *testing.T) {
	runEmuTests(t, []emuTest{
		{name: "ljmp to a TSS", code: "ea00000000a000", cause: "sens/ljmp", next: task2EIP, setup: withTask2(0),
			check: func(t *testing.T, en *env, out Outcome) { checkIn(t, en, false) }},
		{name: "lcall to a TSS", code: "9a00000000a000", cause: "sens/lcall", next: task2EIP, setup: withTask2(0),
			check: func(t *testing.T, en *env, out Outcome) { checkIn(t, en, true) }},
		{name: "ljmp to a busy TSS", code: "ea00000000a000", cause: "sens/ljmp", fault: "#GP(0xa0)",
			setup: func(en *env) {
				withTask2(0)(en)
				en.c.mem[gdtAddr+selTSS2+5] |= 2
			}},
		{name: "ljmp to a TSS from user", code: "ea00000000a000", user: true, cause: "sens/ljmp", fault: "#GP(0xa0)", setup: withTask2(0)},
		// ljmp from user code into a kernel task would raise the real CPL by
		// a register write, which Unicorn refuses (a task gate's event goes
		// through the VMM's privilege switch instead: TaskGate).
		{name: "ljmp to a DPL-3 TSS from user", code: "ea00000000a000", user: true, setup: withTask2(3), err: "refuses to raise"},
		{name: "ljmp to a TSS with a bad CS", code: "ea00000000a000", cause: "sens/ljmp", fault: "#TS(0x10)", partial: true,
			setup: func(en *env) {
				withTask2(0)(en)
				en.c.put16(tss2Addr+x86.TSSEIP+40+4, selKData)
			}},
	})
}

// TestEmulateTaskReturn: lcall into the second task, then its iret (NT
// set) back to the first.
func TestEmulateTaskReturn(t *testing.T) {
	en := newEnv("9a00000000a000")
	withTask2(0)(en)
	en.c.mem[task2EIP] = 0xCF // iret
	if out, err := en.run(); err != nil || out.Fault != nil {
		t.Fatalf("lcall: %v %v", out.Fault, err)
	}
	en.c.regs[EAX] = 0x33
	out, err := en.e.Emulate(en.c, en.v, task2EIP)
	if err != nil || out.Fault != nil {
		t.Fatalf("iret: %v %v", out.Fault, err)
	}
	c := en.c
	if en.v.TR != selTSS || out.Next != codeAddr+7 {
		t.Errorf("after iret TR %#x, Next %#x: want %#x, %#x", en.v.TR, out.Next, selTSS, codeAddr+7)
	}
	wantReg(t, en, EAX, 0x11)
	if c.regs[EFLAGS]&x86.FlagNT != 0 {
		t.Error("NT still set in the first task")
	}
	if accessByte(en, selTSS2) != 0x89 {
		t.Errorf("returned-from TSS access byte %#x, want available (0x89)", accessByte(en, selTSS2))
	}
	saved := c.get32(tss2Addr + x86.TSSEIP + 4)
	if saved&x86.FlagNT != 0 || c.get32(tss2Addr+x86.TSSEIP+8) != 0x33 || c.get32(tss2Addr+x86.TSSEIP) != task2EIP+1 {
		t.Errorf("second task saved EFLAGS %#x (NT must be clear), EAX %#x, EIP %#x", saved, c.get32(tss2Addr+x86.TSSEIP+8), c.get32(tss2Addr+x86.TSSEIP))
	}
}

// TestEmulateTaskGate: an exception through a task gate, kernel to kernel
// (the switch completes) and from user mode (the VMM enters the kernel
// task's ring, then FinishTask loads its segments and pushes the code).
func TestEmulateTaskGate(t *testing.T) {
	for _, user := range []bool{false, true} {
		en := newEnv("90")
		withTask2(0)(en)
		if user {
			en.user()
		}
		raise, f, err := en.e.TaskGate(en.c, en.v, selTSS2, 0x1234, 0x6c, true)
		if err != nil || f != nil {
			t.Fatalf("user=%v: TaskGate: %v %v", user, f, err)
		}
		if (raise != nil) != user {
			t.Fatalf("user=%v: raise = %+v", user, raise)
		}
		if user {
			if raise.State.EIP != task2EIP || en.v.TR != selTSS2 {
				t.Errorf("raise EIP %#x, TR %#x", raise.State.EIP, en.v.TR)
			}
			// The VMM's privilege switch lands in ring 1 (the fake CPU just loads it).
			if f, err := en.e.FinishTask(en.c, en.v, raise); err != nil || f != nil {
				t.Fatalf("FinishTask: %v %v", f, err)
			}
		} else {
			wantReg(t, en, EIP, task2EIP)
		}
		wantReg(t, en, ESP, kstackTop-0x44)
		if got := en.c.get32(kstackTop - 0x44); got != 0x6c {
			t.Errorf("user=%v: error code on the new stack %#x", user, got)
		}
		if got := en.c.get32(tssAddr + x86.TSSEIP); got != 0x1234 {
			t.Errorf("user=%v: saved EIP %#x", user, got)
		}
		if en.v.CPL != 0 || en.c.segs[CS] != en.shadowSeg(selKCode) || en.c.regs[EFLAGS]&x86.FlagNT == 0 {
			t.Errorf("user=%v: CPL %d CS %+v EFLAGS %#x", user, en.v.CPL, en.c.segs[CS], en.c.regs[EFLAGS])
		}
		if got := uint16(en.c.get32(tss2Addr)); got != selTSS {
			t.Errorf("user=%v: back link %#x", user, got)
		}
	}
}
