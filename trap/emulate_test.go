package trap

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"virtsim/vmm/x86"
)

// emuTest: code bytes at codeAddr and a setup → the expected outcome and
// state. Every case also checks the invariants: EIP = Next after success;
// after a (non-soft) fault nothing changed at all (unless partial).
type emuTest struct {
	name    string
	code    string
	user    bool // start at virtual CPL 3
	setup   func(en *env)
	cause   string
	next    uint32 // 0: the instruction's end
	fault   string // faultString of the expected fault, "" for none
	partial bool   // a fault after partial progress (rep string I/O)
	err     string // substring of the expected error
	check   func(t *testing.T, en *env, out Outcome)
}

func runEmuTests(t *testing.T, tests []emuTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			en := newEnv(tt.code)
			if tt.user {
				en.user()
			}
			if tt.setup != nil {
				tt.setup(en)
			}
			before := en.snap()
			out, err := en.run()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				if isPanic(err) {
					t.Fatalf("emulator panicked: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if out.Cause != tt.cause {
				t.Errorf("cause = %q, want %q", out.Cause, tt.cause)
			}
			if got := faultString(out.Fault); got != tt.fault {
				t.Fatalf("fault = %q (%v), want %q", got, out.Fault, tt.fault)
			}
			end := codeAddr + uint32(out.Inst.Len)
			switch {
			case out.Fault != nil && out.Fault.Soft:
				if out.Next != end || en.c.regs[EIP] != codeAddr {
					t.Errorf("soft interrupt: Next = %#x (want %#x), EIP = %#x (want unchanged)", out.Next, end, en.c.regs[EIP])
				}
				if d := en.diff(before); d != "" && !strings.HasPrefix(d, "registers") {
					t.Errorf("soft interrupt changed the machine: %s", d)
				}
			case out.Fault != nil:
				if out.Next != codeAddr {
					t.Errorf("fault: Next = %#x, want the instruction's own %#x", out.Next, codeAddr)
				}
				if en.c.regs[EIP] != codeAddr {
					t.Errorf("fault: EIP moved to %#x", en.c.regs[EIP])
				}
				if out.Fault.Vector == x86.VecPF {
					before.v.CR2 = en.v.CR2
				}
				if d := en.diff(before); d != "" && !tt.partial {
					t.Errorf("faulting instruction changed the machine: %s", d)
				}
			default:
				want := tt.next
				if want == 0 {
					want = end
				}
				if out.Next != want || en.c.regs[EIP] != want {
					t.Errorf("Next = %#x, EIP = %#x, want %#x", out.Next, en.c.regs[EIP], want)
				}
			}
			if tt.check != nil {
				tt.check(t, en, out)
			}
		})
	}
}

func wantReg(t *testing.T, en *env, r Reg, want uint32) {
	t.Helper()
	if got := en.c.regs[r]; got != want {
		t.Errorf("reg %d = %#x, want %#x", r, got, want)
	}
}

func wantLog(t *testing.T, en *env, want ...string) {
	t.Helper()
	if len(want) == 0 {
		want = nil
	}
	if !reflect.DeepEqual(en.p.log, want) {
		t.Errorf("platform log = %q, want %q", en.p.log, want)
	}
}

func wantSeg(t *testing.T, en *env, s SegReg, guestSel uint16) {
	t.Helper()
	want := en.shadowSeg(guestSel)
	if x86.SelNull(guestSel) {
		want = Segment{guestSel, x86.Descriptor{}}
	}
	got := en.c.segs[s]
	// The accessed bit may have been set on the way.
	got.Desc.Raw |= 1 << 40
	got.Desc.Type |= 1
	if want.Desc.S {
		want.Desc.Raw |= 1 << 40
		want.Desc.Type |= 1
	} else {
		got.Desc = en.c.segs[s].Desc
	}
	if got != want {
		t.Errorf("%v = %#x %v, want %#x %v", s, en.c.segs[s].Sel, en.c.segs[s].Desc, want.Sel, want.Desc)
	}
}

func wantZF(t *testing.T, en *env, on bool) {
	t.Helper()
	if got := en.c.regs[EFLAGS]&x86.FlagZF != 0; got != on {
		t.Errorf("ZF = %v, want %v", got, on)
	}
}

func wantRealIFIOPL(t *testing.T, en *env, ifl bool, iopl uint8) {
	t.Helper()
	f := en.c.regs[EFLAGS]
	if (f&x86.FlagIF != 0) != ifl || x86.IOPL(f) != iopl {
		t.Errorf("real EFLAGS %#x: IF=%v IOPL=%d, want IF=%v IOPL=%d", f, f&x86.FlagIF != 0, x86.IOPL(f), ifl, iopl)
	}
}

func TestEmulateInterruptFlagAndHalt(t *testing.T) {
	runEmuTests(t, []emuTest{
		{name: "cli", code: "fa", cause: "priv/cli",
			setup: func(en *env) { en.v.IF = true },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.IF || !out.IFChanged || out.Shadow {
					t.Errorf("v.IF=%v IFChanged=%v Shadow=%v", en.v.IF, out.IFChanged, out.Shadow)
				}
				wantRealIFIOPL(t, en, true, 0) // the VMM's, untouched
			}},
		{name: "sti", code: "fb", cause: "priv/sti",
			check: func(t *testing.T, en *env, out Outcome) {
				if !en.v.IF || !out.IFChanged || !out.Shadow {
					t.Errorf("v.IF=%v IFChanged=%v Shadow=%v", en.v.IF, out.IFChanged, out.Shadow)
				}
				wantRealIFIOPL(t, en, true, 0)
			}},
		{name: "sti with IF already set", code: "fb", cause: "priv/sti",
			setup: func(en *env) { en.v.IF = true },
			check: func(t *testing.T, en *env, out Outcome) {
				if out.IFChanged || out.Shadow {
					t.Errorf("IFChanged=%v Shadow=%v", out.IFChanged, out.Shadow)
				}
			}},
		{name: "cli at CPL 3 IOPL 0", code: "fa", user: true, cause: "priv/cli", fault: "#GP(0x0)"},
		{name: "sti at CPL 3 IOPL 0", code: "fb", user: true, cause: "priv/sti", fault: "#GP(0x0)"},
		{name: "cli at CPL 3 IOPL 3", code: "fa", user: true, cause: "priv/cli",
			setup: func(en *env) { en.v.IOPL, en.v.IF = 3, true },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.IF {
					t.Error("IF still set")
				}
			}},
		{name: "hlt", code: "f4", cause: "hlt",
			check: func(t *testing.T, en *env, out Outcome) {
				if !out.Halt {
					t.Error("Halt not set")
				}
			}},
		{name: "hlt at CPL 3", code: "f4", user: true, cause: "hlt", fault: "#GP(0x0)"},
	})
}

func TestEmulatePassFlags(t *testing.T) {
	en := newEnv("fb") // sti
	en.e.PassFlags = true
	en.c.regs[EFLAGS] = x86.FlagReserved1
	if _, err := en.run(); err != nil {
		t.Fatal(err)
	}
	wantRealIFIOPL(t, en, true, 0)
	en = newEnv("cf") // iret to CPL 0 with IF=0, IOPL 2
	en.e.PassFlags = true
	en.c.pushFrame(0x700, selKCode, x86.FlagReserved1|2<<12)
	if _, err := en.run(); err != nil {
		t.Fatal(err)
	}
	wantRealIFIOPL(t, en, false, 2)
}

