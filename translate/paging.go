package translate

import (
	"encoding/binary"
	"fmt"

	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// The VMM's own page tables. Unicorn 2.0.1 walks page tables for
// permissions but then uses physical = virtual (SUBSTRATE.md pitfall 2), so
// the VMM maps everything at its own address and uses the tables only for
// what they protect:
//
//   - guest RAM: user, writable — except pages holding translated guest
//     code, which are read-only: a guest store there faults (#PF, precise)
//     and the VMM invalidates the translations first (coherence);
//   - the VMM region: supervisor-only, so guest user code cannot touch it;
//     read-only with CR0.WP, so the guest kernel (CPL 1, running in the TC)
//     cannot write it either — except the guest-owned page of virtual state;
//     not present where nothing is mapped (a paging guest's own mappings
//     there are aliased for the instruction that touches them: shadow.go);
//   - the machine's trampoline stub page: user-accessible and read-only
//     (the stub runs at the interrupted code's privilege level);
//   - the local and I/O APIC pages (vmm.MMIOWindows): supervisor, writable,
//     so that the guest kernel's accesses from the TC reach the machine's
//     device emulation (Unicorn has no memory there) instead of faulting
//     in these tables;
//   - CR4.SMEP: a supervisor-mode fetch from a user page faults. Guest RAM is
//     user memory, so guest kernel code can only ever run as its
//     translation: a CPL-1 fetch from guest RAM is a #PF that the VMM
//     reports as a translator bug.
//
// Accessed and dirty bits are preset, so the CPU never writes the tables.
const (
	pteP      = 1 << 0
	pteW      = 1 << 1
	pteU      = 1 << 2
	pteA      = 1 << 5
	pteD      = 1 << 6
	pteRAM    = pteP | pteW | pteU | pteA | pteD
	pteVMMRO  = pteP | pteA | pteD
	pteVMMRW  = pteP | pteW | pteA | pteD
	pteUserRO = pteP | pteU | pteA | pteD
	cr4SMEP   = 1 << 20
)

// pageTables lays out the page directory and tables.
type pageTables struct {
	e       *unicorn.Engine
	memSize uint32
	ramPTs  uint32 // page tables for guest RAM
	tcEnd   uint32 // the end of the translation cache in use
}

// ptEntryAddr is where the PTE of linear address addr lives.
func (p *pageTables) ptEntryAddr(addr uint32) (uint32, bool) {
	pde := addr >> 22
	switch {
	case pde < p.ramPTs:
		return ptAddr + pde*4096 + (addr>>12&0x3FF)*4, true
	case pde >= vmm.VMMBase>>22:
		return ptAddr + (p.ramPTs+pde-vmm.VMMBase>>22)*4096 + (addr>>12&0x3FF)*4, true
	case pde == devicePDE:
		return ptAddr + (p.ramPTs+vmm.VMMSize>>22)*4096 + (addr>>12&0x3FF)*4, true
	}
	return 0, false
}

// setup writes the tables, maps the TLB-flush page and turns paging on.
func (p *pageTables) setup() error {
	p.ramPTs = (p.memSize + 1<<22 - 1) >> 22
	vmmPTs := uint32(vmm.VMMSize >> 22)
	if (p.ramPTs+vmmPTs+1)*4096 > ptAreaSize || p.ramPTs > devicePDE {
		return fmt.Errorf("guest RAM of %d MiB needs more page tables than the translator reserves (%d MiB at most)", p.memSize>>20, (ptAreaSize/4096-vmmPTs-1)*4)
	}
	pd := make([]byte, 4096)
	for i := uint32(0); i < p.ramPTs; i++ {
		binary.LittleEndian.PutUint32(pd[i*4:], (ptAddr+i*4096)|pteP|pteW|pteU|pteA)
	}
	for i := uint32(0); i < vmmPTs; i++ {
		binary.LittleEndian.PutUint32(pd[(vmm.VMMBase>>22+i)*4:], (ptAddr+(p.ramPTs+i)*4096)|pteP|pteW|pteU|pteA)
	}
	if err := p.e.MemWrite(pdAddr, pd); err != nil {
		return fmt.Errorf("write page directory: %w", err)
	}
	ram := make([]byte, p.ramPTs*4096)
	for a := uint32(0); a < p.memSize; a += 4096 {
		binary.LittleEndian.PutUint32(ram[a>>12*4:], a|pteRAM)
	}
	if err := p.e.MemWrite(ptAddr, ram); err != nil {
		return fmt.Errorf("write page tables: %w", err)
	}
	vt := make([]byte, vmmPTs*4096)
	set := func(lo, hi uint32, flags uint32) {
		for a := lo; a < hi; a += 4096 {
			binary.LittleEndian.PutUint32(vt[(a-vmm.VMMBase)>>12*4:], a|flags)
		}
	}
	set(vmm.StrategyBase, vmm.StrategyBase+trapAreaSize, pteVMMRO)
	set(vroAddr, vroAddr+4096, pteVMMRO)
	set(vrwAddr, vrwAddr+4096, pteVMMRW)
	set(tablesAddr, slotsAddr+slotsSize, pteVMMRO)
	set(selViewAddr, l1TabAddr+lookupTab, pteVMMRO)
	set(l2Base, l2Base+l2Slots*lookupTab, pteVMMRO)
	// The TC as configured and the stubs; not the pool of shadow pages
	// (the CPU walks it by physical address) nor the TC's unused room, so
	// that a paging guest's own mappings there are aliased (shadow.go).
	set(tcBase, p.tcEnd, pteVMMRO)
	set(stubBase, stubBase+stubAreaSize, pteVMMRO)
	machine := uint32(vmm.StrategyBase + vmm.StrategySize)
	set(machine, machine+0x11000, pteVMMRO) // the gate GDT copy (64 KiB + 8)
	set(vmm.TrampolineStubPage&^0xFFF, vmm.TrampolineStubPage&^0xFFF+4096, pteUserRO)
	set(vmm.TrampolineLandingPage&^0xFFF, vmm.TrampolineLandingPage&^0xFFF+4096, pteVMMRO)
	if err := p.e.MemWrite(uint64(ptAddr+p.ramPTs*4096), vt); err != nil {
		return fmt.Errorf("write page tables: %w", err)
	}
	if err := p.mapDevices(pd); err != nil {
		return err
	}
	if err := p.e.SetReg(unicorn.CR3, pdAddr); err != nil {
		return fmt.Errorf("set CR3: %w", err)
	}
	cr4, err := p.e.Reg(unicorn.CR4)
	if err != nil {
		return fmt.Errorf("read CR4: %w", err)
	}
	if err := p.e.SetReg(unicorn.CR4, cr4|cr4SMEP); err != nil {
		return fmt.Errorf("set CR4.SMEP: %w", err)
	}
	cr0, err := p.e.Reg(unicorn.CR0)
	if err != nil {
		return fmt.Errorf("read CR0: %w", err)
	}
	if err := p.e.SetReg(unicorn.CR0, cr0|x86.CR0PG|x86.CR0WP); err != nil {
		return fmt.Errorf("set CR0.PG|WP: %w", err)
	}
	return p.flushTLB()
}

// devicePDE is the page-directory index of the APICs' pages (0xFEC00000
// and 0xFEE00000 share it).
const devicePDE = vmm.IOAPICBase >> 22

// mapDevices maps the device pages identity, supervisor and writable, in a
// page table of their own after the VMM region's; pd is the directory
// being built (written again here).
func (p *pageTables) mapDevices(pd []byte) error {
	pt := make([]byte, 4096)
	for _, w := range vmm.MMIOWindows() {
		if w[0]>>22 != devicePDE {
			return fmt.Errorf("device page %#x outside the device page table", w[0])
		}
		for a := w[0]; a < w[0]+w[1]; a += 4096 {
			binary.LittleEndian.PutUint32(pt[(a>>12&0x3FF)*4:], a|pteVMMRW)
		}
	}
	at := ptAddr + (p.ramPTs+vmm.VMMSize>>22)*4096
	if err := p.e.MemWrite(uint64(at), pt); err != nil {
		return fmt.Errorf("write the device page table: %w", err)
	}
	binary.LittleEndian.PutUint32(pd[devicePDE*4:], at|pteP|pteW|pteA)
	if err := p.e.MemWrite(pdAddr, pd); err != nil {
		return fmt.Errorf("write page directory: %w", err)
	}
	return nil
}

// setWritable changes the write permission of the guest RAM page at addr.
func (p *pageTables) setWritable(page uint32, w bool) error {
	at, ok := p.ptEntryAddr(page)
	if !ok {
		return fmt.Errorf("no page table for %#x", page)
	}
	v := page&^0xFFF | pteRAM
	if !w {
		v &^= pteW
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	if err := p.e.MemWrite(uint64(at), b[:]); err != nil {
		return fmt.Errorf("write PTE of %#x: %w", page, err)
	}
	return nil
}

// flushTLB drops Unicorn's TLB. Host writes of CR3 do not (SUBSTRATE.md
// pitfall 7).
func (p *pageTables) flushTLB() error {
	return p.e.FlushTLB()
}

// removeCache drops Unicorn's translations of TC code in [lo, hi): the
// machine switches paging off around the lookup (see
// vmm.Machine.DropTranslations: a supervisor-only TC cannot be fetched from
// ring 3, nor guest RAM under SMEP from ring 1).
func (b *BT) removeCache(lo, hi uint32) error {
	if err := b.DropTranslations(uint64(lo), uint64(hi)); err != nil {
		return fmt.Errorf("bt: drop stale translations at %#x: %w", lo, err)
	}
	return nil
}
