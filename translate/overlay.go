package translate

import (
	"golang.org/x/arch/x86/x86asm"

	"virtsim/vmm"
	"virtsim/vmm/unicorn"
)

// The guest's RAM mapped over the translator's own pages (its code cache,
// tables, page tables and virtual-CPU pages): the machine emulates the
// guest's loads there (vmm/overlay.go) and trap finds the pages
// (trap/overlay.go). What the translator adds:
//
//   - in the code cache, which access is the guest's: an instruction
//     copied from the guest names its operands as the guest did; the code
//     the translator wrote around the others reaches its own tables by
//     absolute address, and those accesses stay its own (overlayExplicit);
//   - stores: the translator's pages are read-only in its page tables, so
//     a guest store there is a #PF; the instruction is stepped with the
//     guest's frame mapped in their place (overlayFault). The one page the
//     translated code itself writes (the virtual IF and scratch slots) is
//     made read-only while the guest overlays it, and the translator's own
//     stores there are stepped with it writable.

// initOverlay installs the translator's part.
func (b *BT) initOverlay() {
	b.VMM.OverlayExplicit = b.overlayExplicit
	b.VMM.OverlayStored = b.overlayStored
	b.VMM.OverlayChanged = b.overlayChanged
}

// overlayExplicit decides for code in the translation cache (and the
// stubs); elsewhere trap's rule holds.
func (b *BT) overlayExplicit(pc, addr uint32, size int, _ bool) (uint32, bool, bool) {
	if !b.inCode(pc) {
		return 0, false, false
	}
	at, ok := b.FindOperand(pc, addr, size, func(at uint32, inst x86asm.Inst) bool {
		return b.copied(at) || !ownOperand(inst)
	})
	if !ok {
		return b.guestPC(pc), false, true
	}
	return b.guestPC(at), true, true
}

// copied reports whether TC address a lies in a guest instruction copied
// unchanged.
func (b *BT) copied(a uint32) bool {
	blk, j := b.locate(a)
	if blk == nil || j < 0 || j >= len(blk.units) {
		return false
	}
	u := blk.units[j]
	return u.class.Kind == Ident && a >= u.tc && a < u.tcEnd
}

// ownOperand reports a memory operand with no base register whose
// displacement lies in the VMM's region: the translator's code reaching its
// own tables, at an absolute address or indexed (the selector views, the
// return lookup's tables).
func ownOperand(inst x86asm.Inst) bool {
	for _, a := range inst.Args {
		if mem, ok := a.(x86asm.Mem); ok && mem.Base == 0 && uint32(mem.Disp) >= vmm.VMMBase {
			return true
		}
	}
	return false
}

// overlayFault handles a store #PF at cr2 on an overlaid page, reporting
// whether it was one.
func (b *BT) overlayFault(tr vmm.Trap, cr2 uint32) bool {
	page := cr2 &^ 0xFFF
	if !b.Overlaid(page) {
		return false
	}
	at, ok := b.pt.ptEntryAddr(cr2)
	if !ok {
		return false
	}
	own := b.read32(at)
	gpc, explicit := b.VMM.ExplicitAccess(tr.PC, cr2, 1, true)
	if !explicit {
		if page != vrwAddr {
			return false // the CPU's own store (a descriptor's Accessed bit)
		}
		// The translator's own store into its page the guest overlays.
		b.StepAliased(tr.PC, at, page|pteVMMRW, own, page, nil)
		return true
	}
	frame, why := b.VMM.OverlayGuest(page, true)
	if why != "" {
		b.guestStop = true
		b.Crash(gpc, "the guest's store at %#x, its own page where the translator keeps one, %s: not emulated", cr2, why)
		return true
	}
	if b.protected[frame] {
		if err := b.retireFrame(frame); err != nil {
			b.Fail(err)
			return true
		}
	}
	b.Record(vmm.CauseVMMOverlay, vmm.MechTrap, gpc)
	inst, err := b.Decode(tr.PC)
	if err != nil {
		b.Fail(err)
		return true
	}
	if tr.PC&^0xFFF != page && (tr.PC+uint32(inst.Len)-1)&^0xFFF != page {
		b.StepAliased(tr.PC, at, frame|pteVMMRW, own, frame, nil)
		return true
	}
	// The instruction lies on the page that becomes the guest's for the
	// step: a copy of it runs on the step page instead (a copied guest
	// instruction names no address of its own: x86-32 has no EIP-relative
	// operand), and EIP goes on after the original.
	step := b.stepPage()
	if page == step {
		b.guestStop = true
		b.Crash(gpc, "the guest's store at %#x lands on the translator's step page: not emulated", cr2)
		return true
	}
	code := make([]byte, inst.Len)
	if err := b.OwnRead(tr.PC, code); err != nil {
		b.Fail(err)
		return true
	}
	if err := b.OwnWrite(step, code); err != nil {
		b.Fail(err)
		return true
	}
	if err := b.removeCache(step, step+0x1000); err != nil {
		b.Fail(err)
		return true
	}
	next := tr.PC + uint32(inst.Len)
	b.StepAliased(step, at, frame|pteVMMRW, own, frame, func() {
		if b.Reg(unicorn.EIP) == step {
			next = tr.PC // a rep string store did one element: the rest from the original
		}
		b.SetReg(unicorn.EIP, next)
	})
	return true
}

// stepPage is the page after the translation cache where a copy of an
// instruction runs for one step (overlayFault).
func (b *BT) stepPage() uint32 { return (b.tcEnd + 0xFFF) &^ 0xFFF }

// overlayStored: a store the machine performed in the guest's frame.
func (b *BT) overlayStored(frame uint32) {
	if b.protected[frame] {
		if err := b.retireFrame(frame); err != nil {
			b.Fail(err)
		}
	}
}

// overlayChanged write-protects the translator's writable page while the
// guest overlays it.
func (b *BT) overlayChanged(pages map[uint32]uint32) {
	at, ok := b.pt.ptEntryAddr(vrwAddr)
	if !ok {
		return
	}
	want := uint32(vrwAddr | pteVMMRW)
	if _, over := pages[vrwAddr]; over {
		want = vrwAddr | pteVMMRO
	}
	if b.read32(at) != want {
		b.HostPhys().WritePhys32(at, want)
		if err := b.E.FlushTLB(); err != nil {
			b.Fail(err)
		}
	}
}
