package unicorn

/*
#cgo noescape vs_ctx_snapshot
#cgo nocallback vs_ctx_snapshot
#cgo noescape vs_ctx_fault_info
#cgo nocallback vs_ctx_fault_info
#cgo nocallback vs_ctx_clear_fault
#cgo noescape vs_ctx_take_fault
#cgo nocallback vs_ctx_take_fault
#include "shim.h"
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"sync"
	"unsafe"
)

// Pitfall 1 (upstream issue #1883): Unicorn hands exceptions to the
// interrupt hook instead of QEMU's do_interrupt, so the CPU field that
// remembers the exception in flight (QEMU's CPUX86State.old_exception) is
// never reset to -1. The next contributory fault (#DE, #TS, #NP, #SS, #GP)
// or #PF is then promoted to a double fault (intno 8), and the one after
// that is a triple fault that ends the emulation silently.
//
// The field is not reachable through the API, but uc_context_save copies
// the whole CPU state into the context blob, and uc_context_restore copies
// it back. So: find the field's offset in the blob once per process, and
// after each handled fault save, write -1 there, restore.
//
// The same blob holds, 112 bytes earlier, the fault's error code
// (CPUX86State.error_code) and right after it exception_is_int, which tells
// a software `int $13` from a real #GP. FaultInfo reads both.

// calib is the result of the per-process calibration; offsets are from the
// start of the uc_context block.
type calib struct {
	ctxSize uintptr // uc_context_size at calibration time
	oldExc  uintptr // int32 old_exception
	errCode uintptr // int32 error_code; exception_is_int follows at +4
}

var (
	calOnce sync.Once
	calRes  calib
	calErr  error
)

func calibration() (calib, error) {
	calOnce.Do(func() {
		// The start-up check: the workarounds below rely on the library's
		// internals, so refuse a libunicorn the binding was not written for.
		if calErr = CheckVersion(); calErr == nil {
			calRes, calErr = calibrate()
		}
	})
	return calRes, calErr
}

// Calibration returns the offsets found by the pitfall-1 calibration
// (running it if no Engine was created yet): the size of a uc_context
// block, and the offsets in it of old_exception and error_code.
func Calibration() (ctxSize, oldExceptionOff, errorCodeOff int, err error) {
	c, err := calibration()
	return int(c.ctxSize), int(c.oldExc), int(c.errCode), err
}

// ClearFault resets the CPU's "exception in flight" to none, so that the
// next fault arrives as itself instead of as a double fault. Call it from
// the interrupt hook after handling a fault (calling it after int n or
// when no fault is pending is harmless). Cost: one context save and
// restore, about 140 ns.
func (e *Engine) ClearFault() error {
	if e.uc == nil {
		return errClosed("clear fault")
	}
	return e.clearFaultAt(calRes.oldExc)
}

func (e *Engine) clearFaultAt(off uintptr) error {
	if off == 0 || off+4 > e.ctxSize {
		return fmt.Errorf("unicorn: clear fault: no calibrated offset: %w", ErrArg)
	}
	// A context restore rewrites the whole CPU state (with the same
	// register values, but the snapshot is not trusted across it).
	e.flushRegs()
	defer e.forgetRegs()
	if err := ucErr(C.vs_ctx_clear_fault(e.uc, e.ctx, C.size_t(off))); err != nil {
		return fmt.Errorf("unicorn: clear fault: %w", err)
	}
	return nil
}

// FaultInfo returns the error code of the exception being delivered and
// whether it came from a software interrupt (int n, int3, into). Valid
// inside the interrupt hook; for exceptions without an error code (and for
// int n) errCode is 0. A real #GP and `int $13` both arrive as intno 13:
// isInt tells them apart.
func (e *Engine) FaultInfo() (errCode uint32, isInt bool, err error) {
	if e.uc == nil {
		return 0, false, errClosed("fault info")
	}
	return e.faultInfoAt(calRes.errCode)
}

func (e *Engine) faultInfoAt(off uintptr) (uint32, bool, error) {
	if off == 0 || off+8 > e.ctxSize {
		return 0, false, fmt.Errorf("unicorn: fault info: no calibrated offset: %w", ErrArg)
	}
	var code C.uint32_t
	var isInt C.int32_t
	e.flushRegs()
	if err := ucErr(C.vs_ctx_fault_info(e.uc, e.ctx, C.size_t(off), &code, &isInt)); err != nil {
		return 0, false, fmt.Errorf("unicorn: fault info: %w", err)
	}
	return uint32(code), isInt != 0, nil
}

// TakeFault is FaultInfo followed by ClearFault, with one context save
// and one cgo call: what an interrupt hook does on every exit.
func (e *Engine) TakeFault() (errCode uint32, isInt bool, err error) {
	if e.uc == nil {
		return 0, false, errClosed("take fault")
	}
	if code, isInt, ok, err := e.takenFault(); ok {
		return code, isInt, err // HookIntrFault took it in C
	}
	c := calRes
	if c.errCode == 0 || c.oldExc == 0 || c.errCode+8 > e.ctxSize || c.oldExc+4 > e.ctxSize {
		return 0, false, fmt.Errorf("unicorn: take fault: no calibrated offset: %w", ErrArg)
	}
	var code C.uint32_t
	var isI C.int32_t
	e.flushRegs()
	defer e.forgetRegs() // a context restore, as in clearFaultAt
	if err := ucErr(C.vs_ctx_take_fault(e.uc, e.ctx, C.size_t(c.errCode), C.size_t(c.oldExc), &code, &isI)); err != nil {
		return 0, false, fmt.Errorf("unicorn: take fault: %w", err)
	}
	return uint32(code), isI != 0, nil
}

// snapshot saves the CPU context and returns a copy of the whole block.
func (e *Engine) snapshot() ([]byte, error) {
	buf := make([]byte, e.ctxSize)
	e.flushRegs()
	// Safe: buf is pointer-free Go memory of exactly ctxSize bytes; C
	// copies ctxSize bytes into it during the call and keeps no reference.
	if err := ucErr(C.vs_ctx_snapshot(e.uc, e.ctx, unsafe.Pointer(&buf[0]), C.size_t(len(buf)))); err != nil {
		return nil, fmt.Errorf("unicorn: context snapshot: %w", err)
	}
	return buf, nil
}

// ---- calibration ----

const (
	calCode = 0x1000 // code page
	calGDT  = 0x2000 // a zeroed 2-entry GDT
	calSel  = 0x1230 // selector beyond the GDT limit: #GP(0x1230)
	gpErr   = calSel &^ 3
	excGP   = 13
	excDE   = 0
	excDF   = 8

	// The distance QEMU's CPUX86State layout puts between error_code and
	// old_exception (error_code, exception_is_int, exception_next_eip,
	// dr[8], 4 breakpoint pointers). Calibration checks it rather than
	// trusting it.
	errToOld = 112
)

// calEvent is one expected interrupt of a calibration program: its intno
// and how far the hook must advance EIP (0 for int n, which already points
// past the instruction).
type calEvent struct {
	intno   uint32
	advance uint32
}

// runCal runs code in a fresh scratch engine. At each interrupt it checks
// the intno against want, optionally clears the fault at clearOff, and
// takes a context snapshot. It returns the snapshot before the run and one
// per event.
func runCal(code []byte, want []calEvent, clearOff uintptr) (before []byte, at [][]byte, err error) {
	e, err := open()
	if err != nil {
		return nil, nil, err
	}
	defer e.Close()
	if err := e.MemMap(calCode, 0x2000, ProtAll); err != nil {
		return nil, nil, err
	}
	if err := e.MemWrite(calCode, code); err != nil {
		return nil, nil, err
	}
	if err := e.SetMMR(GDTR, MMR{Base: calGDT, Limit: 0xf}); err != nil {
		return nil, nil, err
	}
	if err := e.SetRegs([]Reg{EAX, EDX, ECX, ESP}, []uint32{0, 0, 0, calGDT + 0x800}); err != nil {
		return nil, nil, err
	}
	if before, err = e.snapshot(); err != nil {
		return nil, nil, err
	}
	var got []uint32
	var herr error
	_, err = e.HookIntr(func(intno uint32) {
		i := len(got)
		got = append(got, intno)
		if herr != nil || i >= len(want) || intno != want[i].intno {
			herr = fmt.Errorf("interrupts %v, want %v", got, want)
			e.Stop()
			return
		}
		snap, err := e.snapshot()
		if err != nil {
			herr = err
			e.Stop()
			return
		}
		at = append(at, snap)
		if clearOff != 0 {
			if err := e.clearFaultAt(clearOff); err != nil {
				herr = err
				e.Stop()
				return
			}
		}
		if want[i].advance != 0 {
			eip, _ := e.Reg(EIP)
			e.SetReg(EIP, eip+want[i].advance)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	// until = end of the code: the calibration is not a timed path.
	if err := e.Start(calCode, calCode+uint64(len(code)), 0, 0); err != nil {
		return nil, nil, err
	}
	if herr != nil {
		return nil, nil, herr
	}
	if len(got) != len(want) {
		return nil, nil, fmt.Errorf("interrupts %v, want %v", got, want)
	}
	return before, at, nil
}

func i32(b []byte, off uintptr) int32 {
	return int32(binary.LittleEndian.Uint32(b[off:]))
}

func calibrate() (calib, error) {
	fail := func(format string, args ...any) (calib, error) {
		return calib{}, fmt.Errorf("unicorn: pitfall-1 calibration (Unicorn %s): "+format, append([]any{Version()}, args...)...)
	}
	// Run 1, without the workaround: a #GP with a known error code, then a
	// #DE that the bug turns into #DF, then a software `int $13`.
	code := []byte{
		0x66, 0xb8, 0x30, 0x12, // mov $0x1230,%ax
		0x8e, 0xd8, //             mov %ax,%ds        #GP(0x1230)
		0xf7, 0xf1, //             div %ecx           #DE, delivered as #DF
		0xcd, 0x0d, //             int $0xd           software int 13
	}
	s0, s, err := runCal(code, []calEvent{{excGP, 2}, {excDF, 2}, {excGP, 0}}, 0)
	if err != nil {
		return fail("reference run: %w (has upstream issue #1883 been fixed?)", err)
	}
	size := uintptr(len(s0))
	// old_exception: -1 before, 13 after the #GP, 8 after the #DF, still 8
	// after int $13 (software interrupts bypass the double-fault logic).
	// 112 bytes before it, error_code: 0x1230, 0 (a #DF has error code 0),
	// 0 (int n); after that, exception_is_int: 0, 0, 1.
	var cands []uintptr
	for off := uintptr(errToOld); off+4 <= size; off += 4 {
		if i32(s0, off) == -1 && i32(s[0], off) == excGP && i32(s[1], off) == excDF && i32(s[2], off) == excDF {
			ec := off - errToOld
			if i32(s[0], ec) == gpErr && i32(s[1], ec) == 0 && i32(s[2], ec) == 0 &&
				i32(s[0], ec+4) == 0 && i32(s[1], ec+4) == 0 && i32(s[2], ec+4) == 1 {
				cands = append(cands, off)
			}
		}
	}
	if len(cands) != 1 {
		// Report where old_exception alone would match, to help a human.
		var loose []uintptr
		for off := uintptr(0); off+4 <= size; off += 4 {
			if i32(s[0], off) == excGP && i32(s[1], off) == excDF {
				loose = append(loose, off)
			}
		}
		return fail("want exactly one offset, found %v in a %d-byte context (old_exception-like fields at %v)", cands, size, loose)
	}
	off := cands[0]
	// Run 2, with the workaround at off: #GP, #DE, #DE, #GP must each
	// arrive as themselves.
	code2 := []byte{
		0x66, 0xb8, 0x30, 0x12, // mov $0x1230,%ax
		0x8e, 0xd8, //             mov %ax,%ds   #GP
		0xf7, 0xf1, //             div %ecx      #DE
		0xf7, 0xf1, //             div %ecx      #DE
		0x8e, 0xd8, //             mov %ax,%ds   #GP
	}
	_, s2, err := runCal(code2, []calEvent{{excGP, 2}, {excDE, 2}, {excDE, 2}, {excGP, 2}}, off)
	if err != nil {
		return fail("verification with old_exception at %d: %w", off, err)
	}
	if got := i32(s2[3], off-errToOld); got != gpErr {
		return fail("verification: error code %#x at %d, want %#x", got, off-errToOld, gpErr)
	}
	return calib{ctxSize: size, oldExc: off, errCode: off - errToOld}, nil
}
