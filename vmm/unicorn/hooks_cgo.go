package unicorn

/*
#include <stdint.h>
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"runtime/debug"
	"unsafe"
)

// ---- exported trampolines (called from shim.c) ----
//
// Each one finds its entry through the integer handle, runs the callback
// and recovers a panic: a Go panic must not unwind through Unicorn's C
// frames (that kills the process), so it is recorded on the Engine, the
// emulation is stopped and Start returns a *CallbackPanicError. Once an
// engine has a pending panic, further callbacks (e.g. the rest of a
// translated block) are skipped and answer "not handled".

// recovered records a callback panic and stops the emulation.
func (ent *entry) recovered(r any) {
	e := ent.eng
	if e.panicErr == nil {
		e.panicErr = &CallbackPanicError{Hook: ent.kind.String(), Value: r, Stack: string(debug.Stack())}
	}
	if e.uc != nil {
		C.uc_emu_stop(e.uc)
	}
}

// live returns the entry for handle if it exists and its engine has no
// pending panic.
func live(handle C.uintptr_t) *entry {
	ent := lookup(uintptr(handle))
	if ent == nil || ent.eng.panicErr != nil {
		return nil
	}
	// A new stop: the CPU has moved on since the last snapshot, and C
	// may have emulated cli/sti on its own (fast_cgo.go).
	ent.eng.fastEnter()
	ent.eng.forgetRegs()
	ent.eng.depth++ // the caller's deferred function decrements it
	return ent
}

//export virtsimUcIntr
func virtsimUcIntr(handle C.uintptr_t, intno C.uint32_t) {
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
	ent.intr(uint32(intno))
}

//export virtsimUcIn
func virtsimUcIn(handle C.uintptr_t, port C.uint32_t, size C.int) (v C.uint32_t) {
	ent := live(handle)
	if ent == nil {
		return 0
	}
	defer func() {
		ent.eng.depth--
		if r := recover(); r != nil {
			ent.recovered(r)
			v = 0
		}
	}()
	return C.uint32_t(ent.in(uint32(port), int(size)))
}

//export virtsimUcOut
func virtsimUcOut(handle C.uintptr_t, port C.uint32_t, size C.int, value C.uint32_t) {
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
	ent.out(uint32(port), int(size), uint32(value))
}

// predicate runs a func() bool callback (cpuid, insn-invalid).
func predicate(handle C.uintptr_t) (ok C.int) {
	ent := live(handle)
	if ent == nil {
		return 0
	}
	defer func() {
		ent.eng.depth--
		if r := recover(); r != nil {
			ent.recovered(r)
			ok = 0
		}
	}()
	if ent.pred() {
		return 1
	}
	return 0
}

//export virtsimUcCPUID
func virtsimUcCPUID(handle C.uintptr_t) C.int { return predicate(handle) }

//export virtsimUcInsnInvalid
func virtsimUcInsnInvalid(handle C.uintptr_t) C.int { return predicate(handle) }

//export virtsimUcMem
func virtsimUcMem(handle C.uintptr_t, typ C.int, addr C.uint64_t, size C.int, value C.int64_t) (ok C.int) {
	ent := live(handle)
	if ent == nil {
		return 0
	}
	defer func() {
		ent.eng.depth--
		if r := recover(); r != nil {
			ent.recovered(r)
			ok = 0
		}
	}()
	if ent.mem(MemAccess(typ), uint64(addr), int(size), int64(value)) {
		return 1
	}
	return 0
}

//export virtsimUcCode
func virtsimUcCode(handle C.uintptr_t, addr C.uint64_t, size C.uint32_t) {
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
	ent.code(uint64(addr), uint32(size))
}

// ---- hook installation ----

// addHook registers ent, installs the C hook with add and records it on
// the engine.
func (e *Engine) addHook(ent *entry, add func(hh *C.uc_hook, handle C.uintptr_t) C.uc_err) (Hook, error) {
	if e.uc == nil {
		return Hook{}, errClosed("hook add " + ent.kind.String())
	}
	ent.eng = e
	handle := register(ent)
	var hh C.uc_hook
	if err := ucErr(add(&hh, C.uintptr_t(handle))); err != nil {
		unregister(handle)
		return Hook{}, fmt.Errorf("unicorn: hook add %v: %w", ent.kind, err)
	}
	e.hooks[handle] = hh
	return Hook{hh: uintptr(hh), slot: handle}, nil
}

func nilFunc(kind hookKind) error {
	return fmt.Errorf("unicorn: hook add %v: nil callback: %w", kind, ErrArg)
}

// Del removes a hook. Deleting a hook from inside a callback is allowed:
// Unicorn skips it from then on.
func (e *Engine) Del(h Hook) error {
	if e.uc == nil {
		return errClosed("hook del")
	}
	hh, ok := e.hooks[h.slot]
	if !ok || uintptr(hh) != h.hh {
		return fmt.Errorf("unicorn: hook del: unknown hook: %w", ErrArg)
	}
	err := ucErr(C.uc_hook_del(e.uc, hh))
	delete(e.hooks, h.slot)
	unregister(h.slot)
	if uint32(e.snap.intr_handle) == h.slot {
		e.snap.intr_handle = 0 // the eager interrupt hook is gone
	}
	if eg, ok := e.eagers[h.slot]; ok {
		// Freed when Start returns: the hook may be running (a hook may
		// delete itself), and Unicorn may still hold the pointer until then.
		delete(e.eagers, h.slot)
		e.pendingEagers = append(e.pendingEagers, eg)
	}
	if err != nil {
		return fmt.Errorf("unicorn: hook del: %w", err)
	}
	return nil
}

// HookIntr calls fn for every exception and software interrupt
// (UC_HOOK_INTR). Unicorn never uses the guest IDT: the hook must handle
// the event (advance or redirect EIP) or the guest re-executes the
// faulting instruction. For int n EIP is already past the instruction; for
// a fault it points at the faulting instruction. After handling a fault,
// call ClearFault (pitfall 1). An interrupt without any hook stops the
// emulation with ErrException.
func (e *Engine) HookIntr(fn func(intno uint32)) (Hook, error) {
	if fn == nil {
		return Hook{}, nilFunc(kindIntr)
	}
	return e.addHook(&entry{kind: kindIntr, intr: fn}, func(hh *C.uc_hook, h C.uintptr_t) C.uc_err {
		return C.vs_hook_intr(e.uc, hh, h)
	})
}

// HookIntrFault is HookIntr for a handler that starts every exception
// with TakeFault and reads registers: the C side takes the fault (one
// context save and restore) and the register snapshot before it calls fn,
// so TakeFault and the first register reads in fn cost no cgo call. One
// per engine.
func (e *Engine) HookIntrFault(fn func(intno uint32)) (Hook, error) {
	if fn == nil {
		return Hook{}, nilFunc(kindIntr)
	}
	c := calRes
	if c.errCode == 0 || c.oldExc == 0 || c.errCode+8 > e.ctxSize || c.oldExc+4 > e.ctxSize {
		return Hook{}, fmt.Errorf("unicorn: hook add %v: no calibrated fault offsets: %w", kindIntr, ErrArg)
	}
	if e.snap.intr_handle != 0 {
		return Hook{}, fmt.Errorf("unicorn: hook add %v: the engine has an eager interrupt hook already: %w", kindIntr, ErrArg)
	}
	s := e.snap
	return e.addHook(&entry{kind: kindIntr, intr: fn}, func(hh *C.uc_hook, h C.uintptr_t) C.uc_err {
		s.intr_handle = h
		s.ctx = e.ctx
		s.code_off, s.old_off = C.size_t(c.errCode), C.size_t(c.oldExc)
		return C.vs_hook_intr_fault(e.uc, hh, s)
	})
}

// HookIn serves IN instructions (UC_HOOK_INSN, UC_X86_INS_IN): fn gets the
// port and the access size in bytes (1, 2, 4) and returns the value read.
// Unicorn performs no I/O-permission check (CPL/IOPL) and EIP read in this
// hook is stale (the block start): see SUBSTRATE.md.
func (e *Engine) HookIn(fn func(port uint32, size int) uint32) (Hook, error) {
	if fn == nil {
		return Hook{}, nilFunc(kindIn)
	}
	return e.addHook(&entry{kind: kindIn, in: fn}, func(hh *C.uc_hook, h C.uintptr_t) C.uc_err {
		return C.vs_hook_in(e.uc, hh, h)
	})
}

// HookOut observes OUT instructions (UC_X86_INS_OUT): port, size in bytes
// and the value written. Same caveats as HookIn; a Stop or an EIP write in
// this hook does not take effect before the end of the current block.
func (e *Engine) HookOut(fn func(port uint32, size int, value uint32)) (Hook, error) {
	if fn == nil {
		return Hook{}, nilFunc(kindOut)
	}
	return e.addHook(&entry{kind: kindOut, out: fn}, func(hh *C.uc_hook, h C.uintptr_t) C.uc_err {
		return C.vs_hook_out(e.uc, hh, h)
	})
}

// HookCPUID intercepts CPUID (UC_X86_INS_CPUID). In 2.0.1 the callback
// runs before Unicorn's own CPUID model with the guest's EAX/ECX readable
// through Reg. If fn returns true, the model is skipped and whatever fn
// wrote into EAX, EBX, ECX and EDX is the result; if it returns false, the
// model runs afterwards and overwrites those four registers. Either way
// EIP then moves past the instruction: do not write EIP here.
func (e *Engine) HookCPUID(fn func() bool) (Hook, error) {
	if fn == nil {
		return Hook{}, nilFunc(kindCPUID)
	}
	return e.addHook(&entry{kind: kindCPUID, pred: fn}, func(hh *C.uc_hook, h C.uintptr_t) C.uc_err {
		return C.vs_hook_cpuid(e.uc, hh, h)
	})
}

// HookInsnInvalid is called when the guest executes an invalid instruction
// (ud2, vmcall, ...; UC_HOOK_INSN_INVALID). These never reach HookIntr.
// Either way the emulation stops with EIP at the instruction: if fn returns
// true Start returns nil, otherwise Start returns ErrInsnInvalid.
//
// Unicorn 2.1 returns UC_ERR_EXCEPTION from uc_emu_start even when the hook
// handled the instruction (2.0.1 returned UC_ERR_OK); the binding remembers
// that the hook accepted it and reports nil, as documented above.
func (e *Engine) HookInsnInvalid(fn func() bool) (Hook, error) {
	if fn == nil {
		return Hook{}, nilFunc(kindInsnInvalid)
	}
	pred := func() bool {
		ok := fn()
		if ok {
			e.invalidHandled = true
		}
		return ok
	}
	return e.addHook(&entry{kind: kindInsnInvalid, pred: pred}, func(hh *C.uc_hook, h C.uintptr_t) C.uc_err {
		return C.vs_hook_insn_invalid(e.uc, hh, h)
	})
}

// HookMemInvalid is called for accesses to unmapped memory and permission
// violations (UC_HOOK_MEM_INVALID). Return true if the hook fixed the cause
// (e.g. mapped the page) and the access should be retried, false to stop
// with the matching error (ErrReadUnmapped, ErrWriteProt, ...).
func (e *Engine) HookMemInvalid(fn func(acc MemAccess, addr uint64, size int, value int64) bool) (Hook, error) {
	if fn == nil {
		return Hook{}, nilFunc(kindMem)
	}
	return e.addHook(&entry{kind: kindMem, mem: fn}, func(hh *C.uc_hook, h C.uintptr_t) C.uc_err {
		return C.vs_hook_mem(e.uc, hh, hookMemInvalid, h)
	})
}

// HookMemWriteProt is called for guest stores to mapped but non-writable
// memory (UC_HOOK_MEM_WRITE_PROT). Returning false stops precisely at the
// store (nothing written, Start returns ErrWriteProt, EIP at the store);
// returning true discards the store and continues (pitfall 9), which lets a
// VMM emulate writes to protected pages.
func (e *Engine) HookMemWriteProt(fn func(acc MemAccess, addr uint64, size int, value int64) bool) (Hook, error) {
	if fn == nil {
		return Hook{}, nilFunc(kindMem)
	}
	return e.addHook(&entry{kind: kindMem, mem: fn}, func(hh *C.uc_hook, h C.uintptr_t) C.uc_err {
		return C.vs_hook_mem(e.uc, hh, hookMemWriteProt, h)
	})
}

// HookMemAccess calls fn for the guest's data accesses whose physical
// address is in [begin, end] (both inclusive): before a load (MemHookRead,
// acc MemRead), after it with the value loaded (MemHookReadAfter, acc
// MemReadAfter) and before a store with its value (MemHookWrite, acc
// MemWrite). Memory the callback writes before a load is what the load
// reads. An access that spans two pages is reported once, at its first
// byte.
//
// The price is global, not limited to the range: while any such hook
// exists, every load (MemHookRead, MemHookReadAfter) or store
// (MemHookWrite) of code translated from then on leaves Unicorn's inline
// fast path for its helper, and EIP is synced before each access, so that
// it is exact inside the callback. Code translated before the hook was
// added keeps the fast path and calls nothing: FlushTranslations after
// adding the first hook and after deleting the last.
func (e *Engine) HookMemAccess(kinds MemHook, begin, end uint64, fn func(acc MemAccess, addr uint64, size int, value int64)) (Hook, error) {
	if fn == nil {
		return Hook{}, nilFunc(kindMem)
	}
	mem := func(acc MemAccess, addr uint64, size int, value int64) bool {
		fn(acc, addr, size, value)
		return false
	}
	return e.addHook(&entry{kind: kindMem, mem: mem}, func(hh *C.uc_hook, h C.uintptr_t) C.uc_err {
		return C.vs_hook_mem_access(e.uc, hh, C.int(kinds), C.uint64_t(begin), C.uint64_t(end), h)
	})
}

// Nested reports whether the callback running now was called from inside
// a host call that another callback made (a segment register written from
// a hook makes the CPU read a descriptor, which a memory hook sees).
func (e *Engine) Nested() bool { return e.depth > 1 }

// HookCode calls fn before every instruction whose address is in
// [begin, end] (both inclusive; begin > end means every address). A hook
// limited to addresses that never run costs nothing. Blocks translated
// before the hook was added do not see it until RemoveCache. Stop inside
// fn stops before the hooked instruction runs.
func (e *Engine) HookCode(begin, end uint64, fn func(addr uint64, size uint32)) (Hook, error) {
	if fn == nil {
		return Hook{}, nilFunc(kindCode)
	}
	return e.addHook(&entry{kind: kindCode, code: fn}, func(hh *C.uc_hook, h C.uintptr_t) C.uc_err {
		return C.vs_hook_code(e.uc, hh, C.uint64_t(begin), C.uint64_t(end), h)
	})
}

// HookFlagsSync puts a code hook that does nothing, in C, on the
// instructions in [begin, end]: before any code hook Unicorn stores the
// flags' pending (lazily computed) state, which an instruction there then
// finds right. Unicorn 2.1.1's loope and loopne need it in the middle of a
// block after an instruction that set the flags: leaving by the ECX = 0
// path they skip that store, and the next reader of EFLAGS computes them
// from the earlier state (garbage, TF included). Costs one C call per
// execution and no cgo crossing.
func (e *Engine) HookFlagsSync(begin, end uint64) (Hook, error) {
	return e.addHook(&entry{kind: kindCode, code: func(uint64, uint32) {}}, func(hh *C.uc_hook, _ C.uintptr_t) C.uc_err {
		return C.vs_hook_flags_sync(e.uc, hh, C.uint64_t(begin), C.uint64_t(end))
	})
}

// HookCodeEager is HookCode for a handler that reads and writes
// registers (an emulated instruction at one address, a landing pad): the
// C side takes the register snapshot before fn runs and performs the
// register writes fn queued after it returns, so fn itself makes no cgo
// call for them (see the package documentation). Each call of the hook
// pays for the snapshot: limit it to addresses that need it.
func (e *Engine) HookCodeEager(begin, end uint64, fn func(addr uint64, size uint32)) (Hook, error) {
	if fn == nil {
		return Hook{}, nilFunc(kindCode)
	}
	eg := (*C.vs_eager)(C.calloc(1, C.size_t(unsafe.Sizeof(C.vs_eager{}))))
	if eg == nil {
		return Hook{}, fmt.Errorf("unicorn: hook add %v: %w", kindCode, ErrNoMem)
	}
	eg.s = e.snap
	h, err := e.addHook(&entry{kind: kindCode, code: fn}, func(hh *C.uc_hook, handle C.uintptr_t) C.uc_err {
		eg.handle = handle
		return C.vs_hook_code_eager(e.uc, hh, C.uint64_t(begin), C.uint64_t(end), eg)
	})
	if err != nil {
		C.free(unsafe.Pointer(eg))
		return Hook{}, err
	}
	if e.eagers == nil {
		e.eagers = map[uint32]*C.vs_eager{}
	}
	e.eagers[h.slot] = eg
	return h, nil
}

// HookBlock calls fn at the start of every translated basic block whose
// address is in [begin, end] (inclusive; begin > end means all), with the
// block's size in bytes.
func (e *Engine) HookBlock(begin, end uint64, fn func(addr uint64, size uint32)) (Hook, error) {
	if fn == nil {
		return Hook{}, nilFunc(kindBlock)
	}
	return e.addHook(&entry{kind: kindBlock, code: fn}, func(hh *C.uc_hook, h C.uintptr_t) C.uc_err {
		return C.vs_hook_block(e.uc, hh, C.uint64_t(begin), C.uint64_t(end), h)
	})
}
