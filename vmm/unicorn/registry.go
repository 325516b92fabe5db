package unicorn

import (
	"sync"
	"sync/atomic"
)

// The hook registry maps the integer handle that C holds (the hook's
// user_data) to the Go callback. C never sees a Go pointer: cgo's pointer
// rules forbid Go pointers stored in C memory, and the garbage collector
// may move or free what C cannot report.
//
// Reads happen on every callback and must be cheap, so the table is
// copy-on-write: callbacks load an immutable slice through an atomic
// pointer without locking; the rare writers (hook add/delete) copy the
// slice under a mutex. Handles are slot+1 so that 0 never names a hook.

type hookKind uint8

const (
	kindIntr hookKind = iota + 1
	kindIn
	kindOut
	kindCPUID
	kindInsnInvalid
	kindMem
	kindCode
	kindBlock
	kindClock
)

var hookKindNames = [...]string{
	kindIntr: "intr", kindIn: "in", kindOut: "out", kindCPUID: "cpuid",
	kindInsnInvalid: "insn-invalid", kindMem: "mem", kindCode: "code", kindBlock: "block",
	kindClock: "block-clock",
}

func (k hookKind) String() string {
	if int(k) < len(hookKindNames) && hookKindNames[k] != "" {
		return hookKindNames[k]
	}
	return "unknown"
}

// entry is one registered callback. Exactly one func field is set,
// according to kind.
type entry struct {
	eng     *Engine
	kind    hookKind
	intr    func(intno uint32)
	in      func(port uint32, size int) uint32
	out     func(port uint32, size int, value uint32)
	pred    func() bool // cpuid, insn-invalid
	mem     func(acc MemAccess, addr uint64, size int, value int64) bool
	code    func(addr uint64, size uint32) // code, block
	clock   func(now, addr uint64)         // block clock deadline
	deleted atomic.Bool
}

var registry struct {
	mu    sync.Mutex
	table atomic.Pointer[[]*entry]
	free  []uint32 // free slots (0-based)
}

// register stores e and returns its handle (slot+1).
func register(e *entry) uint32 {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	var old []*entry
	if p := registry.table.Load(); p != nil {
		old = *p
	}
	next := make([]*entry, len(old), max(len(old)+1, 2*len(old)))
	copy(next, old)
	var slot uint32
	if n := len(registry.free); n > 0 {
		slot = registry.free[n-1]
		registry.free = registry.free[:n-1]
	} else {
		slot = uint32(len(next))
		next = append(next, nil)
	}
	next[slot] = e
	registry.table.Store(&next)
	return slot + 1
}

// unregister clears a handle's slot and makes it reusable. The caller has
// already removed the C hook, so no new callback can arrive for it; one
// that is running keeps its own *entry.
func unregister(handle uint32) {
	if handle == 0 {
		return
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	p := registry.table.Load()
	if p == nil || int(handle-1) >= len(*p) || (*p)[handle-1] == nil {
		return
	}
	(*p)[handle-1].deleted.Store(true)
	next := make([]*entry, len(*p))
	copy(next, *p)
	next[handle-1] = nil
	registry.table.Store(&next)
	registry.free = append(registry.free, handle-1)
}

// lookup returns the live entry for a handle, or nil.
func lookup(handle uintptr) *entry {
	p := registry.table.Load()
	if p == nil || handle == 0 || handle > uintptr(len(*p)) {
		return nil
	}
	e := (*p)[handle-1]
	if e == nil || e.deleted.Load() {
		return nil
	}
	return e
}
