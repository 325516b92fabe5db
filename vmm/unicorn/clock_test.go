package unicorn

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// The clock tests end runs with `int $0x80` (stopOnInt80) and start them
// with until = 0: until is compiled into translated blocks (pitfall 3) and
// would add a block boundary of its own.

// loop100i is loop100 followed by int $0x80. Its translated blocks:
//
//	k = 1        0x1000  mov $100,%ecx; dec %ecx; jnz   (first iteration)
//	k = 2..100   0x1005  dec %ecx; jnz                  (ECX = 101-k at entry)
//	k = 101      0x1008  int $0x80
var loop100i = cat(loop100, insInt80)

const (
	loop100iBlocks = 101
	loopBody       = codeAddr + 5 // dec %ecx
	loopExit       = codeAddr + 8 // int $0x80
)

// blockStart returns where the k-th block of loop100i starts and ECX there
// (for k = 1, ECX is whatever the test preset: ecx0).
func blockStart(k uint64, ecx0 uint32) (eip, ecx uint32) {
	switch {
	case k == 1:
		return codeAddr, ecx0
	case k <= 100:
		return loopBody, uint32(101 - k)
	default:
		return loopExit, 0
	}
}

// handlerAddr holds a tiny "interrupt handler" the redirect tests send the
// guest to: it saves ECX in EBX, counts itself in EDI and returns to the
// address in EBP (one block).
const handlerAddr = 0x2000

var handler = cat(
	[]byte{0x89, 0xcb}, // mov %ecx,%ebx
	[]byte{0x47},       // inc %edi
	[]byte{0xff, 0xe5}, // jmp *%ebp
)

// newClockVM returns an engine running code with int $0x80 as the end, the
// handler at handlerAddr and ECX preset to 0xdead.
func newClockVM(t testing.TB, code []byte) *Engine {
	t.Helper()
	e := newVM(t, code)
	if err := e.MemWrite(handlerAddr, handler); err != nil {
		t.Fatal(err)
	}
	setReg(t, e, ECX, 0xdead)
	if _, err := e.HookIntr(func(intno uint32) {
		if intno == 0x80 {
			e.Stop()
		}
	}); err != nil {
		t.Fatal(err)
	}
	return e
}

func newClock(t testing.TB, e *Engine, begin, end uint64, fn func(uint64)) *BlockClock {
	t.Helper()
	if fn == nil {
		fn = func(uint64) {}
	}
	c, err := e.NewBlockClock(begin, end, func(now, _ uint64) { fn(now) })
	if err != nil {
		t.Fatalf("NewBlockClock: %v", err)
	}
	return c
}

func start(t testing.TB, e *Engine, at uint64) {
	t.Helper()
	if err := e.Start(at, 0, 0, 0); err != nil {
		t.Fatalf("Start at %#x: %v", at, err)
	}
}

