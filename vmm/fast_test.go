package vmm

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/guest"
	"virtsim/vmm/unicorn"
)

// System calls delivered in C (fast.go) record what the Go path records:
// a counting run (which never arms the gate: every delivery goes through
// Go) and a timing run of the same guest under native agree on every
// count, the serial output and the final registers, and the timing run
// delivers nearly all of syscall's int $0x80s in C. Guests that page,
// take exceptions, use sysenter or run a timer keep C out or partly out,
// and still agree.
func TestFastGate(t *testing.T) {
	for _, c := range []struct {
		workload, args string
		minFast        uint64
		handoff        bool // a Go hook between the int and the landing: Go finishes each delivery C started
		trapGate       bool // the system call's IDT gate made a trap gate (IF stays set: the landing code's other entry)
	}{
		{"syscall", "n=500", 500 - 1, false, false}, // the first delivery arms the gate
		{"syscall", "n=50", 50 - 1, true, false},
		{"syscall", "n=50", 50 - 1, false, true},
		{"higherhalf", "n=5", 0, false, false},
		{"sysenter", "n=50", 0, false, false},
		{"divzero", "n=50", 0, false, false},
		{"timer", "n=5", 0, false, false},
		{"forkwait", "n=3", 0, false, false},
	} {
		w, err := guest.Lookup(c.workload)
		if err != nil {
			t.Fatal(err)
		}
		img, err := w.LoadFor(false, DefaultMemSize)
		if err != nil {
			t.Fatal(err)
		}
		if c.trapGate {
			img = withTrapGate(t, img)
		}
		var fast [2]uint64
		var res [2]*Result
		var regs [2][10]uint32
		for i, count := range []bool{true, false} {
			s, err := LookupStrategy("native")
			if err != nil {
				t.Fatal(err)
			}
			inst, err := s.New(img, Config{Args: c.args, Count: count, TimeBudget: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			m := inst.(*native).Machine
			if c.handoff {
				if _, err := m.E.HookCode(stubAddr, stubAddr, func(uint64, uint32) {}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := inst.Run(); err != nil {
				t.Fatalf("%s: %v", c.workload, err)
			}
			res[i] = inst.Result()
			fast[i] = m.E.FastEmulated()
			for j, r := range []unicorn.Reg{unicorn.EAX, unicorn.EBX, unicorn.ECX, unicorn.EDX, unicorn.ESI, unicorn.EDI,
				unicorn.EBP, unicorn.ESP, unicorn.EIP, unicorn.EFLAGS} {
				regs[i][j] = m.Reg(r)
			}
			inst.Close()
		}
		t.Logf("%s: %d of the timing run's %d system calls delivered in C", c.workload, fast[1], res[1].Counts[Key{CauseInt(0x80), MechMachine}])
		if !SameOutcome(res[0], res[1]) || res[0].Serial != res[1].Serial {
			t.Errorf("%s: counting run %v %v, timing run %v %v", c.workload, res[0].Stop, res[0].Counts, res[1].Stop, res[1].Counts)
		}
		if regs[0] != regs[1] {
			t.Errorf("%s: final registers (EAX..EDI, EBP, ESP, EIP, EFLAGS) differ:\ncounting %#x\ntiming   %#x", c.workload, regs[0], regs[1])
		}
		if fast[0] != 0 || fast[1] < c.minFast {
			t.Errorf("%s: %d system calls delivered in C in the counting run (want 0), %d in the timing run (want >= %d)", c.workload, fast[0], fast[1], c.minFast)
		}
	}
}

// withTrapGate returns a copy of syscall's image whose `movl
// $GATE_INT_DPL3, %ecx` (the gate type it gives rt_set_gate for int $0x80)
// names a DPL-3 trap gate instead.
func withTrapGate(t *testing.T, img *guest.Image) *guest.Image {
	c := *img
	c.Segments = append([]guest.Segment(nil), img.Segments...)
	n := 0
	for i := range c.Segments {
		d := append([]byte(nil), c.Segments[i].Data...)
		for j := 0; j+5 <= len(d); j++ {
			if d[j] == 0xB9 && d[j+1] == 0xEE && d[j+2] == 0 && d[j+3] == 0 && d[j+4] == 0 {
				d[j+1] = 0xEF
				n++
			}
		}
		c.Segments[i].Data = d
	}
	if n != 1 {
		t.Fatalf("syscall: %d gate-type loads found, want 1", n)
	}
	return &c
}

// TestFastLandCode: the landing code of system calls delivered in C
// decodes as the instructions its comment lists, each reading the mailbox
// word it names through CS, and its trap-gate entry is the lgdt.
func TestFastLandCode(t *testing.T) {
	want := []struct {
		text string
		mail uint32 // the mailbox offset it reads; ^0: none
	}{
		{"cli", ^uint32(0)},
		{"lgdt ptr cs:[0x%x]", unicorn.GateMailGDTR},
		{"lea esp, ptr [esp+0x8]", ^uint32(0)},
		{"push dword ptr cs:[0x%x]", unicorn.GateMailFlags},
		{"push dword ptr cs:[0x%x]", unicorn.GateMailCS},
		{"lea esp, ptr [esp-0x4]", ^uint32(0)},
		{"jmp dword ptr cs:[0x%x]", unicorn.GateMailHandler},
	}
	code, trapEntry := fastLandCode()
	if trapEntry != 1 {
		t.Errorf("trap-gate entry at +%d, want +1 (after the cli)", trapEntry)
	}
	for i, w := range want {
		inst, err := x86asm.Decode(code, 32)
		if err != nil {
			t.Fatalf("instruction %d: % x: %v", i, code, err)
		}
		text := w.text
		if w.mail != ^uint32(0) {
			text = fmt.Sprintf(w.text, gateMailAddr+w.mail)
		}
		if got := x86asm.IntelSyntax(inst, 0, nil); got != text {
			t.Errorf("instruction %d: %s, want %s", i, got, text)
		}
		code = code[inst.Len:]
	}
	if len(code) != 0 {
		t.Errorf("% x left after the jump", code)
	}
}
