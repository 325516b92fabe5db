package hypercall

import (
	"fmt"

	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// Direct paging, as Xen's paravirtual guests page.
//
// A full-virtualization VMM hides the guest's page tables behind shadows. A
// paravirtual guest knows it is virtualized, so the VMM loads the guest's
// own page directory into the real CR3 — no shadow, no hidden faults, the
// hardware sets accessed and dirty bits in the guest's own entries — and
// keeps it safe by two rules:
//
//   - the guest never writes a page-table entry itself: every page-table
//     and directory page is mapped read-only in its address space, and it
//     asks with mmu_update, which the VMM validates (the frame must be the
//     guest's RAM; no writable mapping of a page that holds a table; the
//     VMM's own directory slots, at the top, are not the guest's);
//   - a new directory (mmuext_op new_baseptr, or paging turned on by
//     set_cr0) is validated whole before it is loaded ("pinned"), and the
//     VMM writes its own entries into its top slots.
//
// invlpg is mmuext_op invlpg_local; the guest's #PF bounces through its
// trap table with CR2 in the shared-info page.

// VMM region entries in every validated directory: the top four slots.
const firstVMMSlot = vmm.VMMBase >> 22

// Cause names of the paging hypercalls.
const (
	causeMMUUpdate = "hypercall/mmu_update"
	causeInvlpg    = "priv/invlpg"
	causeSetCR4    = "priv/mov-cr4"
)

// directPaging is the VMM's view of the guest's page tables.
type directPaging struct {
	on     bool
	cr3Set bool            // the guest registered a directory (new_baseptr)
	tables map[uint32]int  // frames holding a page table, by how many directory entries name them
	dirs   map[uint32]bool // validated (pinned) page directories
}

// phys is guest-physical memory for direct paging: guest RAM only.
func (p *VMM) phys32(pa uint32) (uint32, bool) { return p.PhysMem().ReadPhys32(pa) }

// entryAddr turns the address a guest names an entry by into a physical
// one: the linear address through its own tables once it pages.
func (p *VMM) entryAddr(addr uint32) (uint32, bool) {
	if addr&3 != 0 {
		return 0, false
	}
	if p.pg.on {
		t, pf := p.guestMMU().Walk(p.PhysMem(), addr, x86.Access{}, false)
		if pf != nil {
			return 0, false
		}
		addr = t.Phys
	}
	return addr, p.guestRange(addr, 4)
}

func (p *VMM) guestMMU() x86.MMU { return x86.MMU{CR0: p.V.CR0, CR3: p.V.CR3, CR4: p.V.CR4} }

// isTable reports whether a frame holds a page table or directory the VMM
// validated.
func (p *VMM) isTable(frame uint32) bool { return p.pg.tables[frame] > 0 || p.pg.dirs[frame] }

// writableMapping reports whether any validated table maps frame writable.
func (p *VMM) writableMapping(frame uint32) bool {
	for t := range p.pg.tables {
		for i := uint32(0); i < 1024; i++ {
			if v, _ := p.phys32(t + i*4); v&(x86.PTEPresent|x86.PTEWrite) == x86.PTEPresent|x86.PTEWrite && v&x86.PTEAddr == frame {
				return true
			}
		}
	}
	return false
}

// checkPTE validates a page-table entry (4 KiB mapping).
func (p *VMM) checkPTE(v uint32) bool {
	if v&x86.PTEPresent == 0 {
		return true
	}
	frame := v & x86.PTEAddr
	if !p.guestRange(frame, PageSize) {
		return false
	}
	return v&x86.PTEWrite == 0 || !p.isTable(frame)
}

// checkPDE validates a directory entry: a page table the guest owns that
// nothing maps writable, or a 4 MiB page of guest RAM.
func (p *VMM) checkPDE(v uint32) bool {
	if v&x86.PTEPresent == 0 {
		return true
	}
	if v&x86.PTELarge != 0 {
		base := v & x86.PDELargeAddr
		if v&x86.PDELargeRsvd != 0 || !p.guestRange(base, 1<<22) {
			return false
		}
		if v&x86.PTEWrite != 0 {
			for f := range p.pg.tables {
				if f >= base && f < base+1<<22 {
					return false
				}
			}
		}
		return true
	}
	t := v & x86.PTEAddr
	return p.guestRange(t, PageSize) && !p.writableMapping(t)
}

// mmuUpdate: ebx = the entry's address (physical while paging is off,
// linear once it is on), ecx = the new value.
func (p *VMM) mmuUpdate(addr, val uint32) outcome {
	pa, good := p.entryAddr(addr)
	if !good {
		return refused(causeMMUUpdate, EFAULT)
	}
	frame, idx := pa&x86.PTEAddr, (pa&0xFFF)/4
	old, _ := p.phys32(pa)
	if p.pg.dirs[frame] {
		if idx >= firstVMMSlot {
			return refused(causeMMUUpdate, EPERM)
		}
		if !p.checkPDE(val) {
			return refused(causeMMUUpdate, EINVAL)
		}
		p.untable(old)
		p.table(val)
	} else if !p.checkPTE(val) {
		return refused(causeMMUUpdate, EINVAL)
	}
	if !p.PhysMem().WritePhys32(pa, val) {
		return refused(causeMMUUpdate, EFAULT)
	}
	if p.pg.on {
		p.flushTLB()
	}
	p.counters["mmu_update"]++
	return ok(causeMMUUpdate)
}

func (p *VMM) table(pde uint32) {
	if pde&x86.PTEPresent != 0 && pde&x86.PTELarge == 0 {
		p.pg.tables[pde&x86.PTEAddr]++
	}
}

func (p *VMM) untable(pde uint32) {
	if pde&x86.PTEPresent != 0 && pde&x86.PTELarge == 0 {
		f := pde & x86.PTEAddr
		if p.pg.tables[f]--; p.pg.tables[f] <= 0 {
			delete(p.pg.tables, f)
		}
	}
}

// pin validates a whole directory and its tables before it is loaded: every
// table is guest RAM, no entry maps a table or the directory writable, the
// VMM's slots are free; then the VMM fills its slots.
func (p *VMM) pin(dir uint32) Errno {
	if p.pg.dirs[dir] {
		return 0
	}
	if !p.guestRange(dir, PageSize) {
		return EFAULT
	}
	var tables []uint32
	for i := uint32(0); i < 1024; i++ {
		v, _ := p.phys32(dir + i*4)
		if v&x86.PTEPresent == 0 {
			continue
		}
		if i >= firstVMMSlot {
			return EPERM
		}
		if v&x86.PTELarge == 0 {
			if !p.guestRange(v&x86.PTEAddr, PageSize) {
				return EINVAL
			}
			tables = append(tables, v&x86.PTEAddr)
		}
	}
	isTable := func(f uint32) bool {
		if f == dir || p.isTable(f) {
			return true
		}
		for _, t := range tables {
			if t == f {
				return true
			}
		}
		return false
	}
	for i := uint32(0); i < firstVMMSlot; i++ {
		v, _ := p.phys32(dir + i*4)
		if v&x86.PTEPresent != 0 && v&x86.PTELarge != 0 && v&x86.PTEWrite != 0 {
			base := v & x86.PDELargeAddr
			for _, f := range append(tables, dir) {
				if f >= base && f < base+1<<22 {
					return EINVAL
				}
			}
		}
	}
	for _, t := range tables {
		for i := uint32(0); i < 1024; i++ {
			v, _ := p.phys32(t + i*4)
			if v&x86.PTEPresent == 0 {
				continue
			}
			if !p.guestRange(v&x86.PTEAddr, PageSize) || v&x86.PTEWrite != 0 && isTable(v&x86.PTEAddr) {
				return EINVAL
			}
		}
	}
	if err := p.vmmSlots(dir); err != nil {
		p.Fail(err)
		return EFAULT
	}
	p.pg.dirs[dir] = true
	for _, t := range tables {
		p.pg.tables[t]++
	}
	return 0
}

// vmmSlots writes the VMM's region into the top slots of a directory.
func (p *VMM) vmmSlots(dir uint32) error {
	pdes, err := p.VMMDirEntries()
	if err != nil {
		return err
	}
	for i, v := range pdes {
		if !p.PhysMem().WritePhys32(dir+(firstVMMSlot+uint32(i))*4, v) {
			return fmt.Errorf("pv: cannot write the VMM's directory slots of %#x", dir)
		}
	}
	return nil
}

// loadCR3 makes the guest's (pinned) directory the real one.
func (p *VMM) loadCR3() Errno {
	dir := p.V.CR3 & x86.PTEAddr
	if e := p.pin(dir); e != 0 {
		return e
	}
	p.SetReg(unicorn.CR3, dir)
	p.flushTLB()
	return 0
}

// startPaging turns the real MMU on with the guest's directory: set_cr0
// with PG.
func (p *VMM) startPaging() Errno {
	if !p.pg.cr3Set {
		return EINVAL // no directory to page with
	}
	if e := p.loadCR3(); e != 0 {
		return e
	}
	cr4 := p.Reg(unicorn.CR4) &^ x86.CR4PSE
	if p.V.CR4&x86.CR4PSE != 0 {
		cr4 |= x86.CR4PSE
	}
	p.SetReg(unicorn.CR4, cr4)
	p.SetReg(unicorn.CR0, p.Reg(unicorn.CR0)|x86.CR0PG|x86.CR0WP)
	p.pg.on = true
	p.flushTLB()
	return 0
}

func (p *VMM) flushTLB() {
	if err := p.E.FlushTLB(); err != nil {
		p.Fail(err)
	}
}

// setCR4: the only CR4 bit a paravirtual guest may set is PSE (4 MiB pages).
func (p *VMM) setCR4(v uint32) outcome {
	if v&^uint32(x86.CR4PSE) != 0 {
		return refused(causeSetCR4, EINVAL)
	}
	p.V.CR4 = v
	p.siPut32(SICR4, v)
	if p.pg.on {
		cr4 := p.Reg(unicorn.CR4) &^ x86.CR4PSE
		p.SetReg(unicorn.CR4, cr4|v)
		p.flushTLB()
	}
	return ok(causeSetCR4)
}