func TestEmulateControlRegisters(t *testing.T) {
	runEmuTests(t, []emuTest{
		{name: "mov to cr3", code: "0f22d8", cause: "priv/mov-cr3",
			setup: func(en *env) { en.c.regs[EAX], en.v.CR3 = 0x7000, 0x5000 },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.CR3 != 0x7000 {
					t.Errorf("CR3 = %#x", en.v.CR3)
				}
				wantLog(t, en, "cr3 old=0x5000")
			}},
		{name: "mov to cr0 sets ET", code: "0f22c0", cause: "priv/mov-cr0",
			setup: func(en *env) { en.c.regs[EAX] = x86.CR0PE | x86.CR0MP | x86.CR0TS },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.CR0 != x86.CR0PE|x86.CR0MP|x86.CR0TS|x86.CR0ET {
					t.Errorf("CR0 = %#x", en.v.CR0)
				}
				wantLog(t, en, "cr0 old=0x11")
			}},
		{name: "mov to cr0 PG without PE", code: "0f22c0", cause: "priv/mov-cr0", fault: "#GP(0x0)",
			setup: func(en *env) { en.c.regs[EAX] = x86.CR0PG }},
		{name: "mov to cr0 NW without CD", code: "0f22c0", cause: "priv/mov-cr0", fault: "#GP(0x0)",
			setup: func(en *env) { en.c.regs[EAX] = x86.CR0PE | x86.CR0NW }},
		{name: "mov to cr4", code: "0f22e0", cause: "priv/mov-cr4",
			setup: func(en *env) { en.c.regs[EAX] = x86.CR4PSE | x86.CR4PGE },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.CR4 != x86.CR4PSE|x86.CR4PGE {
					t.Errorf("CR4 = %#x", en.v.CR4)
				}
				wantLog(t, en, "cr4 old=0x0")
			}},
		{name: "mov to cr4 reserved bit", code: "0f22e0", cause: "priv/mov-cr4", fault: "#GP(0x0)",
			setup: func(en *env) { en.c.regs[EAX] = 1 << 15 }},
		{name: "mov to cr2", code: "0f22d0", cause: "priv/mov-cr2",
			setup: func(en *env) { en.c.regs[EAX] = 0xdead0000 },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.CR2 != 0xdead0000 {
					t.Errorf("CR2 = %#x", en.v.CR2)
				}
				wantLog(t, en)
			}},
		{name: "mov from cr0", code: "0f20c3", cause: "priv/mov-from-cr0",
			setup: func(en *env) { en.v.CR0 = 0x8000003b },
			check: func(t *testing.T, en *env, out Outcome) { wantReg(t, en, EBX, 0x8000003b) }},
		{name: "mov from cr2", code: "0f20d0", cause: "priv/mov-from-cr2",
			setup: func(en *env) { en.v.CR2 = 0x1234 },
			check: func(t *testing.T, en *env, out Outcome) { wantReg(t, en, EAX, 0x1234) }},
		{name: "mov from cr3", code: "0f20db", cause: "priv/mov-from-cr3",
			setup: func(en *env) { en.v.CR3 = 0x9000 },
			check: func(t *testing.T, en *env, out Outcome) { wantReg(t, en, EBX, 0x9000) }},
		{name: "mov from cr4", code: "0f20e1", cause: "priv/mov-from-cr4",
			setup: func(en *env) { en.v.CR4 = x86.CR4PAE },
			check: func(t *testing.T, en *env, out Outcome) { wantReg(t, en, ECX, x86.CR4PAE) }},
		{name: "mov to cr1", code: "0f22c8", cause: "priv/mov-cr1", fault: "#UD"},
		{name: "mov to cr3 at CPL 3", code: "0f22d8", user: true, cause: "priv/mov-cr3", fault: "#GP(0x0)"},
		{name: "mov from cr3 at CPL 3", code: "0f20db", user: true, cause: "priv/mov-from-cr3", fault: "#GP(0x0)"},
		{name: "mov to dr7", code: "0f23f8", cause: "priv/mov-dr7",
			setup: func(en *env) { en.c.regs[EAX] = 0x1 },
			check: func(t *testing.T, en *env, out Outcome) {
				if got := en.v.DebugReg(7); got != 0x401 {
					t.Errorf("DR7 = %#x, want 0x401 (bit 10 reads as 1)", got)
				}
			}},
		{name: "mov from dr6 at reset", code: "0f21f0", cause: "priv/mov-from-dr6",
			check: func(t *testing.T, en *env, out Outcome) {
				if got := en.c.regs[EAX]; got != 0xFFFF0FF0 {
					t.Errorf("EAX = %#x, want DR6's reset value 0xffff0ff0", got)
				}
			}},
		{name: "mov from dr5 aliases dr7", code: "0f21e8", cause: "priv/mov-from-dr5",
			check: func(t *testing.T, en *env, out Outcome) {
				if got := en.c.regs[EAX]; got != 0x400 {
					t.Errorf("EAX = %#x, want DR7's reset value 0x400", got)
				}
			}},
		{name: "mov to dr4 with CR4.DE", code: "0f23e0", cause: "priv/mov-dr4", fault: "#UD",
			setup: func(en *env) { en.v.CR4 |= x86.CR4DE }},
		{name: "mov to dr0 at CPL 3", code: "0f23c0", user: true, cause: "priv/mov-dr0", fault: "#GP(0x0)"},
		{name: "clts", code: "0f06", cause: "priv/clts",
			setup: func(en *env) { en.v.CR0 |= x86.CR0TS },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.CR0&x86.CR0TS != 0 {
					t.Error("TS still set")
				}
				wantLog(t, en, "cr0 old=0x19")
			}},
		{name: "clts at CPL 3", code: "0f06", user: true, cause: "priv/clts", fault: "#GP(0x0)"},
		{name: "lmsw cannot clear PE", code: "0f01f0", cause: "priv/lmsw",
			setup: func(en *env) { en.c.regs[EAX] = 0xFFF0 | x86.CR0TS | x86.CR0MP },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.CR0 != x86.CR0ET|x86.CR0PE|x86.CR0TS|x86.CR0MP {
					t.Errorf("CR0 = %#x", en.v.CR0)
				}
			}},
		{name: "invlpg", code: "0f013d00300000", cause: "priv/invlpg",
			check: func(t *testing.T, en *env, out Outcome) { wantLog(t, en, "invlpg 0x3000") }},
		{name: "invlpg with a segment base", code: "0f013d00300000", cause: "priv/invlpg",
			setup: func(en *env) { en.c.segs[DS].Desc.Base = 0x100000 },
			check: func(t *testing.T, en *env, out Outcome) { wantLog(t, en, "invlpg 0x103000") }},
		{name: "invlpg at CPL 3", code: "0f013d00300000", user: true, cause: "priv/invlpg", fault: "#GP(0x0)"},
		{name: "wbinvd", code: "0f09", cause: "priv/wbinvd"},
		{name: "wbinvd at CPL 3", code: "0f09", user: true, cause: "priv/wbinvd", fault: "#GP(0x0)"},
	})
}

func TestEmulateDescriptorTableRegisters(t *testing.T) {
	pseudo := func(en *env, addr uint32, limit uint16, base uint32) {
		en.c.put16(addr, limit)
		en.c.put32(addr+2, base)
	}
	runEmuTests(t, []emuTest{
		{name: "lgdt absolute", code: "0f011500200000", cause: "priv/lgdt",
			setup: func(en *env) { pseudo(en, dataAddr, 0x2f, 0xc0105000) },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.GDTR != (DTR{Base: 0xc0105000, Limit: 0x2f}) {
					t.Errorf("GDTR = %+v", en.v.GDTR)
				}
				wantLog(t, en, "gdt")
			}},
		{name: "lidt base+index*scale+disp", code: "0f015cb310", cause: "priv/lidt",
			setup: func(en *env) {
				en.c.regs[EBX], en.c.regs[ESI] = dataAddr, 4
				pseudo(en, dataAddr+0x10+16, 0x7ff, 0x6000)
			},
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.IDTR != (DTR{Base: 0x6000, Limit: 0x7ff}) {
					t.Errorf("IDTR = %+v", en.v.IDTR)
				}
				wantLog(t, en, "idt")
			}},
		{name: "lgdt through DS base", code: "0f0110", cause: "priv/lgdt",
			setup: func(en *env) {
				en.c.segs[DS].Desc.Base = 0x1000
				en.c.regs[EAX] = 0x1500
				pseudo(en, 0x2500, 0x17, 0x12345678)
			},
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.GDTR != (DTR{Base: 0x12345678, Limit: 0x17}) {
					t.Errorf("GDTR = %+v", en.v.GDTR)
				}
			}},
		{name: "lgdt 16-bit operand keeps 24 bits of base", code: "660f011500200000", cause: "priv/lgdt",
			setup: func(en *env) { pseudo(en, dataAddr, 0x2f, 0xc0105000) },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.GDTR != (DTR{Base: 0x105000, Limit: 0x2f}) {
					t.Errorf("GDTR = %+v", en.v.GDTR)
				}
			}},
		{name: "lgdt 16-bit addressing", code: "670f0117", cause: "priv/lgdt",
			setup: func(en *env) {
				en.c.regs[EBX] = 0xABCD0000 | dataAddr // only BX counts
				pseudo(en, dataAddr, 0x1f, 0x8000)
			},
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.GDTR != (DTR{Base: 0x8000, Limit: 0x1f}) {
					t.Errorf("GDTR = %+v", en.v.GDTR)
				}
			}},
		{name: "lgdt at CPL 3", code: "0f011500200000", user: true, cause: "priv/lgdt", fault: "#GP(0x0)"},
		{name: "lgdt from a faulting page", code: "0f0110", cause: "priv/lgdt", fault: "#PF(0x0)",
			setup: func(en *env) { en.c.regs[EAX] = pfPage + 0x10 },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.CR2 != pfPage+0x10 {
					t.Errorf("CR2 = %#x", en.v.CR2)
				}
			}},
	})
	runEmuTests(t, []emuTest{
		{name: "sgdt gives the guest's GDTR", code: "0f010500200000", cause: "sens/sgdt",
			check: func(t *testing.T, en *env, out Outcome) {
				if en.c.get16(dataAddr) != gdtLimit || en.c.get32(dataAddr+2) != gdtAddr {
					t.Errorf("stored % x", en.c.mem[dataAddr:dataAddr+6])
				}
			}},
		{name: "sidt gives the guest's IDTR", code: "0f010d00200000", cause: "sens/sidt", user: true,
			check: func(t *testing.T, en *env, out Outcome) {
				if en.c.get16(dataAddr) != 0x7ff || en.c.get32(dataAddr+2) != 0x6000 {
					t.Errorf("stored % x", en.c.mem[dataAddr:dataAddr+6])
				}
			}},
		{name: "sgdt at CPL 3 with UMIP", code: "0f010500200000", cause: "sens/sgdt", user: true, fault: "#GP(0x0)",
			setup: func(en *env) { en.v.CR4 = x86.CR4UMIP }},
		{name: "sldt to a 32-bit register", code: "0f00c0", cause: "sens/sldt",
			setup: func(en *env) { en.v.LDTR, en.c.regs[EAX] = selLDT, 0xFFFFFFFF },
			check: func(t *testing.T, en *env, out Outcome) { wantReg(t, en, EAX, selLDT) }},
		{name: "sldt to memory", code: "0f000500200000", cause: "sens/sldt",
			setup: func(en *env) { en.v.LDTR = selLDT; en.c.put32(dataAddr, 0xFFFFFFFF) },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.c.get32(dataAddr) != 0xFFFF0000|selLDT {
					t.Errorf("stored %#x", en.c.get32(dataAddr))
				}
			}},
		{name: "str to a 32-bit register", code: "0f00c8", cause: "sens/str",
			setup: func(en *env) { en.c.regs[EAX] = 0xFFFFFFFF },
			check: func(t *testing.T, en *env, out Outcome) { wantReg(t, en, EAX, selTSS) }},
		{name: "str to a 16-bit register", code: "660f00c8", cause: "sens/str",
			setup: func(en *env) { en.c.regs[EAX] = 0xABCDFFFF },
			check: func(t *testing.T, en *env, out Outcome) { wantReg(t, en, EAX, 0xABCD0000|selTSS) }},
		// The SDM leaves bits 16-31 undefined; QEMU zero-extends the word.
		{name: "smsw to a 32-bit register", code: "0f01e0", cause: "sens/smsw",
			setup: func(en *env) { en.v.CR0, en.c.regs[EAX] = 0x8001003b, 0xFFFFFFFF },
			check: func(t *testing.T, en *env, out Outcome) { wantReg(t, en, EAX, 0x3b) }},
		{name: "smsw to a 16-bit register", code: "660f01e0", cause: "sens/smsw",
			setup: func(en *env) { en.v.CR0, en.c.regs[EAX] = 0x8001003b, 0x12345678 },
			check: func(t *testing.T, en *env, out Outcome) { wantReg(t, en, EAX, 0x1234003b) }},
		{name: "smsw to memory at CPL 3", code: "0f012500200000", cause: "sens/smsw", user: true,
			setup: func(en *env) { en.v.CR0 = 0x8001003b; en.c.put32(dataAddr, 0xFFFFFFFF) },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.c.get32(dataAddr) != 0xFFFF003b {
					t.Errorf("stored %#x", en.c.get32(dataAddr))
				}
			}},
		{name: "smsw at CPL 3 with UMIP", code: "0f01e0", cause: "sens/smsw", user: true, fault: "#GP(0x0)",
			setup: func(en *env) { en.v.CR4 = x86.CR4UMIP }},
	})
}

