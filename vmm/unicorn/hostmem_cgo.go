package unicorn

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// hostRegion is guest memory whose backing store the binding allocated
// and handed to Unicorn with uc_mem_map_ptr: the host reads and writes it
// directly.
type hostRegion struct {
	addr, size uint64
	mem        []byte // the mapping, viewed as a Go slice over C memory
}

// MemMapHost maps [addr, addr+size) with permissions p over memory the
// binding owns (uc_mem_map_ptr). The guest sees ordinary memory; MemRead
// and MemWrite reach it with a plain copy instead of through Unicorn.
//
// Why: Unicorn's uc_mem_write into a region mapped without write
// permission lifts the protection, copies and restores it, and each
// protection change rebuilds the whole memory map (40–100 µs). A VMM
// whose own tables, trampolines and translation cache are read-only to
// the guest but written by the host on every exit needs the direct path.
// Like uc_mem_write, a direct write does not invalidate translated code
// (pitfall 5: RemoveCache) and flushes no TLB (FlushTLB).
func (e *Engine) MemMapHost(addr, size uint64, p Prot) error {
	if e.uc == nil {
		return errClosed("mem map host")
	}
	ptr := C.vs_host_alloc(C.size_t(size))
	if ptr == nil {
		return fmt.Errorf("unicorn: mem map host %#x+%#x: %w", addr, size, ErrNoMem)
	}
	if err := ucErr(C.uc_mem_map_ptr(e.uc, C.uint64_t(addr), C.size_t(size), C.uint32_t(p), ptr)); err != nil {
		C.vs_host_free(ptr, C.size_t(size))
		return fmt.Errorf("unicorn: mem map host %#x+%#x %v: %w", addr, size, p, err)
	}
	// Safe: ptr is a private anonymous mapping of size bytes that lives
	// until unmapHost/Close; it holds no Go pointers.
	e.host = append(e.host, hostRegion{addr: addr, size: size, mem: unsafe.Slice((*byte)(ptr), size)})
	return nil
}

// hostSpan returns the host bytes behind [addr, addr+n) if they lie in one
// host-backed region.
func (e *Engine) hostSpan(addr uint64, n int) ([]byte, bool) {
	for i := range e.host {
		r := &e.host[i]
		if addr >= r.addr && addr+uint64(n) <= r.addr+r.size {
			off := addr - r.addr
			return r.mem[off : off+uint64(n)], true
		}
	}
	return nil, false
}

// unmapHost forgets and frees host regions that [addr, addr+size) covers
// entirely (after Unicorn unmapped them).
func (e *Engine) unmapHost(addr, size uint64) {
	kept := e.host[:0]
	for _, r := range e.host {
		if r.addr >= addr && r.addr+r.size <= addr+size {
			C.vs_host_free(unsafe.Pointer(&r.mem[0]), C.size_t(r.size))
			continue
		}
		kept = append(kept, r)
	}
	e.host = kept
}

// freeHost frees every host region (after uc_close).
func (e *Engine) freeHost() {
	for _, r := range e.host {
		C.vs_host_free(unsafe.Pointer(&r.mem[0]), C.size_t(r.size))
	}
	e.host = nil
}
