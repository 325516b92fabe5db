package unicorn

import (
	"testing"
	"time"
)

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

// benchClock runs the same guest code in two engines, one without hooks
// and one with a BlockClock over guest RAM whose deadline never comes, and
// reports the time ratio clock/none (issue 3 asks for < 1.10 on compute)
// and the extra time per block. Each op is one run in each engine,
// alternating which goes first; both are warmed up first, so translation
// is not measured. insns and blocks are what one run executes. With
// deleted, the clock is deleted after the warm-up: what a clock that is
// switched off costs.
func benchClock(b *testing.B, code []byte, insns, blocks uint64, deleted bool, check func(e *Engine)) {
	plain := newClockVM(b, code)
	clocked := newClockVM(b, code)
	clk := newClock(b, clocked, memBase, memBase+memSize-1, func(now uint64) { b.Errorf("fn called at %d", now) })
	start(b, plain, codeAddr) // warm-up: translate
	start(b, clocked, codeAddr)
	if deleted {
		if err := clk.Del(); err != nil {
			b.Fatal(err)
		}
		start(b, clocked, codeAddr) // translate again, without the hook
	}
	var none, with time.Duration
	runs := uint64(1)
	for b.Loop() {
		order := []*Engine{plain, clocked}
		if runs%2 == 0 {
			order[0], order[1] = clocked, plain
		}
		for _, e := range order {
			t0 := time.Now()
			start(b, e, codeAddr)
			if d := time.Since(t0); e == plain {
				none += d
			} else {
				with += d
			}
		}
		runs++
	}
	b.StopTimer()
	n := float64(runs - 1)
	b.ReportMetric(float64(with)/float64(none), "clock/none")
	b.ReportMetric(float64(none)/n/float64(insns), "ns/insn-none")
	b.ReportMetric(float64(with)/n/float64(insns), "ns/insn-clock")
	b.ReportMetric(float64(with-none)/n/float64(blocks), "ns/block-extra")
	want := runs * blocks
	if deleted {
		want = blocks // the warm-up run
	}
	if got := clk.Now(); got != want {
		b.Errorf("clock counted %d blocks, want %d", got, want)
	}
	if check != nil {
		check(plain)
		check(clocked)
	}
}

// compute's loop (17 ALU instructions per block), ~1e7 instructions per run.
func benchCompute(b *testing.B, deleted bool) {
	const n = 600_000
	benchClock(b, compute(n), 4+n*computeInsnsPerIter+1, n+1, deleted, func(e *Engine) {
		if sum := reg(b, e, EDI); sum != computeSum(n) {
			b.Fatalf("checksum %#x, want %#x", sum, computeSum(n))
		}
	})
}

// The issue-3 measurement: a live clock on the compute workload's loop.
func BenchmarkBlockClockCompute(b *testing.B) { benchCompute(b, false) }

// The same with the clock deleted between runs: a switched-off clock
// costs nothing (Del drops the translated code that checks for it).
func BenchmarkBlockClockComputeDeleted(b *testing.B) { benchCompute(b, true) }

// Worst case: a 2-instruction loop (dec; jnz), one block per 2
// instructions, 1e7 instructions per run.
func BenchmarkBlockClockTightLoop(b *testing.B) {
	n := uint32(5_000_000)
	code := cat([]byte{0xb9, byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}, // mov $n,%ecx
		[]byte{0x49, 0x75, 0xfd}, // 1: dec %ecx; jnz 1b
		insInt80)
	benchClock(b, code, 1+2*uint64(n)+1, uint64(n)+1, false, func(e *Engine) {
		if ecx := reg(b, e, ECX); ecx != 0 {
			b.Fatalf("ECX = %d", ecx)
		}
	})
}
