package trap

import (
	"encoding/binary"
	"fmt"

	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// The guest's own RAM mapped over the pages the VMM keeps present in the
// guest's address space (vmmPages under trap, the translation cache and its
// tables under bt): the machine emulates the guest's accesses there against
// the guest's frame (vmm/overlay.go, cause vmm.CauseVMMOverlay). This file
// finds those pages and decides for the machine.

// initOverlay gives the machine trap's decisions.
func (t *VMM) initOverlay() {
	t.Machine.SetOverlayPolicy(vmm.OverlayPolicy{
		Explicit: t.ExplicitAccess,
		Guest:    t.overlayGuest,
		Store:    t.overlayStore,
		CodePage: func(page uint32) bool { return page == vmmEntryAddr&^0xFFF },
		OwnCode: func(pc uint32) bool {
			return pc >= vmmEntryAddr && pc < vmmEntryAddr+256 || pc == dropStub || pc == dropLand
		},
	})
}

// ExplicitAccess decides whether the access at addr made at EIP pc to an
// overlaid page is the guest's, and the guest instruction to record it at:
// the VMM's own code (the trampoline, the entry stubs, a translator's code
// cache unless it says otherwise: OverlayExplicit) makes only the VMM's
// accesses; guest code, the ones its instruction names.
func (t *VMM) ExplicitAccess(pc, addr uint32, size int, write bool) (uint32, bool) {
	if t.OverlayExplicit != nil {
		if gpc, ok, decided := t.OverlayExplicit(pc, addr, size, write); decided {
			return gpc, ok
		}
	}
	if pc >= vmm.VMMBase {
		return pc, false
	}
	return pc, t.OperandAccess(pc, addr, size)
}

// overlayGuest walks the guest's tables for its access to page lin, at the
// privilege the guest code runs at, setting accessed and dirty.
func (t *VMM) overlayGuest(lin uint32, write bool) (uint32, string) {
	user := t.Reg(unicorn.CS)&3 == 3
	tr, pf := t.guestMMU().Walk(t.PhysMem(), lin, x86.Access{Write: write, User: user}, true)
	if pf != nil {
		return 0, fmt.Sprintf("faults in the guest's own tables (error code %#x)", pf.Code)
	}
	if tr.Phys >= t.Cfg.MemSize {
		return 0, fmt.Sprintf("maps a frame beyond guest RAM (%#x)", tr.Phys)
	}
	return tr.Phys &^ 0xFFF, ""
}

// overlayStore performs the guest's store into its frame; in one of its
// page tables it is a traced write like any other (the shadows drop what
// it changed).
func (t *VMM) overlayStore(pa uint32, b []byte) error {
	frame := pa &^ 0xFFF
	if t.OverlayStored != nil {
		defer t.OverlayStored(frame)
	}
	if !t.shadowOn || !t.sh.Traced(frame) {
		return t.E.MemWrite(uint64(pa), b)
	}
	return t.writeTraced(pa, b)
}

// refreshOverlay finds the guest's pages over the VMM's present ones in
// the address space in force and hands the machine those on guest RAM.
// Pages the guest maps there onto memory that is not RAM (a device window
// to 4 GiB) are left to the VMM (loads there read its bytes, the run's
// notes say so: OverlapNote); hooking them would slow every load for
// nothing a guest reads.
func (t *VMM) refreshOverlay() {
	if !t.shadowOn {
		t.setOverlay(nil)
		return
	}
	g := t.guestMMU()
	var pages map[uint32]uint32
	vpt := make([]byte, 4096)
	for i, vpde := range t.sh.VMMPDEs() {
		if vpde&x86.PTEPresent == 0 || vpde&x86.PTELarge != 0 {
			continue
		}
		guest := t.guestSlot(g, uint32(firstVMMPDE+i))
		if guest == nil {
			continue
		}
		if err := t.E.MemRead(uint64(vpde&x86.PTEAddr), vpt); err != nil {
			t.Fail(err)
			return
		}
		for j := uint32(0); j < 1024; j++ {
			at := vpde&x86.PTEAddr + j*4
			if binary.LittleEndian.Uint32(vpt[j*4:])&x86.PTEPresent == 0 || t.Aliased(at) {
				continue
			}
			lin := uint32(vmm.VMMBase) + uint32(i)<<22 + j<<12
			frame, mapped := guest(j)
			switch {
			case !mapped:
			case frame >= t.Cfg.MemSize:
				t.noteOverlap(lin)
			default:
				if pages == nil {
					pages = map[uint32]uint32{}
				}
				pages[lin] = frame
			}
		}
	}
	t.setOverlay(pages)
}

// guestSlot tells where the guest maps page j of 4 MiB slot (the frame,
// or false), nil if it maps nothing there. A 32-bit guest's directory
// entry and page table are read once for the slot's 1024 pages (a
// refresh runs at every CR3 load); a PAE guest's pages go through its
// own walk.
func (t *VMM) guestSlot(g x86.MMU, slot uint32) func(j uint32) (uint32, bool) {
	gp := t.PhysMem()
	if g.CR4&x86.CR4PAE != 0 {
		return func(j uint32) (uint32, bool) {
			tr, pf := g.Walk(gp, slot<<22|j<<12, x86.Access{}, false)
			return tr.Phys &^ 0xFFF, pf == nil
		}
	}
	gpde, ok := gp.ReadPhys32(g.CR3&x86.PTEAddr + slot*4)
	if !ok || gpde&x86.PTEPresent == 0 {
		return nil
	}
	if gpde&x86.PTELarge != 0 && g.CR4&x86.CR4PSE != 0 {
		return func(j uint32) (uint32, bool) { return gpde&0xFFC00000 + j<<12, true }
	}
	pt := make([]byte, 4096)
	if gpde&x86.PTEAddr >= t.Cfg.MemSize || t.E.MemRead(uint64(gpde&x86.PTEAddr), pt) != nil {
		return nil
	}
	return func(j uint32) (uint32, bool) {
		pte := binary.LittleEndian.Uint32(pt[j*4:])
		return pte & x86.PTEAddr, pte&x86.PTEPresent != 0
	}
}

func (t *VMM) setOverlay(pages map[uint32]uint32) {
	if err := t.Machine.SetOverlay(pages); err != nil {
		t.Fail(err)
	}
	if t.OverlayChanged != nil {
		t.OverlayChanged(t.Machine.Overlay())
	}
}

// OverlayCode stops a guest whose fetch at lin (a #PF with error code
// code) is from its own page overlaid on the VMM's, reporting whether it
// was one: the CPU would run the VMM's bytes there.
func (t *VMM) OverlayCode(lin, code uint32) bool {
	if code&x86.PFFetch == 0 || !t.Overlaid(lin) {
		return false
	}
	t.OverlayCodeStop(lin)
	return true
}

// OverlayGuest is the guest's frame for its access to its page lin
// overlaid on the VMM's, or why the access faults in its tables.
func (t *VMM) OverlayGuest(lin uint32, write bool) (uint32, string) {
	return t.overlayGuest(lin, write)
}
