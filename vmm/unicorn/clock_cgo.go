package unicorn

/*
#include <stdint.h>
#include "shim.h"
*/
import "C"

import "fmt"

// BlockClock counts executed translated blocks in C (a UC_HOOK_BLOCK hook;
// no Go per block). When the count reaches the deadline, the hook calls fn
// (one Go crossing) at that block's start, which is an instruction
// boundary: fn may write EIP (redirect, e.g. deliver an interrupt), Stop, or
// set a new deadline. The count is incremented before the deadline check,
// i.e. "now" at the start of the k-th block executed is k.
//
// # What counts as a block
//
// One count is one entry into a translated block (TB) of Unicorn's TCG
// whose first instruction lies in [begin, end]; a block is counted by its
// start address only, however far it runs. Unicorn (QEMU's i386
// translator) ends a block after a control transfer (jmp, jcc, call, ret,
// loop, int, iret, ...), after 512 instructions or about 4 KiB of code (a
// block may cross a page boundary), and after instructions that change
// translation flags. sti ends its block and the one instruction in its
// interrupt shadow is a block of its own, so the block start after it is
// the first boundary where an interrupt may be taken; cli does not end a
// block. Consequences, each pinned by a test:
//
//   - Chained blocks count each: a loop whose body is one block counts one
//     per iteration, even though TCG jumps from block to block without
//     leaving translated code.
//   - A block is counted each time it is entered: after a Stop/Start
//     restart, after an interrupt hook or fn redirected EIP and the guest
//     came back, after a code hook stopped in the middle of a block (the
//     restart begins a new block at that instruction).
//   - A block whose start fn cancelled (by writing EIP or calling Stop) has
//     been counted although none of its instructions ran; re-entering it
//     later counts it again.
//   - When a Stop requested elsewhere (e.g. an OUT hook, whose Stop only
//     takes effect after its block) is pending as the next block starts,
//     Unicorn skips block hooks: that block is counted once, when the
//     restart enters it.
//   - Instruction hooks (Counter, HookCode) do not change block boundaries.
//     Start's until does: the block at until is never entered, so it is not
//     counted (pitfall 3; use until = 0 and stop from a hook).
//
// For a given guest program and a given sequence of VMM actions (stops,
// redirections) the count is therefore a pure function of the program:
// the same code gives the same count run after run, whatever the speed of
// the host.
//
// # The deadline
//
// fn is called at the start of every counted block while Now() >= Deadline()
// (level-triggered), so fn normally moves the deadline (SetDeadline) or
// disarms it (math.MaxUint64, the default: never). fn runs on the Start
// goroutine, inside the block hook, at the block's first instruction (addr):
//
//   - SetReg(EIP, x) makes execution continue at x; none of the block's
//     instructions run. (Writing EIP, even to its current value, re-enters
//     through a new block, which is counted.)
//   - Stop makes Start return before any instruction of the block runs, with
//     EIP at the block's first instruction. A later Start at that EIP enters
//     the block again and counts it again, so fn runs again if the deadline
//     was left in the past.
//   - Writing EIP and calling Stop in the same fn: the EIP write cancels the
//     stop (pitfall 6).
//   - SetDeadline, Set and Del may be called from fn.
//
// A panic in fn is recovered like in the other hooks: the emulation stops
// (before the block runs) and Start returns a *CallbackPanicError.
//
// # Cost
//
// About 1–2.5 ns per counted block (BenchmarkBlockClock*), almost all of it
// Unicorn's block-hook call itself: an empty C callback costs the same. On
// the compute workload's loop (17 ALU instructions per block, ~2.5 ns per
// block without hooks) that makes runs 1.5–1.8× slower; on a 2-instruction
// loop 1.5–1.8× too. A deleted clock costs nothing.
type BlockClock struct {
	e      *Engine
	c      *C.vs_clock // nil after Del or Engine.Close
	handle uint32      // registry handle of fn
	// Values kept after Del so that late reads still make sense.
	finalNow, finalDeadline uint64
	finalDone               bool
}