func TestEmulateLDTRandTR(t *testing.T) {
	busy := func(en *env, sel uint16) bool { return en.c.mem[gdtAddr+uint32(sel)+5]&0x2 != 0 }
	runEmuTests(t, []emuTest{
		{name: "lldt", code: "0f00d0", cause: "priv/lldt",
			setup: func(en *env) { en.c.regs[EAX] = selLDT },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.LDTR != selLDT {
					t.Errorf("LDTR = %#x", en.v.LDTR)
				}
				wantLog(t, en, "ldt")
			}},
		{name: "lldt null", code: "0f00d0", cause: "priv/lldt",
			setup: func(en *env) { en.v.LDTR, en.c.regs[EAX] = selLDT, 0 },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.LDTR != 0 {
					t.Errorf("LDTR = %#x", en.v.LDTR)
				}
			}},
		{name: "lldt of a code segment", code: "0f00d0", cause: "priv/lldt", fault: "#GP(0x8)",
			setup: func(en *env) { en.c.regs[EAX] = selKCode }},
		{name: "lldt from memory beyond the GDT", code: "0f001500200000", cause: "priv/lldt", fault: "#GP(0xf8)",
			setup: func(en *env) { en.c.put16(dataAddr, 0xF8) }},
		{name: "lldt at CPL 3", code: "0f00d0", user: true, cause: "priv/lldt", fault: "#GP(0x0)",
			setup: func(en *env) { en.c.regs[EAX] = selLDT }},
		{name: "ltr marks the TSS busy", code: "0f00d8", cause: "priv/ltr",
			setup: func(en *env) { en.v.TR, en.c.regs[EAX] = 0, selTSS },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.TR != selTSS || !busy(en, selTSS) {
					t.Errorf("TR = %#x busy=%v", en.v.TR, busy(en, selTSS))
				}
				wantLog(t, en, "tr")
			}},
		{name: "ltr 16-bit TSS", code: "0f00d8", cause: "priv/ltr",
			setup: func(en *env) { en.c.regs[EAX] = selTSS16 },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.TR != selTSS16 || !busy(en, selTSS16) {
					t.Errorf("TR = %#x busy=%v", en.v.TR, busy(en, selTSS16))
				}
			}},
		{name: "ltr of a busy TSS", code: "0f00d8", cause: "priv/ltr", fault: "#GP(0x28)",
			setup: func(en *env) { en.c.regs[EAX] = selTSS; en.c.mem[gdtAddr+selTSS+5] |= 2 }},
		{name: "ltr of a data segment", code: "0f00d8", cause: "priv/ltr", fault: "#GP(0x10)",
			setup: func(en *env) { en.c.regs[EAX] = selKData }},
		{name: "ltr of a TSS not present", code: "0f00d8", cause: "priv/ltr", fault: "#NP(0x90)",
			setup: func(en *env) { en.c.regs[EAX] = selTSSNP }},
		{name: "ltr null", code: "0f00d8", cause: "priv/ltr", fault: "#GP(0x0)"},
		{name: "ltr of an LDT selector", code: "0f00d8", cause: "priv/ltr", fault: "#GP(0x4)",
			setup: func(en *env) { en.c.regs[EAX] = 0x7 }},
		{name: "ltr at CPL 3", code: "0f00d8", user: true, cause: "priv/ltr", fault: "#GP(0x0)",
			setup: func(en *env) { en.c.regs[EAX] = selTSS }},
	})
}

func TestEmulateMSRsAndCPUID(t *testing.T) {
	runEmuTests(t, []emuTest{
		{name: "wrmsr sysenter_eip", code: "0f30", cause: "priv/wrmsr",
			setup: func(en *env) { en.c.regs[ECX], en.c.regs[EDX], en.c.regs[EAX] = 0x176, 0x1, 0xc0001000 },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.MSR[0x176] != 0x1c0001000 {
					t.Errorf("MSR = %#x", en.v.MSR[0x176])
				}
			}},
		{name: "rdmsr of a written MSR", code: "0f32", cause: "priv/rdmsr",
			setup: func(en *env) { en.c.regs[ECX] = 0x174; en.v.MSR = map[uint32]uint64{0x174: 0x500000010} },
			check: func(t *testing.T, en *env, out Outcome) {
				wantReg(t, en, EAX, 0x10)
				wantReg(t, en, EDX, 0x5)
			}},
		{name: "rdmsr PAT reset value", code: "0f32", cause: "priv/rdmsr",
			setup: func(en *env) { en.c.regs[ECX] = 0x277 },
			check: func(t *testing.T, en *env, out Outcome) {
				wantReg(t, en, EAX, 0x00070406)
				wantReg(t, en, EDX, 0x00070406)
			}},
		{name: "rdmsr of an unknown MSR", code: "0f32", cause: "priv/rdmsr", fault: "#GP(0x0)",
			setup: func(en *env) { en.c.regs[ECX] = 0xC0000100 }}, // FS_BASE: long mode only
		{name: "wrmsr of MTRRCAP: ignored, as qemu32 does", code: "0f30", cause: "priv/wrmsr",
			setup: func(en *env) { en.c.regs[ECX], en.c.regs[EAX] = 0xFE, 0x508 },
			check: func(t *testing.T, en *env, out Outcome) {
				if v, ok := en.v.MSR[0xFE]; ok {
					t.Errorf("MTRRCAP stored %#x", v)
				}
			}},
		{name: "rdmsr at CPL 3", code: "0f32", user: true, cause: "priv/rdmsr", fault: "#GP(0x0)",
			setup: func(en *env) { en.c.regs[ECX] = 0x277 }},
		{name: "cpuid at CPL 3", code: "0fa2", user: true, cause: "cpuid",
			setup: func(en *env) { en.c.regs[EAX], en.c.regs[ECX] = 7, 1 },
			check: func(t *testing.T, en *env, out Outcome) {
				wantReg(t, en, EAX, 8)
				wantReg(t, en, EBX, 3)
				wantReg(t, en, ECX, 0x6c65746e)
				wantReg(t, en, EDX, 0x49656e69)
			}},
	})
}

