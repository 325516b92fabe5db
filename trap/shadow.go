package trap

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/shadow"
	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// Memory virtualization under trap-and-emulate: shadow page tables
// (package shadow). While the guest's virtual CR0.PG is clear the real CPU
// runs without paging, as before; when the guest turns paging on, the real
// CPU pages through the shadow of the guest's current address space, and
// the VMM keeps it coherent from the faults and emulated instructions it
// sees:
//
//   - #PF from the shadow: pf/hidden (filled, retried), a true fault
//     reflected to the guest as exc/#PF with the guest's CR2 and error
//     code, or pt/write (a traced store to a guest page table, performed by
//     the VMM, which then drops what it invalidated);
//   - mov to CR3 (priv/mov-cr3) switches shadows; invlpg (priv/invlpg)
//     drops one entry;
//   - a store into a traced table by other than a 32-bit mov (a push onto
//     a stack sharing the frame, rep stos clearing a freed table, an xchg
//     or an or to memory) runs on the CPU for one step with the table
//     writable, and the shadows drop what changed (pt/write, stepWith);
//   - the guest's own pages where the VMM's region lies (a recursive entry
//     in slot 1023, a kernel's device window up to 4 GiB): the VMM keeps
//     only the pages the CPU itself must reach there (vmmPages: about 40 of
//     4096); an access to any other faults with the guest's translation in
//     hand, which the VMM puts in its own table like a shadow entry, until
//     the guest's paging state or tables change
//     (pf/vmm-alias, MapAlias). Those 40 pages cannot be handed over
//     (the CPU reads them on its own); where the guest maps its RAM over
//     them, the machine watches them and gives each guest load or store
//     there the guest's frame (mem/vmm-overlay: overlay.go,
//     vmm/overlay.go; VMware fenced its region with segment limits,
//     which Unicorn does not enforce);
//   - device pages the guest maps (the local and I/O APIC) are mapped
//     through onto their physical addresses, where the machine emulates
//     them (mmio/lapic:..., vmm/mmio.go).

// Cause names of the shadow MMU's events.
const (
	CausePFHidden = "pf/hidden"
	CausePTWrite  = "pt/write"
	// CauseVMMAlias: the guest touched its own page where the VMM's region
	// lies in the real address space; the VMM mapped it there (until the
	// guest's paging changes).
	CauseVMMAlias = "pf/vmm-alias"
)

// Where the shadows live: the strategy region above trap's tables, 8 MiB
// of pool; the VMM's own directory entries cover 0xFF000000-0xFFFFFFFF.
const (
	shadowVMMPTs   = vmm.StrategyBase + 0x100000 // 4 tables mapping the VMM region
	shadowPoolBase = vmm.StrategyBase + 0x104000
	shadowPoolSize = 2044
	firstVMMPDE    = vmm.VMMBase >> 22
)

// shadowMem is physical memory for the shadow MMU: guest RAM and the
// VMM's pages (vmm.Machine.HostPhys), plus whole-page writes for the pool.
type shadowMem struct {
	x86.PhysMem
	m *vmm.Machine
}

func (s shadowMem) WritePage(pa uint32, b []byte) error { return s.m.E.MemWrite(uint64(pa), b) }

// guestMMU is the paging state the guest believes in.
func (t *VMM) guestMMU() x86.MMU {
	return x86.MMU{CR0: t.V.CR0, CR3: t.V.CR3, CR4: t.V.CR4}
}

// ShadowLayout places a strategy's shadow page tables in its part of the
// VMM region.
type ShadowLayout struct {
	PoolBase  uint32 // physical (= VMM linear) base of the pool of shadow pages
	PoolPages int
	// VMMPDEs are the VMM's directory entries for 0xFF000000-0xFFFFFFFF,
	// copied into every shadow.
	VMMPDEs []uint32
	// OffCR3 is the real CR3 while the guest does not page; 0 turns the
	// real CPU's paging off then (trap).
	OffCR3 uint32
}