// What one count is: one entry into a translated block starting in range.
func TestBlockClockCountsBlocks(t *testing.T) {
	nops := func(n int) []byte { return []byte(strings.Repeat("\x90", n)) }
	cases := []struct {
		name       string
		at         uint64 // where the code goes and the run starts
		code       []byte
		begin, end uint64
		want       uint64
		stop       uint64 // EIP after the run; 0: the end of the code
	}{
		{"straight line is one block", codeAddr, cat(insIncEAX, insIncEAX, insInt80), 1, 0, 1, 0},
		{"a jump ends a block", codeAddr, cat(insIncEAX, []byte{0xeb, 0x01}, insNop, insIncEAX, insInt80), 1, 0, 2, 0},
		// call f; int $0x80; f: ret -- call, ret and the return point.
		{"call and ret", codeAddr, cat([]byte{0xe8, 2, 0, 0, 0}, insInt80, []byte{0xc3}), 1, 0, 3, codeAddr + 7},
		// Chained blocks (TCG jumps between them without leaving
		// translated code) count one per execution.
		{"loop: chained blocks count each", codeAddr, loop100i, 1, 0, loop100iBlocks, 0},
		{"range: first block only", codeAddr, loop100i, codeAddr, codeAddr, 1, 0},
		{"range: loop body only", codeAddr, loop100i, loopBody, loopBody, 99, 0},
		{"range: inclusive end", codeAddr, loop100i, codeAddr + 1, loopBody, 99, 0},
		{"range: a block is counted by its start only", codeAddr, loop100i, codeAddr + 1, codeAddr + 4, 0, 0},
		{"range: no code there", codeAddr, loop100i, 0x8000, 0x8fff, 0, 0},
		// TCG puts at most 512 instructions into a block.
		{"512 instructions per block at most", codeAddr, cat(nops(1100), insInt80), 1, 0, 3, 0},
		// ... and about 4 KiB of code: 400 10-byte stores fit, 450 do not.
		{"4000 bytes fit in a block", codeAddr, cat(bytes.Repeat(insStore, 400), insInt80), 1, 0, 1, 0},
		{"4500 bytes do not", codeAddr, cat(bytes.Repeat(insStore, 450), insInt80), 1, 0, 2, 0},
		// A block may cross a page boundary: 0x1ff0 + 32 nops.
		{"page boundary does not end a block", 0x1ff0, cat(nops(32), insInt80), 1, 0, 1, 0},
		// sti ends its block, and the instruction in its interrupt shadow
		// is a block of its own: the next block start is the first
		// boundary where an interrupt may be taken.
		{"sti: the shadowed instruction is a block", codeAddr, cat(insNop, []byte{0xfb}, insNop, insNop, insInt80), 1, 0, 3, 0},
		// cli does not.
		{"cli does not end a block", codeAddr, cat(insNop, []byte{0xfa}, insNop, insInt80), 1, 0, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newClockVM(t, nil)
			if err := e.MemWrite(c.at, c.code); err != nil {
				t.Fatal(err)
			}
			clk := newClock(t, e, c.begin, c.end, nil)
			start(t, e, c.at)
			stop := c.stop
			if stop == 0 {
				stop = c.at + uint64(len(c.code))
			}
			if eip := reg(t, e, EIP); eip != uint32(stop) {
				t.Fatalf("run ended at %#x", eip)
			}
			if got := clk.Now(); got != c.want {
				t.Errorf("Now() = %d, want %d", got, c.want)
			}
			// Same code, cached translation: the same count again.
			start(t, e, c.at)
			if got := clk.Now(); got != 2*c.want {
				t.Errorf("after a second run Now() = %d, want %d", got, 2*c.want)
			}
		})
	}
}

// compute is guest/src/workloads/compute.s's loop: n iterations of 17
// instructions (one translated block each), then int $0x80. Blocks: the
// set-up block (which runs into the first iteration), n-1 loop blocks,
// the int block: n+1.
func compute(n uint32) []byte {
	body := cat(
		[]byte{0x43},             // 1: inc %ebx
		[]byte{0x89, 0xf0},       // mov %esi,%eax
		[]byte{0xc1, 0xe0, 0x0d}, // shl $13,%eax
		[]byte{0x31, 0xc6},       // xor %eax,%esi
		[]byte{0x89, 0xf0},       // mov %esi,%eax
		[]byte{0xc1, 0xe8, 0x11}, // shr $17,%eax
		[]byte{0x31, 0xc6},       // xor %eax,%esi
		[]byte{0x89, 0xf0},       // mov %esi,%eax
		[]byte{0xc1, 0xe0, 0x05}, // shl $5,%eax
		[]byte{0x31, 0xc6},       // xor %eax,%esi
		[]byte{0x6b, 0xff, 0x1f}, // imul $31,%edi,%edi
		[]byte{0x89, 0xf0},       // mov %esi,%eax
		[]byte{0x31, 0xd8},       // xor %ebx,%eax
		[]byte{0x01, 0xc7},       // add %eax,%edi
		[]byte{0xc1, 0xc7, 0x05}, // rol $5,%edi
		[]byte{0x49},             // dec %ecx
	)
	return cat(
		[]byte{0xb9, byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}, // mov $n,%ecx
		[]byte{0xbe, 0x78, 0x56, 0x34, 0x12},                              // mov $0x12345678,%esi
		[]byte{0x31, 0xff},                                                // xor %edi,%edi
		[]byte{0x31, 0xdb},                                                // xor %ebx,%ebx
		body,
		[]byte{0x75, byte(-(len(body) + 2))}, // jnz 1b
		insInt80,
	)
}