func TestEmulateFlagsImage(t *testing.T) {
	runEmuTests(t, []emuTest{
		{name: "pushf shows the virtual IF and IOPL", code: "9c", cause: "sens/pushf",
			setup: func(en *env) {
				en.v.IOPL = 2
				en.c.regs[EFLAGS] |= x86.FlagZF | x86.FlagRF
			},
			check: func(t *testing.T, en *env, out Outcome) {
				wantReg(t, en, ESP, kstackTop-4)
				if got := en.c.get32(kstackTop - 4); got != x86.FlagReserved1|x86.FlagZF|2<<12 {
					t.Errorf("pushed %#x", got)
				}
			}},
		{name: "pushfw", code: "669c", cause: "sens/pushf",
			setup: func(en *env) { en.v.IF = true; en.c.regs[EFLAGS] |= x86.FlagAC },
			check: func(t *testing.T, en *env, out Outcome) {
				wantReg(t, en, ESP, kstackTop-2)
				if got := en.c.get16(kstackTop - 2); got != x86.FlagReserved1|x86.FlagIF {
					t.Errorf("pushed %#x", got)
				}
			}},
		{name: "popf at CPL 0 sets the virtual IF and IOPL", code: "9d", cause: "sens/popf",
			setup: func(en *env) {
				en.c.regs[EFLAGS] = x86.FlagReserved1 // the VMM's IF=0 at this moment
				en.c.pushFrame(x86.FlagReserved1 | x86.FlagIF | 3<<12 | x86.FlagCF | x86.FlagDF | x86.FlagVM)
			},
			check: func(t *testing.T, en *env, out Outcome) {
				if !en.v.IF || en.v.IOPL != 3 || !out.IFChanged {
					t.Errorf("v.IF=%v v.IOPL=%d IFChanged=%v", en.v.IF, en.v.IOPL, out.IFChanged)
				}
				wantReg(t, en, ESP, kstackTop)
				wantReg(t, en, EFLAGS, x86.FlagReserved1|x86.FlagCF|x86.FlagDF) // real IF/IOPL kept, VM ignored
			}},
		{name: "popf at CPL 3 IOPL 0 silently keeps IF and IOPL", code: "9d", user: true, cause: "sens/popf",
			setup: func(en *env) { en.c.pushFrame(x86.FlagReserved1 | x86.FlagIF | 3<<12 | x86.FlagZF) },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.IF || en.v.IOPL != 0 || out.IFChanged {
					t.Errorf("v.IF=%v v.IOPL=%d IFChanged=%v", en.v.IF, en.v.IOPL, out.IFChanged)
				}
				wantZF(t, en, true)
				wantRealIFIOPL(t, en, true, 0)
			}},
		{name: "popf at CPL 3 IOPL 3 changes IF, not IOPL", code: "9d", user: true, cause: "sens/popf",
			setup: func(en *env) {
				en.v.IOPL = 3
				en.c.pushFrame(x86.FlagReserved1 | x86.FlagIF)
			},
			check: func(t *testing.T, en *env, out Outcome) {
				if !en.v.IF || en.v.IOPL != 3 {
					t.Errorf("v.IF=%v v.IOPL=%d", en.v.IF, en.v.IOPL)
				}
			}},
		{name: "popfw keeps the upper flags", code: "669d", cause: "sens/popf",
			setup: func(en *env) {
				en.c.regs[EFLAGS] |= x86.FlagAC
				en.c.regs[ESP] -= 2
				en.c.put16(en.c.regs[ESP], x86.FlagReserved1|x86.FlagIF|x86.FlagSF)
			},
			check: func(t *testing.T, en *env, out Outcome) {
				wantReg(t, en, ESP, kstackTop)
				wantReg(t, en, EFLAGS, x86.FlagReserved1|x86.FlagIF|x86.FlagAC|x86.FlagSF)
				if !en.v.IF {
					t.Error("v.IF not set")
				}
			}},
	})
}

func TestEmulateSoftwareInterrupts(t *testing.T) {
	runEmuTests(t, []emuTest{
		{name: "int 0x80 from user", code: "cd80", user: true, cause: "int/0x80", fault: "int 0x80"},
		{name: "int3", code: "cc", cause: "int/0x3", fault: "int 0x3"},
		{name: "int $3", code: "cd03", cause: "int/0x3", fault: "int 0x3"},
		{name: "into with OF", code: "ce", cause: "int/0x4", fault: "int 0x4",
			setup: func(en *env) { en.c.regs[EFLAGS] |= x86.FlagOF }},
		{name: "into without OF", code: "ce", cause: "int/0x4"},
	})
}

func TestEmulatePortIO(t *testing.T) {
	wantOuts := func(want ...ioRec) func(t *testing.T, en *env, out Outcome) {
		return func(t *testing.T, en *env, out Outcome) {
			t.Helper()
			if !reflect.DeepEqual(en.p.outs, want) {
				t.Errorf("outs = %+v, want %+v", en.p.outs, want)
			}
		}
	}
	runEmuTests(t, []emuTest{
		{name: "out al imm", code: "e680", cause: "io/out:0x80",
			setup: func(en *env) { en.c.regs[EAX] = 0x12345678 }, check: wantOuts(ioRec{0x80, 1, 0x78})},
		{name: "out ax dx", code: "66ef", cause: "io/out:0x3f8",
			setup: func(en *env) { en.c.regs[EAX], en.c.regs[EDX] = 0x12345678, 0x3f8 }, check: wantOuts(ioRec{0x3f8, 2, 0x5678})},
		{name: "out eax imm", code: "e7f4", cause: "io/out:0xf4",
			setup: func(en *env) { en.c.regs[EAX] = 0x12345678 }, check: wantOuts(ioRec{0xf4, 4, 0x12345678})},
		{name: "in al imm keeps the rest of eax", code: "e460", cause: "io/in:0x60",
			setup: func(en *env) { en.c.regs[EAX] = 0xAABBCCDD; en.p.inVal = []uint32{0x5A} },
			check: func(t *testing.T, en *env, out Outcome) { wantReg(t, en, EAX, 0xAABBCC5A) }},
		{name: "in ax dx", code: "66ed", cause: "io/in:0x3fd",
			setup: func(en *env) { en.c.regs[EAX], en.c.regs[EDX] = 0xAABBCCDD, 0x3fd },
			check: func(t *testing.T, en *env, out Outcome) {
				wantReg(t, en, EAX, 0xAABB3344)
				if len(en.p.ins) != 1 || en.p.ins[0] != (ioRec{0x3fd, 2, 0x3344}) {
					t.Errorf("ins = %+v", en.p.ins)
				}
			}},
		{name: "in eax dx", code: "ed", cause: "io/in:0x70",
			setup: func(en *env) { en.c.regs[EDX] = 0xFFFF0070 },
			check: func(t *testing.T, en *env, out Outcome) { wantReg(t, en, EAX, 0x11223344) }},
		{name: "out at CPL 3 allowed by the bitmap", code: "e680", user: true, cause: "io/out:0x80",
			check: wantOuts(ioRec{0x80, 1, 0})},
		{name: "out at CPL 3 blocked by the bitmap", code: "e681", user: true, cause: "io/out:0x81", fault: "#GP(0x0)"},
		{name: "out at CPL 3 allowed by IOPL 3", code: "e681", user: true, cause: "io/out:0x81",
			setup: func(en *env) { en.v.IOPL = 3 }, check: wantOuts(ioRec{0x81, 1, 0})},
		{name: "out word at CPL 3 spanning into a denied port", code: "66ef", user: true, cause: "io/out:0x3ff", fault: "#GP(0x0)",
			setup: func(en *env) { en.c.regs[EDX] = 0x3ff }},
		{name: "out dword at CPL 3 inside the allowed range", code: "ef", user: true, cause: "io/out:0x3fa",
			setup: func(en *env) { en.c.regs[EDX] = 0x3fa }, check: wantOuts(ioRec{0x3fa, 4, 0})},
		{name: "in beyond the bitmap at CPL 3", code: "ec", user: true, cause: "io/in:0x1000", fault: "#GP(0x0)",
			setup: func(en *env) { en.c.regs[EDX] = 0x1000 }},
		{name: "out at CPL 3 with no task register", code: "e680", user: true, cause: "io/out:0x80", fault: "#GP(0x0)",
			setup: func(en *env) { en.v.TR = 0 }},
		{name: "out at CPL 3 with a 16-bit TSS", code: "e680", user: true, cause: "io/out:0x80", fault: "#GP(0x0)",
			setup: func(en *env) { en.v.TR = selTSS16 }},
		{name: "out at CPL 3 with a busy TSS", code: "e680", user: true, cause: "io/out:0x80",
			setup: func(en *env) { en.c.mem[gdtAddr+selTSS+5] |= 2 }, check: wantOuts(ioRec{0x80, 1, 0})},
	})
}