// NewBlockClock installs a block clock. fn receives the time and the
// address of the block about to run: use addr, not EIP, for where the guest
// is — Unicorn does not store EIP when it enters a block through a chained
// branch, so EIP read in fn can be the address of an earlier block.
//
// NewBlockClock installs a block clock on the blocks starting in
// [begin, end] (both inclusive; begin > end means every address, as for
// HookBlock) with time 0 and no deadline. fn must not be nil.
//
// Called between runs, it drops all translated code (UC_CTL_TB_FLUSH) so
// that the hook is compiled into every block from the next Start on. Called
// from inside a callback it cannot do that safely: blocks translated before
// then are not counted until RemoveCache.
func (e *Engine) NewBlockClock(begin, end uint64, fn func(now, addr uint64)) (*BlockClock, error) {
	return e.newBlockClock(begin, end, fn, true)
}

// NewBlockClockKeep is NewBlockClock without the flush of all translated
// code: the caller drops the translations of [begin, end] itself
// (RemoveCache, which costs far less than a whole-buffer flush) before the
// next Start, or blocks translated earlier run without the clock.
func (e *Engine) NewBlockClockKeep(begin, end uint64, fn func(now, addr uint64)) (*BlockClock, error) {
	return e.newBlockClock(begin, end, fn, false)
}

func (e *Engine) newBlockClock(begin, end uint64, fn func(now, addr uint64), flush bool) (*BlockClock, error) {
	if e.uc == nil {
		return nil, errClosed("new block clock")
	}
	if fn == nil {
		return nil, fmt.Errorf("unicorn: new block clock: nil callback: %w", ErrArg)
	}
	c := C.vs_clock_new()
	if c == nil {
		return nil, fmt.Errorf("unicorn: new block clock: %w", ErrNoMem)
	}
	handle := register(&entry{eng: e, kind: kindClock, clock: fn})
	c.handle = C.uintptr_t(handle)
	if err := ucErr(C.vs_clock_add(e.uc, c, C.uint64_t(begin), C.uint64_t(end))); err != nil {
		unregister(handle)
		C.vs_clock_free(c)
		return nil, fmt.Errorf("unicorn: new block clock [%#x, %#x]: %w", begin, end, err)
	}
	clk := &BlockClock{e: e, c: c, handle: handle}
	e.clocks[clk] = struct{}{}
	if !flush {
		return clk, nil
	}
	if err := e.flushIfIdle(); err != nil {
		_ = clk.Del() // the flush error is the one to report
		return nil, fmt.Errorf("unicorn: new block clock: %w", err)
	}
	return clk, nil
}

// Now returns the number of blocks counted so far (plus whatever Set
// added).
func (c *BlockClock) Now() uint64 {
	if c.c == nil {
		return c.finalNow
	}
	return uint64(c.c.now)
}

// Set jumps the time to now (e.g. hlt skips forward to the next event). It
// does not call fn by itself: the next counted block sees now+1 and calls fn
// if that reaches the deadline.
func (c *BlockClock) Set(now uint64) {
	if c.c == nil {
		return
	}
	c.c.now = C.uint64_t(now)
}

// SetDeadline makes the clock call fn at the start of every counted block
// while Now() >= at; math.MaxUint64 means never (the default).
func (c *BlockClock) SetDeadline(at uint64) {
	if c.c == nil {
		return
	}
	c.c.deadline = C.uint64_t(at)
}

// Deadline returns the current deadline (math.MaxUint64 = none).
func (c *BlockClock) Deadline() uint64 {
	if c.c == nil {
		return c.finalDeadline
	}
	return uint64(c.c.deadline)
}

