package unicorn

/*
#include "shim.h"
*/
import "C"

import "fmt"

// Counter counts executed guest instructions entirely in C: a UC_HOOK_CODE
// hook on every address (NewInsnCounter) or on a range (NewInsnCounterRange)
// increments a C-allocated uint64; no Go code runs per instruction (about
// 8 ns per instruction instead of ~70 for a Go code hook). With a budget > 0
// the hook stops the emulation before the first instruction beyond the
// budget, so exactly `budget` instructions run and EIP is left at the next
// one; Exhausted then reports true.
//
// An instruction that faults is counted (its hook ran before it); an
// instruction re-executed after a restart is counted again. Instructions
// outside the range are neither counted nor stopped by the budget.
type Counter struct {
	e *Engine
	c *C.vs_counter // nil after Del or Engine.Close
	// siteHandle is the registry handle of ServeSites' callback (0: none).
	siteHandle uint32
	// Values kept after Del so that late reads still make sense.
	final      uint64
	finalExh   bool
	finalDone  bool
	finalSites map[uint32]uint64
}

// NewInsnCounter installs an instruction counter on every address with the
// given budget (0 = unlimited). It is NewInsnCounterRange(1, 0, budget).
func (e *Engine) NewInsnCounter(budget uint64) (*Counter, error) {
	return e.NewInsnCounterRange(1, 0, budget)
}

// NewInsnCounterRange installs an instruction counter whose code hook covers
// only the instructions at addresses in [begin, end] (both inclusive;
// begin > end means every address, as for HookCode), with the given budget
// (0 = unlimited). Code elsewhere (e.g. a VMM trampoline outside guest RAM)
// runs at full speed and is not counted.
//
// Called between runs, it drops all translated code (UC_CTL_TB_FLUSH) so
// that the hook is compiled into every block from the next Start on. Called
// from inside a callback it cannot do that safely: blocks translated before
// then do not count until RemoveCache (pitfall 5).
func (e *Engine) NewInsnCounterRange(begin, end, budget uint64) (*Counter, error) {
	return e.newInsnCounter(begin, end, budget, true)
}

// NewInsnCounterRangeKeep is NewInsnCounterRange without the flush of all
// translated code: the caller drops the translations of [begin, end]
// itself (RemoveCache) before the next Start, or blocks translated
// earlier run uncounted.
func (e *Engine) NewInsnCounterRangeKeep(begin, end, budget uint64) (*Counter, error) {
	return e.newInsnCounter(begin, end, budget, false)
}

func (e *Engine) newInsnCounter(begin, end, budget uint64, flush bool) (*Counter, error) {
	if e.uc == nil {
		return nil, errClosed("new insn counter")
	}
	c := C.vs_counter_new()
	if c == nil {
		return nil, fmt.Errorf("unicorn: new insn counter: %w", ErrNoMem)
	}
	c.budget = C.uint64_t(budget)
	if err := ucErr(C.vs_counter_add(e.uc, c, C.uint64_t(begin), C.uint64_t(end))); err != nil {
		C.vs_counter_free(c)
		return nil, fmt.Errorf("unicorn: new insn counter [%#x, %#x]: %w", begin, end, err)
	}
	ctr := &Counter{e: e, c: c}
	e.counters[ctr] = struct{}{}
	if !flush {
		return ctr, nil
	}
	if err := e.flushIfIdle(); err != nil {
		_ = ctr.Del() // the flush error is the one to report
		return nil, fmt.Errorf("unicorn: new insn counter: %w", err)
	}
	return ctr, nil
}

// Count returns the number of instructions counted so far.
func (c *Counter) Count() uint64 {
	if c.c == nil {
		return c.final
	}
	return uint64(c.c.count)
}

// Exhausted reports whether the budget stopped the emulation (since the
// last Reset or SetBudget).
func (c *Counter) Exhausted() bool {
	if c.c == nil {
		return c.finalExh
	}
	return c.c.exhausted != 0
}

// SetBudget changes the budget (0 = unlimited) and clears Exhausted; the
// count is kept, so the budget is an absolute instruction count.
func (c *Counter) SetBudget(b uint64) {
	if c.c == nil {
		return
	}
	c.c.budget = C.uint64_t(b)
	c.c.exhausted = 0
}

// SetCount sets the count (a restored VM continues its saved count) and
// clears Exhausted; the budget is kept.
func (c *Counter) SetCount(n uint64) {
	if c.c == nil {
		return
	}
	c.c.count = C.uint64_t(n)
	c.c.exhausted = 0
}

// Budget returns the budget (0 = unlimited).
func (c *Counter) Budget() uint64 {
	if c.c == nil {
		return 0
	}
	return uint64(c.c.budget)
}

// Reset sets the count to zero and clears Exhausted; the budget is kept.
func (c *Counter) Reset() {
	if c.c == nil {
		return
	}
	c.c.count = 0
	c.c.exhausted = 0
}