const computeInsnsPerIter = 17

// computeSum is compute's checksum (EDI), as guest/qemu_test.go has it.
func computeSum(n uint32) uint32 {
	x, sum := uint32(0x12345678), uint32(0)
	for i := uint32(1); i <= n; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		sum = sum*31 + (x ^ i)
		sum = sum<<5 | sum>>27
	}
	return sum
}

// The count is a pure function of the program: the same in a fresh engine
// and on cached code, with or without instruction hooks (which add no
// block boundaries), whatever the speed.
func TestBlockClockDeterministic(t *testing.T) {
	const n = 5000
	code := compute(n)
	for _, withCounter := range []bool{false, true} {
		var counts []uint64
		for i := range 2 { // two fresh engines
			t.Run(fmt.Sprintf("counter=%v,engine=%d", withCounter, i), func(t *testing.T) {
				e := newClockVM(t, code)
				clk := newClock(t, e, 1, 0, nil)
				var ctr *Counter
				if withCounter {
					var err error
					if ctr, err = e.NewInsnCounter(0); err != nil {
						t.Fatal(err)
					}
				}
				for range 2 { // twice in the same engine: cached translation
					before := clk.Now()
					start(t, e, codeAddr)
					counts = append(counts, clk.Now()-before)
					if sum := reg(t, e, EDI); sum != computeSum(n) {
						t.Fatalf("checksum %#x, want %#x", sum, computeSum(n))
					}
				}
				if ctr != nil {
					if want := uint64(2 * (4 + n*computeInsnsPerIter + 1)); ctr.Count() != want {
						t.Errorf("instructions %d, want %d", ctr.Count(), want)
					}
				}
			})
		}
		for i, got := range counts {
			if got != n+1 {
				t.Errorf("counter %v, run %d: %d blocks, want %d", withCounter, i, got, n+1)
			}
		}
	}
}

// fn runs at the start of the deadline's block with EIP there; the deadline
// is level-triggered.
func TestBlockClockDeadline(t *testing.T) {
	type call struct {
		now      uint64
		eip, ecx uint32
	}
	cases := []struct {
		name     string
		deadline uint64
		rearm    func(now uint64) uint64 // the deadline fn sets; nil: leave it
		want     []uint64                // nows fn saw
	}{
		{"first block", 1, disarm, []uint64{1}},
		{"in the loop", 50, disarm, []uint64{50}},
		{"last block", 101, disarm, []uint64{101}},
		{"beyond the run", 102, disarm, nil},
		{"never", math.MaxUint64, disarm, nil},
		{"deadline 0 fires at the first block", 0, disarm, []uint64{1}},
		{"periodic: SetDeadline from fn", 10, func(now uint64) uint64 { return now + 10 }, []uint64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}},
		{"level-triggered: left in the past", 98, nil, []uint64{98, 99, 100, 101}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newClockVM(t, loop100i)
			var clk *BlockClock
			var calls []call
			clk = newClock(t, e, 1, 0, func(now uint64) {
				if clk.Now() != now {
					t.Errorf("fn(%d) but Now() = %d", now, clk.Now())
				}
				calls = append(calls, call{now, reg(t, e, EIP), reg(t, e, ECX)})
				if c.rearm != nil {
					clk.SetDeadline(c.rearm(now))
				}
			})
			if clk.Deadline() != math.MaxUint64 {
				t.Errorf("initial deadline %d, want never", clk.Deadline())
			}
			clk.SetDeadline(c.deadline)
			start(t, e, codeAddr)
			if clk.Now() != loop100iBlocks || reg(t, e, ECX) != 0 {
				t.Errorf("Now() %d ECX %d after the run", clk.Now(), reg(t, e, ECX))
			}
			var nows []uint64
			for _, cl := range calls {
				nows = append(nows, cl.now)
				// EIP is the block's first instruction, and none of the
				// block has run yet (ECX as at the block's entry).
				if eip, ecx := blockStart(cl.now, 0xdead); cl.eip != eip || cl.ecx != ecx {
					t.Errorf("fn(%d) saw EIP %#x ECX %d, want %#x %d", cl.now, cl.eip, cl.ecx, eip, ecx)
				}
			}
			if !equal(nows, c.want) {
				t.Errorf("fn called at %v, want %v", nows, c.want)
			}
		})
	}
}

