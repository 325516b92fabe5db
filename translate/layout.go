package translate

import (
	"fmt"

	"virtsim/trap"
	"virtsim/vmm"
)

// The translator's part of the VMM region (vmm.StrategyBase upward; trap's
// real GDT, IDT, TSS, entry stubs and shadow LDT occupy its first
// trap.AreaSize bytes).
//
//	regionBase          page directory, then page tables (guest RAM, VMM region)
//	vroAddr             the virtual CPU's read-only page: GDTR/IDTR images, CR0, TR, LDTR
//	vrwAddr             the guest-owned page: virtual IF and IOPL, scratch slots
//	tablesAddr          small constant tables (popf/pushf flag bytes)
//	slotsAddr           indirect-jump slots of in-TC sti/popf (continue, or call out)
//	selViewAddr         64 Ki selector views (RPL 1 shown as RPL 0)
//	retTabAddr          the lookup's miss table: 64 Ki entries, each the miss callout
//	l1TabAddr           64 Ki lookup entries by the target's high 16 bits: the
//	                    table for its low 16 bits (the miss table, or one of l2Slots)
//	tcBase              the translation cache (TCSize bytes)
//	l2Base              l2Slots lookup tables by the target's low 16 bits, each
//	                    for one value of the high 16 bits (below the pool)
//	poolBase            shadow page tables of a paging guest (pool pages, never mapped)
//	stubBase            callout stubs (one byte each), above the pool
//
// Only vrwAddr is writable by the guest (its own virtual state); everything
// else is read-only or not mapped in the VMM's page tables, and written by
// the VMM from the host.
const (
	regionBase   = vmm.StrategyBase + 0x100000
	pdAddr       = regionBase
	ptAddr       = regionBase + 0x1000
	ptAreaSize   = 0x400000 // 1024 page tables: RAM up to 3.5 GiB, the VMM region, the device page
	vroAddr      = regionBase + 0x401000
	vrwAddr      = regionBase + 0x402000
	tablesAddr   = regionBase + 0x403000
	slotsAddr    = regionBase + 0x404000
	slotsSize    = 0x10000 // 16 Ki slots
	selViewAddr  = regionBase + 0x420000
	retTabAddr   = regionBase + 0x480000
	l1TabAddr    = regionBase + 0x4C0000
	lookupTab    = 0x40000 // a lookup table: 64 Ki entries of 4 bytes
	tcBase       = regionBase + 0x500000
	stubBase     = vmm.StrategyBase + vmm.StrategySize - stubAreaSize
	stubAreaSize = 0x20000 // 128 Ki stubs
	poolBase     = stubBase - poolSize
	poolSize     = 0x100000 // 256 shadow pages
	l2Slots      = 4        // high halves with a lookup table of their own at once
	l2Base       = poolBase - l2Slots*lookupTab
	tcMaxSize    = l2Base - tcBase - 0x1000 // and the step page after it (overlay.go)

	// The lookup's tables lie on lookupTab boundaries: an l1 entry is a
	// quarter of its table's offset from lookupBias, with the low 16 bits
	// free for the target's (block.go, lookup). A misplaced table fails to
	// compile.
	lookupBias = vmm.VMMBase
	_          = -uint((retTabAddr - lookupBias) % lookupTab)
	_          = -uint((l2Base - lookupBias) % lookupTab)

	// trap's part of the strategy region (read-only for the CPU).
	trapAreaSize = trap.AreaSize
)

// l1Entry is the lookup's l1 entry for the table at addr.
func l1Entry(addr uint32) uint32 { return (addr - lookupBias) / 4 }

// The virtual CPU's read-only page.
const (
	vroGDTR = vroAddr + 0x00 // limit (2) base (4), as sgdt stores it
	vroIDTR = vroAddr + 0x08
	vroCR0  = vroAddr + 0x10
	vroTR   = vroAddr + 0x14
	vroLDTR = vroAddr + 0x16
)

// The guest-owned page (guest state only: a hostile guest that scribbles
// here hurts no one but itself).
const (
	vrwIF      = vrwAddr + 0x00 // virtual IF: 0 or 2 (EFLAGS bit 9 as bit 1 of byte 1)
	vrwIOPL    = vrwAddr + 0x01 // virtual IOPL << 4 (bits 12-13 as bits 4-5 of byte 1)
	vrwSaveEAX = vrwAddr + 0x04
	vrwSaveECX = vrwAddr + 0x08
	vrwSaveEDX = vrwAddr + 0x0C
	vrwSaveEBX = vrwAddr + 0x10
	vrwUserIF  = vrwAddr + 0x14 // the IF the guest kernel's last iret to user mode popped: 1 or 0
)

// Constant tables.
const (
	popfTab  = tablesAddr + 0x000 // 256 × 2: byte1 of an EFLAGS image -> (IF<<1, IOPL<<4)
	pushfTab = tablesAddr + 0x200 // 256: byte1 with IF and IOPL cleared
	rpl3Tab  = tablesAddr + 0x300 // 256: a selector's low byte -> 4 if RPL 3, else 0
)

// DefaultTCSize is the translation cache's size when the configuration
// (vmm.Config.TCSize, virtsim --tc-size) does not say otherwise.
const DefaultTCSize = 4 << 20

// TCSize, if nonzero, overrides the size for instances created from now on
// whose configuration gives none (tests use it).
var TCSize uint32

// Bounds of the translation cache size.
const (
	MinTCSize = 512
	MaxTCSize = tcMaxSize
)

// tcSizeFor resolves the cache size of a new instance.
func tcSizeFor(cfg vmm.Config) (uint32, error) {
	size := cfg.TCSize
	if size == 0 {
		size = TCSize
	}
	if size == 0 {
		size = DefaultTCSize
	}
	if size < MinTCSize || size > MaxTCSize {
		return 0, fmt.Errorf("translation cache size %d: must be between %d and %d bytes", size, MinTCSize, MaxTCSize)
	}
	return size, nil
}