// Del removes the clock's hook; fn is not called any more. Now and Deadline
// keep their last values. Deleting from inside a hook (fn included) is
// allowed.
//
// Code translated while the hook existed keeps a (now cheap) check for
// block hooks: measured ~2% on compute. Called between runs, Del therefore
// also drops translated code, so that a deleted clock costs nothing
// (BenchmarkBlockClockComputeDeleted: 1.00); from inside a callback it
// cannot, and the residue lasts until retranslation.
func (c *BlockClock) Del() error {
	if c.c == nil {
		if c.finalDone {
			return nil
		}
		return fmt.Errorf("unicorn: block clock del: engine is closed: %w", ErrHandle)
	}
	e := c.e
	c.finalNow, c.finalDeadline, c.finalDone = uint64(c.c.now), uint64(c.c.deadline), true
	err := ucErr(C.uc_hook_del(e.uc, c.c.hh))
	unregister(c.handle)
	if e.running {
		// The running translated code may still reach the hook list this
		// instant (fn itself may be the caller); free after Start returns.
		e.pendingClocks = append(e.pendingClocks, c.c)
	} else {
		C.vs_clock_free(c.c)
	}
	delete(e.clocks, c)
	c.c = nil
	c.e = nil
	if err == nil {
		err = e.flushIfIdle()
	}
	if err != nil {
		return fmt.Errorf("unicorn: block clock del: %w", err)
	}
	return nil
}

// flushIfIdle drops all translated blocks when no emulation is running, so
// that a hook just added is compiled into every block and a hook just
// deleted leaves nothing behind. Inside a callback a flush would free the
// code being executed, so it is skipped there. An engine that never ran
// has translated nothing, and the flush is skipped too: on a fresh engine
// UC_CTL_TB_FLUSH first allocates and touches the whole code buffer
// (hundreds of milliseconds and that much RSS for nothing).
func (e *Engine) flushIfIdle() error {
	if e.running || !e.started {
		return nil
	}
	e.flushRegs()
	if err := ucErr(C.vs_flush_tb(e.uc)); err != nil {
		return fmt.Errorf("flush translated code: %w", err)
	}
	return nil
}

// FlushTranslations drops every translated block, so that hooks added or
// deleted since are compiled in (or out) everywhere (HookMemAccess). It
// cannot run inside a callback, which executes translated code: stop the
// engine and flush between runs.
func (e *Engine) FlushTranslations() error {
	if e.running {
		return fmt.Errorf("unicorn: flush translations: %w: the engine is running (flush between runs)", ErrArg)
	}
	return e.flushIfIdle()
}

//export virtsimUcClock
func virtsimUcClock(handle C.uintptr_t, now, addr C.uint64_t) {
	ent := live(handle)
	if ent == nil {
		return
	}
	defer func() {
		ent.eng.depth--
		if r := recover(); r != nil {
			ent.recovered(r)
		}
	}()
	ent.clock(uint64(now), uint64(addr))
}

// WatchIF asks the clock to call its function at the start of the first
// block that begins with EFLAGS.IF set (then the watch ends by itself):
// how a machine with an interrupt pending and IF clear finds the first
// boundary where it may deliver it, without stepping every instruction.
// QEMU ends a translated block after each instruction that can set IF
// (sti, popf, iret), so no such boundary is missed.
func (clk *BlockClock) WatchIF(on bool) {
	if clk.c == nil {
		return
	}
	if on {
		clk.c.watch_if = 1
	} else {
		clk.c.watch_if = 0
	}
}

// Watching reports whether a WatchIF is in force (state a saved VM keeps).
func (clk *BlockClock) Watching() bool { return clk.c != nil && clk.c.watch_if != 0 }

// IFOpened reports (and clears) that the watch found IF set, with the end
// address of the block that ran just before (where the instruction that
// set IF ends).
func (clk *BlockClock) IFOpened() (after uint64, ok bool) {
	if clk.c == nil || clk.c.if_opened == 0 {
		return 0, false
	}
	clk.c.if_opened = 0
	return uint64(clk.c.opened_after), true
}