// EnableShadow makes this VMM virtualize the guest's MMU with shadow page
// tables placed by l (a strategy built on trap: the binary translator).
func (t *VMM) EnableShadow(l ShadowLayout) {
	t.sh = shadow.New(shadow.Config{
		RAMSize: t.Cfg.MemSize, PoolBase: l.PoolBase, PoolPages: l.PoolPages,
		FirstVMMPDE: firstVMMPDE, VMMPDEs: l.VMMPDEs, Device: vmm.IsDeviceFrame,
	}, shadowMem{t.HostPhys(), t.Machine})
	t.offCR3 = l.OffCR3
	t.shadowOK = true
	t.initOverlay()
}

// Shadow is the shadow MMU (nil unless the VMM virtualizes the MMU).
func (t *VMM) Shadow() *shadow.MMU { return t.sh }

// ShadowOn reports whether the real CPU runs on a shadow (the guest pages).
func (t *VMM) ShadowOn() bool { return t.shadowOn }

// GuestMMU is the paging state the guest believes in.
func (t *VMM) GuestMMU() x86.MMU { return t.guestMMU() }

// VMMDirEntries writes (once) page tables that map the VMM region
// 0xFF000000-4 GiB onto itself and returns the four directory entries that
// name them: what every real page directory a VMM loads for a paging guest
// carries in its top slots (trap's shadows, pv's pinned directories).
//
// Only the pages the CPU itself must reach are present (vmmPages): trap's
// real GDT, IDT and TSS and its entry page, and the machine's trampoline
// (the gate GDT copy, the stub page — user-accessible, it runs at the
// interrupted code's privilege level — and the landing pad). Everything
// else, the shadows' own pool included (the CPU walks it by physical
// address), is absent: a guest that maps its own pages over the region
// faults there and gets them (shadow.VMMRegion, onVMMAlias). Accessed and
// dirty are preset, so the CPU never writes the tables.
func (t *VMM) VMMDirEntries() ([]uint32, error) {
	if t.vmmPDEs != nil {
		return t.vmmPDEs, nil
	}
	pts := make([]byte, 4*4096)
	for _, r := range vmmPages {
		for a := r.lo; a < r.hi; a += 4096 {
			binary.LittleEndian.PutUint32(pts[(a-vmm.VMMBase)>>12*4:], a|r.flags|x86.PTEPresent|x86.PTEAccessed|x86.PTEDirty)
		}
	}
	if err := t.E.MemWrite(shadowVMMPTs, pts); err != nil {
		return nil, fmt.Errorf("trap: write the VMM region's page tables: %w", err)
	}
	for i := uint32(0); i < 4; i++ {
		t.vmmPDEs = append(t.vmmPDEs, (shadowVMMPTs+i*4096)|x86.PTEPresent|x86.PTEWrite|x86.PTEUser|x86.PTEAccessed)
	}
	return t.vmmPDEs, nil
}

// vmmPages are the VMM region's pages the CPU reaches while a paging guest
// runs under trap (or pv), with their user and writable bits. Writable
// here only lets the CPU's own stores through to Unicorn's protection,
// which keeps trap's part read-only.
var vmmPages = []struct {
	lo, hi, flags uint32
}{
	{realGDTAddr, realLDTAddr + realLDTSize, x86.PTEWrite}, // tables, entry stubs, shadow LDT
	{vmm.TrampolineGDT, vmm.TrampolineGDT + vmm.TrampolineGDTSize, x86.PTEWrite},
	{vmm.TrampolineStubPage &^ 0xFFF, vmm.TrampolineStubPage&^0xFFF + 0x1000, x86.PTEWrite | x86.PTEUser},
	{vmm.TrampolineLandingPage &^ 0xFFF, vmm.TrampolineLandingPage&^0xFFF + 0x1000, x86.PTEWrite},
}

// initShadow prepares trap's shadow MMU.
func (t *VMM) initShadow() error {
	pdes, err := t.VMMDirEntries()
	if err != nil {
		return err
	}
	t.EnableShadow(ShadowLayout{PoolBase: shadowPoolBase, PoolPages: shadowPoolSize, VMMPDEs: pdes})
	return nil
}