func disarm(uint64) uint64 { return math.MaxUint64 }

// Writing EIP in fn: execution continues at the new EIP and none of the
// interrupted block runs; the interrupted block was counted, and counts
// again when re-entered. A Stop in the same fn is honoured on Unicorn 2.1
// (2.0.1 cancelled it: pitfall 6): the run ends at the new EIP, before any
// of the handler runs, and a restart there finishes the same way.
func TestBlockClockRedirect(t *testing.T) {
	for _, k := range []uint64{1, 2, 50, 101} {
		for _, alsoStop := range []bool{false, true} {
			t.Run(fmt.Sprintf("k=%d,stop=%v", k, alsoStop), func(t *testing.T) {
				e := newClockVM(t, loop100i)
				var clk *BlockClock
				fired := 0
				clk = newClock(t, e, 1, 0, func(now uint64) {
					fired++
					clk.SetDeadline(math.MaxUint64)
					eip := reg(t, e, EIP)
					setReg(t, e, EBP, eip) // the handler returns here
					setReg(t, e, EIP, handlerAddr)
					if alsoStop {
						e.Stop()
					}
				})
				clk.SetDeadline(k)
				start(t, e, codeAddr)
				if alsoStop {
					if eip, edi := reg(t, e, EIP), reg(t, e, EDI); fired != 1 || eip != handlerAddr || edi != 0 {
						t.Fatalf("after fn with Stop: fired %d, EIP %#x EDI %d; want 1, %#x, 0 (stopped at the new EIP, handler not run)", fired, eip, edi, handlerAddr)
					}
					start(t, e, handlerAddr)
				}
				_, ecxAtK := blockStart(k, 0xdead)
				// EBX: ECX as the handler saw it, i.e. the interrupted block did
				// not run before the handler. The run then completed normally
				// (the handler went back to the interrupted block), with one
				// detour (EDI) and two extra blocks: the handler's, and the
				// interrupted block entered a second time.
				ebx, edi, ecx, eip := reg(t, e, EBX), reg(t, e, EDI), reg(t, e, ECX), reg(t, e, EIP)
				if fired != 1 || ebx != ecxAtK || edi != 1 || ecx != 0 || eip != loopExit+2 || clk.Now() != loop100iBlocks+2 {
					t.Errorf("fired %d, EBX %d (want %d), EDI %d, ECX %d, EIP %#x, Now %d (want %d)",
						fired, ebx, ecxAtK, edi, ecx, eip, clk.Now(), loop100iBlocks+2)
				}
			})
		}
	}
}

