package unicorn

/*
#cgo CFLAGS: -O2 -Wall -I${SRCDIR}/../../.deps/unicorn/usr/include
#cgo LDFLAGS: ${SRCDIR}/../../.deps/unicorn/usr/lib/x86_64-linux-gnu/libunicorn.a -lm -lpthread
#cgo noescape uc_mem_read
#cgo nocallback uc_mem_read
#cgo noescape uc_mem_write
#cgo nocallback uc_mem_write
#cgo noescape vs_reg_read32
#cgo nocallback vs_reg_read32
#cgo noescape vs_reg_read_batch32
#cgo nocallback vs_reg_read_batch32
#cgo noescape vs_mmr_read
#cgo nocallback vs_mmr_read
#cgo nocallback vs_mmr_write
#cgo noescape vs_msr_read
#cgo nocallback vs_msr_read
#cgo nocallback vs_msr_write
#cgo nocallback uc_emu_stop
// The register writes are not nocallback: a host write of a segment register
// makes the CPU load its descriptor and set its Accessed bit, a store that
// can fire a memory hook (a read-only descriptor table) — a callback into
// Go that the runtime forbids inside a nocallback call (it panicked with
// "unexpected setting cgoNoCallback" at the next nocallback call). Nor is
// the batch write noescape: a callback may move the goroutine stack its
// arguments would live on.
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"time"
	"unsafe"
)

// Version returns the version of the linked libunicorn, e.g. "2.1.1".
func Version() string { return Linked().String() }

// Linked returns the version of the linked libunicorn (uc_version).
func Linked() LibVersion {
	var major, minor C.uint
	v := uint32(C.uc_version(&major, &minor))
	return LibVersion{uint32(major), uint32(minor), (v >> 8) & 0xff}
}

// Headers returns the version of the unicorn.h the binding was compiled
// against (UC_API_MAJOR, _MINOR, _PATCH).
func Headers() LibVersion {
	return LibVersion{C.UC_API_MAJOR, C.UC_API_MINOR, C.UC_API_PATCH}
}

// CheckVersion reports whether the linked libunicorn is the one this
// binding was written for (BindingVersion), with a message saying what to
// do if not. New calls it once per process and fails with its error.
func CheckVersion() error { return checkVersion(Linked(), Headers()) }

// Error returns Unicorn's own description of the code (uc_strerror).
func (e Error) Error() string {
	return C.GoString(C.uc_strerror(C.uc_err(e)))
}

// ucErr converts a uc_err to a Go error (nil for UC_ERR_OK).
func ucErr(err C.uc_err) error {
	if err == C.UC_ERR_OK {
		return nil
	}
	return Error(err)
}

// Engine is one Unicorn x86 CPU in 32-bit mode with its memory and hooks.
//
// An Engine is not safe for concurrent use, with two exceptions: Stop may be
// called from any goroutine while Start runs, and Counter.Count/Exhausted
// and BlockClock.Now may be read (racily, for progress display) at any
// time. Hook callbacks run on the goroutine that called Start and may call
// the Engine's methods (except Start and Close).
type Engine struct {
	uc       *C.uc_engine
	ctx      *C.uc_context // scratch context for ClearFault/FaultInfo
	pristine *C.uc_context // the CPU as uc_open left it (Pool engines only)
	ctxSize  uintptr
	hooks    map[uint32]C.uc_hook // registry handle -> Unicorn hook
	counters map[*Counter]struct{}
	clocks   map[*BlockClock]struct{}
	// Counters and clocks deleted while the emulation ran: their C memory
	// may still be reachable from the running hook list, so freeing waits
	// for Start.
	pendingFree   []*C.vs_counter
	pendingClocks []*C.vs_clock
	eagers        map[uint32]*C.vs_eager // HookCodeEager's C data by handle
	pendingEagers []*C.vs_eager          // deleted eager hooks, freed after Start
	host          []hostRegion           // MemMapHost regions, written directly
	wbatch        *C.vs_wbatch           // SetRegs' staging area (C memory)
	snap          *C.vs_snap             // the register cache (regcache_cgo.go), C memory
	running       bool
	exitSet       bool // ExitSet: until is a one-run exit set, 0 = none
	depth         int  // Go callbacks running (nested ones > 1)
	timedOut      bool // the last Start was ended by its timeout
	panicErr      *CallbackPanicError
	// invalidHandled: a HookInsnInvalid callback accepted an invalid
	// instruction during this Start (Unicorn 2.1 still reports
	// UC_ERR_EXCEPTION for it).
	invalidHandled bool
	// started: Start has been called at least once, so translated code may
	// exist (flushIfIdle skips the flush before that).
	started    bool
	wd         watchdog
	onFast     func(vif bool, counts *[FastSites]uint64)            // OnFast (fast_cgo.go)
	onFastGate func(n uint64, vec uint32, pending *FastGatePending) // OnFastGate (fast_cgo.go)
	fastTotal  uint64                                               // FastEmulated
}

// watchdog is Start's time budget: a Go timer that calls uc_emu_stop. It
// replaces uc_emu_start's own timeout, which runs a thread that polls
// with usleep while the guest runs (SUBSTRATE.md: ~19% of a process's
// CPU); the timer costs nothing until it fires. One timer per engine,
// re-armed by each Start, so a Start allocates nothing.
type watchdog struct {
	mu       sync.Mutex
	timer    *time.Timer
	armed    bool      // a Start with a timeout is in progress
	deadline time.Time // when that Start's time is up
	fired    bool      // the last Start with a timeout was stopped by it
}

// watchdogRetry is how soon a fired watchdog tries again while Start has
// not returned: a uc_emu_stop that lands before uc_emu_start has reset
// its stop request is lost, so the watchdog keeps stopping until Start
// is over.
const watchdogRetry = time.Millisecond

// arm starts the watchdog for one Start.
func (e *Engine) armWatchdog(timeout time.Duration) {
	w := &e.wd
	w.mu.Lock()
	w.armed, w.fired = true, false
	w.deadline = time.Now().Add(timeout)
	if w.timer == nil {
		w.timer = time.AfterFunc(timeout, e.watchdogFire)
	} else {
		w.timer.Reset(timeout)
	}
	w.mu.Unlock()
}

// disarm ends the watchdog's interest in the Start that just returned; it
// reports whether the watchdog stopped it.
func (e *Engine) disarmWatchdog() bool {
	w := &e.wd
	w.mu.Lock()
	w.armed = false
	fired := w.fired
	w.mu.Unlock()
	w.timer.Stop()
	return fired
}

// watchdogFire runs on the timer's goroutine. A call left over from an
// earlier Start (its time not yet up for the current one) does nothing.
func (e *Engine) watchdogFire() {
	w := &e.wd
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.armed || time.Now().Before(w.deadline) {
		return
	}
	w.fired = true
	// Safe from another thread: Unicorn's own timeout thread does the same.
	C.uc_emu_stop(e.uc)
	w.timer.Reset(watchdogRetry)
}

// New opens a Unicorn engine for x86 in 32-bit mode (UC_ARCH_X86,
// UC_MODE_32). The first call in a process checks the linked library's
// version (CheckVersion) and calibrates the pitfall-1 workaround (see
// ClearFault) in a scratch engine; if either fails, New fails. Every
// engine translates through the guest's page tables (TLBCPU).
func New() (*Engine, error) {
	cal, err := calibration()
	if err != nil {
		return nil, err
	}
	e, err := open()
	if err != nil {
		return nil, err
	}
	if e.ctxSize != cal.ctxSize {
		e.Close()
		return nil, fmt.Errorf("unicorn: context size %d differs from the calibrated %d", e.ctxSize, cal.ctxSize)
	}
	// The CPU's MMU must translate guest addresses (UC_TLB_CPU): it is
	// 2.1's default, but virtsim's paging depends on it, so say so.
	if err := e.SetTLBMode(TLBCPU); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// open creates an engine without calibrating (used by the calibration).
func open() (*Engine, error) {
	var uc *C.uc_engine
	if err := ucErr(C.uc_open(C.UC_ARCH_X86, C.UC_MODE_32, &uc)); err != nil {
		return nil, fmt.Errorf("unicorn: open x86-32: %w", err)
	}
	// Unicorn's default code buffer is 1 GiB; a whole translation-block
	// flush walks it. virtsim's guests need a few MiB of translated code.
	if err := ucErr(C.vs_set_tcg_buffer_size(uc, C.uint32_t(CodeBufferSize))); err != nil {
		C.uc_close(uc)
		return nil, fmt.Errorf("unicorn: set code buffer size: %w", err)
	}
	e := &Engine{
		uc:       uc,
		hooks:    make(map[uint32]C.uc_hook),
		counters: make(map[*Counter]struct{}),
		clocks:   make(map[*BlockClock]struct{}),
	}
	if err := ucErr(C.uc_context_alloc(uc, &e.ctx)); err != nil {
		C.uc_close(uc)
		return nil, fmt.Errorf("unicorn: context alloc: %w", err)
	}
	e.ctxSize = uintptr(C.uc_context_size(uc))
	e.wbatch = (*C.vs_wbatch)(C.calloc(1, C.size_t(unsafe.Sizeof(C.vs_wbatch{}))))
	e.snap = newSnap()
	if e.wbatch == nil || e.snap == nil {
		C.free(unsafe.Pointer(e.wbatch))
		freeSnap(e.snap)
		C.uc_context_free(e.ctx)
		C.uc_close(uc)
		return nil, fmt.Errorf("unicorn: open: %w", ErrNoMem)
	}
	return e, nil
}

// CodeBufferSize is the size of each engine's translated-code buffer
// (UC_CTL_TCG_BUFFER_SIZE). When it fills, Unicorn flushes all translated
// code and starts again, as QEMU does. A flush touches the whole buffer
// (it becomes resident), so its size is part of every VM's peak RSS (goal
// <= 64 MiB per VM, issue 16): 32 MiB holds the translations of every
// catalogue workload with room to spare.
const CodeBufferSize = 32 << 20

// errClosed is returned by methods called on a closed Engine.
func errClosed(op string) error {
	return fmt.Errorf("unicorn: %s: engine is closed: %w", op, ErrHandle)
}

// Close deletes every hook, counter and clock of the engine, frees its
// registry entries and closes Unicorn. It is idempotent. It fails if called while
// the emulation runs (from inside a hook).
func (e *Engine) Close() error {
	if e == nil || e.uc == nil {
		return nil
	}
	if e.running {
		return fmt.Errorf("unicorn: close: emulation is running: %w", ErrArg)
	}
	e.dropHooks()
	e.hooks, e.counters, e.clocks = nil, nil, nil
	if e.ctx != nil {
		C.uc_context_free(e.ctx)
		e.ctx = nil
	}
	if e.pristine != nil {
		C.uc_context_free(e.pristine)
		e.pristine = nil
	}
	err := ucErr(C.uc_close(e.uc))
	e.uc = nil
	e.freeHost()
	C.free(unsafe.Pointer(e.wbatch))
	e.wbatch = nil
	freeSnap(e.snap)
	e.snap = nil
	for _, eg := range e.eagers {
		C.free(unsafe.Pointer(eg))
	}
	e.eagers = nil
	if err != nil {
		return fmt.Errorf("unicorn: close: %w", err)
	}
	return nil
}

// dropHooks deletes every hook, counter and clock and stops the watchdog
// (Close, and Pool.Put's recycling).
func (e *Engine) dropHooks() {
	for handle, hh := range e.hooks {
		C.uc_hook_del(e.uc, hh)
		unregister(handle)
	}
	clear(e.hooks)
	for c := range e.counters {
		_ = c.Del() // removes c from e.counters; nothing to do on failure while closing
	}
	for c := range e.clocks {
		_ = c.Del() // removes c from e.clocks; nothing to do on failure while closing
	}
	e.freePending()
	if e.wd.timer != nil {
		e.wd.timer.Stop()
	}
}

func (e *Engine) freePending() {
	for _, c := range e.pendingFree {
		C.vs_counter_free(c)
	}
	e.pendingFree = nil
	for _, c := range e.pendingClocks {
		C.vs_clock_free(c)
	}
	e.pendingClocks = nil
	if !e.running {
		for _, eg := range e.pendingEagers {
			C.free(unsafe.Pointer(eg))
		}
		e.pendingEagers = nil
	}
}

// MemMap maps [addr, addr+size) with permissions p. addr and size must be
// multiples of 4 KiB.
func (e *Engine) MemMap(addr, size uint64, p Prot) error {
	if e.uc == nil {
		return errClosed("mem map")
	}
	if err := ucErr(C.uc_mem_map(e.uc, C.uint64_t(addr), C.size_t(size), C.uint32_t(p))); err != nil {
		return fmt.Errorf("unicorn: mem map %#x+%#x %v: %w", addr, size, p, err)
	}
	return nil
}

// MemUnmap unmaps [addr, addr+size).
func (e *Engine) MemUnmap(addr, size uint64) error {
	if e.uc == nil {
		return errClosed("mem unmap")
	}
	if err := ucErr(C.uc_mem_unmap(e.uc, C.uint64_t(addr), C.size_t(size))); err != nil {
		return fmt.Errorf("unicorn: mem unmap %#x+%#x: %w", addr, size, err)
	}
	e.unmapHost(addr, size)
	return nil
}

// MemProtect changes the permissions of [addr, addr+size). Unicorn flushes
// its TLB, so this takes effect immediately (also inside hooks).
func (e *Engine) MemProtect(addr, size uint64, p Prot) error {
	if e.uc == nil {
		return errClosed("mem protect")
	}
	if err := ucErr(C.uc_mem_protect(e.uc, C.uint64_t(addr), C.size_t(size), C.uint32_t(p))); err != nil {
		return fmt.Errorf("unicorn: mem protect %#x+%#x %v: %w", addr, size, p, err)
	}
	return nil
}

// MemRead fills buf from guest memory at addr (ignoring permissions).
func (e *Engine) MemRead(addr uint64, buf []byte) error {
	if e.uc == nil {
		return errClosed("mem read")
	}
	if len(buf) == 0 {
		return nil
	}
	if h, ok := e.hostSpan(addr, len(buf)); ok {
		copy(buf, h)
		return nil
	}
	// Safe: buf is Go memory without pointers, alive for the call; C writes
	// at most len(buf) bytes and keeps no reference (noescape/nocallback).
	err := ucErr(C.uc_mem_read(e.uc, C.uint64_t(addr), unsafe.Pointer(&buf[0]), C.size_t(len(buf))))
	if err != nil {
		return fmt.Errorf("unicorn: mem read %#x+%#x: %w", addr, len(buf), err)
	}
	return nil
}

// MemWrite copies data into guest memory at addr (ignoring permissions).
// It does not invalidate translated code: call RemoveCache after
// overwriting code that may have run (pitfall 5).
func (e *Engine) MemWrite(addr uint64, data []byte) error {
	if e.uc == nil {
		return errClosed("mem write")
	}
	if len(data) == 0 {
		return nil
	}
	if h, ok := e.hostSpan(addr, len(data)); ok {
		copy(h, data)
		return nil
	}
	// Safe: data is pointer-free Go memory, only read by C during the call.
	err := ucErr(C.uc_mem_write(e.uc, C.uint64_t(addr), unsafe.Pointer(&data[0]), C.size_t(len(data))))
	if err != nil {
		return fmt.Errorf("unicorn: mem write %#x+%#x: %w", addr, len(data), err)
	}
	return nil
}

// Reg reads a 32-bit register (not GDTR/IDTR/LDTR/TR: see MMR).
func (e *Engine) Reg(r Reg) (uint32, error) {
	if e.uc == nil {
		return 0, errClosed("reg read")
	}
	if v, ok, err := e.cachedReg(r); ok {
		return v, err
	}
	if !r.isScalar() {
		return 0, fmt.Errorf("unicorn: reg read %v: not a 32-bit register: %w", r, ErrArg)
	}
	e.flushRegs()
	var v C.uint32_t
	if err := ucErr(C.vs_reg_read32(e.uc, C.int(r), &v)); err != nil {
		return 0, fmt.Errorf("unicorn: reg read %v: %w", r, err)
	}
	return uint32(v), nil
}

// SetReg writes a 32-bit register. Writing EIP inside a hook redirects the
// emulation and cancels a Stop made in the same hook (pitfall 6). Writing
// CR0/CR3/CR4 flushes no TLB (pitfall 7).
func (e *Engine) SetReg(r Reg, v uint32) error {
	if e.uc == nil {
		return errClosed("reg write")
	}
	if !r.isScalar() {
		return fmt.Errorf("unicorn: reg write %v: not a 32-bit register: %w", r, ErrArg)
	}
	if e.deferWrite(r, v) {
		return nil
	}
	e.flushRegs()
	err := ucErr(C.vs_reg_write32(e.uc, C.int(r), C.uint32_t(v)))
	if err != nil {
		e.forgetRegs()
		return fmt.Errorf("unicorn: reg write %v=%#x: %w", r, v, err)
	}
	e.wroteReg(r, v)
	return nil
}

// RegBytes reads a register wider than 32 bits (or an x87 word) into buf,
// as Unicorn lays it out: FPCW, FPSW, FPTAG 2 bytes, FP0-7 10, XMM0-7 16.
func (e *Engine) RegBytes(r Reg, buf *[16]byte) error {
	if e.uc == nil {
		return errClosed("reg read")
	}
	e.flushRegs()
	// Safe: buf is pointer-free Go memory that C writes (at most 16 bytes
	// for these registers) only during the call.
	if err := ucErr(C.uc_reg_read(e.uc, C.int(r), unsafe.Pointer(&buf[0]))); err != nil {
		return fmt.Errorf("unicorn: reg read %v: %w", r, err)
	}
	return nil
}

// SetRegBytes writes a register RegBytes reads.
func (e *Engine) SetRegBytes(r Reg, buf *[16]byte) error {
	if e.uc == nil {
		return errClosed("reg write")
	}
	e.flushRegs()
	// Safe: buf is pointer-free Go memory that C only reads during the call.
	err := ucErr(C.uc_reg_write(e.uc, C.int(r), unsafe.Pointer(&buf[0])))
	e.forgetRegs()
	if err != nil {
		return fmt.Errorf("unicorn: reg write %v: %w", r, err)
	}
	return nil
}

const batchChunk = 32

// Regs reads the registers rs into out[:len(rs)] (one cgo call for up to 32
// registers, uc_reg_read_batch).
func (e *Engine) Regs(rs []Reg, out []uint32) error {
	if e.uc == nil {
		return errClosed("reg read batch")
	}
	if len(out) < len(rs) {
		return fmt.Errorf("unicorn: reg read batch: %d registers, room for %d: %w", len(rs), len(out), ErrArg)
	}
	if e.regsCached(rs, out) {
		return nil
	}
	e.flushRegs()
	for done := 0; done < len(rs); done += batchChunk {
		chunk := rs[done:min(done+batchChunk, len(rs))]
		var ids [batchChunk]C.int
		for i, r := range chunk {
			if !r.isScalar() {
				return fmt.Errorf("unicorn: reg read batch: %v: not a 32-bit register: %w", r, ErrArg)
			}
			ids[i] = C.int(r)
		}
		// Safe: out is pointer-free Go memory with room for len(chunk)
		// values from done on (checked above); C writes exactly those and
		// keeps no reference. uint32 and C.uint32_t have the same layout.
		vals := (*C.uint32_t)(unsafe.Pointer(&out[done]))
		if err := ucErr(C.vs_reg_read_batch32(e.uc, &ids[0], vals, C.int(len(chunk)))); err != nil {
			return fmt.Errorf("unicorn: reg read batch %s: %w", joinRegs(chunk), err)
		}
	}
	return nil
}

// SetRegs writes vals[i] to rs[i] (one cgo call for up to 32 registers).
func (e *Engine) SetRegs(rs []Reg, vals []uint32) error {
	if e.uc == nil {
		return errClosed("reg write batch")
	}
	if len(vals) < len(rs) {
		return fmt.Errorf("unicorn: reg write batch: %d registers, %d values: %w", len(rs), len(vals), ErrArg)
	}
	// A batch write may load segments (hooks may run): the snapshot is
	// taken again when next needed.
	if e.deferAll(rs, vals) {
		return nil
	}
	e.flushRegs()
	defer e.forgetRegs()
	wb := e.wbatch
	for done := 0; done < len(rs); done += batchChunk {
		chunk := rs[done:min(done+batchChunk, len(rs))]
		for i, r := range chunk {
			if !r.isScalar() {
				return fmt.Errorf("unicorn: reg write batch: %v: not a 32-bit register: %w", r, ErrArg)
			}
			// Staged in C memory (shim.h: vs_wbatch), so no Go pointer
			// crosses and nothing is allocated per call.
			wb.regs[i] = C.int(r)
			wb.vals[i] = C.uint32_t(vals[done+i])
		}
		if err := ucErr(C.vs_reg_write_batch32(e.uc, &wb.regs[0], &wb.vals[0], C.int(len(chunk)))); err != nil {
			return fmt.Errorf("unicorn: reg write batch %s: %w", joinRegs(chunk), err)
		}
	}
	return nil
}

// MMR reads a descriptor-table register: GDTR, IDTR, LDTR or TR.
func (e *Engine) MMR(r Reg) (MMR, error) {
	if e.uc == nil {
		return MMR{}, errClosed("mmr read")
	}
	if !r.isMMR() {
		return MMR{}, fmt.Errorf("unicorn: mmr read %v: not a descriptor-table register: %w", r, ErrArg)
	}
	if e.snap != nil {
		return e.cachedMMR(r)
	}
	var sel C.uint16_t
	var base C.uint64_t
	var limit, flags C.uint32_t
	if err := ucErr(C.vs_mmr_read(e.uc, C.int(r), &sel, &base, &limit, &flags)); err != nil {
		return MMR{}, fmt.Errorf("unicorn: mmr read %v: %w", r, err)
	}
	return MMR{Selector: uint16(sel), Base: uint32(base), Limit: uint32(limit), Flags: uint32(flags)}, nil
}

// SetMMR writes a descriptor-table register. For TR, use a descriptor type
// of 9 (available 32-bit TSS) in Flags: a busy type (0xB) makes 2.0.1 abort
// the process at the first task-state access (see SUBSTRATE.md).
func (e *Engine) SetMMR(r Reg, m MMR) error {
	if e.uc == nil {
		return errClosed("mmr write")
	}
	if !r.isMMR() {
		return fmt.Errorf("unicorn: mmr write %v: not a descriptor-table register: %w", r, ErrArg)
	}
	e.flushRegs()
	err := ucErr(C.vs_mmr_write(e.uc, C.int(r), C.uint16_t(m.Selector), C.uint64_t(m.Base), C.uint32_t(m.Limit), C.uint32_t(m.Flags)))
	if err != nil {
		e.forgetMMRs()
		return fmt.Errorf("unicorn: mmr write %v: %w", r, err)
	}
	// A descriptor-table register changes no other register: the snapshot
	// keeps GDTR's and IDTR's new value, and takes LDTR and TR again.
	e.wroteMMR(r, m)
	return nil
}

// MSR reads a model-specific register.
func (e *Engine) MSR(id uint32) (uint64, error) {
	if e.uc == nil {
		return 0, errClosed("msr read")
	}
	e.flushRegs()
	var v C.uint64_t
	if err := ucErr(C.vs_msr_read(e.uc, C.uint32_t(id), &v)); err != nil {
		return 0, fmt.Errorf("unicorn: msr read %#x: %w", id, err)
	}
	return uint64(v), nil
}

// SetMSR writes a model-specific register.
func (e *Engine) SetMSR(id uint32, v uint64) error {
	if e.uc == nil {
		return errClosed("msr write")
	}
	e.flushRegs()
	defer e.forgetRegs()
	if err := ucErr(C.vs_msr_write(e.uc, C.uint32_t(id), C.uint64_t(v))); err != nil {
		return fmt.Errorf("unicorn: msr write %#x=%#x: %w", id, v, err)
	}
	return nil
}

// ExitSet makes until an exit set of one address per Start (none for
// until = 0) instead of Unicorn's default. By default until is an exit
// address compiled into translation even when 0 — guest code at linear
// address 0 (the first instruction of xv6's first user process) stops the
// emulation as if it were hlt — and after every run Unicorn drops the
// translations at until-1, translating that address through the guest's
// page tables (for until near 4 GiB, a guest or shadow mapping that may not
// exist). With the exit set, until = 0 means no exit address at all. Call
// it once, before the first Start.
func (e *Engine) ExitSet() error {
	if e.uc == nil {
		return errClosed("exit set")
	}
	if err := ucErr(C.vs_exits_enable(e.uc)); err != nil {
		return fmt.Errorf("unicorn: enable exits: %w", err)
	}
	e.exitSet = true
	return nil
}

// setExit makes until the only exit address (0: none) under ExitSet.
func (e *Engine) setExit(until uint64) error {
	addr := C.uint64_t(until)
	n := C.int(0)
	if until != 0 {
		n = 1
	}
	if err := ucErr(C.vs_set_exits(e.uc, &addr, n)); err != nil {
		return fmt.Errorf("unicorn: set exit %#x: %w", until, err)
	}
	return nil
}

// Start runs the guest from begin until EIP reaches until, timeout elapses
// (0 = none; a Go watchdog calls uc_emu_stop then, see TimedOut), count instructions have run
// (0 = no limit), Stop is called, or an error occurs. A timeout or Stop is
// not an error. Start may be called again to continue, usually with
// begin = the current EIP.
//
// Prefer until = 0 and count = 0 on timed paths (pitfalls 3 and 4): until is
// compiled into translated blocks and count adds a per-instruction hook.
//
// If a Go callback panicked, Start returns a *CallbackPanicError.
func (e *Engine) Start(begin, until uint64, timeout time.Duration, count uint64) error {
	if e.uc == nil {
		return errClosed("start")
	}
	if e.running {
		return fmt.Errorf("unicorn: start: emulation already running: %w", ErrArg)
	}
	if e.exitSet && until != 0 {
		if err := e.setExit(until); err != nil {
			return err
		}
		defer func() { _ = e.setExit(0) }() // only this run stops there
	}
	e.flushRegs()
	e.forgetRegs()
	e.fastEnter()
	e.running = true
	e.started = true
	e.panicErr = nil
	e.invalidHandled = false
	e.timedOut = false
	if timeout > 0 {
		e.armWatchdog(timeout)
	}
	// Unicorn's own timeout stays 0: the watchdog replaces its thread.
	err := ucErr(C.uc_emu_start(e.uc, C.uint64_t(begin), C.uint64_t(until), 0, C.size_t(count)))
	if timeout > 0 {
		e.timedOut = e.disarmWatchdog()
	}
	e.running = false
	e.forgetRegs()
	e.fastEnter()
	if fe := e.snap.flush_err; fe != 0 && err == nil {
		e.snap.flush_err = 0
		err = fmt.Errorf("a deferred register write: %w", ucErr(C.uc_err(fe)))
	}
	if err == ErrException && e.invalidHandled {
		err = nil
	}
	e.freePending()
	if p := e.panicErr; p != nil {
		e.panicErr = nil
		return p
	}
	if err != nil {
		se := &StartError{Begin: begin, Err: err}
		se.EIP, se.EIPErr = e.Reg(EIP)
		return se
	}
	return nil
}

// StartError is why Start stopped with an error. It is formatted only when
// printed: a machine that emulates device registers stops at every access
// to them (an unmapped read or write) and consumes the error.
type StartError struct {
	Begin  uint64
	EIP    uint32
	EIPErr error // EIP could not be read
	Err    error // ErrReadUnmapped, ErrInsnInvalid, ...
}

func (e *StartError) Error() string {
	if e.EIPErr != nil {
		return fmt.Sprintf("unicorn: emu start at %#x: %v", e.Begin, e.Err)
	}
	return fmt.Sprintf("unicorn: emu start at %#x: stopped at eip %#x: %v", e.Begin, e.EIP, e.Err)
}

func (e *StartError) Unwrap() error { return e.Err }

// TimedOut reports whether the last Start was ended by its timeout (the
// watchdog stopped it).
func (e *Engine) TimedOut() bool { return e.timedOut }

// Stop asks a running emulation to stop. From a code hook it stops before
// the hooked instruction; from other hooks the current translated block may
// finish first (see SUBSTRATE.md on IN/OUT). Writing EIP in the same hook
// cancels the stop (pitfall 6).
func (e *Engine) Stop() error {
	if e.uc == nil {
		return errClosed("stop")
	}
	e.flushRegs() // queued writes precede the stop, as they were made (pitfall 6)
	if err := ucErr(C.uc_emu_stop(e.uc)); err != nil {
		return fmt.Errorf("unicorn: emu stop: %w", err)
	}
	return nil
}

// RemoveCache drops translated blocks covering [begin, end)
// (uc_ctl_remove_cache). Needed after MemWrite over code that has run
// (pitfall 5) and after adding a code hook at an address whose block is
// already translated, so that the hook is compiled in.
func (e *Engine) RemoveCache(begin, end uint64) error {
	if e.uc == nil {
		return errClosed("remove cache")
	}
	e.flushRegs()
	if err := ucErr(C.vs_remove_cache(e.uc, C.uint64_t(begin), C.uint64_t(end))); err != nil {
		return fmt.Errorf("unicorn: remove cache %#x-%#x: %w", begin, end, err)
	}
	return nil
}
