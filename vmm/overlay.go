package vmm

import (
	"encoding/binary"
	"fmt"
	"maps"
	"sort"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// The guest's own pages under the VMM's.
//
// A VMM that shares the guest's address space (trap, bt) keeps a few pages
// at the top of it that the CPU itself must reach while the guest runs:
// the real GDT, IDT and TSS, the entry stubs, the privilege trampoline,
// bt's translation cache. On a PC those linear addresses are the guest's
// like any other, and a kernel may map its own RAM there (a recursive page
// directory, a fixmap, a device window). The VMM's pages cannot move out of
// the way of every mapping, and the CPU's own reads of them (a descriptor
// fetched at a segment load, a gate at a delivery) cannot be told apart
// from the guest's by the page tables: both are supervisor reads of one
// page. VMware fenced its region with segment limits; Unicorn enforces
// none (SUBSTRATE.md).
//
// So the machine watches those pages instead. For each page the guest maps
// over one of the VMM's onto its own RAM (the strategy says which: an
// overlay), a data-access hook sees every load and store there, and the
// strategy decides, from the instruction at EIP, whether the access is the
// instruction's own operand (the guest's) or the CPU's implicit access (the
// VMM's):
//
//   - a guest load reads the guest's bytes: they are put in the VMM's page
//     for that one access and the VMM's put back right after it
//     (MemHookRead, then MemHookReadAfter or the next trap);
//   - a guest store is refused by the VMM page's write protection and
//     performed in the guest's frame instead (the store's value is in the
//     write-protect hook; bt, whose pages are protected by its page
//     tables, steps the instruction with the guest's frame mapped);
//   - the guest's own tables decide as on a PC: permissions, and the
//     accessed and dirty bits set in its entry.
//
// Each is one event of cause CauseVMMOverlay. The hooks exist only while
// the guest's current address space has such a page: while they do, every
// load and store leaves Unicorn's fast path (HookMemAccess), a price paid
// by a guest that maps its RAM over the VMM and by no other.

// CauseVMMOverlay is a guest access to its own page where the VMM keeps one
// the CPU must reach, emulated against the guest's frame.
const CauseVMMOverlay = "mem/vmm-overlay"

// OverlayPolicy is what the strategy that owns the overlaid pages decides.
type OverlayPolicy struct {
	// Explicit reports whether the access at addr (size bytes, a store if
	// write) made at EIP pc is the instruction's own operand, and the guest
	// instruction to record it at.
	Explicit func(pc, addr uint32, size int, write bool) (guestPC uint32, ok bool)
	// Guest translates the guest's access to its linear page lin through
	// its own tables (setting accessed and dirty as the CPU would): the
	// frame, or why the access would fault there.
	Guest func(lin uint32, write bool) (frame uint32, fault string)
	// Store performs a guest store of b at guest physical pa (a VMM keeps
	// its shadows coherent when pa is in a page table).
	Store func(pa uint32, b []byte) error
	// CodePage reports the strategy's pages holding code the CPU runs
	// (besides the machine's trampoline), and OwnCode the addresses of
	// that code: the guest's own code on such a page, overlaid, is stopped
	// with a report instead of running the VMM's bytes.
	CodePage func(page uint32) bool
	OwnCode  func(pc uint32) bool
}

// overlaySwap is one guest load in progress: the VMM's bytes it displaced.
type overlaySwap struct {
	at  uint32
	old []byte
}

// SetOverlayPolicy installs the strategy's decisions (before SetOverlay).
func (m *Machine) SetOverlayPolicy(p OverlayPolicy) { m.overlayPolicy = p }

// Overlay reports the pages overlaid now: VMM page -> guest frame.
func (m *Machine) Overlay() map[uint32]uint32 { return m.overlay }

// Overlaid reports whether the page of lin is overlaid (its guest frame
// may be 0).
func (m *Machine) Overlaid(lin uint32) bool {
	_, ok := m.overlay[lin&^0xFFF]
	return ok
}

// OverlayCodeStop stops a guest that runs code at pc on its own page
// overlaid on the VMM's: the CPU would run the VMM's bytes there.
func (m *Machine) OverlayCodeStop(pc uint32) {
	m.Crash(pc, "the guest runs code on its own page at %#x, where the VMM keeps a page of its own: guest code in the VMM's top 16 MiB is not supported (a documented limit; its loads and stores there are emulated)", pc)
}

// SetOverlay makes pages (VMM page -> the guest's frame) the overlaid ones,
// hooking each run of adjacent pages. Going from none to some or back,
// every translated block must be dropped (the hooks change how loads are
// compiled): that happens at the next stop of the engine, which Complete
// forces.
func (m *Machine) SetOverlay(pages map[uint32]uint32) error {
	if maps.Equal(m.overlay, pages) {
		return nil
	}
	m.restoreSwaps()
	for _, h := range m.overlayHooks {
		if err := m.E.Del(h); err != nil {
			return fmt.Errorf("vmm: overlay: %w", err)
		}
	}
	m.overlayHooks = m.overlayHooks[:0]
	if (len(m.overlay) == 0) != (len(pages) == 0) {
		m.wantFlush = true
	}
	m.overlay = pages
	if len(pages) == 0 {
		m.overlay = nil
		return nil
	}
	lins := make([]uint32, 0, len(pages))
	for lin := range pages {
		lins = append(lins, lin)
	}
	sort.Slice(lins, func(i, j int) bool { return lins[i] < lins[j] })
	for i := 0; i < len(lins); {
		j := i + 1
		for j < len(lins) && lins[j] == lins[j-1]+0x1000 {
			j++
		}
		// From 15 bytes before the run: an access that starts on the page
		// before and spans into it is reported at its first byte.
		lo, hi := max(uint64(lins[i]), 15)-15, uint64(lins[j-1])+0xFFF
		h, err := m.E.HookMemAccess(unicorn.MemHookRead|unicorn.MemHookReadAfter|unicorn.MemHookWrite, lo, hi, m.onOverlayAccess)
		if err != nil {
			return fmt.Errorf("vmm: overlay %#x-%#x: %w", lo, hi, err)
		}
		m.overlayHooks = append(m.overlayHooks, h)
		i = j
	}
	for _, lin := range lins {
		if !m.vmmCodePage(lin) {
			continue
		}
		h, err := m.E.HookCode(uint64(lin), uint64(lin)+0xFFF, m.onOverlayCode)
		if err != nil {
			return fmt.Errorf("vmm: overlay %#x: %w", lin, err)
		}
		m.overlayHooks = append(m.overlayHooks, h)
		if err := m.DropTranslations(uint64(lin), uint64(lin)+0x1000); err != nil {
			return fmt.Errorf("vmm: overlay %#x: %w", lin, err)
		}
	}
	return nil
}

// vmmCodePage reports a page of the VMM's region whose code the CPU runs.
func (m *Machine) vmmCodePage(page uint32) bool {
	return page == stubAddr&^0xFFF || page == landingAddr&^0xFFF ||
		m.overlayPolicy.CodePage != nil && m.overlayPolicy.CodePage(page)
}

// onOverlayCode runs before each instruction on an overlaid page of VMM
// code: the VMM's own code there runs; anything else is the guest jumping
// to its own page, whose bytes the CPU would not see.
func (m *Machine) onOverlayCode(addr uint64, _ uint32) {
	pc := uint32(addr)
	switch {
	case pc == stubAddr && m.gate != nil, // a privilege switch in flight
		pc == landingAddr, pc == iretAddr, // its landing hook moves on at once
		m.overlayPolicy.OwnCode != nil && m.overlayPolicy.OwnCode(pc):
		return
	}
	m.OverlayCodeStop(pc)
}

// flushForOverlay drops every translation between runs when the overlay
// hooks came or went.
func (m *Machine) flushForOverlay() error {
	if !m.wantFlush {
		return nil
	}
	m.wantFlush = false
	if err := m.E.FlushTranslations(); err != nil {
		return fmt.Errorf("vmm: overlay: %w", err)
	}
	return nil
}

// onOverlayAccess is the data-access hook on overlaid pages.
func (m *Machine) onOverlayAccess(acc unicorn.MemAccess, addr uint64, size int, _ int64) {
	if m.E.Nested() {
		return // the VMM's own segment load from a hook: the CPU reads its descriptor
	}
	switch acc {
	case unicorn.MemReadAfter:
		m.restoreSwaps()
	case unicorn.MemRead:
		if m.swapped(uint32(addr), size) {
			return // a part of a load in progress (an access split in two)
		}
		m.restoreSwaps()
		m.overlayLoad(uint32(addr), size)
	case unicorn.MemWrite:
		// A new store (Unicorn reports none for the bytes of a split
		// one): the write-protect hook that follows (overlayStore) counts
		// it. The hook is there so that EIP is exact there too.
		m.lastStore = overlayStoreAt{}
	}
}

// overlayLoad gives a guest load the guest's own bytes.
func (m *Machine) overlayLoad(addr uint32, size int) {
	if m.overlayPolicy.Explicit == nil {
		return
	}
	// The access may span two pages. Unicorn reports it once, at its
	// first byte, then reads it as two aligned accesses (reported too,
	// nested: onOverlayAccess lets them through): the guest's bytes go in
	// from the aligned word before it to the aligned word after it, each
	// part on an overlaid page.
	end := (uint64(addr) + uint64(size) + 7) &^ 7
	var parts [2]struct{ at, n, page uint32 }
	k := 0
	for a := uint64(addr &^ 7); a < end && k < len(parts); {
		page := uint32(a) &^ 0xFFF
		n := min(end-a, uint64(page)+0x1000-a)
		if m.Overlaid(page) {
			parts[k] = struct{ at, n, page uint32 }{uint32(a), uint32(n), page}
			k++
		}
		a += n
	}
	if k == 0 {
		return
	}
	gpc, explicit := m.overlayPolicy.Explicit(m.pc(), addr, size, false)
	if !explicit {
		return
	}
	for _, p := range parts[:k] {
		frame, why := m.overlayPolicy.Guest(p.page, false)
		if why != "" {
			m.Crash(gpc, "the guest's load at %#x, its own page where the VMM keeps one, %s: not emulated", addr, why)
			return
		}
		guest := make([]byte, p.n)
		old := make([]byte, p.n)
		if err := m.E.MemRead(uint64(frame+p.at-p.page), guest); err != nil {
			m.fail(fmt.Errorf("vmm: overlay: read the guest's frame %#x: %w", frame, err))
			return
		}
		if err := m.E.MemRead(uint64(p.at), old); err != nil {
			m.fail(fmt.Errorf("vmm: overlay: %w", err))
			return
		}
		if err := m.E.MemWrite(uint64(p.at), guest); err != nil {
			m.fail(fmt.Errorf("vmm: overlay: %w", err))
			return
		}
		m.overlaySwaps = append(m.overlaySwaps, overlaySwap{at: p.at, old: old})
	}
	m.Record(CauseVMMOverlay, MechTrap, gpc)
}

// swapped reports whether [addr, addr+size) lies within the guest bytes
// a load in progress put in.
func (m *Machine) swapped(addr uint32, size int) bool {
	if len(m.overlaySwaps) == 0 {
		return false
	}
	for a := uint64(addr); a < uint64(addr)+uint64(size); a++ {
		in := false
		for _, s := range m.overlaySwaps {
			if a >= uint64(s.at) && a < uint64(s.at)+uint64(len(s.old)) {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	return true
}

// restoreSwaps puts the VMM's bytes back after guest loads (in reverse:
// two loads of one instruction may overlap).
func (m *Machine) restoreSwaps() {
	for i := len(m.overlaySwaps) - 1; i >= 0; i-- {
		s := m.overlaySwaps[i]
		if err := m.E.MemWrite(uint64(s.at), s.old); err != nil {
			m.fail(fmt.Errorf("vmm: overlay: restore the VMM's page at %#x: %w", s.at, err))
		}
	}
	m.overlaySwaps = m.overlaySwaps[:0]
}

// overlayStore performs a guest store the VMM page's write protection
// refused in the guest's frame, reporting whether it was one.
func (m *Machine) overlayStore(addr uint32, size int, value uint64) bool {
	if !m.Overlaid(addr) || m.overlayPolicy.Explicit == nil {
		return false
	}
	gpc, explicit := m.overlayPolicy.Explicit(m.pc(), addr, size, true)
	if !explicit {
		return false
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], value)
	// A store may span two pages (Unicorn then also stores it byte by
	// byte, each byte reported again: the same bytes land twice, the
	// event is counted once). Each part goes to the guest's frame of its
	// page, which must be overlaid too.
	for a, rest := addr, b[:size]; len(rest) > 0; {
		page := a &^ 0xFFF
		n := min(len(rest), int(page+0x1000-a))
		if !m.Overlaid(page) {
			m.Crash(gpc, "the guest's store at %#x spans its own page where the VMM keeps one and the VMM's page %#x: not emulated", addr, page)
			return false
		}
		frame, why := m.overlayPolicy.Guest(page, true)
		if why != "" {
			m.Crash(gpc, "the guest's store at %#x, its own page where the VMM keeps one, %s: not emulated", addr, why)
			return false
		}
		if err := m.overlayPolicy.Store(frame+a-page, rest[:n]); err != nil {
			m.fail(fmt.Errorf("vmm: overlay: %w", err))
			return false
		}
		a, rest = a+uint32(n), rest[n:]
	}
	if last := m.lastStore; !(last.pc == gpc && addr >= last.addr && uint64(addr)+uint64(size) <= uint64(last.addr)+uint64(last.size)) {
		m.Record(CauseVMMOverlay, MechTrap, gpc)
	}
	m.lastStore = overlayStoreAt{pc: gpc, addr: addr, size: size}
	return true
}

// overlayStoreAt is the last store overlayStore performed: a byte of it
// reported again (a store split across pages) is not another event.
type overlayStoreAt struct {
	pc, addr uint32
	size     int
}

// OperandAccess is the decision for guest code at pc: whether its access
// at addr (size bytes) lies within what an instruction names — its memory
// operand, the stack it pushes or pops, the string it walks. The CPU's
// implicit reads (a descriptor at a segment load, the TSS) lie elsewhere.
// EIP is exact in the hook for the loads and stores translated code makes
// inline (HookMemAccess syncs it before each); Unicorn's helpers (atomic
// read-modify-writes, iret, far transfers, segment loads) leave it at the
// last instruction synced before, in the same block. So the instructions
// from pc to the end of its block are the candidates, each checked with
// the registers as they are now (those before the accessing one have
// run). A helper's own pops of a stack on an overlaid page are decided by
// the same rule.
func (m *Machine) OperandAccess(pc, addr uint32, size int) bool {
	_, ok := m.FindOperand(pc, addr, size, nil)
	return ok
}

// FindOperand is OperandAccess's search, returning the address of the
// instruction that names the access; only candidates mine accepts count
// (nil: all), so that a translator can leave out the code it wrote
// around a guest's instruction.
func (m *Machine) FindOperand(pc, addr uint32, size int, mine func(at uint32, inst x86asm.Inst) bool) (uint32, bool) {
	for i := 0; i < overlaySearch; i++ {
		inst, err := m.Decode(pc)
		if err != nil {
			return 0, false
		}
		if (mine == nil || mine(pc, inst)) && m.Names(inst, addr, size) {
			return pc, true
		}
		if x86.EndsBlock(inst.Op) {
			return 0, false
		}
		pc += uint32(inst.Len)
	}
	return 0, false
}

// overlaySearch bounds OperandAccess's walk, in instructions.
const overlaySearch = 16

// Names reports whether inst, with the registers as they are, names the
// access at addr (size bytes): its memory operand, its stack, its string.
func (m *Machine) Names(inst x86asm.Inst, addr uint32, size int) bool {
	return namesAccess(inst, machineRegs{m}, addr, size)
}

// operandRegs is what deciding an access needs of the CPU.
type operandRegs interface {
	GPR(r x86asm.Reg) uint32     // a general register (its 8/16/32-bit part)
	SegBase(r x86asm.Reg) uint32 // the base of segment register ES..GS
}

// machineRegs reads them from the engine.
type machineRegs struct{ m *Machine }

func (r machineRegs) GPR(x x86asm.Reg) uint32 {
	v, _, _ := r.m.regVal(x)
	return v
}

func (r machineRegs) SegBase(x x86asm.Reg) uint32 {
	return r.m.segBase(uint16(r.m.reg(segRegs[x-x86asm.ES])))
}

// effAddr is the linear address of memory operand mem.
func effAddr(mem x86asm.Mem, c operandRegs) uint32 {
	ea := uint32(mem.Disp)
	seg := x86asm.DS
	if mem.Base != 0 {
		ea += c.GPR(mem.Base)
		if mem.Base == x86asm.ESP || mem.Base == x86asm.EBP {
			seg = x86asm.SS
		}
	}
	if mem.Index != 0 {
		ea += c.GPR(mem.Index) * uint32(mem.Scale)
	}
	if mem.Segment >= x86asm.ES && mem.Segment <= x86asm.GS {
		seg = mem.Segment
	}
	return ea + c.SegBase(seg)
}

// namesAccess is Names, pure: the decision table of which accesses an
// instruction makes by itself (overlay_test.go).
func namesAccess(inst x86asm.Inst, c operandRegs, addr uint32, size int) bool {
	within := func(lo, n uint32) bool { return addr-lo < n && addr+uint32(size)-lo <= n }
	for _, a := range inst.Args {
		if mem, ok := a.(x86asm.Mem); ok && inst.Op != x86asm.LEA && inst.Op != x86asm.NOP {
			if within(effAddr(mem, c), uint32(max(inst.MemBytes, 1))) {
				return true
			}
		}
	}
	switch inst.Op {
	case x86asm.PUSH, x86asm.POP, x86asm.CALL, x86asm.RET, x86asm.ENTER, x86asm.LEAVE,
		x86asm.PUSHF, x86asm.PUSHFD, x86asm.POPF, x86asm.POPFD, x86asm.PUSHA, x86asm.PUSHAD,
		x86asm.POPA, x86asm.POPAD, x86asm.IRET, x86asm.IRETD, x86asm.LRET, x86asm.LCALL:
		// The stack around ESP: pushes below it, pops above (a frame of
		// up to 8 dwords either way, pusha's and an inter-ring iret's).
		return within(c.GPR(x86asm.ESP)+c.SegBase(x86asm.SS)-48, 96)
	case x86asm.MOVSB, x86asm.MOVSW, x86asm.MOVSD, x86asm.CMPSB, x86asm.CMPSW, x86asm.CMPSD,
		x86asm.LODSB, x86asm.LODSW, x86asm.LODSD, x86asm.OUTSB, x86asm.OUTSW, x86asm.OUTSD:
		si := c.GPR(x86asm.ESI) + c.SegBase(x86asm.DS)
		di := c.GPR(x86asm.EDI) + c.SegBase(x86asm.ES)
		return within(si-4, 8) || within(di-4, 8)
	case x86asm.STOSB, x86asm.STOSW, x86asm.STOSD, x86asm.SCASB, x86asm.SCASW, x86asm.SCASD,
		x86asm.INSB, x86asm.INSW, x86asm.INSD:
		return within(c.GPR(x86asm.EDI)+c.SegBase(x86asm.ES)-4, 8)
	case x86asm.XLATB:
		return within(c.GPR(x86asm.EBX)+c.GPR(x86asm.AL)+c.SegBase(x86asm.DS), 1)
	}
	return false
}