// syncPaging puts the real MMU in line with the guest's paging state: no
// paging while the guest has none, else the shadow of its address space.
func (t *VMM) syncPaging() {
	m := t.Machine
	t.dropAliases()
	g := t.guestMMU()
	cr0 := m.Reg(unicorn.CR0)
	if !g.Paging() {
		if t.shadowOn {
			t.shadowOn = false
			if t.offCR3 != 0 {
				m.SetReg(unicorn.CR3, t.offCR3)
			} else {
				m.SetReg(unicorn.CR0, cr0&^x86.CR0PG)
			}
			t.flushTLB()
			t.setOverlay(nil)
		}
		return
	}
	if !t.shadowOn {
		// Paging comes (back) on: whatever the guest wrote into its tables
		// while it did not page went untraced, and the CPU would have
		// flushed its TLB at the CR0 and CR3 writes — every cached shadow
		// is stale.
		t.sh.Flush()
	}
	cr3, err := t.sh.Activate(g)
	if err != nil {
		t.Fail(err)
		return
	}
	m.SetReg(unicorn.CR3, cr3)
	if !t.shadowOn {
		t.shadowOn = true
		m.SetReg(unicorn.CR0, cr0|x86.CR0PG|x86.CR0WP)
	}
	t.flushTLB()
	t.refreshOverlay()
}

func (t *VMM) flushTLB() {
	if err := t.E.FlushTLB(); err != nil {
		t.Fail(err)
	}
}

// onShadowFault handles a #PF raised by the shadow tables.
func (t *VMM) onShadowFault(tr vmm.Trap) {
	lin := t.Reg(unicorn.CR2)
	if t.OverlayCode(lin, tr.Code) {
		return
	}
	f, err := t.sh.Fault(t.guestMMU(), lin, PFAccess(tr.Code))
	if err != nil {
		t.Fail(err)
		return
	}
	t.ReloadShadowCR3()
	t.ShadowFault(tr, f)
}

// ReloadShadowCR3 loads the real CR3 again if the shadow in force moved:
// a fill that found the pool exhausted flushed every shadow and rebuilt the
// current one in a new directory page, while the CPU still walked the old
// (freed) one — every retry faulted again, filling tables it never saw
// (bt's 256-page pool ran out in xv6's fork test: 43 M hidden faults).
// Call it after every shadow.MMU.Fault.
func (t *VMM) ReloadShadowCR3() {
	if !t.shadowOn {
		return
	}
	if cur := t.sh.Current(); cur != 0 && cur != t.Reg(unicorn.CR3) {
		t.Machine.SetReg(unicorn.CR3, cur)
		t.flushTLB()
	}
}

// PFAccess is the access a #PF's error code describes.
func PFAccess(code uint32) x86.Access {
	return x86.Access{Write: code&x86.PFWrite != 0, User: code&x86.PFUser != 0}
}

// ShadowFault does what the shadow MMU decided for a #PF at tr.PC (a guest
// address: a translator maps its TC addresses back first): retry a hidden
// fault, reflect a true one, perform a traced page-table write, stop on a
// mapping beyond RAM or of the VMM's region. (Protected faults belong to
// the strategy that protects.)
func (t *VMM) ShadowFault(tr vmm.Trap, f shadow.Fault) { t.ShadowFaultAt(tr, f, tr.PC) }

// ShadowFaultAt is ShadowFault for a fault the CPU took at realPC (a
// translator's TC address; tr is in the guest's terms).
func (t *VMM) ShadowFaultAt(tr vmm.Trap, f shadow.Fault, realPC uint32) {
	m := t.Machine
	lin, acc := f.Addr, PFAccess(tr.Code)
	switch f.Kind {
	case shadow.Hidden:
		m.Record(CausePFHidden, vmm.MechTrap, tr.PC)
		if acc.Write {
			t.flushTLB() // a read-only entry may have become writable
		}
		m.Complete(tr.PC)
	case shadow.True:
		m.Record(tr.Cause, vmm.MechTrap, tr.PC)
		t.V.CR2 = lin
		t.Reflect(x86.VecPF, f.Code, true, false, tr.PC, tr.PC)
	case shadow.PTWrite:
		m.Record(CausePTWrite, vmm.MechTrap, tr.PC)
		t.emulatePTWrite(tr.PC, realPC, f)
	case shadow.Beyond:
		m.Record(tr.Cause, vmm.MechTrap, tr.PC)
		t.Crash(tr.PC, "guest page tables map %#x onto physical %#x, beyond guest RAM (%d MiB)", lin, f.Phys, m.Cfg.MemSize>>20)
	case shadow.VMMRegion:
		t.MapAlias(realPC, tr.PC, tr.Cause, f)
	case shadow.Protected:
		t.Fail(fmt.Errorf("%s: internal error: a write to protected frame %#x reached trap", t.name, f.Phys))
	}
}

