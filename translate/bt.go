package translate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"virtsim/guest"
	"virtsim/trap"
	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

func init() {
	vmm.Register(&vmm.Strategy{
		Name: "bt",
		Description: "binary translation (VMware style): guest kernel code runs only as its translation in a " +
			"translation cache; sensitive instructions rewritten in place, privileged ones call out to the VMM",
		Substrate: "unicorn",
		Available: func() error { return nil },
		New:       New,
	})
}

// BT is one guest under binary translation. It builds on trap-and-emulate
// (trap.VMM): the guest kernel is deprivileged to CPL 1 under the VMM's
// own GDT, IDT and TSS, events are reflected through the guest's IDT, and
// privileged instructions are emulated against the virtual CPU — but the
// guest kernel's code never runs as it is: every entry into it lands in
// the translation cache.
type BT struct {
	*trap.VMM
	memSize uint32
	pt      pageTables
	tcSize  uint32
	tcEnd   uint32
	tcNext  uint32
	tcFresh uint32 // TC bytes from here up hold no Unicorn translation (writeTC)
	gen     int    // translation-cache generation: bumped by every flush
	seq     int

	byGuest  map[uint32]*block // live blocks by guest start
	shadowBy map[uint32]*block // one-instruction shadow blocks
	blocks   []*block          // this generation's blocks, in TC order
	points   map[uint32]point  // TC addresses where the CPU may stop between guest instructions
	stubs    []stub            // callout stubs, by address - stubBase
	dedup    map[stubKey]uint32
	siteStub map[uint32]uint32 // chain site -> its stub
	// spare holds chain stubs whose site has been patched: nothing jumps
	// to them any more, so the next exit takes one instead of a new stub.
	// A stub is a block Unicorn translates the first time it runs (~3 µs,
	// a third of a short run's translations were of stubs used once);
	// a reused stub's translation is reused too (its bytes never change
	// and the callout hook goes by address).
	spare     []uint32
	slots     []slot
	armed     bool
	pages     map[uint32][]*block // guest code frame (physical) -> blocks translated from it
	code      map[uint32]uint32   // translated guest linear page -> the frame it was read from
	protected map[uint32]bool     // frames kept read-only for coherence
	ptSites   map[uint32]bool     // guest PCs of stores that wrote page tables (ptstore.go)
	retTab    map[uint32]uint32   // lookup entries set (guest target -> prologue)
	l2Of      map[uint16]int      // high 16 bits of a target -> its lookup table (l2Base slot)
	l2Hi      [l2Slots]int32      // slot -> the high 16 bits it serves, -1 if none
	l2Next    int                 // the slot taken over next when all are in use

	hint     hint       // where a callout's instruction continues in the TC
	toShadow bool       // the next Redirect runs its target as a shadow block
	shadow   bool       // the shadow instruction of an in-TC sti is running
	depth    int        // nesting of VMM entries (the virtual state is synced at depth 0)
	vroLast  [0x18]byte // the read-only page's image as last written
	vroSet   bool       // vroLast is written (false: write it at the next syncOut)
	// guestStop: the stop's PC is a guest address already (the VMM's own
	// reports), not one to map back from the TC.
	guestStop bool

	stats      stats
	folded     map[string]uint64 // in-TC events counted by deleted site counters
	hitsFolded uint64
	tcCounter  *unicorn.Counter

	// Keep makes the instance remember every block it ever translated
	// (for listings: virtsim translate).
	keep    bool
	history []*block
}

type stubKey struct {
	kind  stubKind
	guest uint32
}

type slot struct {
	cont, stub uint32
}

type hint struct {
	guest, tc uint32
	gen       int
	ok        bool
}

type stats struct {
	blocks, insns, tcBytes, chainPatches, chainDirect, misses  uint64
	invalidations, flushes, shadowBlocks, smcFaults, prologues uint64
	dmaInvalidations                                           uint64 // frames with code a device wrote (deviceWrote)
	fallthroughs, spaceChecks, remapInvalidations              uint64
	ptSites, ptSitesDropped                                    uint64
	callouts                                                   [numStubKinds]uint64
}