// Writing EIP with its own value also leaves the block before it runs and
// re-enters it: one extra count, no other effect.
func TestBlockClockSameEIPWrite(t *testing.T) {
	e := newClockVM(t, loop100i)
	var clk *BlockClock
	var nows []uint64
	clk = newClock(t, e, 1, 0, func(now uint64) {
		nows = append(nows, now)
		clk.SetDeadline(math.MaxUint64)
		setReg(t, e, EIP, reg(t, e, EIP))
	})
	clk.SetDeadline(50)
	start(t, e, codeAddr)
	if !equal(nows, []uint64{50}) || clk.Now() != loop100iBlocks+1 || reg(t, e, ECX) != 0 {
		t.Errorf("fn at %v, Now %d, ECX %d; want [50], %d, 0", nows, clk.Now(), loop100iBlocks+1, reg(t, e, ECX))
	}
}

// Stop in fn: Start returns before the block runs, EIP at its start. A
// restart enters the block again and counts it again; if the deadline was
// left in the past, fn runs again there.
func TestBlockClockStop(t *testing.T) {
	for _, k := range []uint64{1, 2, 50, 100, 101} {
		for _, rearm := range []bool{true, false} {
			t.Run(fmt.Sprintf("k=%d,rearm=%v", k, rearm), func(t *testing.T) {
				e := newClockVM(t, loop100i)
				var clk *BlockClock
				var nows []uint64
				clk = newClock(t, e, 1, 0, func(now uint64) {
					nows = append(nows, now)
					if rearm || len(nows) > 1 {
						clk.SetDeadline(math.MaxUint64)
					}
					if len(nows) == 1 {
						e.Stop()
					}
				})
				clk.SetDeadline(k)
				start(t, e, codeAddr)
				wantEIP, wantECX := blockStart(k, 0xdead)
				if eip, ecx := reg(t, e, EIP), reg(t, e, ECX); eip != wantEIP || ecx != wantECX || clk.Now() != k {
					t.Fatalf("stopped at EIP %#x ECX %d Now %d, want %#x %d %d", eip, ecx, clk.Now(), wantEIP, wantECX, k)
				}
				start(t, e, uint64(wantEIP))
				want := []uint64{k}
				if !rearm {
					want = append(want, k+1)
				}
				if !equal(nows, want) || clk.Now() != loop100iBlocks+1 || reg(t, e, ECX) != 0 {
					t.Errorf("fn at %v (want %v), Now %d (want %d), ECX %d",
						nows, want, clk.Now(), loop100iBlocks+1, reg(t, e, ECX))
				}
			})
		}
	}
}

// Set jumps time without calling fn; the next block sees Set's value + 1.
// math.MaxUint64 as deadline never fires, even when Now() reaches it.
func TestBlockClockSet(t *testing.T) {
	e := newClockVM(t, loop100i)
	var clk *BlockClock
	var nows []uint64
	clk = newClock(t, e, 1, 0, func(now uint64) {
		nows = append(nows, now)
		if now == 503 {
			clk.Set(now + 1000) // skip forward from inside fn
		}
		clk.SetDeadline(now + 1)
	})
	clk.Set(500)
	clk.SetDeadline(400)
	if len(nows) != 0 || clk.Now() != 500 || clk.Deadline() != 400 {
		t.Fatalf("Set/SetDeadline: calls %v Now %d Deadline %d", nows, clk.Now(), clk.Deadline())
	}
	start(t, e, codeAddr)
	if len(nows) != loop100iBlocks || nows[0] != 501 || nows[2] != 503 || nows[3] != 1504 || clk.Now() != 500+1000+loop100iBlocks {
		t.Errorf("fn at %v..., Now %d", nows[:min(5, len(nows))], clk.Now())
	}

	nows = nil
	clk.SetDeadline(math.MaxUint64)
	clk.Set(math.MaxUint64 - 1)
	start(t, e, loopExit) // one block: Now reaches MaxUint64
	if clk.Now() != math.MaxUint64 || len(nows) != 0 {
		t.Errorf("Now %d, fn at %v; want MaxUint64 and no call", clk.Now(), nows)
	}
}

