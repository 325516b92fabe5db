package unicorn

/*
#include <stdlib.h>
#include <string.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

// Pool keeps engines a run has finished with, so that the next run takes
// one over instead of opening its own. Opening is not free: Unicorn
// initialises its CPU, memory system and translator on an engine's first
// use (~1 ms), and closing walks them again; a benchmark's timing pass makes
// many short runs one after another (issue 16: one engine per timing cell).
//
// Put returns an engine to the state Get would otherwise have opened:
// every hook, counter and clock deleted, every memory region unmapped (host
// regions freed), all translated code dropped, the CPU restored to the
// context saved right after the engine was opened, the software TLB emptied
// and the binding's own state (register snapshot, deferred writes, flags)
// reset. What cannot be reset through the public API is not pooled: an
// engine whose recycling fails is closed instead. A run on a recycled
// engine must behave exactly as one on a new engine; the timing pass
// checks that every time (each timing run's counts against its counting
// pass, vmm.SameOutcome).
//
// A Pool is safe for concurrent use. The zero Pool is ready; it keeps at
// most Max idle engines (0: 1).
type Pool struct {
	Max int

	mu   sync.Mutex
	free []*Engine
	// Opened and Reused count Get's engines by where they came from.
	Opened, Reused int
}

// Get returns an idle engine of the pool, or a new one. A nil Pool opens
// a new engine (New).
func (p *Pool) Get() (*Engine, error) {
	if p == nil {
		return New()
	}
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		e := p.free[n-1]
		p.free = p.free[:n-1]
		p.Reused++
		p.mu.Unlock()
		if err := e.SetTLBMode(TLBCPU); err != nil {
			e.Close()
			return nil, err
		}
		return e, nil
	}
	p.Opened++
	p.mu.Unlock()
	e, err := New()
	if err != nil {
		return nil, err
	}
	if err := e.savePristine(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Put gives e back to the pool (or closes it: a nil Pool, a full pool, an
// engine not from a Pool, or one whose recycling fails). e must not be
// used afterwards. A nil e is ignored.
func (p *Pool) Put(e *Engine) error {
	if e == nil || e.uc == nil {
		return nil
	}
	if p == nil || e.pristine == nil {
		return e.Close()
	}
	if err := e.recycle(); err != nil {
		_ = e.Close() // the recycling error is the one to report
		return err
	}
	p.mu.Lock()
	max := p.Max
	if max <= 0 {
		max = 1
	}
	if len(p.free) < max {
		p.free = append(p.free, e)
		e = nil
	}
	p.mu.Unlock()
	if e != nil {
		return e.Close()
	}
	return nil
}

// Close closes every idle engine.
func (p *Pool) Close() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	free := p.free
	p.free = nil
	p.mu.Unlock()
	var first error
	for _, e := range free {
		if err := e.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// savePristine saves the CPU as it is now (a new engine, before any run).
func (e *Engine) savePristine() error {
	if err := ucErr(C.uc_context_alloc(e.uc, &e.pristine)); err != nil {
		e.pristine = nil
		return fmt.Errorf("unicorn: pool: context alloc: %w", err)
	}
	if err := ucErr(C.uc_context_save(e.uc, e.pristine)); err != nil {
		return fmt.Errorf("unicorn: pool: save the new CPU: %w", err)
	}
	return nil
}

// recycle returns e to the state savePristine saw.
func (e *Engine) recycle() error {
	if e.running {
		return fmt.Errorf("unicorn: pool: emulation is running: %w", ErrArg)
	}
	e.dropHooks()
	for _, eg := range e.eagers {
		C.free(unsafe.Pointer(eg))
	}
	clear(e.eagers)
	if err := ucErr(C.vs_unmap_all(e.uc)); err != nil {
		return fmt.Errorf("unicorn: pool: unmap: %w", err)
	}
	e.freeHost()
	if err := ucErr(C.vs_flush_tb(e.uc)); err != nil {
		return fmt.Errorf("unicorn: pool: flush translated code: %w", err)
	}
	if e.exitSet {
		if err := ucErr(C.vs_exits_disable(e.uc)); err != nil {
			return fmt.Errorf("unicorn: pool: disable exits: %w", err)
		}
		e.exitSet = false
	}
	if err := ucErr(C.uc_context_restore(e.uc, e.pristine)); err != nil {
		return fmt.Errorf("unicorn: pool: restore the new CPU: %w", err)
	}
	if err := ucErr(C.vs_flush_tlb(e.uc)); err != nil {
		return fmt.Errorf("unicorn: pool: flush TLB: %w", err)
	}
	// Safe: e.snap is C memory of sizeof(vs_snap) bytes owned by e; zero
	// is its state after newSnap (calloc).
	C.memset(unsafe.Pointer(e.snap), 0, C.size_t(unsafe.Sizeof(C.vs_snap{})))
	e.depth, e.timedOut, e.panicErr = 0, false, nil
	e.invalidHandled, e.started, e.onFast, e.onFastGate, e.fastTotal = false, false, nil, nil, 0
	e.wd.mu.Lock()
	e.wd.armed, e.wd.fired = false, false
	e.wd.mu.Unlock()
	return nil
}