// New boots img under binary translation.
func New(img *guest.Image, cfg vmm.Config) (vmm.Instance, error) { return NewBT(img, cfg) }

// NewBT is New with the concrete type.
func NewBT(img *guest.Image, cfg vmm.Config) (*BT, error) {
	size, err := tcSizeFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("bt: %w", err)
	}
	c := cfg
	c.Audit = false // every sensitive instruction is handled: nothing to audit
	t, err := trap.NewVMM(img, c, "bt")
	if err != nil {
		return nil, err
	}
	b := &BT{VMM: t, tcSize: size}
	if err := b.setup(); err != nil {
		t.Close()
		return nil, fmt.Errorf("bt: %w", err)
	}
	return b, nil
}

// resetMaps empties the translator's maps, sized for a small guest's
// first few hundred blocks: growing them from empty inside the run was a
// tenth of the translator's time on a short run (rehashing).
func (b *BT) resetMaps() {
	b.byGuest = make(map[uint32]*block, 256)
	b.shadowBy = map[uint32]*block{}
	b.blocks = make([]*block, 0, 256)
	b.points = make(map[uint32]point, 1024)
	b.dedup = map[stubKey]uint32{}
	b.siteStub = make(map[uint32]uint32, 256)
	b.slots = nil
	b.pages = map[uint32][]*block{}
	b.code = map[uint32]uint32{}
	b.retTab = make(map[uint32]uint32, 64)
	b.stubs = b.stubs[:0]
	b.spare = b.spare[:0]
	b.stubs = append(b.stubs, stub{kind: stubRetMiss}, stub{kind: stubRetResume})
}

func (b *BT) setup() error {
	m := b.Machine
	b.memSize = m.Cfg.MemSize
	b.tcEnd = tcBase + b.tcSize
	b.tcNext = tcBase
	b.tcFresh = tcBase
	b.protected = map[uint32]bool{}
	b.ptSites = map[uint32]bool{}
	b.folded = map[string]uint64{}
	b.resetMaps()
	// Constant tables.
	sv := make([]byte, 0x10000*2)
	for s := 0; s < 0x10000; s++ {
		v := uint16(s)
		if v&3 == 1 {
			v &^= 3 // ring compression's RPL 1 is the guest's RPL 0
		}
		binary.LittleEndian.PutUint16(sv[2*s:], v)
	}
	if err := b.E.MemWrite(selViewAddr, sv); err != nil {
		return fmt.Errorf("write selector views: %w", err)
	}
	tabs := make([]byte, 0x400)
	for v := 0; v < 256; v++ {
		tabs[2*v] = byte(v) & 2      // IF (EFLAGS bit 9) as bit 1 of byte 1
		tabs[2*v+1] = byte(v) & 0x30 // IOPL (bits 12-13) as bits 4-5
		tabs[0x200+v] = byte(v) &^ 0x32
		if v&3 == 3 {
			tabs[0x300+v] = 4
		}
	}
	if err := b.E.MemWrite(tablesAddr, tabs); err != nil {
		return fmt.Errorf("write flag tables: %w", err)
	}
	rt := make([]byte, 0x10000*4)
	for i := 0; i < 0x10000; i++ {
		binary.LittleEndian.PutUint32(rt[4*i:], stubBase+uint32(stubRetMiss))
	}
	if err := b.E.MemWrite(retTabAddr, rt); err != nil {
		return fmt.Errorf("write lookup table: %w", err)
	}
	for i := 0; i < l2Slots; i++ {
		if err := b.E.MemWrite(uint64(l2Base+uint32(i)*lookupTab), rt); err != nil {
			return fmt.Errorf("write lookup table: %w", err)
		}
		b.l2Hi[i] = -1
	}
	for i := 0; i < 0x10000; i++ {
		binary.LittleEndian.PutUint32(rt[4*i:], l1Entry(retTabAddr)) // every high half: the miss table
	}
	if err := b.E.MemWrite(l1TabAddr, rt); err != nil {
		return fmt.Errorf("write lookup table: %w", err)
	}
	b.l2Of = map[uint16]int{}
	hlt := make([]byte, stubAreaSize)
	for i := range hlt {
		hlt[i] = 0xF4 // never executed: the callout hook redirects first
	}
	if err := b.E.MemWrite(stubBase, hlt); err != nil {
		return fmt.Errorf("write callout stubs: %w", err)
	}
	b.pt = pageTables{e: b.E, memSize: b.memSize, tcEnd: b.stepPage() + 0x1000}
	if err := b.pt.setup(); err != nil {
		return err
	}
	b.initShadow()
	b.initOverlay()
	if _, err := b.E.HookCode(stubBase, stubBase+stubAreaSize-1, b.onStub); err != nil {
		return fmt.Errorf("callout hook: %w", err)
	}
	m.VMMTrap = b.onTrap
	m.VirtualIF = b.virtualIF
	b.VMM.UserIF = func() bool { return b.readByte(vrwUserIF) != 0 }
	if err := b.OwnWrite(vrwUserIF, []byte{1}); err != nil {
		return fmt.Errorf("bt: %w", err)
	}
	m.TCBase, m.TCEnd = tcBase, b.stepPage()+0x1000
	m.SafePoint = b.safePoint // a save waits for a guest instruction boundary (snapshot.go)
	m.OnDeviceWrite = b.deviceWrote
	b.VMM.Redirect = b.redirect
	b.syncOut()
	if m.Cfg.Count {
		// Before the first translation: its in-TC sites are the counter's.
		// Unicorn has run only the VMM's drop to ring 1 so far: the TC's
		// own translations are dropped by range, not by a flush of the
		// whole code buffer (which made bt's start-up 2-3x the others').
		c, err := b.E.NewInsnCounterRangeKeep(tcBase, uint64(b.stepPage())+0xFFF, 0)
		if err != nil {
			return fmt.Errorf("TC instruction counter: %w", err)
		}
		b.tcCounter = c
		m.ExtraCounter = c // events in the TC are placed by guest + TC instructions
	}
	entry := b.Reg(unicorn.EIP)
	tc, err := b.entry(entry)
	if err != nil {
		return err
	}
	b.SetReg(unicorn.EIP, tc)
	if m.Cfg.Count {
		if err := b.removeCache(tcBase, b.tcEnd); err != nil {
			return err
		}
	}
	return nil
}

