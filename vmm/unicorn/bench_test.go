package unicorn

import "testing"

// benchLoop runs body followed by `loop` b.N times in one Start, then
// `int $0x81`, whose hook stops the run (until = 0: no until check is
// compiled into the blocks, pitfall 3). ns/op is the cost of one body plus
// one loop instruction.
func benchLoop(b *testing.B, body []byte, setup func(e *Engine)) {
	code := cat(body, []byte{0xe2, byte(0xfe - len(body))}, []byte{0xcd, 0x81}) // loop back to body; int $0x81
	e := newVM(b, code)
	if _, err := e.HookIntr(func(intno uint32) {
		if intno == 0x81 {
			e.Stop()
		}
	}); err != nil {
		b.Fatal(err)
	}
	if setup != nil {
		setup(e)
	}
	setReg(b, e, ECX, uint32(b.N))
	b.ResetTimer()
	if err := e.Start(codeAddr, 0, 0, 0); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if ecx, eip := reg(b, e, ECX), reg(b, e, EIP); ecx != 0 || eip != codeAddr+uint32(len(code)) {
		b.Fatalf("loop ended early: ECX = %d, EIP = %#x", ecx, eip)
	}
}

// Baseline: the loop instruction alone.
func BenchmarkLoopOnly(b *testing.B) { benchLoop(b, insNop, nil) }

// OUT with no hook installed (Unicorn drops it).
func BenchmarkOutNoHook(b *testing.B) { benchLoop(b, insOutAl80, nil) }

// OUT through HookOut: one C→Go callback per OUT.
func BenchmarkOutHook(b *testing.B) {
	n := 0
	benchLoop(b, insOutAl80, func(e *Engine) {
		if _, err := e.HookOut(func(port uint32, size int, value uint32) { n++ }); err != nil {
			b.Fatal(err)
		}
	})
	if n != b.N {
		b.Fatalf("%d OUTs seen, want %d", n, b.N)
	}
}

// int $0x80 through HookIntr.
func BenchmarkIntHook(b *testing.B) {
	n := 0
	benchLoop(b, insInt80, func(e *Engine) {
		if _, err := e.HookIntr(func(intno uint32) {
			if intno == 0x80 {
				n++
			}
		}); err != nil {
			b.Fatal(err)
		}
	})
	if n != b.N {
		b.Fatalf("%d ints seen, want %d", n, b.N)
	}
}

// A #DE handled in Go: read EIP, write EIP+2, ClearFault.
func BenchmarkFaultHandled(b *testing.B) {
	benchLoop(b, []byte{0xf7, 0xf3}, func(e *Engine) { // div %ebx (EBX = 0)
		if _, err := e.HookIntr(func(intno uint32) {
			if intno != 0 {
				return
			}
			eip, _ := e.Reg(EIP)
			e.SetReg(EIP, eip+2)
			e.ClearFault()
		}); err != nil {
			b.Fatal(err)
		}
	})
}

// The pitfall-1 workaround alone (context save + write + restore).
func BenchmarkClearFault(b *testing.B) {
	e := newVM(b, insNop)
	for b.Loop() {
		if err := e.ClearFault(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFaultInfo(b *testing.B) {
	e := newVM(b, insNop)
	for b.Loop() {
		if _, _, err := e.FaultInfo(); err != nil {
			b.Fatal(err)
		}
	}
}

// Per-instruction cost of the C instruction counter (nop + loop per op).
func BenchmarkCounter(b *testing.B) {
	var c *Counter
	benchLoop(b, insNop, func(e *Engine) {
		var err error
		if c, err = e.NewInsnCounter(0); err != nil {
			b.Fatal(err)
		}
	})
	if c.Count() != 2*uint64(b.N)+1 {
		b.Fatalf("counted %d, want %d", c.Count(), 2*b.N+1)
	}
}

// Per-instruction cost of a Go code hook, for comparison.
func BenchmarkGoCodeHook(b *testing.B) {
	benchLoop(b, insNop, func(e *Engine) {
		if _, err := e.HookCode(1, 0, func(uint64, uint32) {}); err != nil {
			b.Fatal(err)
		}
	})
}

func BenchmarkReg(b *testing.B) {
	e := newVM(b, insNop)
	for b.Loop() {
		if _, err := e.Reg(EAX); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRegs8(b *testing.B) {
	e := newVM(b, insNop)
	rs := []Reg{EAX, EBX, ECX, EDX, ESI, EDI, EBP, ESP}
	out := make([]uint32, len(rs))
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Regs(rs, out); err != nil {
			b.Fatal(err)
		}
	}
}

// Start re-entry with until = 0 on cached code (int $0x80 stops each run).
func BenchmarkStartReentry(b *testing.B) {
	code := cat(insNop, insInt80)
	e := newVM(b, code)
	if _, err := e.HookIntr(func(uint32) { e.Stop() }); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := e.Start(codeAddr, 0, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
}
