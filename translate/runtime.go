package translate

import (
	"encoding/binary"
	"fmt"
	"runtime/debug"

	"virtsim/shadow"
	"virtsim/trap"
	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// ---- VMM entries: every way control reaches the VMM from the guest ----

// enter and leave bracket each VMM entry. The guest's virtual IF and IOPL
// live in the guest-owned page while the guest runs (in-TC cli, sti, popf
// change them there, without exiting); trap's emulator keeps them in the
// VCPU. At the outermost entry the page is read into the VCPU, at the
// outermost exit written back.
func (b *BT) enter() {
	if b.depth == 0 {
		b.syncIn()
	}
	b.depth++
}

func (b *BT) leave() {
	b.depth--
	if b.depth == 0 {
		b.syncOut()
	}
}

// recoverInto turns a panic inside a hook into a VMM failure (the binding
// would also catch it; this names the translator).
func (b *BT) recoverInto() {
	if r := recover(); r != nil {
		b.depth = 0
		b.Fail(fmt.Errorf("bt: internal error: %v\n%s", r, debug.Stack()))
	}
}

func (b *BT) syncIn() {
	var p [2]byte
	if err := b.OwnRead(vrwIF, p[:]); err != nil {
		b.Fail(err)
		return
	}
	b.VMM.V.IF = p[0] != 0
	b.VMM.V.IOPL = p[1] >> 4 & 3
}

func (b *BT) syncOut() {
	v := &b.VMM.V
	var p [2]byte
	if v.IF {
		p[0] = 2
	}
	p[1] = v.IOPL & 3 << 4
	if err := b.OwnWrite(vrwIF, p[:]); err != nil {
		b.Fail(err)
		return
	}
	// The read-only image of the virtual descriptor-table registers, CR0,
	// TR and LDTR (what sgdt, sidt, smsw, str, sldt show in the TC).
	var ro [0x18]byte
	binary.LittleEndian.PutUint16(ro[0:], v.GDTR.Limit)
	binary.LittleEndian.PutUint32(ro[2:], v.GDTR.Base)
	binary.LittleEndian.PutUint16(ro[8:], v.IDTR.Limit)
	binary.LittleEndian.PutUint32(ro[10:], v.IDTR.Base)
	binary.LittleEndian.PutUint32(ro[0x10:], v.CR0)
	binary.LittleEndian.PutUint16(ro[0x14:], v.TR)
	binary.LittleEndian.PutUint16(ro[0x16:], v.LDTR)
	if !b.vroSet || ro != b.vroLast {
		if err := b.OwnWrite(vroAddr, ro[:]); err != nil {
			b.Fail(err)
			return
		}
		b.vroLast, b.vroSet = ro, true
	}
	// An interrupt waits for the virtual IF: in-TC sti and popf call out.
	b.setArmed(b.PendingIRQ() && !v.IF)
}

// virtualIF is the machine's question "may an interrupt be delivered now?"
func (b *BT) virtualIF() bool {
	vif := b.VMM.V.IF
	if b.depth == 0 {
		// Guest user code runs with the IF its kernel's iret gave it
		// (recorded by the translated iret; its real IF is 1 and the VMM
		// takes every interrupt).
		vif = b.readByte(vrwIF) != 0 || b.Reg(unicorn.CS)&3 == 3 && b.readByte(vrwUserIF) != 0
	}
	if !vif {
		b.setArmed(true) // the next in-TC sti or popf calls out
	}
	return vif && !b.shadow
}

// redirect is trap's question "where does the CPU continue for guest
// kernel address g?": in the TC.
func (b *BT) redirect(g uint32) uint32 {
	if b.toShadow {
		b.toShadow = false
		tc, err := b.shadowBlock(g)
		if err != nil {
			b.fatal(g, err)
			return g
		}
		b.shadow = true
		return tc
	}
	if h := b.hint; h.ok && h.guest == g && h.gen == b.gen {
		// Unless the callout's own work retired the block (a CR3 load
		// that remapped its code).
		if blk, _ := b.locate(h.tc); blk == nil || !blk.dead {
			return h.tc
		}
	}
	tc, err := b.entry(g)
	if err != nil {
		b.fatal(g, err)
		return g
	}
	return tc
}

// onStub is the callout hook: one Go call per callout, identified by the
// stub's address.
func (b *BT) onStub(addr uint64, _ uint32) {
	defer b.recoverInto()
	b.enter()
	defer b.leave()
	b.shadow = false
	b.VMM.V.CPL = 0 // translated code is guest kernel code
	i := uint32(addr) - stubBase
	if int(i) >= len(b.stubs) {
		b.Fail(fmt.Errorf("bt: internal error: jump to unallocated callout stub %#x", addr))
		return
	}
	s := b.stubs[i]
	b.stats.callouts[s.kind]++
	switch s.kind {
	case stubChain:
		gen := b.gen
		chain := s.from != nil && !s.from.dead
		if chain {
			// The site is patched below (unless a flush, which empties the
			// stubs, intervenes): the target's own exits may take its stub.
			b.retireChainStub(uint32(addr), s.site)
		}
		tc, err := b.entry(s.guest)
		if err != nil {
			b.fatal(s.guest, err)
			return
		}
		if gen == b.gen && chain {
			if err := b.patch(s.site, tc); err != nil {
				b.Fail(err)
				return
			}
			blk := b.live(s.guest)
			blk.incoming = append(blk.incoming, s.site)
			b.stats.chainPatches++
		}
		b.Complete(tc)
	case stubEmulate:
		if s.ecx {
			b.SetReg(unicorn.ECX, b.read32(vrwSaveECX))
		}
		b.hint = hint{guest: s.next, tc: s.cont, gen: b.gen, ok: s.cont != 0 && !s.from.dead}
		b.VMM.EmulateCallout(vmm.Trap{Cause: s.cause, PC: s.guest, RetEIP: s.guest})
		b.hint.ok = false
	case stubRetMiss:
		b.stats.misses++
		target := b.popTarget()
		tc, err := b.install(target)
		if err != nil {
			b.fatal(target, err)
			return
		}
		b.Complete(tc)
	case stubRetResume:
		b.VMM.Resume(b.popTarget())
	case stubResume:
		b.VMM.Resume(s.guest)
	case stubResync:
		tc, err := b.entry(s.guest)
		if err != nil {
			b.fatal(s.guest, err)
			return
		}
		b.Complete(tc)
	case stubSti:
		// sti opened the virtual IF on a waiting interrupt: one more
		// instruction runs first (the sti shadow), as a shadow block whose
		// exits call out to deliver it.
		if b.PendingIRQ() && b.VMM.V.IF {
			tc, err := b.shadowBlock(s.next)
			if err != nil {
				b.fatal(s.next, err)
				return
			}
			b.shadow = true
			b.Complete(tc)
			return
		}
		b.Complete(s.cont)
	case stubPopf:
		b.hint = hint{guest: s.next, tc: s.cont, gen: b.gen, ok: !s.from.dead}
		b.VMM.Resume(s.next)
		b.hint.ok = false
	case stubPTStore:
		b.hint = hint{guest: s.next, tc: s.cont, gen: b.gen, ok: s.cont != 0 && !s.from.dead}
		b.ptStore(s)
		b.hint.ok = false
	case stubUD:
		b.Record(vmm.CauseExc(x86.VecUD), vmm.MechCallout, s.guest)
		b.VMM.Reflect(x86.VecUD, 0, false, false, s.guest, s.guest)
	}
}

// popTarget applies the state of a lookup that found nothing or of a
// shadow block's indirect exit: restore ECX, pop the guest target.
func (b *BT) popTarget() uint32 {
	b.SetReg(unicorn.ECX, b.read32(vrwSaveECX))
	esp := b.Reg(unicorn.ESP)
	target := b.guest32(b.stackTop())
	b.SetReg(unicorn.ESP, esp+4)
	return target
}

// onTrap is the VMM's entry from the real IDT (exceptions, external
// interrupts, int n from user code). Addresses in the TC are turned back
// into the guest's before trap-and-emulate sees them: precise exceptions.
func (b *BT) onTrap(tr vmm.Trap) {
	defer b.recoverInto()
	b.enter()
	defer b.leave()
	if !tr.External {
		b.shadow = false
	}
	var pf *shadow.Fault
	if !tr.External && !tr.Soft && tr.Vector == x86.VecPF {
		done, f := b.pageFault(tr)
		if done {
			return
		}
		pf = f
	}
	tcPC, tcFault := tr.PC, b.inCode(tr.PC)
	if p, ok := b.points[tcPC]; ok && tcFault && pf != nil && pf.Kind == shadow.PTWrite && p.kind == ptRecipe {
		// A store inside an in-TC sequence (pushf's merge of the virtual
		// IF into the pushed image) wrote a traced page table: the
		// sequence goes on from where it stands, its store stepped with
		// the table writable. Its recipe (restore the scratch registers,
		// pop the pushed image) is for reflecting a fault to the guest:
		// applied before the step it left the stack 4 bytes short (xv6
		// under bt: a kernel stack on a recycled page-table page, then
		// "mycpu called with interrupts enabled").
		b.VMM.SyncCPL()
		b.VMM.StepPTWrite(p.guest, tcPC, *pf)
		b.hint.ok = false
		return
	}
	if b.inCode(tr.PC) || b.inCode(tr.RetEIP) {
		if !b.mapTrap(&tr) {
			return
		}
	}
	if pf != nil {
		// The shadow's decision, now in the guest's terms: trap reflects a
		// true fault or performs a traced page-table write.
		adapt := pf.Kind == shadow.PTWrite && tcFault && b.adaptable(tcPC, pf.Addr)
		b.VMM.SyncCPL()
		b.VMM.ShadowFaultAt(tr, *pf, tcPC)
		if adapt {
			b.adapt(tcPC)
		}
	} else {
		b.VMM.OnTrap(tr)
	}
	b.hint.ok = false
}

// mapTrap rewrites a trap raised in the TC into the guest's terms. It
// returns false when it has handled the trap itself.
func (b *BT) mapTrap(tr *vmm.Trap) bool {
	at := tr.PC
	p, ok := b.points[at]
	if tr.External {
		// The clock delivers at the start of a Unicorn block: a point.
		if !ok {
			b.Fail(fmt.Errorf("bt: internal error: interrupt at %#x, which is no guest instruction boundary", at))
			return false
		}
		switch p.kind {
		case ptBoundary:
			b.hint = hint{guest: p.guest, tc: at, gen: b.gen, ok: true}
		case ptShadow:
			// Right after an in-TC sti: the interrupt waits one more
			// instruction. trap queues it (as with IF clear), the shadow
			// block runs the instruction and then delivers it.
			tr.PC, tr.RetEIP = p.guest, p.guest
			b.VMM.V.IF = false
			b.toShadow = true
			b.VMM.OnTrap(*tr)
			b.VMM.V.IF = true
			b.toShadow = false
			return false
		default:
			p.guest = b.applyRecipe(p)
		}
		tr.PC, tr.RetEIP = p.guest, p.guest
		return true
	}
	// A fault (or trap) raised by a translated instruction: the state
	// before it, in the guest's terms.
	if ok && p.kind == ptRecipe && tr.RetEIP == at {
		g := b.applyRecipe(p)
		tr.PC, tr.RetEIP = g, g
		return true
	}
	pc := b.guestPC(at)
	ret := pc
	if tr.RetEIP != at {
		ret = b.guestPC(tr.RetEIP)
	}
	tr.PC, tr.RetEIP = pc, ret
	return true
}

// applyRecipe puts the CPU into the guest state a point describes and
// returns the guest EIP of that state.
func (b *BT) applyRecipe(p point) uint32 {
	g := p.guest
	if p.ecxTarget {
		g = b.Reg(unicorn.ECX)
	}
	if p.fix != nil {
		p.fix(b)
	}
	for r := rEAX; r <= rEBX; r++ {
		if p.restore&(1<<r) != 0 {
			b.SetReg(ucReg[r], b.read32(saveSlot(r)))
		}
	}
	if p.esp != 0 {
		b.SetReg(unicorn.ESP, b.Reg(unicorn.ESP)+uint32(p.esp))
	}
	if p.pop {
		esp := b.Reg(unicorn.ESP)
		g = b.guest32(b.stackTop())
		b.SetReg(unicorn.ESP, esp+4)
	}
	return g
}

// pageFault handles the #PFs the VMM's own page tables (or the shadow in
// force) cause. It returns done=false for a fault that belongs to the
// guest, with the shadow's decision when the guest pages.
func (b *BT) pageFault(tr vmm.Trap) (done bool, pf *shadow.Fault) {
	cr2 := b.Reg(unicorn.CR2)
	if b.ShadowOn() && (cr2 < vmm.VMMBase || !b.ownPage(cr2, tr.Code)) {
		done, f := b.shadowFault(tr, cr2)
		return done, &f
	}
	return b.ownFault(tr, cr2), nil
}

// ownPage reports whether the #PF at cr2, in the VMM's region, is one of
// the translator's own pages refusing an access (the VMM's business)
// rather than the guest reaching for its own mapping where the VMM's
// absent pages are.
func (b *BT) ownPage(cr2, code uint32) bool {
	at, ok := b.pt.ptEntryAddr(cr2)
	if !ok || b.VMM.Aliased(at) {
		return false
	}
	pte := b.read32(at)
	return pte&pteP != 0 && (code&x86.PFUser == 0 || pte&pteU != 0)
}

// descriptorAccessed handles a store into the shadow descriptor tables
// (trap.VMM.DescriptorAccessed), reporting whether cr2 was one.
func (b *BT) descriptorAccessed(cr2 uint32) bool {
	ok, err := b.VMM.DescriptorAccessed(cr2)
	if err != nil {
		b.Fail(err)
	}
	return ok
}

// ownFault handles a #PF of the translator's own tables.
func (b *BT) ownFault(tr vmm.Trap, cr2 uint32) bool {
	user, write, fetch := tr.Code&4 != 0, tr.Code&2 != 0, tr.Code&16 != 0
	switch {
	case cr2 < b.memSize && fetch && !user:
		b.guestStop = true
		b.Crash(b.guestPC(tr.PC), "bt: internal error: guest kernel code at %#x ran untranslated (SMEP fault at %#x)", cr2, tr.PC)
		return true
	case cr2 < b.memSize && write && b.protected[cr2&^0xFFF] && !b.ShadowOn():
		b.selfModified(tr, cr2)
		return true
	case fetch && b.VMM.OverlayCode(cr2, tr.Code):
		b.guestStop = true
		return true
	case write && cr2 >= vmm.VMMBase && b.overlayFault(tr, cr2):
		// The guest's store to its own page overlaid on the translator's
		// (or the translator's to its own page the guest overlays).
		return true
	case write && b.descriptorAccessed(cr2):
		// The CPU setting a descriptor's Accessed bit in the read-only
		// shadow GDT or LDT while loading a segment: it is set in the
		// guest's descriptor and the shadow; retry the load.
		b.Complete(tr.PC)
		return true
	case b.ShadowOn() && cr2 >= vmm.VMMBase:
		b.guestStop = true
		b.Crash(b.guestPC(tr.PC), "bt: the guest's access to %#x (its own mapping, error code %#x) lands on the translator's own pages (its code cache and tables), which stay the VMM's: not aliased (a documented limit)", cr2, tr.Code)
		return true
	case cr2 >= b.memSize:
		acc, size := unicorn.MemReadUnmapped, 1
		switch {
		case fetch:
			acc = unicorn.MemFetchUnmapped
		case write:
			acc = unicorn.MemWriteUnmapped
		}
		pc := cr2
		if !fetch {
			pc = b.guestPC(tr.PC)
			if inst, err := b.Decode(tr.PC); err == nil && inst.MemBytes > 0 {
				size = inst.MemBytes
			}
		}
		b.outsideRAM(pc, acc, size, cr2)
		return true
	}
	return false
}

// selfModified: the guest stored into a frame it has translated code on
// (phys: the store's physical address). Its translations are retired, the
// frame made writable again (until code on it is translated anew), and the
// store retried. If the store was made by a block that is itself retired,
// that block must not run on with its stale translation: its next
// instruction is rewritten into a callout that continues at a fresh
// translation.
func (b *BT) selfModified(tr vmm.Trap, phys uint32) {
	b.stats.smcFaults++
	if err := b.retireFrame(phys &^ 0xFFF); err != nil {
		b.Fail(err)
		return
	}
	if blk, j := b.locate(tr.PC); blk != nil && blk.dead && b.inCode(tr.PC) {
		// Where the retired block would go on with stale code: its next
		// instruction, or the block it falls through into.
		at, g := uint32(0), uint32(0)
		switch {
		case j+1 < len(blk.units):
			at, g = blk.units[j+1].tc, blk.units[j+1].guest
		case blk.fallTo != nil && blk.fallTo.dead:
			at, g = blk.fallTo.tc, blk.fallTo.guest
		}
		if at != 0 {
			c := &code{base: at}
			c.jmp(b.dedupStub(stubResync, g))
			if err := b.writeTC(c.base, c.b); err != nil {
				b.Fail(err)
				return
			}
		}
	}
	// The engine calls above (protection changes, dropped translations)
	// bring Unicorn's previous-exception state back: cleared again, else
	// the next #GP arrives as #DF (SUBSTRATE.md pitfall 1; difftest's
	// corpus guest ring3 at ring 3).
	if err := b.E.ClearFault(); err != nil {
		b.Fail(err)
		return
	}
	b.Complete(tr.PC)
}

// retireFrame retires every translation of code on frame page and makes
// the frame writable again (until code on it is translated anew).
func (b *BT) retireFrame(page uint32) error {
	for _, blk := range b.pages[page] {
		b.invalidate(blk)
	}
	delete(b.pages, page)
	if err := b.unprotect(page); err != nil {
		return err
	}
	return b.pt.flushTLB()
}

// deviceWrote: a device wrote guest memory (an ins's data, a ring's DMA;
// vmm.Machine.DeviceWrote) — host writes the frames' write protection
// never saw. Translations of code on those frames are retired, as a
// guest store into them would retire them. (A device write over the very
// block that issued the ins is not caught: that block runs on as
// translated, as a CPU's prefetched instructions would.)
func (b *BT) deviceWrote(phys, n uint32) {
	for page := phys &^ 0xFFF; page < phys+n; page += 0x1000 {
		if len(b.pages[page]) == 0 {
			continue
		}
		b.stats.dmaInvalidations++
		if err := b.retireFrame(page); err != nil {
			b.Fail(err)
			return
		}
		if page+0x1000 < page {
			break
		}
	}
}

// outsideRAM stops a guest that touched memory beyond its RAM — the VMM
// region included — with the report the machine gives for an unmapped
// address under native.
func (b *BT) outsideRAM(pc uint32, acc unicorn.MemAccess, size int, addr uint32) {
	b.guestStop = true
	b.Crash(pc, "guest %s of %d bytes at unmapped address %#x (guest RAM is %d MiB)", acc, size, addr, b.memSize>>20)
}

// ---- results ----

// inTCCounts sums the in-TC events by cause.
func (b *BT) inTCCounts() (map[string]uint64, uint64) {
	out := map[string]uint64{}
	for c, n := range b.folded {
		out[c] += n
	}
	hits := b.hitsFolded
	for _, blk := range b.blocks {
		for _, sc := range blk.counters {
			if sc.cause == "" {
				hits += b.tcCounter.SiteCount(sc.at)
			} else {
				out[sc.cause] += b.tcCounter.SiteCount(sc.at)
			}
		}
	}
	return out, hits
}

// Result adds the in-TC events and the translator's counters to the
// machine's result.
func (b *BT) Result() *vmm.Result {
	r := b.VMM.Machine.Result()
	r.Counts = r.Counts.Clone()
	inTC, hits := b.inTCCounts()
	for cause, n := range inTC {
		if n > 0 {
			r.Counts[vmm.Key{Cause: cause, Mech: vmm.MechInTC}] += n
		}
	}
	r.Exits = r.Counts.Exits()
	if !b.Cfg.Count {
		r.Uncounted = []vmm.Mechanism{vmm.MechInTC}
	}
	counters := map[string]uint64{}
	for k, v := range r.Counters {
		counters[k] = v
	}
	for k, v := range b.Counters(hits) {
		counters[k] = v
	}
	for k, v := range b.ShadowCounters() {
		counters[k] = v
	}
	r.Counters = counters
	if note := b.VMM.OverlapNote(); note != "" {
		r.Notes = append(append([]string(nil), r.Notes...), note)
	}
	if b.tcCounter != nil {
		tc := b.tcCounter.Count()
		r.Instructions += tc
		counters["bt/tc-insns"] = tc // the TC's share, so guest and TC instructions can be told apart
	}
	if b.inCode(r.Stop.PC) && !b.guestStop {
		r.Stop.PC = b.guestPC(r.Stop.PC)
		r.Stop.Insn = b.Disasm(r.Stop.PC)
	}
	if len(r.Trace) > 0 {
		tr := make([]vmm.Event, len(r.Trace))
		copy(tr, r.Trace)
		for i := range tr {
			tr[i].PC = b.guestPC(tr[i].PC)
		}
		r.Trace = tr
	}
	return r
}

// Counters are the translator's own counts (its work is not guest exits).
func (b *BT) Counters(hits uint64) map[string]uint64 {
	s := &b.stats
	c := map[string]uint64{
		"bt/blocks":         s.blocks,
		"bt/insns":          s.insns,
		"bt/tc-bytes":       s.tcBytes,
		"bt/chain-patches":  s.chainPatches,
		"bt/chain-direct":   s.chainDirect,
		"bt/lookup-hits":    hits,
		"bt/lookup-misses":  s.misses,
		"bt/invalidations":  s.invalidations,
		"bt/flushes":        s.flushes,
		"bt/smc-faults":     s.smcFaults,
		"bt/shadow-blocks":  s.shadowBlocks,
		"bt/lookup-entries": s.prologues,
	}
	if s.dmaInvalidations > 0 {
		c["bt/dma-invalidations"] = s.dmaInvalidations
	}
	if s.spaceChecks > 0 {
		c["bt/space-checks"] = s.spaceChecks
		c["bt/remap-invalidations"] = s.remapInvalidations
		c["bt/pt-sites"] = s.ptSites
		c["bt/pt-sites-dropped"] = s.ptSitesDropped
	}
	for k, n := range s.callouts {
		if n > 0 {
			c["bt/callouts/"+stubKind(k).String()] = n
		}
	}
	return c
}

// Step executes one guest instruction: translated instructions are
// stepped until the CPU reaches the next guest instruction boundary.
func (b *BT) Step() (vmm.Stop, error) {
	for i := 0; i < 1024; i++ {
		st, err := b.VMM.Machine.Step()
		if err != nil || st.Kind != vmm.StopNone {
			return st, err
		}
		pc := b.Reg(unicorn.EIP)
		if !b.inCode(pc) {
			return st, nil
		}
		if p, ok := b.points[pc]; ok && (p.kind == ptBoundary || p.kind == ptShadow) {
			st.PC = p.guest
			return st, nil
		}
	}
	return vmm.Stop{PC: b.guestPC(b.Reg(unicorn.EIP))}, nil
}

// Virtual is the guest's view: the virtual CPU, with EIP the guest
// address of the translated code the CPU is in.
func (b *BT) Virtual() (vmm.CPUState, bool) {
	if b.depth == 0 {
		b.syncIn()
	}
	s, ok := b.VMM.Virtual()
	s.EIP = b.guestPC(s.EIP)
	return s, ok
}

// VCPU exposes the virtual CPU (tests).
func (b *BT) VCPU() *trap.VCPU { return &b.VMM.V }
