package vmm

import (
	"testing"
	"time"

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
	}{
		{"syscall", "n=500", 500 - 1, false}, // the first delivery arms the gate
		{"syscall", "n=50", 50 - 1, true},
		{"higherhalf", "n=5", 0, false},
		{"sysenter", "n=50", 0, false},
		{"divzero", "n=50", 0, false},
		{"timer", "n=5", 0, false},
		{"forkwait", "n=3", 0, false},
	} {
		w, err := guest.Lookup(c.workload)
		if err != nil {
			t.Fatal(err)
		}
		img, err := w.LoadFor(false, DefaultMemSize)
		if err != nil {
			t.Fatal(err)
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