// ---- the translation cache ----

// live returns the live translation of the block starting at g.
func (b *BT) live(g uint32) *block {
	if blk := b.byGuest[g]; blk != nil && !blk.dead {
		return blk
	}
	return nil
}

// entry returns the TC address of the block at guest address g,
// translating it if needed.
func (b *BT) entry(g uint32) (uint32, error) {
	if blk := b.live(g); blk != nil {
		return blk.tc, nil
	}
	blk, err := b.translate(g, false)
	if err != nil {
		return 0, err
	}
	b.byGuest[g] = blk
	return blk.tc, nil
}

// shadowBlock returns the one-instruction shadow block at g.
func (b *BT) shadowBlock(g uint32) (uint32, error) {
	if blk := b.shadowBy[g]; blk != nil && !blk.dead {
		return blk.tc, nil
	}
	blk, err := b.translate(g, true)
	if err != nil {
		return 0, err
	}
	b.shadowBy[g] = blk
	return blk.tc, nil
}

// reserve makes room for one more translation, flushing the cache when
// it is full.
func (b *BT) reserve(bytes uint32, stubs, slots int) error {
	fits := func() bool {
		return b.tcNext+bytes <= b.tcEnd && len(b.stubs)+stubs <= stubAreaSize && len(b.slots)+slots <= slotsSize/4
	}
	if fits() {
		return nil
	}
	if b.tcNext == tcBase {
		return fmt.Errorf("bt: the translation cache (%d bytes) cannot hold one block", b.tcSize)
	}
	if err := b.flush(); err != nil {
		return err
	}
	if !fits() {
		return fmt.Errorf("bt: the translation cache (%d bytes) cannot hold one block", b.tcSize)
	}
	return nil
}

func (b *BT) newStub(s stub) uint32 {
	b.stubs = append(b.stubs, s)
	return stubBase + uint32(len(b.stubs)-1)
}