func TestEmulateStringIO(t *testing.T) {
	hello := func(en *env) {
		copy(en.c.mem[strAddr:], "hello")
		en.c.regs[ESI], en.c.regs[ECX], en.c.regs[EDX] = strAddr, 5, 0x3f8
	}
	outBytes := func(en *env) string {
		var b []byte
		for _, o := range en.p.outs {
			if o.Port != 0x3f8 || o.Size != 1 {
				return "bad record"
			}
			b = append(b, byte(o.Val))
		}
		return string(b)
	}
	runEmuTests(t, []emuTest{
		{name: "rep outsb of a string", code: "f36e", cause: "io/out:0x3f8", setup: hello,
			check: func(t *testing.T, en *env, out Outcome) {
				if s := outBytes(en); s != "hello" {
					t.Errorf("wrote %q", s)
				}
				wantReg(t, en, ESI, strAddr+5)
				wantReg(t, en, ECX, 0)
			}},
		{name: "rep outsb backwards (DF=1)", code: "f36e", cause: "io/out:0x3f8",
			setup: func(en *env) {
				hello(en)
				en.c.regs[ESI] = strAddr + 4
				en.c.regs[EFLAGS] |= x86.FlagDF
			},
			check: func(t *testing.T, en *env, out Outcome) {
				if s := outBytes(en); s != "olleh" {
					t.Errorf("wrote %q", s)
				}
				wantReg(t, en, ESI, strAddr-1)
			}},
		{name: "outsb without rep", code: "6e", cause: "io/out:0x3f8", setup: hello,
			check: func(t *testing.T, en *env, out Outcome) {
				if s := outBytes(en); s != "h" {
					t.Errorf("wrote %q", s)
				}
				wantReg(t, en, ESI, strAddr+1)
				wantReg(t, en, ECX, 5)
			}},
		{name: "repne outsb acts as rep", code: "f26e", cause: "io/out:0x3f8", setup: hello,
			check: func(t *testing.T, en *env, out Outcome) {
				if s := outBytes(en); s != "hello" {
					t.Errorf("wrote %q", s)
				}
			}},
		{name: "rep outsb with ECX=0", code: "f36e", cause: "io/out:0x3f8",
			setup: func(en *env) { hello(en); en.c.regs[ECX] = 0 },
			check: func(t *testing.T, en *env, out Outcome) {
				if len(en.p.outs) != 0 {
					t.Errorf("outs = %v", en.p.outs)
				}
				wantReg(t, en, ESI, strAddr)
			}},
		{name: "outsb with an ES override", code: "266e", cause: "io/out:0x3f8",
			setup: func(en *env) {
				hello(en)
				en.c.segs[ES].Desc.Base = 1
			},
			check: func(t *testing.T, en *env, out Outcome) {
				if s := outBytes(en); s != "e" {
					t.Errorf("wrote %q", s)
				}
			}},
		{name: "rep outsb 16-bit addressing", code: "67f36e", cause: "io/out:0x3f8",
			setup: func(en *env) {
				hello(en)
				en.c.regs[ESI] |= 0xABCD0000
				en.c.regs[ECX] = 0x77770003
			},
			check: func(t *testing.T, en *env, out Outcome) {
				if s := outBytes(en); s != "hel" {
					t.Errorf("wrote %q", s)
				}
				wantReg(t, en, ESI, 0xABCD0000|(strAddr+3))
				wantReg(t, en, ECX, 0x77770000)
			}},
		{name: "rep outsl", code: "f36f", cause: "io/out:0x80",
			setup: func(en *env) {
				en.c.put32(strAddr, 0x11111111)
				en.c.put32(strAddr+4, 0x22222222)
				en.c.regs[ESI], en.c.regs[ECX], en.c.regs[EDX] = strAddr, 2, 0x80
			},
			check: func(t *testing.T, en *env, out Outcome) {
				want := []ioRec{{0x80, 4, 0x11111111}, {0x80, 4, 0x22222222}}
				if !reflect.DeepEqual(en.p.outs, want) {
					t.Errorf("outs = %+v", en.p.outs)
				}
			}},
		{name: "rep insw", code: "f3666d", cause: "io/in:0x1f0",
			setup: func(en *env) {
				en.c.regs[EDI], en.c.regs[ECX], en.c.regs[EDX] = strAddr, 3, 0x1f0
				en.p.inVal = []uint32{0xAAAA1111, 0x2222, 0x3333}
			},
			check: func(t *testing.T, en *env, out Outcome) {
				for i, w := range []uint16{0x1111, 0x2222, 0x3333} {
					if got := en.c.get16(strAddr + 2*uint32(i)); got != w {
						t.Errorf("word %d = %#x, want %#x", i, got, w)
					}
				}
				wantReg(t, en, EDI, strAddr+6)
				wantReg(t, en, ECX, 0)
				if len(en.p.ins) != 3 || en.p.ins[0] != (ioRec{0x1f0, 2, 0x1111}) {
					t.Errorf("ins = %+v", en.p.ins)
				}
			}},
		{name: "insb uses ES", code: "6c", cause: "io/in:0x60",
			setup: func(en *env) {
				en.c.regs[EDI], en.c.regs[EDX] = 0x10, 0x60
				en.c.segs[ES].Desc.Base = strAddr
				en.p.inVal = []uint32{0x99}
			},
			check: func(t *testing.T, en *env, out Outcome) {
				if en.c.mem[strAddr+0x10] != 0x99 {
					t.Errorf("stored %#x", en.c.mem[strAddr+0x10])
				}
				wantReg(t, en, EDI, 0x11)
			}},
		{name: "rep insb at CPL 3 blocked", code: "f36c", user: true, cause: "io/in:0x60", fault: "#GP(0x0)",
			setup: func(en *env) { en.c.regs[EDI], en.c.regs[ECX], en.c.regs[EDX] = strAddr, 4, 0x60 }},
		{name: "rep outsb at CPL 3 allowed", code: "f36e", user: true, cause: "io/out:0x3f8", setup: hello,
			check: func(t *testing.T, en *env, out Outcome) {
				if s := outBytes(en); s != "hello" {
					t.Errorf("wrote %q", s)
				}
			}},
		{name: "rep outsb into a faulting page", code: "f36e", cause: "io/out:0x3f8", fault: "#PF(0x0)", partial: true,
			setup: func(en *env) {
				copy(en.c.mem[pfPage-3:], "abc")
				en.c.regs[ESI], en.c.regs[ECX], en.c.regs[EDX] = pfPage-3, 10, 0x3f8
			},
			check: func(t *testing.T, en *env, out Outcome) {
				if s := outBytes(en); s != "abc" {
					t.Errorf("wrote %q", s)
				}
				wantReg(t, en, ESI, pfPage)
				wantReg(t, en, ECX, 7)
				if en.v.CR2 != pfPage {
					t.Errorf("CR2 = %#x", en.v.CR2)
				}
			}},
		{name: "rep outsb longer than MaxRepIterations resumes", code: "f36e", cause: "io/out:0x80", next: codeAddr,
			setup: func(en *env) {
				en.c.regs[ESI], en.c.regs[ECX], en.c.regs[EDX] = 0, MaxRepIterations+5, 0x80
			},
			check: func(t *testing.T, en *env, out Outcome) {
				if len(en.p.outs) != MaxRepIterations {
					t.Errorf("%d outs", len(en.p.outs))
				}
				wantReg(t, en, ECX, 5)
				wantReg(t, en, ESI, MaxRepIterations)
			}},
	})
}

// iretFrame builds an interrupt frame on the kernel stack.
func iretFrame(words ...uint32) func(en *env) {
	return func(en *env) { en.c.pushFrame(words...) }
}

