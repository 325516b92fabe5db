package translate

import (
	"virtsim/shadow"
	"virtsim/trap"
	"virtsim/vmm"
	"virtsim/vmm/x86"
)

// Paging guests: shadow page tables under binary translation.
//
// While the guest does not page, the CPU runs on the translator's own
// tables (paging.go). When the guest sets CR0.PG, the real CR3 points at a
// shadow of the guest's current address space (package shadow, run by
// trap.VMM as under trap): the guest's mappings are derived on demand
// (pf/hidden), refusals reflected (exc/#PF), page-table pages traced
// (pt/write), CR3 loads and invlpg called out to the VMM (priv/mov-cr3,
// priv/invlpg). What binary translation adds:
//
//   - Every shadow carries the translator's own VMM directory entries, so
//     the TC, its tables and the guest-owned page are where they always
//     are, with the same protections.
//   - Coherence is per physical frame: the frames translated code was read
//     from are protected in every shadow (shadow.MMU.Protect) as in the
//     translator's own tables, so a store through any alias faults
//     (shadow.Protected) and retires the translations first.
//   - Translations are keyed by the guest's linear PC, which names other
//     code once the mapping changes. The translator remembers which frame
//     each translated linear page was read from; after every change of the
//     guest's paging state (a CR0/CR3/CR4 write, a traced page-table write,
//     an invlpg) it walks the guest's tables for those pages and retires the
//     blocks of any page that now maps another frame or none
//     (bt/remap-invalidations; bt/space-checks counts the checks). An
//     address-space switch that keeps the kernel's code where it was — the
//     common case — costs no translation.
//   - SMEP still holds for the guest pages the guest maps user: a CPL-1
//     fetch from them faults. The shadow keeps the guest's own U/S bit, so
//     that guest user code sees the protection it asked for; a guest
//     supervisor page is therefore not guarded by SMEP (the translator never
//     jumps into guest memory by construction).

// initShadow lets trap's shadow MMU run this guest's paging, with the pool
// in the translator's part of the VMM region and the translator's own
// directory in force while the guest does not page.
func (b *BT) initShadow() {
	var pdes []uint32
	for i := uint32(0); i < vmm.VMMSize>>22; i++ {
		pdes = append(pdes, (ptAddr+(b.pt.ramPTs+i)*4096)|pteP|pteW|pteU|pteA)
	}
	b.VMM.EnableShadow(trap.ShadowLayout{PoolBase: poolBase, PoolPages: poolSize / 4096, VMMPDEs: pdes, OffCR3: pdAddr})
	b.VMM.PagingChanged = b.revalidate
	b.VMM.MappingsChanged = b.revalidate
}

// codeLimit is the end of the linear space guest code may lie in: RAM
// while the guest does not page, everything below the VMM when it does.
func (b *BT) codeLimit() uint32 {
	if b.ShadowOn() {
		return vmm.VMMBase
	}
	return b.memSize
}

// frameOf is the physical frame guest linear page lin maps to now (setAD:
// as the CPU's fetch would, setting the accessed bits).
func (b *BT) frameOf(lin uint32, setAD bool) (uint32, bool) {
	if !b.ShadowOn() {
		return lin &^ 0xFFF, lin < b.memSize
	}
	pa, err := b.Translate(lin, x86.Access{Fetch: true}, setAD)
	if err != nil {
		return 0, false
	}
	return pa &^ 0xFFF, true
}

// protect keeps a frame holding translated code read-only: in the
// translator's own tables and in every shadow.
func (b *BT) protect(frame uint32) error {
	b.protected[frame] = true
	if sh := b.Shadow(); sh != nil {
		sh.Protect(frame)
	}
	if frame < b.memSize {
		return b.pt.setWritable(frame, false)
	}
	return nil
}

func (b *BT) unprotect(frame uint32) error {
	delete(b.protected, frame)
	if sh := b.Shadow(); sh != nil {
		sh.Unprotect(frame)
	}
	if frame < b.memSize {
		return b.pt.setWritable(frame, true)
	}
	return nil
}

// revalidate retires the translations of every linear page that no longer
// maps the frame its code was read from.
func (b *BT) revalidate() {
	if len(b.code) == 0 {
		return
	}
	b.stats.spaceChecks++
	for lin, frame := range b.code {
		if now, ok := b.frameOf(lin, false); ok && now == frame {
			continue
		}
		delete(b.code, lin)
		for _, blk := range b.pages[frame] {
			if !blk.dead && blk.guest&^0xFFF <= lin && lin < blk.guestEnd {
				b.invalidate(blk)
				b.stats.remapInvalidations++
			}
		}
	}
}

// shadowFault handles a #PF of the shadow in force at guest linear cr2. It
// returns true when done; otherwise f is the fault to hand to trap once the
// CPU's state is the guest's (a true fault, a traced page-table write, a
// mapping trap refuses).
func (b *BT) shadowFault(tr vmm.Trap, cr2 uint32) (done bool, f shadow.Fault) {
	if tr.Code&x86.PFUser == 0 && tr.Code&0x10 != 0 {
		b.guestStop = true
		b.Crash(b.guestPC(tr.PC), "bt: internal error: guest kernel code at %#x ran untranslated (SMEP fault at %#x)", cr2, tr.PC)
		return true, f
	}
	f, err := b.Shadow().Fault(b.GuestMMU(), cr2, trap.PFAccess(tr.Code))
	if err != nil {
		b.Fail(err)
		return true, f
	}
	b.VMM.ReloadShadowCR3() // the fill may have flushed every shadow (pool exhausted)
	switch f.Kind {
	case shadow.Hidden:
		// Filled: retry where the CPU stands, in the TC or in user code.
		b.Record(trap.CausePFHidden, vmm.MechTrap, b.guestPC(tr.PC))
		if tr.Code&x86.PFWrite != 0 {
			if err := b.E.FlushTLB(); err != nil {
				b.Fail(err)
			}
		}
		b.Complete(tr.PC)
		return true, f
	case shadow.Protected:
		b.selfModified(tr, f.Phys)
		return true, f
	case shadow.VMMRegion:
		// The guest's own page where the VMM's region lies: mapped for the
		// guest's paging changes; retried where the CPU stands.
		b.VMM.MapAlias(tr.PC, b.guestPC(tr.PC), tr.Cause, f)
		return true, f
	}
	return false, f
}