// chainStub returns a stub for the exit at site (chain callout or not
// chained yet): a spare one if there is one. A listing keeps every
// stub its own (the kept blocks' code names them).
func (b *BT) chainStub(s stub) uint32 {
	s.kind = stubChain
	if n := len(b.spare); n > 0 && !b.keep {
		a := b.spare[n-1]
		b.spare = b.spare[:n-1]
		b.stubs[a-stubBase] = s
		return a
	}
	return b.newStub(s)
}

// retireChainStub gives the stub of a chain site that now leads to its
// target to the spare list.
func (b *BT) retireChainStub(a, site uint32) {
	if b.keep || b.siteStub[site] != a {
		return
	}
	delete(b.siteStub, site)
	b.stubs[a-stubBase].from = nil
	b.spare = append(b.spare, a)
}

func (b *BT) dedupStub(kind stubKind, guest uint32) uint32 {
	k := stubKey{kind, guest}
	if a, ok := b.dedup[k]; ok {
		return a
	}
	a := b.newStub(stub{kind: kind, guest: guest})
	b.dedup[k] = a
	return a
}

// newTable allocates n consecutive read-only jump-table slots holding
// the given targets.
func (b *BT) newTable(targets ...uint32) uint32 {
	at := slotsAddr + uint32(len(b.slots))*4
	buf := make([]byte, 0, 4*len(targets))
	for _, t := range targets {
		b.slots = append(b.slots, slot{cont: t, stub: t})
		buf = append(buf, le32(t)...)
	}
	if err := b.E.MemWrite(uint64(at), buf); err != nil {
		b.Fail(fmt.Errorf("bt: write jump table: %w", err))
	}
	return at
}

// setTable rewrites slot i of a jump table.
func (b *BT) setTable(at uint32, i int, target uint32) {
	k := (at-slotsAddr)/4 + uint32(i)
	b.slots[k] = slot{cont: target, stub: target}
	if err := b.E.MemWrite(uint64(at)+uint64(4*i), le32(target)); err != nil {
		b.Fail(fmt.Errorf("bt: write jump table: %w", err))
	}
}

// newSlot allocates an indirect-jump slot for an in-TC sti or popf and the
// stub it leads to when an interrupt is waiting.
func (b *BT) newSlot(s stub) (slotAddr, stubAddr uint32) {
	stubAddr = b.newStub(s)
	b.slots = append(b.slots, slot{stub: stubAddr})
	return slotsAddr + uint32(len(b.slots)-1)*4, stubAddr
}

// setCont sets where a slot continues when no interrupt waits.
func (b *BT) setCont(slotAddr, stubAddr, cont uint32) {
	i := (slotAddr - slotsAddr) / 4
	b.slots[i].cont = cont
	b.stubs[stubAddr-stubBase].cont = cont
	v := cont
	if b.armed {
		v = stubAddr
	}
	if err := b.E.MemWrite(uint64(slotAddr), le32(v)); err != nil {
		b.Fail(fmt.Errorf("bt: write slot: %w", err))
	}
}

// arm points every sti/popf slot at its callout: an interrupt waits for
// the virtual IF. disarm points them back.
func (b *BT) setArmed(on bool) {
	if b.armed == on {
		return
	}
	b.armed = on
	if len(b.slots) == 0 {
		return
	}
	buf := make([]byte, 4*len(b.slots))
	for i, s := range b.slots {
		v := s.cont
		if on {
			v = s.stub
		}
		binary.LittleEndian.PutUint32(buf[4*i:], v)
	}
	if err := b.E.MemWrite(slotsAddr, buf); err != nil {
		b.Fail(fmt.Errorf("bt: write slots: %w", err))
	}
}

// patch points the jump whose rel32 field is at site to dest.
func (b *BT) patch(site, dest uint32) error {
	return b.writeTC(site, le32(dest-(site+4)))
}