// A Stop requested outside the clock (here an OUT hook, which only takes
// effect after its block) is pending when the next block starts: Unicorn
// skips block hooks then, so the block is counted once, when the restart
// enters it. A Counter's budget stop, by contrast, stops in the middle of
// a block: the restart begins a new block there, which counts.
func TestBlockClockOtherStops(t *testing.T) {
	t.Run("pending stop", func(t *testing.T) {
		code := cat(
			insOutAl80, insIncEAX, []byte{0xeb, 0x00}, // 0x1000: out; inc; jmp 0x1005
			insIncEAX, insInt80, // 0x1005: inc; int $0x80
		)
		e := newClockVM(t, code)
		clk := newClock(t, e, 1, 0, nil)
		if _, err := e.HookOut(func(uint32, int, uint32) { e.Stop() }); err != nil {
			t.Fatal(err)
		}
		start(t, e, codeAddr)
		if eip, eax := reg(t, e, EIP), reg(t, e, EAX); eip != codeAddr+5 || eax != 1 || clk.Now() != 1 {
			t.Fatalf("stopped at EIP %#x EAX %d Now %d, want 0x1005 1 1", eip, eax, clk.Now())
		}
		start(t, e, codeAddr+5)
		if clk.Now() != 2 || reg(t, e, EAX) != 2 {
			t.Errorf("Now %d EAX %d, want 2 2", clk.Now(), reg(t, e, EAX))
		}
	})
	t.Run("budget stop mid-block", func(t *testing.T) {
		e := newClockVM(t, loop100i)
		clk := newClock(t, e, 1, 0, nil)
		ctr, err := e.NewInsnCounter(2) // mov, dec; stop before jnz
		if err != nil {
			t.Fatal(err)
		}
		start(t, e, codeAddr)
		if eip := reg(t, e, EIP); eip != codeAddr+6 || clk.Now() != 1 {
			t.Fatalf("stopped at %#x Now %d", eip, clk.Now())
		}
		ctr.SetBudget(0)
		start(t, e, codeAddr+6)
		if clk.Now() != loop100iBlocks+1 || reg(t, e, ECX) != 0 {
			t.Errorf("Now %d ECX %d, want %d 0", clk.Now(), reg(t, e, ECX), loop100iBlocks+1)
		}
	})
}

// A clock added after code was translated still counts every block: the
// constructor drops translated code between runs.
func TestBlockClockAfterTranslation(t *testing.T) {
	e := newClockVM(t, loop100i)
	start(t, e, codeAddr) // translates every block without the hook
	clk := newClock(t, e, 1, 0, nil)
	ctr, err := e.NewInsnCounterRange(loopBody, loopBody+1, 0)
	if err != nil {
		t.Fatal(err)
	}
	start(t, e, codeAddr)
	// dec and jnz run 100 times each (the first time inside block 1).
	if clk.Now() != loop100iBlocks || ctr.Count() != 200 {
		t.Errorf("Now %d, loop-body instructions %d; want %d, 200", clk.Now(), ctr.Count(), loop100iBlocks)
	}
}

