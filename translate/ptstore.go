package translate

import (
	"golang.org/x/arch/x86/x86asm"

	"virtsim/trap"
	"virtsim/vmm"
	"virtsim/vmm/x86"
)

// Page-table stores in the TC (Adams & Agesen's reason binary translation
// wins ptemod). Under shadow paging every guest store into a page table
// is a page fault on the traced page, which the VMM decodes and performs
// (pt/write, mechanism trap). A translator can do better: the first time a
// translated store faults that way, it remembers the guest instruction (a
// "PT site") and retires the block; the new translation turns that store
// into a callout, so from then on the VMM performs the write and updates
// the shadow without the fault, the decode and the fault's delivery
// (pt/write, mechanism callout). Both paths are counted: the events by
// mechanism, bt/pt-sites the stores so translated.
//
// The callout computes the store's address from the guest's registers
// (flat segments: a site is adopted only when that address equals the
// faulting one). If the store no longer writes a traced page table — the
// guest reused the page, or the address faults — the site is dropped
// (bt/pt-sites-dropped), its block retired again, and the store runs as an
// ordinary translated instruction, faulting as it must.

// adaptPTStores turns PT sites on (benchmarks turn it off to measure the
// fault path beside the callout path).
var adaptPTStores = true

// isPTStore reports the stores a kernel writes page-table entries with,
// the ones the VMM performs: 32-bit mov of a register or an immediate to
// memory.
func isPTStore(inst x86asm.Inst) bool {
	if inst.Op != x86asm.MOV || inst.MemBytes != 4 {
		return false
	}
	m, ok := inst.Args[0].(x86asm.Mem)
	if !ok || (m.Segment != 0 && m.Segment != x86asm.DS) {
		return false
	}
	switch a := inst.Args[1].(type) {
	case x86asm.Reg:
		_, ok := gpr32(a)
		return ok
	case x86asm.Imm:
		return true
	}
	return false
}

// storeOf is the linear address and the value of a PT store, from the
// guest's registers now.
func (b *BT) storeOf(inst x86asm.Inst) (lin, val uint32, ok bool) {
	if !isPTStore(inst) {
		return 0, 0, false
	}
	m := inst.Args[0].(x86asm.Mem)
	lin = uint32(m.Disp)
	for _, part := range []struct {
		r     x86asm.Reg
		scale uint32
	}{{m.Base, 1}, {m.Index, uint32(m.Scale)}} {
		if part.r == 0 {
			continue
		}
		r, ok := gpr32(part.r)
		if !ok {
			return 0, 0, false
		}
		lin += b.Reg(ucReg[r]) * part.scale
	}
	switch a := inst.Args[1].(type) {
	case x86asm.Reg:
		r, _ := gpr32(a)
		val = b.Reg(ucReg[r])
	case x86asm.Imm:
		val = uint32(a)
	}
	return lin, val, true
}

// adaptable reports whether the translated store at TC address tc, which
// wrote a traced page table at lin, can become a callout.
func (b *BT) adaptable(tc, lin uint32) bool {
	if !adaptPTStores {
		return false
	}
	if p, ok := b.points[tc]; !ok || p.kind != ptBoundary || b.ptSites[p.guest] {
		return false
	}
	inst, err := b.Decode(tc)
	if err != nil {
		return false
	}
	at, _, ok := b.storeOf(inst)
	return ok && at == lin
}

// adapt makes the store at TC address tc a PT site and retires the blocks
// that copied it, so its next translation calls out.
func (b *BT) adapt(tc uint32) {
	g := b.points[tc].guest
	b.ptSites[g] = true
	b.stats.ptSites++
	b.retireAt(g)
}

// retireAt retires every live block containing guest instruction g.
func (b *BT) retireAt(g uint32) {
	for _, blk := range b.blocks {
		if blk.dead || g < blk.guest || g >= blk.guestEnd {
			continue
		}
		for _, u := range blk.units {
			if u.guest == g {
				b.invalidate(blk)
				break
			}
		}
	}
}

// ptStore is the callout of a PT site: perform the store into the guest's
// page table and update the shadow, as the fault would have.
func (b *BT) ptStore(s stub) {
	inst, err := b.Decode(s.guest)
	var lin, val uint32
	ok := err == nil && b.ShadowOn()
	if ok {
		lin, val, ok = b.storeOf(inst)
	}
	var phys uint32
	if ok {
		phys, err = b.GuestTranslate(lin, x86.Access{Write: true}, false)
		ok = err == nil && lin&3 == 0 && b.Shadow().Traced(phys) && !b.protected[phys&^0xFFF]
	}
	if !ok {
		b.stats.ptSitesDropped++
		delete(b.ptSites, s.guest)
		b.retireAt(s.guest)
		b.hint.ok = false
		b.VMM.Resume(s.guest)
		return
	}
	// The CPU's store would set the accessed and dirty bits of the entries
	// mapping the table.
	if _, err := b.GuestTranslate(lin, x86.Access{Write: true}, true); err != nil {
		b.Fail(err)
		return
	}
	b.Record(trap.CausePTWrite, vmm.MechCallout, s.guest)
	if err := b.VMM.WritePT(phys, val); err != nil {
		b.Fail(err)
		return
	}
	b.VMM.Resume(s.next)
}