// addCounter counts executions of the TC instruction at at (an in-TC
// event of cause, or a lookup hit for ""). Only a counting pass has site
// counters: they are sites of the TC's instruction counter, which
// instruments every TC instruction — a code hook Unicorn calls its helper
// for at each one, which the timed path must not pay. A timing pass
// reports in-TC events as uncounted (Result.Uncounted). (A site is not a
// code hook of its own: the helper walks every code hook at every
// instrumented instruction, so with one hook per site the TC's every
// instruction cost a list step per live site — xv6's rep stos of kinit
// walked ~90 of them per iteration.)
func (b *BT) addCounter(blk *block, at uint32, cause string) error {
	if !b.Cfg.Count {
		return nil
	}
	if err := b.tcCounter.CountSite(at); err != nil {
		return fmt.Errorf("bt: site counter: %w", err)
	}
	blk.counters = append(blk.counters, &siteCounter{cause: cause, at: at})
	return nil
}

// foldCounters keeps a block's counts and deletes its counters.
func (b *BT) foldCounters(blk *block) {
	for _, sc := range blk.counters {
		n, err := b.tcCounter.UncountSite(sc.at)
		if err != nil {
			b.Fail(fmt.Errorf("bt: delete site counter: %w", err))
		}
		if sc.cause == "" {
			b.hitsFolded += n
		} else {
			b.folded[sc.cause] += n
		}
	}
	blk.counters = nil
}

// registerPages write-protects the guest frames a block was translated
// from, and remembers which frame each of its linear pages maps.
func (b *BT) registerPages(blk *block) error {
	flush := false
	for p := blk.guest &^ 0xFFF; p < blk.guestEnd; p += 0x1000 {
		frame, ok := b.frameOf(p, true)
		if !ok {
			continue
		}
		b.code[p] = frame
		b.pages[frame] = append(b.pages[frame], blk)
		if !b.protected[frame] {
			if err := b.protect(frame); err != nil {
				return err
			}
			flush = true
		}
	}
	if flush {
		return b.pt.flushTLB()
	}
	return nil
}

// ensurePrologue gives blk its return-lookup entry: pop the target on the
// stack (the lookup is exact: it is blk's guest address), restore ECX, go. (It used to check the target, `lea -g(%ecx),%ecx; jecxz ok`,
// when the lookup went by the low 16 bits alone; QEMU ends a block at
// every jecxz without chaining it, so each return went back through the
// CPU loop: BENCH.md, fourth pass.)
func (b *BT) ensurePrologue(blk *block) error {
	if blk.prologue != 0 {
		return nil
	}
	if err := b.reserve(prologueSize, 0, 0); err != nil {
		return err
	}
	if blk.dead {
		return nil // the flush took it; the caller retries
	}
	c := &code{base: b.tcNext}
	ecx := maskOf(rECX)
	at := func(p point) { p.blk = blk; b.points[c.pc()] = p }
	ok := c.pc()
	at(pD(4, ecx, blk.guest))
	c.lea(rESP, mem{base: rESP, index: rNone, scale: 1, disp: 4})
	// Two Unicorn blocks, as the checking prologue had: guest time counts
	// executed blocks, and a return must cost what it did (timer's exits).
	at(pR(ecx, blk.guest))
	c.jmp(c.pc() + 5)
	at(pR(ecx, blk.guest))
	c.load(vrwSaveECX, rECX)
	at(pB(blk.guest))
	c.jmp(blk.tc)
	if err := b.writeTC(c.base, c.b); err != nil {
		return err
	}
	blk.prologue, blk.prologueEnd = c.base, c.pc()
	b.tcNext = align16(c.pc())
	b.stats.tcBytes += uint64(len(c.b))
	b.stats.prologues++
	return b.addCounter(blk, ok, "")
}

// install makes the lookup table lead to g's translation; it returns the
// block's TC address.
func (b *BT) install(g uint32) (uint32, error) {
	for try := 0; try < 2; try++ {
		gen := b.gen
		if _, err := b.entry(g); err != nil {
			return 0, err
		}
		blk := b.live(g)
		if err := b.ensurePrologue(blk); err != nil {
			return 0, err
		}
		if b.gen != gen || blk.dead {
			continue
		}
		slot, err := b.l2For(uint16(g >> 16))
		if err != nil {
			return 0, err
		}
		if err := b.E.MemWrite(uint64(l2Base+uint32(slot)*lookupTab+uint32(uint16(g))*4), le32(blk.prologue)); err != nil {
			return 0, fmt.Errorf("bt: write lookup entry: %w", err)
		}
		b.retTab[g] = blk.prologue
		return blk.tc, nil
	}
	return 0, fmt.Errorf("bt: the translation cache (%d bytes) is too small to hold a block and its lookup entry", b.tcSize)
}