func TestEmulateIret(t *testing.T) {
	const fl = x86.FlagReserved1
	runEmuTests(t, []emuTest{
		{name: "iret to user", code: "cf", cause: "priv/iret", next: 0x700,
			setup: iretFrame(0x700, selUCode|3, fl|x86.FlagIF|x86.FlagCF, ustackTop-0x10, selUData|3),
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.CPL != 3 || !en.v.IF || !out.IFChanged {
					t.Errorf("v.CPL=%d v.IF=%v IFChanged=%v", en.v.CPL, en.v.IF, out.IFChanged)
				}
				wantSeg(t, en, CS, selUCode|3)
				wantSeg(t, en, SS, selUData|3)
				wantReg(t, en, ESP, ustackTop-0x10)
				wantReg(t, en, EFLAGS, fl|x86.FlagIF|x86.FlagCF)
				// The kernel's data segments are not usable at CPL 3: nulled.
				for _, s := range []SegReg{DS, ES, FS, GS} {
					wantSeg(t, en, s, 0)
				}
			}},
		{name: "iret to user keeps user data segments", code: "cf", cause: "priv/iret", next: 0x700,
			setup: func(en *env) {
				en.c.segs[DS] = en.shadowSeg(selUData | 3)
				iretFrame(0x700, selUCode|3, fl, ustackTop, selUData|3)(en)
			},
			check: func(t *testing.T, en *env, out Outcome) {
				wantSeg(t, en, DS, selUData|3)
				wantSeg(t, en, ES, 0)
			}},
		{name: "iret within the kernel", code: "cf", cause: "priv/iret", next: 0x800,
			setup: func(en *env) {
				en.c.regs[EFLAGS] = fl | 1<<12 // whatever the real IF and IOPL were
				iretFrame(0x800, selKCode, fl|3<<12)(en)
			},
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.CPL != 0 || en.v.IOPL != 3 || en.v.IF || out.IFChanged {
					t.Errorf("v.CPL=%d v.IOPL=%d v.IF=%v IFChanged=%v", en.v.CPL, en.v.IOPL, en.v.IF, out.IFChanged)
				}
				wantSeg(t, en, CS, selKCode)
				wantSeg(t, en, DS, selKData)
				wantReg(t, en, ESP, kstackTop)
				wantRealIFIOPL(t, en, true, 0)
			}},
		{name: "iretw", code: "66cf", cause: "priv/iret", next: 0x900,
			setup: func(en *env) {
				en.c.regs[ESP] -= 6
				sp := en.c.regs[ESP]
				en.c.put16(sp, 0x900)
				en.c.put16(sp+2, selKCode)
				en.c.put16(sp+4, fl|x86.FlagIF)
			},
			check: func(t *testing.T, en *env, out Outcome) {
				wantReg(t, en, ESP, kstackTop)
				if !en.v.IF {
					t.Error("v.IF not set")
				}
			}},
		{name: "iret at CPL 3 within user, IOPL 0 keeps IF", code: "cf", user: true, cause: "priv/iret", next: 0x700,
			setup: iretFrame(0x700, selUCode|3, fl|x86.FlagIF|3<<12),
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.IF || en.v.IOPL != 0 || en.v.CPL != 3 {
					t.Errorf("v.IF=%v v.IOPL=%d v.CPL=%d", en.v.IF, en.v.IOPL, en.v.CPL)
				}
				wantReg(t, en, ESP, ustackTop)
			}},
		{name: "iret to a non-present segment", code: "cf", cause: "priv/iret", fault: "#NP(0x30)",
			setup: iretFrame(0x700, selKCodeNP, fl)},
		{name: "iret to RPL 0 from CPL 3", code: "cf", user: true, cause: "priv/iret", fault: "#GP(0x8)",
			setup: iretFrame(0x700, selKCode, fl)},
		{name: "iret to a data segment", code: "cf", cause: "priv/iret", fault: "#GP(0x10)",
			setup: iretFrame(0x700, selKData, fl)},
		{name: "iret to a selector beyond the GDT", code: "cf", cause: "priv/iret", fault: "#GP(0xf8)",
			setup: iretFrame(0x700, 0xF8, fl)},
		{name: "iret to a null CS", code: "cf", cause: "priv/iret", fault: "#GP(0x0)",
			setup: iretFrame(0x700, 0, fl)},
		{name: "iret to DPL 0 code with RPL 3", code: "cf", cause: "priv/iret", fault: "#GP(0x8)",
			setup: iretFrame(0x700, selKCode|3, fl, ustackTop, selUData|3)},
		{name: "iret beyond the code limit", code: "cf", cause: "priv/iret", fault: "#GP(0x0)",
			setup: iretFrame(0x1000, selKCodeLim, fl)},
		{name: "iret to user with SS RPL 0", code: "cf", cause: "priv/iret", fault: "#GP(0x20)",
			setup: iretFrame(0x700, selUCode|3, fl, ustackTop, selUData)},
		{name: "iret to user with SS not present", code: "cf", cause: "priv/iret", fault: "#SS(0x70)",
			setup: iretFrame(0x700, selUCode|3, fl, ustackTop, selUDataNP|3)},
		{name: "iret to user with the kernel's SS", code: "cf", cause: "priv/iret", fault: "#GP(0x10)",
			setup: iretFrame(0x700, selUCode|3, fl, ustackTop, selKData|3)},
		{name: "iret with NT and no back link", code: "cf", cause: "priv/iret", fault: "#TS(0x0)",
			setup: func(en *env) { en.c.regs[EFLAGS] |= x86.FlagNT }},
		{name: "iret to virtual-8086 mode", code: "cf", err: "virtual-8086",
			setup: iretFrame(0x700, selUCode|3, fl|x86.FlagVM)},
		{name: "iret frame on a faulting page", code: "cf", cause: "priv/iret", fault: "#PF(0x0)",
			setup: func(en *env) { en.c.regs[ESP] = pfPage }},
		{name: "iret when the CPU refuses the load", code: "cf", err: "refused",
			setup: func(en *env) {
				en.c.refuse = map[SegReg]bool{CS: true}
				iretFrame(0x700, selKCode, fl)(en)
			}},
	})
}

func TestEmulateFarTransfers(t *testing.T) {
	const fl = x86.FlagReserved1
	runEmuTests(t, []emuTest{
		{name: "ljmp to kernel code", code: "ea000700000800", cause: "sens/ljmp", next: 0x700,
			setup: func(en *env) { en.c.segs[CS] = Segment{} },
			check: func(t *testing.T, en *env, out Outcome) {
				wantSeg(t, en, CS, selKCode)
				if en.v.CPL != 0 {
					t.Errorf("v.CPL = %d", en.v.CPL)
				}
			}},
		{name: "ljmp to a non-present segment", code: "ea000700003000", cause: "sens/ljmp", fault: "#NP(0x30)"},
		{name: "ljmp to user code from the kernel", code: "ea000700001b00", cause: "sens/ljmp", fault: "#GP(0x18)"},
		{name: "ljmp to kernel code from user", code: "ea000700000800", user: true, cause: "sens/ljmp", fault: "#GP(0x8)"},
		{name: "ljmp to conforming code from user", code: "ea000700004000", user: true, cause: "sens/ljmp", next: 0x700,
			check: func(t *testing.T, en *env, out Outcome) {
				if en.c.segs[CS].Sel != selConform|3 || en.v.CPL != 3 {
					t.Errorf("CS = %#x, v.CPL = %d", en.c.segs[CS].Sel, en.v.CPL)
				}
			}},
		{name: "ljmp beyond the limit", code: "ea002000008800", cause: "sens/ljmp", fault: "#GP(0x0)"},
		{name: "ljmp to null", code: "ea000700000000", cause: "sens/ljmp", fault: "#GP(0x0)"},
		{name: "ljmp to an interrupt gate", code: "ea000000007800", cause: "sens/ljmp", fault: "#GP(0x78)"},
		{name: "ljmp to a TSS, not present", code: "ea000000009000", cause: "sens/ljmp", fault: "#NP(0x90)"},
		{name: "ljmp to a 16-bit TSS", code: "ea000000005800", err: "16-bit TSS"},
		{name: "ljmp through memory", code: "ff2d00200000", cause: "sens/ljmp", next: 0x800,
			setup: func(en *env) { en.c.put32(dataAddr, 0x800); en.c.put16(dataAddr+4, selKCode) },
			check: func(t *testing.T, en *env, out Outcome) { wantSeg(t, en, CS, selKCode) }},
		{name: "lcall pushes the guest's CS", code: "9a000700000800", cause: "sens/lcall", next: 0x700,
			check: func(t *testing.T, en *env, out Outcome) {
				wantReg(t, en, ESP, kstackTop-8)
				if ret, cs := en.c.get32(kstackTop-8), en.c.get32(kstackTop-4); ret != codeAddr+7 || cs != selKCode {
					t.Errorf("pushed %#x:%#x", cs, ret)
				}
			}},
		{name: "lcall through memory", code: "ff1d00200000", cause: "sens/lcall", next: 0x800,
			setup: func(en *env) { en.c.put32(dataAddr, 0x800); en.c.put16(dataAddr+4, selKCode) },
			check: func(t *testing.T, en *env, out Outcome) {
				if ret := en.c.get32(kstackTop - 8); ret != codeAddr+6 {
					t.Errorf("pushed return %#x", ret)
				}
			}},
		{name: "lcall through a gate to ring 0", code: "9a000000005300", user: true, cause: "sens/lcall", next: 0x700,
			setup: func(en *env) { en.c.pushFrame(0xA11CE) }, // one parameter
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.CPL != 0 {
					t.Errorf("v.CPL = %d", en.v.CPL)
				}
				// The frame is on the kernel stack; the real CPU stays in
				// ring 3 until the VMM's privilege switch (Outcome.Inner).
				wantSeg(t, en, CS, selUCode|3)
				wantSeg(t, en, SS, selUData|3)
				top := uint32(kstackTop - 0x100)
				want := InnerCall{CS: selKCode, SS: selKData, ESP: top - 20, EIP: 0x700}
				if in := out.Inner; in == nil || in.CS != want.CS || in.SS != want.SS || in.ESP != want.ESP || in.EIP != want.EIP {
					t.Errorf("Inner = %+v, want %+v", in, want)
				}
				want32 := []uint32{codeAddr + 7, selUCode | 3, 0xA11CE, ustackTop - 4, selUData | 3}
				for i, w := range want32 {
					if got := en.c.get32(top - 20 + 4*uint32(i)); got != w {
						t.Errorf("frame[%d] = %#x, want %#x", i, got, w)
					}
				}
			}},
		{name: "lcall through a DPL-0 gate from user", code: "9a000000008300", user: true, cause: "sens/lcall", fault: "#GP(0x80)"},
		{name: "ljmp through a gate to same-privilege code", code: "ea000000005000", cause: "sens/ljmp", next: 0x700,
			check: func(t *testing.T, en *env, out Outcome) { wantSeg(t, en, CS, selKCode) }},
		{name: "lret within the kernel", code: "cb", cause: "priv/lret", next: 0x700,
			setup: iretFrame(0x700, selKCode),
			check: func(t *testing.T, en *env, out Outcome) {
				wantSeg(t, en, CS, selKCode)
				wantReg(t, en, ESP, kstackTop)
			}},
		{name: "lret $4 to user", code: "ca0400", cause: "priv/lret", next: 0x700,
			setup: iretFrame(0x700, selUCode|3, 0xDEAD, ustackTop-8, selUData|3),
			check: func(t *testing.T, en *env, out Outcome) {
				if en.v.CPL != 3 {
					t.Errorf("v.CPL = %d", en.v.CPL)
				}
				// The real CPU at CPL 1 cannot load ring-3 CS and SS: the
				// VMM returns through a real iret (Outcome.Outer), which
				// also nulls DS.
				want := OuterReturn{CS: selUCode | 3, SS: selUData | 3, EIP: 0x700, ESP: ustackTop - 4}
				if o := out.Outer; o == nil || *o != want {
					t.Errorf("Outer = %+v, want %+v", o, want)
				}
				wantReg(t, en, EFLAGS, fl|x86.FlagIF) // untouched
			}},
		{name: "lret to RPL 0 from user", code: "cb", user: true, cause: "priv/lret", fault: "#GP(0x8)",
			setup: iretFrame(0x700, selKCode)},
		{name: "lret to a non-present segment", code: "cb", cause: "priv/lret", fault: "#NP(0x30)",
			setup: iretFrame(0x700, selKCodeNP)},
		{name: "lret to an LDT data selector", code: "cb", cause: "priv/lret", fault: "#GP(0xc)",
			setup: func(en *env) { en.v.LDTR = selLDT; iretFrame(0x700, 0xC)(en) }},
	})
}