// MapAlias maps the guest's own page at an address where the VMM's
// region lies in the real address space (a recursive directory entry in
// slot 1023, a device window up to 4 GiB) and retries the instruction: the
// VMM puts the guest's translation (f.Alias) into its own page table for
// that address, where it stays, like any shadow entry, until the guest's
// paging state or tables change (dropAliases: a CR0/CR3/CR4 write, a
// traced page-table write, an invlpg), when the VMM's own (absent) entry
// returns. The VMM never uses those addresses itself, so nothing of its
// own is hidden meanwhile. Only the pages the CPU itself must reach
// (vmmPages) stay the VMM's; a guest access there does not fault (a
// documented limit: Unicorn enforces no segment limits, the means VMware
// used to fence its region).
//
// realPC is where the CPU stands (a translator's TC address), guestPC the
// guest instruction it belongs to, cause the fault's event cause.
func (t *VMM) MapAlias(realPC, guestPC uint32, cause string, f shadow.Fault) {
	m := t.Machine
	if f.Entry == 0 || f.Phys >= m.Cfg.MemSize {
		m.Record(cause, vmm.MechTrap, guestPC)
		t.Crash(guestPC, "%s: the guest's mapping of %#x (onto physical %#x) lies where the VMM's region is and cannot be aliased", t.name, f.Addr, f.Phys)
		return
	}
	m.Record(CauseVMMAlias, vmm.MechTrap, guestPC)
	if t.aliases == nil {
		t.aliases = map[uint32]uint32{}
	}
	if _, ok := t.aliases[f.Entry]; !ok {
		t.aliases[f.Entry] = f.Restore
	}
	m.HostPhys().WritePhys32(f.Entry, f.Alias)
	t.flushTLB()
	m.Complete(realPC)
}

// Aliased reports whether the real page-table entry at entry (physical)
// holds a guest page aliased into the VMM's region (MapAlias).
func (t *VMM) Aliased(entry uint32) bool {
	_, ok := t.aliases[entry]
	return ok
}

// noteOverlap remembers a page the guest maps onto memory other than RAM
// where the VMM keeps its own present page (refreshOverlay): loads there
// read the VMM's bytes, so the run says so (Result's notes) instead of
// leaving it silent.
func (t *VMM) noteOverlap(lin uint32) {
	if len(t.overlaps) >= maxOverlapNotes || t.overlaps[lin] {
		return
	}
	if t.overlaps == nil {
		t.overlaps = map[uint32]bool{}
	}
	t.overlaps[lin] = true
}

// maxOverlapNotes bounds the overlapping pages a run remembers.
const maxOverlapNotes = 4096

// OverlapNote is the run's note on the guest's pages that lie under the
// VMM's own (empty if none).
func (t *VMM) OverlapNote() string {
	if len(t.overlaps) == 0 {
		return ""
	}
	first := uint32(0xFFFFFFFF)
	for lin := range t.overlaps {
		first = min(first, lin)
	}
	return fmt.Sprintf("the guest maps %d pages onto memory that is not RAM where %s keeps its own in the real address space (the first at %#x): a guest load there reads the VMM's bytes and a store stops the run (a documented limit: its RAM mapped there is emulated, %s; its other pages in the VMM's region are aliased, pf/vmm-alias)", len(t.overlaps), t.name, first, vmm.CauseVMMOverlay)
}