// l2For returns the lookup table (slot) of the targets whose high 16 bits
// are hi, giving it one: a free slot, or the one taken over longest ago,
// whose entries are all reset and whose high half goes back to the miss
// table (its returns miss and fill entries again).
func (b *BT) l2For(hi uint16) (int, error) {
	if slot, ok := b.l2Of[hi]; ok {
		return slot, nil
	}
	slot := b.l2Next
	b.l2Next = (b.l2Next + 1) % l2Slots
	if old := b.l2Hi[slot]; old >= 0 {
		for g := range b.retTab {
			if g>>16 == uint32(old) {
				if err := b.unsetLookup(g); err != nil {
					return 0, err
				}
			}
		}
		if err := b.E.MemWrite(uint64(l1TabAddr+uint32(old)*4), le32(l1Entry(retTabAddr))); err != nil {
			return 0, fmt.Errorf("bt: reset lookup table: %w", err)
		}
		delete(b.l2Of, uint16(old))
	}
	if err := b.E.MemWrite(uint64(l1TabAddr+uint32(hi)*4), le32(l1Entry(l2Base+uint32(slot)*lookupTab))); err != nil {
		return 0, fmt.Errorf("bt: write lookup table: %w", err)
	}
	b.l2Hi[slot] = int32(hi)
	b.l2Of[hi] = slot
	return slot, nil
}

// unsetLookup points the lookup entry of target g back at the miss stub.
func (b *BT) unsetLookup(g uint32) error {
	delete(b.retTab, g)
	slot, ok := b.l2Of[uint16(g>>16)]
	if !ok {
		return nil
	}
	if err := b.E.MemWrite(uint64(l2Base+uint32(slot)*lookupTab+uint32(uint16(g))*4), le32(stubBase+uint32(stubRetMiss))); err != nil {
		return fmt.Errorf("bt: reset lookup entry: %w", err)
	}
	return nil
}

// invalidate retires a block whose guest code changed: nothing enters it
// any more (its code stays until the next flush, for a CPU still inside).
func (b *BT) invalidate(blk *block) {
	if blk.dead {
		return
	}
	blk.dead = true
	b.stats.invalidations++
	if b.byGuest[blk.guest] == blk {
		delete(b.byGuest, blk.guest)
	}
	if b.shadowBy[blk.guest] == blk {
		delete(b.shadowBy, blk.guest)
	}
	for _, site := range blk.incoming {
		s, ok := b.siteStub[site]
		if !ok {
			// Its stub was retired when the site was chained: it gets one again.
			if len(b.spare) == 0 && len(b.stubs) >= stubAreaSize {
				b.Fail(fmt.Errorf("bt: internal error: no callout stub left to unchain %#x", site))
				continue
			}
			from, _ := b.locate(site)
			s = b.chainStub(stub{guest: blk.guest, site: site, from: from})
			b.siteStub[site] = s
		}
		if err := b.patch(site, s); err != nil {
			b.Fail(err)
		}
	}
	blk.incoming = nil
	if blk.prologue != 0 && b.retTab[blk.guest] == blk.prologue {
		if err := b.unsetLookup(blk.guest); err != nil {
			b.Fail(err)
		}
	}
	b.foldCounters(blk)
	// A block that falls through into this one would run into retired
	// code: retire it too.
	if blk.fallFrom != nil {
		b.invalidate(blk.fallFrom)
	}
}

// flush empties the translation cache.
func (b *BT) flush() error {
	for _, blk := range b.blocks {
		b.foldCounters(blk)
		blk.dead = true
	}
	for p := range b.protected {
		if err := b.unprotect(p); err != nil {
			return err
		}
	}
	if err := b.pt.flushTLB(); err != nil {
		return err
	}
	for g := range b.retTab {
		if err := b.unsetLookup(g); err != nil {
			return err
		}
	}
	b.armed = false
	b.resetMaps()
	b.tcNext = tcBase
	b.gen++
	b.stats.flushes++
	if err := b.removeCache(tcBase, b.tcEnd); err != nil {
		return fmt.Errorf("bt: flush: %w", err)
	}
	b.tcFresh = tcBase
	return nil
}