// ServeSites makes the counter call fn before every counted instruction
// whose address was added with AddSite, right after counting it (as a code
// hook added after the counter would run). Unicorn's code-hook helper walks
// every code hook for every instrumented instruction, and a counter on
// every address instruments them all: hundreds of single-address hooks
// (one per I/O instruction of a large kernel) would make each instruction
// walk hundreds of list entries. Here a site is one bit in a C table
// tested per counted instruction, and only sites cross into Go. Sites
// outside the counter's range are never served. Call it once.
func (c *Counter) ServeSites(fn func(addr uint64, size uint32)) error {
	if c.c == nil {
		return fmt.Errorf("unicorn: counter sites: %w", ErrHandle)
	}
	if fn == nil {
		return nilFunc(kindCode)
	}
	if c.siteHandle != 0 {
		return fmt.Errorf("unicorn: counter sites: already served: %w", ErrArg)
	}
	c.siteHandle = register(&entry{kind: kindCode, code: fn, eng: c.e})
	c.c.site_handle = C.uintptr_t(c.siteHandle)
	return nil
}

// AddSite adds addr to the sites ServeSites' callback serves. No
// retranslation is needed: the counter already instruments every
// instruction of its range.
func (c *Counter) AddSite(addr uint32) error {
	if c.c == nil {
		return fmt.Errorf("unicorn: counter add site %#x: %w", addr, ErrHandle)
	}
	if C.vs_counter_add_site(c.c, C.uint32_t(addr)) != 0 {
		return fmt.Errorf("unicorn: counter add site %#x: %w", addr, ErrNoMem)
	}
	return nil
}

// HasSite reports whether addr was added with AddSite.
func (c *Counter) HasSite(addr uint32) bool {
	return c.c != nil && C.vs_counter_has_site(c.c, C.uint32_t(addr)) != 0
}

// CountSite makes the counter count the executions of the instruction at
// addr (within its range) as well, in C: SiteCount reads the count,
// UncountSite ends it. An instruction the budget stops before is not
// counted there either. Like AddSite it needs no retranslation, and it
// adds no code hook: a counter per instruction as a hook of its own
// (NewInsnCounterRange(addr, addr, 0)) would make every instruction the
// counter instruments walk one more list entry in Unicorn's code-hook
// helper.
func (c *Counter) CountSite(addr uint32) error {
	if c.c == nil {
		return fmt.Errorf("unicorn: counter count site %#x: %w", addr, ErrHandle)
	}
	switch C.vs_counter_count_site(c.c, C.uint32_t(addr)) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("unicorn: counter count site %#x: counted already: %w", addr, ErrArg)
	}
	return fmt.Errorf("unicorn: counter count site %#x: %w", addr, ErrNoMem)
}

// SiteCount is the number of executions counted at a site added with
// CountSite (0 for an address that is not one).
func (c *Counter) SiteCount(addr uint32) uint64 {
	if c.c == nil {
		return c.finalSites[addr]
	}
	return uint64(C.vs_counter_site_count(c.c, C.uint32_t(addr)))
}

// UncountSite stops counting at addr and returns the site's final count.
func (c *Counter) UncountSite(addr uint32) (uint64, error) {
	if c.c == nil {
		return 0, fmt.Errorf("unicorn: counter uncount site %#x: %w", addr, ErrHandle)
	}
	var n C.uint64_t
	if C.vs_counter_uncount_site(c.c, C.uint32_t(addr), &n) != 0 {
		return 0, fmt.Errorf("unicorn: counter uncount site %#x: not counted: %w", addr, ErrArg)
	}
	return uint64(n), nil
}

// sites copies the counted sites out of C.
func (c *Counter) sites() map[uint32]uint64 {
	n := C.vs_counter_sites(c.c, nil, nil, 0)
	if n == 0 {
		return nil
	}
	addrs := make([]C.uint32_t, n)
	counts := make([]C.uint64_t, n)
	C.vs_counter_sites(c.c, &addrs[0], &counts[0], n)
	out := make(map[uint32]uint64, n)
	for i := range addrs {
		out[uint32(addrs[i])] = uint64(counts[i])
	}
	return out
}

// Del removes the counter's hook. Count, Exhausted and SiteCount keep
// their last values. Deleting from inside a hook is allowed.
func (c *Counter) Del() error {
	if c.c == nil {
		if c.finalDone {
			return nil
		}
		return fmt.Errorf("unicorn: counter del: engine is closed: %w", ErrHandle)
	}
	e := c.e
	c.final, c.finalExh, c.finalDone = uint64(c.c.count), c.c.exhausted != 0, true
	c.finalSites = c.sites()
	err := ucErr(C.uc_hook_del(e.uc, c.c.hh))
	c.c.site_handle = 0
	unregister(c.siteHandle)
	c.siteHandle = 0
	if e.running {
		// The running translated code may still reach the hook list this
		// instant; free after Start returns.
		e.pendingFree = append(e.pendingFree, c.c)
	} else {
		C.vs_counter_free(c.c)
	}
	delete(e.counters, c)
	c.c = nil
	c.e = nil
	if err != nil {
		return fmt.Errorf("unicorn: counter del: %w", err)
	}
	return nil
}