func TestEmulateSegmentLoads(t *testing.T) {
	runEmuTests(t, []emuTest{
		{name: "mov to ss with the kernel's RPL-0 selector", code: "8ed0", cause: "priv/mov-ss",
			setup: func(en *env) { en.c.regs[EAX] = selKData; en.c.segs[SS] = Segment{} },
			check: func(t *testing.T, en *env, out Outcome) {
				wantSeg(t, en, SS, selKData)
				if en.c.segs[SS].Sel != selKData|1 || en.c.segs[SS].Desc.DPL != 1 {
					t.Errorf("real SS %#x DPL %d, want the shadow 0x11 DPL 1", en.c.segs[SS].Sel, en.c.segs[SS].Desc.DPL)
				}
				if !out.Shadow {
					t.Error("no interrupt shadow after a load of SS")
				}
			}},
		{name: "mov to ss from memory", code: "8e1500200000", cause: "priv/mov-ss",
			setup: func(en *env) { en.c.put16(dataAddr, selKData) },
			check: func(t *testing.T, en *env, out Outcome) { wantSeg(t, en, SS, selKData) }},
		{name: "mov to ss with RPL 3 at CPL 0", code: "8ed0", cause: "priv/mov-ss", fault: "#GP(0x20)",
			setup: func(en *env) { en.c.regs[EAX] = selUData | 3 }},
		{name: "mov to ss with code", code: "8ed0", cause: "priv/mov-ss", fault: "#GP(0x8)",
			setup: func(en *env) { en.c.regs[EAX] = selKCode }},
		{name: "mov to ss with read-only data", code: "8ed0", cause: "priv/mov-ss", fault: "#GP(0x48)",
			setup: func(en *env) { en.c.regs[EAX] = selKDataRO }},
		{name: "mov to ss null", code: "8ed0", cause: "priv/mov-ss", fault: "#GP(0x0)"},
		{name: "mov to ss not present", code: "8ed0", cause: "priv/mov-ss", fault: "#SS(0x98)",
			setup: func(en *env) { en.c.regs[EAX] = selKDataNP }},
		{name: "mov to ss with DPL 0 at CPL 3", code: "8ed0", user: true, cause: "priv/mov-ss", fault: "#GP(0x10)",
			setup: func(en *env) { en.c.regs[EAX] = selKData | 3 }},
		{name: "pop ss", code: "17", cause: "priv/pop-ss",
			setup: func(en *env) { en.c.pushFrame(0xFFFF0000 | selKData) },
			check: func(t *testing.T, en *env, out Outcome) {
				wantSeg(t, en, SS, selKData)
				wantReg(t, en, ESP, kstackTop)
				if !out.Shadow {
					t.Error("no interrupt shadow after pop ss")
				}
			}},
		{name: "lss", code: "0fb21500200000", cause: "priv/lss",
			setup: func(en *env) { en.c.put32(dataAddr, 0x7ff0); en.c.put16(dataAddr+4, selKData) },
			check: func(t *testing.T, en *env, out Outcome) {
				wantSeg(t, en, SS, selKData)
				wantReg(t, en, EDX, 0x7ff0)
				if out.Shadow {
					t.Error("lss does not inhibit interrupts")
				}
			}},
		{name: "mov to ds sets the accessed bit", code: "8ed8", cause: "sens/mov-ds",
			setup: func(en *env) { en.c.regs[EAX] = selKDataNA },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.c.mem[gdtAddr+selKDataNA+5]&1 == 0 {
					t.Error("accessed bit not set in the guest GDT")
				}
				if en.c.segs[DS].Sel != selKDataNA|1 || !en.c.segs[DS].Desc.Accessed() {
					t.Errorf("DS = %#x %v", en.c.segs[DS].Sel, en.c.segs[DS].Desc)
				}
			}},
		{name: "mov to ds with DPL 0 at CPL 3", code: "8ed8", user: true, cause: "sens/mov-ds", fault: "#GP(0x10)",
			setup: func(en *env) { en.c.regs[EAX] = selKData }},
		{name: "mov to ds null", code: "8ed8", cause: "sens/mov-ds",
			check: func(t *testing.T, en *env, out Outcome) { wantSeg(t, en, DS, 0) }},
		{name: "mov to ds execute-only code", code: "8ed8", user: true, cause: "sens/mov-ds", fault: "#GP(0x68)",
			setup: func(en *env) { en.c.regs[EAX] = selUExecOnly | 3 }},
		{name: "mov to ds readable code", code: "8ed8", cause: "sens/mov-ds",
			setup: func(en *env) { en.c.regs[EAX] = selKCode },
			check: func(t *testing.T, en *env, out Outcome) { wantSeg(t, en, DS, selKCode) }},
		{name: "mov to es not present", code: "8ec0", user: true, cause: "sens/mov-es", fault: "#NP(0x70)",
			setup: func(en *env) { en.c.regs[EAX] = selUDataNP | 3 }},
		{name: "mov to fs from the LDT", code: "8ee0", user: true, cause: "sens/mov-fs",
			setup: func(en *env) { en.v.LDTR, en.c.regs[EAX] = selLDT, 0x7 },
			check: func(t *testing.T, en *env, out Outcome) {
				if en.c.segs[FS].Sel != 0x7 || en.c.segs[FS].Desc.DPL != 3 {
					t.Errorf("FS = %#x %v", en.c.segs[FS].Sel, en.c.segs[FS].Desc)
				}
			}},
		{name: "mov to gs from the LDT with no LDT", code: "8ee8", user: true, cause: "sens/mov-gs", fault: "#GP(0x4)",
			setup: func(en *env) { en.c.regs[EAX] = 0x7 }},
		{name: "mov to cs", code: "8ec8", cause: "sens/mov-cs", fault: "#UD"},
		{name: "pop ds", code: "1f", cause: "sens/pop-ds",
			setup: func(en *env) { en.c.pushFrame(selKData) },
			check: func(t *testing.T, en *env, out Outcome) {
				wantSeg(t, en, DS, selKData)
				wantReg(t, en, ESP, kstackTop)
			}},
		{name: "lds", code: "c51500200000", cause: "sens/lds",
			setup: func(en *env) { en.c.put32(dataAddr, 0x1234); en.c.put16(dataAddr+4, selKData) },
			check: func(t *testing.T, en *env, out Outcome) {
				wantSeg(t, en, DS, selKData)
				wantReg(t, en, EDX, 0x1234)
			}},
		{name: "les with a bad selector leaves EDX", code: "c41500200000", cause: "sens/les", fault: "#GP(0x8)", user: true,
			setup: func(en *env) { en.c.put32(dataAddr, 0x1234); en.c.put16(dataAddr+4, selKCode) }},
		{name: "lfs", code: "0fb41500200000", cause: "sens/lfs",
			setup: func(en *env) { en.c.put16(dataAddr+4, selKData) },
			check: func(t *testing.T, en *env, out Outcome) { wantSeg(t, en, FS, selKData) }},
		{name: "lgs", code: "0fb51500200000", cause: "sens/lgs",
			setup: func(en *env) { en.c.put16(dataAddr+4, selKData) },
			check: func(t *testing.T, en *env, out Outcome) { wantSeg(t, en, GS, selKData) }},
		{name: "push cs gives the guest's selector", code: "0e", cause: "sens/push-cs",
			check: func(t *testing.T, en *env, out Outcome) {
				wantReg(t, en, ESP, kstackTop-4)
				if got := en.c.get32(kstackTop - 4); got != selKCode {
					t.Errorf("pushed %#x (the real CS is %#x)", got, en.c.segs[CS].Sel)
				}
			}},
		{name: "push ss at CPL 3", code: "16", user: true, cause: "sens/push-ss",
			check: func(t *testing.T, en *env, out Outcome) {
				if got := en.c.get32(ustackTop - 4); got != selUData|3 {
					t.Errorf("pushed %#x", got)
				}
			}},
		{name: "mov from cs", code: "8cc8", cause: "sens/mov-from-cs",
			setup: func(en *env) { en.c.regs[EAX] = 0xFFFFFFFF },
			check: func(t *testing.T, en *env, out Outcome) { wantReg(t, en, EAX, selKCode) }},
		{name: "mov from ds to memory", code: "8c1d00200000", cause: "sens/mov-from-ds",
			setup: func(en *env) { en.c.put32(dataAddr, 0xFFFFFFFF) },
			check: func(t *testing.T, en *env, out Outcome) {
				if got := en.c.get32(dataAddr); got != 0xFFFF0000|selKData {
					t.Errorf("stored %#x", got)
				}
			}},
	})
}