func TestBlockClockDelAndClose(t *testing.T) {
	e := newClockVM(t, loop100i)
	var clk *BlockClock
	other := newClock(t, e, 1, 0, nil)
	calls := 0
	clk = newClock(t, e, 1, 0, func(now uint64) {
		calls++
		if err := clk.Del(); err != nil { // from inside fn
			t.Error(err)
		}
	})
	clk.SetDeadline(10)
	start(t, e, codeAddr)
	if calls != 1 || clk.Now() != 10 || clk.Deadline() != 10 || other.Now() != loop100iBlocks {
		t.Errorf("calls %d, deleted clock Now %d Deadline %d, other clock %d", calls, clk.Now(), clk.Deadline(), other.Now())
	}
	if err := clk.Del(); err != nil {
		t.Errorf("second Del: %v", err)
	}
	clk.Set(7) // no effect on a deleted clock
	clk.SetDeadline(8)
	if clk.Now() != 10 || clk.Deadline() != 10 {
		t.Errorf("deleted clock changed: %d %d", clk.Now(), clk.Deadline())
	}
	start(t, e, codeAddr)
	if calls != 1 || other.Now() != 2*loop100iBlocks {
		t.Errorf("calls %d other %d", calls, other.Now())
	}
	if _, err := e.NewBlockClock(1, 0, nil); !errors.Is(err, ErrArg) {
		t.Errorf("nil fn: %v, want ErrArg", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if other.Now() != 2*loop100iBlocks {
		t.Errorf("Now after Close = %d", other.Now())
	}
	if err := other.Del(); err != nil {
		t.Errorf("Del after Close: %v", err)
	}
	if _, err := e.NewBlockClock(1, 0, func(uint64, uint64) {}); !errors.Is(err, ErrHandle) {
		t.Errorf("NewBlockClock after Close: %v, want ErrHandle", err)
	}
}

func TestBlockClockPanic(t *testing.T) {
	e := newClockVM(t, loop100i)
	var clk *BlockClock
	clk = newClock(t, e, 1, 0, func(now uint64) {
		clk.SetDeadline(math.MaxUint64)
		panic("tick")
	})
	clk.SetDeadline(5)
	err := e.Start(codeAddr, 0, 0, 0)
	var pe *CallbackPanicError
	if !errors.As(err, &pe) || pe.Hook != "block-clock" || pe.Value != "tick" {
		t.Fatalf("Start = %v, want a block-clock *CallbackPanicError", err)
	}
	// Stopped at the 5th block, before it ran; the engine stays usable.
	eip, ecx := blockStart(5, 0)
	if reg(t, e, EIP) != eip || reg(t, e, ECX) != ecx {
		t.Errorf("after the panic EIP %#x ECX %d, want %#x %d", reg(t, e, EIP), reg(t, e, ECX), eip, ecx)
	}
	start(t, e, uint64(eip))
	if reg(t, e, ECX) != 0 || clk.Now() != loop100iBlocks+1 {
		t.Errorf("after restart ECX %d Now %d", reg(t, e, ECX), clk.Now())
	}
}

// Start's until is compiled into translated code (pitfall 3): the block at
// until is never entered, so it is not counted.
func TestBlockClockUntil(t *testing.T) {
	e := newClockVM(t, loop100i)
	clk := newClock(t, e, 1, 0, nil)
	if err := e.Start(codeAddr, loopExit, 0, 0); err != nil {
		t.Fatal(err)
	}
	if eip := reg(t, e, EIP); eip != loopExit || clk.Now() != loop100iBlocks-1 {
		t.Errorf("EIP %#x Now %d, want %#x %d", eip, clk.Now(), loopExit, loop100iBlocks-1)
	}
}

// fn gets the address of the block about to run, which EIP is not when the
// block is entered through a chained branch.
func TestBlockClockAddr(t *testing.T) {
	code := []byte{
		0xB9, 0x05, 0x00, 0x00, 0x00, // mov $5,%ecx        (block 1 starts here)
		0x49,       //                   L: dec %ecx          (blocks 2.. start here)
		0x75, 0xFD, //                   jnz L
		0xCD, 0x80, //                   int $0x80
	}
	e := newClockVM(t, code)
	var addrs []uint64
	c, err := e.NewBlockClock(1, 0, func(now, addr uint64) {
		addrs = append(addrs, addr)
	})
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(1) // fire at every block
	if err := e.Start(codeAddr, 0, time.Second, 0); err != nil {
		t.Fatal(err)
	}
	want := []uint64{codeAddr, codeAddr + 5, codeAddr + 5, codeAddr + 5, codeAddr + 5, codeAddr + 8}
	if fmt.Sprint(addrs) != fmt.Sprint(want) {
		t.Errorf("block addresses %#x, want %#x", addrs, want)
	}
}