// ---- where the CPU is ----

// inCode reports addresses of the translator's code: the TC and the stubs.
func (b *BT) inCode(a uint32) bool {
	return (a >= tcBase && a < b.tcEnd) || (a >= stubBase && a < stubBase+stubAreaSize)
}

// locate finds the block and unit whose code contains TC address a.
func (b *BT) locate(a uint32) (*block, int) {
	i := sort.Search(len(b.blocks), func(i int) bool { return b.blocks[i].tcEnd > a })
	if i == len(b.blocks) || b.blocks[i].tc > a {
		return nil, -1
	}
	blk := b.blocks[i]
	for j := range blk.units {
		if a >= blk.units[j].tc && a < blk.units[j].tcEnd {
			return blk, j
		}
	}
	return blk, len(blk.units) - 1 // the block's final exit
}

// guestPC is the guest instruction that TC address a belongs to (best
// effort: for reports).
func (b *BT) guestPC(a uint32) uint32 {
	if !b.inCode(a) {
		return a
	}
	if p, ok := b.points[a]; ok && !p.pop && !p.ecxTarget {
		return p.guest
	}
	if a >= stubBase {
		if i := a - stubBase; int(i) < len(b.stubs) {
			return b.stubs[i].guest
		}
		return a
	}
	if blk, j := b.locate(a); blk != nil && j >= 0 {
		return blk.units[j].guest
	}
	return a
}

// ---- outside-RAM accesses ----

// outsideRAM is the guest touching memory beyond its RAM: the VMM region
// or the hole below it. Under native Unicorn reports the same as an
// access to unmapped memory.
type outsideRAM struct {
	addr uint32
	what string
}

func (e *outsideRAM) Error() string { return fmt.Sprintf("%s at %#x", e.what, e.addr) }

// guestStop is a guest the translator cannot run on, stopped with a report
// (not a VMM failure).
type guestStop struct{ why string }

func (e *guestStop) Error() string { return e.why }

// fatal stops the guest for an error found while translating or entering
// guest code at pc.
func (b *BT) fatal(pc uint32, err error) {
	var o *outsideRAM
	if errors.As(err, &o) {
		b.outsideRAM(o.addr, unicorn.MemFetchUnmapped, 1, o.addr)
		return
	}
	var gs *guestStop
	if errors.As(err, &gs) {
		b.guestStop = true
		b.Crash(pc, "%s", gs.why)
		return
	}
	b.Fail(err)
}

// ---- helpers over the machine ----

// read32 reads the translator's own memory (its slots, tables, page
// tables), whatever a paging guest maps there.
func (b *BT) read32(a uint32) uint32 {
	var p [4]byte
	if err := b.OwnRead(a, p[:]); err != nil {
		b.Fail(err)
	}
	return binary.LittleEndian.Uint32(p[:])
}

// guest32 reads the guest's memory at linear address a (its stack).
// stackTop is the linear address of the guest's top of stack, SS:ESP: a
// kernel may run on a stack segment with a base (an expand-down one, say).
func (b *BT) stackTop() uint32 {
	esp := b.Reg(unicorn.ESP)
	ss := uint16(b.Reg(unicorn.SS))
	if x86.SelIndex(ss) == 0 && !x86.SelTI(ss) {
		return esp
	}
	d, err := b.Descriptor(ss)
	if err != nil {
		return esp
	}
	return d.Base + esp
}

func (b *BT) guest32(a uint32) uint32 {
	var p [4]byte
	if err := b.ReadMem(a, p[:]); err != nil {
		b.Fail(err)
	}
	return binary.LittleEndian.Uint32(p[:])
}

func (b *BT) readByte(a uint32) byte {
	var p [1]byte
	if err := b.OwnRead(a, p[:]); err != nil {
		b.Fail(err)
	}
	return p[0]
}

func vecName(v uint8) string { return x86.VectorName(v) }