func TestEmulateDescriptorQueries(t *testing.T) {
	lar := func(sel uint32) func(en *env) {
		return func(en *env) { en.c.regs[ECX], en.c.regs[EAX] = sel, 0xDEADBEEF }
	}
	zf := func(on bool, eax uint32) func(t *testing.T, en *env, out Outcome) {
		return func(t *testing.T, en *env, out Outcome) {
			t.Helper()
			wantZF(t, en, on)
			wantReg(t, en, EAX, eax)
		}
	}
	runEmuTests(t, []emuTest{
		{name: "lar of the kernel code gives the guest's DPL 0", code: "0f02c1", cause: "sens/lar",
			setup: lar(selKCode), check: zf(true, 0x00C09B00)},
		{name: "lar of kernel code at CPL 3", code: "0f02c1", user: true, cause: "sens/lar",
			setup: lar(selKCode), check: zf(false, 0xDEADBEEF)},
		{name: "lar of user code at CPL 3", code: "0f02c1", user: true, cause: "sens/lar",
			setup: lar(selUCode | 3), check: zf(true, 0x00C0FB00)},
		{name: "lar with RPL above DPL", code: "0f02c1", cause: "sens/lar",
			setup: lar(selKData | 3), check: zf(false, 0xDEADBEEF)},
		{name: "lar of conforming code at CPL 3", code: "0f02c1", user: true, cause: "sens/lar",
			setup: lar(selConform | 3), check: zf(true, 0x00C09F00)},
		{name: "lar of a call gate", code: "0f02c1", user: true, cause: "sens/lar",
			setup: lar(selGate3 | 3), check: zf(true, 0x0000EC00)},
		{name: "lar of an interrupt gate", code: "0f02c1", user: true, cause: "sens/lar",
			setup: lar(selIntGate | 3), check: zf(false, 0xDEADBEEF)},
		{name: "lar of the TSS", code: "0f02c1", cause: "sens/lar",
			setup: lar(selTSS), check: zf(true, 0x00008900)},
		{name: "lar of null", code: "0f02c1", cause: "sens/lar",
			setup: lar(0), check: zf(false, 0xDEADBEEF)},
		{name: "lar beyond the GDT", code: "0f02c1", cause: "sens/lar",
			setup: lar(0xF8), check: zf(false, 0xDEADBEEF)},
		{name: "lar 16-bit", code: "660f02c1", cause: "sens/lar",
			setup: lar(selKCode), check: zf(true, 0xDEAD9B00)},
		{name: "lar from memory", code: "0f021d00200000", cause: "sens/lar",
			setup: func(en *env) { en.c.put16(dataAddr, selUData|3) },
			check: func(t *testing.T, en *env, out Outcome) {
				wantZF(t, en, true)
				wantReg(t, en, EBX, 0x00C0F300)
			}},
		{name: "lsl of flat code", code: "0f03c1", cause: "sens/lsl",
			setup: lar(selKCode), check: zf(true, 0xFFFFFFFF)},
		{name: "lsl of the TSS", code: "0f03c1", cause: "sens/lsl",
			setup: lar(selTSS), check: zf(true, tssLimit)},
		{name: "lsl of a byte-granular segment", code: "0f03c1", cause: "sens/lsl",
			setup: lar(selKCodeLim), check: zf(true, 0xFFF)},
		{name: "lsl of a call gate", code: "0f03c1", user: true, cause: "sens/lsl",
			setup: lar(selGate3 | 3), check: zf(false, 0xDEADBEEF)},
		{name: "lsl of kernel data at CPL 3", code: "0f03c1", user: true, cause: "sens/lsl",
			setup: lar(selKData | 3), check: zf(false, 0xDEADBEEF)},
	})
	verr := func(code string, sel uint16, user, want bool) emuTest {
		cause := "sens/verr"
		if code == "0f00e8" {
			cause = "sens/verw"
		}
		return emuTest{name: cause + " " + x86.VectorName(uint8(sel)), code: code, user: user, cause: cause,
			setup: func(en *env) { en.c.regs[EAX] = uint32(sel) },
			check: func(t *testing.T, en *env, out Outcome) { wantZF(t, en, want) }}
	}
	runEmuTests(t, []emuTest{
		verr("0f00e0", selKCode, false, true),
		verr("0f00e0", selKData, false, true),
		verr("0f00e0", selUExecOnly|3, true, false),
		verr("0f00e0", selKCode|3, true, false),
		verr("0f00e0", selConform|3, true, true),
		verr("0f00e0", selTSS, false, false),
		verr("0f00e0", 0, false, false),
		verr("0f00e8", selKData, false, true),
		verr("0f00e8", selKDataRO, false, false),
		verr("0f00e8", selKCode, false, false),
		verr("0f00e8", selKData|3, true, false),
		verr("0f00e8", selUData|3, true, true),
	})
}

func TestEmulateErrors(t *testing.T) {
	runEmuTests(t, []emuTest{
		{name: "undecodable", code: "0f0f", err: "undecodable"},
		{name: "innocuous instruction", code: "01c8", err: "add %ecx,%eax"},
		{name: "nop", code: "90", err: "not emulated"},
		{name: "lock cli", code: "f0fa", cause: "priv/cli", fault: "#UD"},
		{name: "lock out", code: "f0e680", cause: "io/out:0x80", fault: "#UD"},
		{name: "mov to cr11 (LOCK as REX.R)", code: "f00f22d8", cause: "priv/mov-cr11", fault: "#UD"},
		{name: "sysexit", code: "0f35", err: "not emulated"},
	})
	// The error names the address and the bytes.
	en := newEnv("0f0f")
	_, err := en.run()
	var ee *EmulationError
	if !errors.As(err, &ee) || ee.PC != codeAddr || len(ee.Bytes) == 0 || ee.Bytes[0] != 0x0f ||
		!strings.Contains(err.Error(), "eip 0x00000100: bytes [0f 0f") || !errors.Is(err, ErrUndecodable) {
		t.Errorf("error %v (%#v) does not name the address and bytes", err, ee)
	}
	// A truncated instruction at the very end of memory.
	en = newEnv("")
	en.c.mem = en.c.mem[:codeAddr+2]
	copy(en.c.mem[codeAddr:], []byte{0x0f, 0x01})
	if _, err := en.run(); !errors.Is(err, ErrUndecodable) {
		t.Errorf("truncated instruction: %v", err)
	}
	// Fetching from a faulting page is a #PF, not an error.
	en = newEnv("")
	out, err := en.e.Emulate(en.c, en.v, pfPage+0x20)
	if err != nil || out.Fault == nil || out.Fault.Vector != x86.VecPF || en.v.CR2 != pfPage+0x20 {
		t.Errorf("fetch from a faulting page: %+v, %v, CR2 %#x", out, err, en.v.CR2)
	}
	// A nil platform is an error, not a panic.
	if _, err := (&Emulator{}).Emulate(en.c, en.v, codeAddr); !errors.Is(err, ErrInternal) {
		t.Errorf("nil platform: %v", err)
	}
}

// identityPlatform is a platform without ring compression (KVM's
// completion): shadows are the guest's own selectors and descriptors.
type identityPlatform struct{ fakePlatform }

func (p *identityPlatform) ShadowSelector(sel uint16) uint16                 { return sel }
func (p *identityPlatform) ShadowDescriptor(d x86.Descriptor) x86.Descriptor { return d }

// remapPlatform maps selectors back through GuestSelector.
type remapPlatform struct{ fakePlatform }

func (p *remapPlatform) GuestSelector(real uint16) uint16 { return real ^ 0x100 }

func TestGuestSelectorViews(t *testing.T) {
	push := func(p Platform, realCS uint16) uint32 {
		t.Helper()
		en := newEnv("0e") // push %cs
		en.e.P = p
		en.c.segs[CS].Sel = realCS
		if _, err := en.run(); err != nil {
			t.Fatal(err)
		}
		return en.c.get32(kstackTop - 4)
	}
	if got := push(&fakePlatform{}, 0x09); got != 0x08 {
		t.Errorf("ring compression: push %%cs gave %#x, want the guest's 0x08", got)
	}
	if got := push(&identityPlatform{}, 0x09); got != 0x09 {
		t.Errorf("identity shadow: push %%cs gave %#x, want 0x09 as it is", got)
	}
	if got := push(&remapPlatform{}, 0x109); got != 0x09 {
		t.Errorf("GuestSelectorer: push %%cs gave %#x, want 0x09", got)
	}
	// Without ring compression a kernel selector loads as it is.
	en := newEnv("8ed0") // mov %eax,%ss
	en.e.P = &identityPlatform{}
	en.c.regs[EAX] = selKData
	if _, err := en.run(); err != nil {
		t.Fatal(err)
	}
	if s := en.c.segs[SS]; s.Sel != selKData || s.Desc.DPL != 0 {
		t.Errorf("identity shadow: SS = %#x DPL %d", s.Sel, s.Desc.DPL)
	}
}
