package unicorn

/*
#cgo noescape vs_snap_take
#cgo nocallback vs_snap_take
#cgo noescape vs_snap_take_mmr
#cgo nocallback vs_snap_take_mmr
#cgo noescape vs_snap_flush
#cgo nocallback vs_snap_flush
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// The register cache. An exit handler reads the same few registers many
// times (EIP, EFLAGS, CS, the paging registers, GDTR and IDTR for a
// delivery), and every read is a cgo call (~50 ns, most of it the Go
// runtime's entry and exit of a system-call-like state). The CPU cannot
// change them while a hook runs, except by the handler's own writes, so the
// engine reads them all in one call the first time one is needed and
// answers later reads from that snapshot (C memory, read directly).
//
// The snapshot is forgotten whenever the CPU may have moved on: at every
// hook entry (a new stop), when Start begins and returns, after a context
// restore (TakeFault, ClearFault), and after any write other than a general
// register or EIP, whose new value is kept instead (a write to EFLAGS,
// a segment, a control, descriptor-table or model-specific register can
// change what other registers read back, or read back differently).

// Deferred writes. Inside the eager interrupt hook (HookIntrFault), with
// no other callback nested in it, a write of a general register, EIP or
// EFLAGS is queued in C memory instead of crossing into C: the hook's C
// side performs the queue after the handler returns. Whatever needs the
// CPU to hold those values first flushes the queue (flushRegs): a context
// save or restore, Stop (so that a write before a Stop still precedes it:
// pitfall 6), Start, a register read the snapshot cannot answer, any
// other register write, a TLB or translation flush. The snapshot keeps
// the written values (EFLAGS with bit 1 set, as Unicorn reads it back).

// deferrable marks the registers a write of which may be queued.
var deferrable [512]bool

func init() {
	for _, r := range []Reg{EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI, EIP, EFLAGS} {
		deferrable[r] = true
	}
}

// deferWrite queues a write of v to r if the engine is inside the eager
// hook's handler; false: write it now.
func (e *Engine) deferWrite(r Reg, v uint32) bool {
	s := e.snap
	if s == nil || s.in_eager == 0 || e.depth != 1 || r < 0 || int(r) >= len(deferrable) || !deferrable[r] {
		return false
	}
	i := 0
	for ; i < int(s.ndirty); i++ {
		if s.dirty_regs[i] == C.int(r) {
			break
		}
	}
	if i == len(s.dirty_regs) {
		e.flushRegs()
		i = 0
	}
	s.dirty_regs[i] = C.int(r)
	s.dirty_vals[i] = C.uint32_t(v)
	if i == int(s.ndirty) {
		s.ndirty++
	}
	if r == EFLAGS {
		// Unicorn reads a written EFLAGS back with the always-one bit 1
		// set and every other bit as written (TestEFLAGSRoundTrip).
		v |= 2
	}
	if s.valid != 0 {
		s.vals[snapSlot[r]-1] = C.uint32_t(v)
	}
	return true
}

// deferAll queues a batch write if every register in it can be queued
// (and there is room); false: write the batch now.
func (e *Engine) deferAll(rs []Reg, vals []uint32) bool {
	s := e.snap
	if s == nil || s.in_eager == 0 || e.depth != 1 || len(rs) > len(s.dirty_regs)-int(s.ndirty) {
		return false
	}
	for _, r := range rs {
		if r < 0 || int(r) >= len(deferrable) || !deferrable[r] {
			return false
		}
	}
	for i, r := range rs {
		e.deferWrite(r, vals[i])
	}
	return true
}

// wroteMMR keeps the snapshot consistent with a write of m to r: GDTR and
// IDTR read back as Unicorn stores them (the base, the limit's low 16
// bits, no selector or flags: TestMMRWriteThrough), LDTR and TR are read
// again.
func (e *Engine) wroteMMR(r Reg, m MMR) {
	s := e.snap
	if s == nil || s.mmr_valid == 0 {
		return
	}
	if r != GDTR && r != IDTR {
		s.mmr_valid = 0
		return
	}
	c := &s.mmr[snapSlot[r]-1]
	c.base, c.limit, c.sel, c.flags = C.uint64_t(m.Base), C.uint32_t(m.Limit&0xFFFF), 0, 0
}

// forgetMMRs drops the snapshot's descriptor-table registers only.
func (e *Engine) forgetMMRs() {
	if s := e.snap; s != nil {
		s.mmr_valid = 0
	}
}

// flushRegs performs the queued writes now (one cgo call, only if any).
func (e *Engine) flushRegs() {
	s := e.snap
	if s == nil || s.ndirty == 0 {
		return
	}
	C.vs_snap_flush(e.uc, s) // a failure is kept in flush_err, reported by Start
}

// snapRegs is the C snapshot's slot order (vs_snap_regs in shim.c).
var snapRegs = [C.VS_SNAP_N]Reg{
	EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI,
	EIP, EFLAGS,
	CS, SS, DS, ES, FS, GS,
	CR0, CR2, CR3, CR4,
}

// snapMMRs is the order of the snapshot's descriptor-table registers.
var snapMMRs = [4]Reg{GDTR, IDTR, LDTR, TR}

// snapSlot maps a register id to its snapshot slot + 1 (0: not cached).
var snapSlot [512]uint8

// writeThrough marks the registers whose written value is what a read
// returns, with no effect on any other register: the general registers
// and EIP.
var writeThrough [512]bool

func init() {
	for i, r := range snapRegs {
		snapSlot[r] = uint8(i + 1)
	}
	for _, r := range []Reg{EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI, EIP} {
		writeThrough[r] = true
	}
	for i, r := range snapMMRs {
		snapSlot[r] = uint8(i + 1)
	}
}

// newSnap allocates the engine's snapshot in C memory (nil on failure).
func newSnap() *C.vs_snap {
	return (*C.vs_snap)(C.calloc(1, C.size_t(unsafe.Sizeof(C.vs_snap{}))))
}

func freeSnap(s *C.vs_snap) { C.free(unsafe.Pointer(s)) }

// forgetRegs drops the snapshot: the CPU may have changed. The one
// exception is the hook entry right after the eager interrupt hook took it
// (HookIntrFault): that forget only clears the mark.
func (e *Engine) forgetRegs() {
	s := e.snap
	if s == nil {
		return
	}
	if s.eager != 0 {
		s.eager = 0
		return
	}
	s.valid, s.mmr_valid, s.fault_valid = 0, 0, 0
}

// takenFault returns the fault the eager interrupt hook took, once.
func (e *Engine) takenFault() (code uint32, isInt, ok bool, err error) {
	s := e.snap
	if s == nil || s.fault_valid == 0 {
		return 0, false, false, nil
	}
	s.fault_valid = 0
	if err := ucErr(C.uc_err(s.fault_err)); err != nil {
		return 0, false, true, fmt.Errorf("unicorn: take fault: %w", err)
	}
	return uint32(s.fault_code), s.fault_is_int != 0, true, nil
}

// cachedReg returns r from the snapshot, taking one if none is valid; ok
// is false if r is not a snapshot register.
func (e *Engine) cachedReg(r Reg) (v uint32, ok bool, err error) {
	if r < 0 || int(r) >= len(snapSlot) || !r.isScalar() {
		return 0, false, nil
	}
	slot := snapSlot[r]
	if slot == 0 {
		return 0, false, nil
	}
	s := e.snap
	if s.valid == 0 {
		e.flushRegs()
		if err := ucErr(C.vs_snap_take(e.uc, s)); err != nil {
			return 0, true, fmt.Errorf("unicorn: reg read %v: %w", r, err)
		}
	}
	return uint32(s.vals[slot-1]), true, nil
}

// wroteReg keeps the snapshot consistent with a write of v to r.
func (e *Engine) wroteReg(r Reg, v uint32) {
	s := e.snap
	if s.valid == 0 {
		return
	}
	if r >= 0 && int(r) < len(writeThrough) && writeThrough[r] {
		s.vals[snapSlot[r]-1] = C.uint32_t(v)
		return
	}
	s.valid, s.mmr_valid = 0, 0
}

// cachedMMR returns a descriptor-table register from the snapshot.
func (e *Engine) cachedMMR(r Reg) (MMR, error) {
	s := e.snap
	if s.mmr_valid == 0 {
		if err := ucErr(C.vs_snap_take_mmr(e.uc, s)); err != nil {
			return MMR{}, fmt.Errorf("unicorn: mmr read %v: %w", r, err)
		}
	}
	m := &s.mmr[snapSlot[r]-1]
	return MMR{Selector: uint16(m.sel), Base: uint32(m.base), Limit: uint32(m.limit), Flags: uint32(m.flags)}, nil
}

// regsCached serves a batch read from the snapshot (taking one if needed)
// when every register in rs is a snapshot register; false: read them
// from the CPU.
func (e *Engine) regsCached(rs []Reg, out []uint32) bool {
	for _, r := range rs {
		if r < 0 || int(r) >= len(snapSlot) || snapSlot[r] == 0 || !r.isScalar() {
			return false
		}
	}
	s := e.snap
	if s.valid == 0 {
		e.flushRegs()
	}
	if s.valid == 0 && C.vs_snap_take(e.uc, s) != C.UC_ERR_OK {
		return false // the plain batch read reports the error
	}
	for i, r := range rs {
		out[i] = uint32(s.vals[snapSlot[r]-1])
	}
	return true
}