// dropAliases puts the VMM's own entries back where guest pages were
// aliased into its region (MapAlias).
func (t *VMM) dropAliases() {
	if len(t.aliases) == 0 {
		return
	}
	for at, own := range t.aliases {
		t.HostPhys().WritePhys32(at, own)
		delete(t.aliases, at)
	}
	t.flushTLB()
}

// steppedEntry is a real page-table entry changed for one stepped
// instruction (a write to a traced table): put back afterwards, with the
// table's content before.
type steppedEntry struct {
	at, restore uint32
	frame       uint32
	old         []byte
}

// stepWith runs the instruction at realPC for one step with f.Alias (the
// traced table, writable) in f.Entry. An instruction touching two such
// pages faults again on the second, which joins the first until the step
// is done (endStep). The table is compared before and after, and the
// shadows drop what changed, as after an emulated write.
func (t *VMM) stepWith(realPC uint32, f shadow.Fault) {
	if f.Entry == 0 { // the shadows were flushed meanwhile: retry
		t.Complete(realPC)
		return
	}
	e := steppedEntry{at: f.Entry, restore: f.Restore, frame: f.Phys & x86.PTEAddr, old: make([]byte, 4096)}
	if err := t.E.MemRead(uint64(e.frame), e.old); err != nil {
		t.Fail(err)
		return
	}
	t.stepped = append(t.stepped, e)
	t.HostPhys().WritePhys32(f.Entry, f.Alias)
	t.flushTLB()
	t.StepThen(realPC, t.endStep)
}

// StepAliased runs the instruction at realPC for one step with alias in
// the VMM's own page-table entry at entry (restore after it), frame being
// the page the step may write: a translator's store to the guest's page
// overlaid on its own (the guest's frame as alias), or its own store into
// a page it write-protected while the guest overlays it.
// then, if not nil, runs once the step is done (the translator stepping a
// copy of the instruction puts EIP after the original).
func (t *VMM) StepAliased(realPC, entry, alias, restore, frame uint32, then func()) {
	t.stepDone = then
	t.stepWith(realPC, shadow.Fault{Entry: entry, Restore: restore, Phys: frame, Alias: alias})
}

// StepPTWrite performs a traced page-table write by stepping the
// instruction at realPC with the table writable (stepWith), whatever the
// guest instruction at guestPC is: a translator's store in the middle of
// the sequence one guest instruction became (bt's in-TC pushf writing the
// virtual IF into the pushed image) must run as it is, on the sequence's
// own registers — neither emulated as the guest instruction nor stepped
// after the CPU was put back to the guest's state before it.
func (t *VMM) StepPTWrite(guestPC, realPC uint32, f shadow.Fault) {
	t.Machine.Record(CausePTWrite, vmm.MechTrap, guestPC)
	t.stepWith(realPC, f)
}

// endStep puts the VMM's entries back once the stepped instruction is done.
func (t *VMM) endStep() {
	if t.Stepping() {
		return // it faulted on another page: it runs again with both
	}
	stepped := t.stepped
	t.stepped = t.stepped[:0]
	if len(stepped) == 0 {
		return
	}
	for _, e := range stepped {
		t.HostPhys().WritePhys32(e.at, e.restore)
	}
	for _, e := range stepped {
		now := make([]byte, 4096)
		if err := t.E.MemRead(uint64(e.frame), now); err != nil {
			t.Fail(err)
			return
		}
		t.sh.Wrote(e.frame, e.old, now)
	}
	t.flushTLB()
	t.syncPaging() // the directory in force may have changed; aliases go
	if t.MappingsChanged != nil {
		t.MappingsChanged()
	}
	if fn := t.stepDone; fn != nil {
		t.stepDone = nil
		fn()
	}
}

// emulatePTWrite performs a guest store into one of its (traced) page
// tables and drops the shadow entries derived from what changed. The
// stores a kernel writes page-table entries with — mov of a register or an
// immediate, 32 bits — are emulated; any other (a push onto a stack that
// shares the page, a string store clearing a freed table) runs on the CPU
// for one step with the table writable, and the shadows compare the table
// before and after (stepWith).
func (t *VMM) emulatePTWrite(pc, realPC uint32, f shadow.Fault) {
	m := t.Machine
	inst, err := m.Decode(pc)
	if err != nil {
		t.Crash(pc, "trap: cannot decode the write to a guest page table: %v", err)
		return
	}
	var val uint32
	ok := inst.Op == x86asm.MOV && inst.MemBytes == 4 && f.Phys&3 == 0
	if ok {
		if _, isMem := inst.Args[0].(x86asm.Mem); !isMem {
			ok = false
		}
		switch a := inst.Args[1].(type) {
		case x86asm.Reg:
			r, known := gpr32[a]
			ok = ok && known
			if known {
				val = m.Reg(r)
			}
		case x86asm.Imm:
			val = uint32(a)
		default:
			ok = false
		}
	}
	if !ok {
		// Any other store (a push, a string store, a read-modify-write):
		// the CPU performs it, with the table writable for one step.
		t.stepWith(realPC, f)
		return
	}
	if err := t.WritePT(f.Phys, val); err != nil {
		t.Fail(err)
		return
	}
	t.Resume(pc + uint32(inst.Len))
}

// WritePT performs a 32-bit guest store of val at physical address phys,
// in a traced page table, and drops the shadow entries derived from what
// changed (a binary translator's callout for a store it knows writes page
// tables uses it too).
func (t *VMM) WritePT(phys, val uint32) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], val)
	return t.writeTraced(phys, b[:])
}

// writeTraced performs a guest store of b at physical address phys, in a
// traced page table (within one page), and drops the shadow entries
// derived from what changed.
func (t *VMM) writeTraced(phys uint32, b []byte) error {
	m := t.Machine
	frame := phys & x86.PTEAddr
	old := make([]byte, 4096)
	if err := m.E.MemRead(uint64(frame), old); err != nil {
		return err
	}
	now := append([]byte(nil), old...)
	copy(now[phys&0xFFF:], b)
	if err := m.E.MemWrite(uint64(phys), b); err != nil {
		return err
	}
	t.sh.Wrote(frame, old, now)
	t.dropAliases()
	t.flushTLB()
	t.refreshOverlay()
	if frame == t.V.CR3&x86.PTEAddr {
		t.syncPaging() // a change to the directory in force
	}
	if t.MappingsChanged != nil {
		t.MappingsChanged()
	}
	return nil
}

var gpr32 = map[x86asm.Reg]unicorn.Reg{
	x86asm.EAX: unicorn.EAX, x86asm.ECX: unicorn.ECX, x86asm.EDX: unicorn.EDX, x86asm.EBX: unicorn.EBX,
	x86asm.ESP: unicorn.ESP, x86asm.EBP: unicorn.EBP, x86asm.ESI: unicorn.ESI, x86asm.EDI: unicorn.EDI,
}

// prefault fills the shadow for the pages a privilege-raising delivery will
// push its frame onto (the guest kernel stack below esp), so the hardware's
// push does not fault inside the VMM's trampoline. A refusal by the guest's
// tables is the #PF the delivery raises. A page the shadow already maps
// writable needs nothing (and counts nothing: no fault would happen).
func (t *VMM) prefault(esp uint32) *vmm.DeliveryFault {
	if !t.shadowOn {
		return nil
	}
	filled := false
	for _, lin := range []uint32{esp - 4, esp - 24} {
		if t.sh.Mapped(lin, true) {
			continue
		}
		filled = true
		f, err := t.sh.Fault(t.guestMMU(), lin, x86.Access{Write: true})
		if err != nil {
			t.Fail(err)
			return nil
		}
		t.ReloadShadowCR3()
		switch f.Kind {
		case shadow.True:
			t.V.CR2 = lin
			return &vmm.DeliveryFault{Vec: x86.VecPF, Code: f.Code, CR2: lin, Why: "the guest kernel stack is not mapped writable"}
		case shadow.Hidden:
			t.Record(CausePFHidden, vmm.MechTrap, t.cpu.pc)
		case shadow.PTWrite, shadow.Beyond, shadow.VMMRegion:
			return &vmm.DeliveryFault{Vec: x86.VecSS, Why: "the guest kernel stack lies on a page table or outside guest RAM"}
		}
	}
	if filled {
		t.flushTLB()
	}
	return nil
}
