package vmm

import (
	"virtsim/guest"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// CPUState is a snapshot of processor state, real or virtual.
type CPUState struct {
	GPR    [8]uint32 // EAX ECX EDX EBX ESP EBP ESI EDI
	EIP    uint32
	EFLAGS uint32
	// Segment selectors, in the order ES CS SS DS FS GS.
	Seg                [6]uint16
	CR0, CR2, CR3, CR4 uint32
	GDTBase, IDTBase   uint32
	GDTLimit, IDTLimit uint16
	LDTR, TR           uint16
	CPL                uint8
}

// IF reports the interrupt flag.
func (s CPUState) IF() bool { return s.EFLAGS&x86.FlagIF != 0 }

// Inspector is what a debugger or the terminal UI reads from a paused
// instance. Instances implement it optionally.
type Inspector interface {
	// Real is the state of the CPU the guest really runs on.
	Real() CPUState
	// Virtual is the guest's own view of its privileged state, where the
	// strategy keeps one (a VMM that deprivileges the guest); ok is false
	// when the real state is the guest's state (native).
	Virtual() (s CPUState, ok bool)
	// ReadMem reads guest memory by linear address.
	ReadMem(addr uint32, b []byte) error
	// Image is the guest image (for symbols).
	Image() *guest.Image
}

// Real reads the Unicorn CPU.
func (m *Machine) Real() CPUState {
	var s CPUState
	for i, r := range []unicorn.Reg{unicorn.EAX, unicorn.ECX, unicorn.EDX, unicorn.EBX, unicorn.ESP, unicorn.EBP, unicorn.ESI, unicorn.EDI} {
		s.GPR[i] = m.reg(r)
	}
	s.EIP, s.EFLAGS = m.reg(unicorn.EIP), m.reg(unicorn.EFLAGS)
	for i, r := range []unicorn.Reg{unicorn.ES, unicorn.CS, unicorn.SS, unicorn.DS, unicorn.FS, unicorn.GS} {
		s.Seg[i] = uint16(m.reg(r))
	}
	s.CR0, s.CR2, s.CR3, s.CR4 = m.reg(unicorn.CR0), m.reg(unicorn.CR2), m.reg(unicorn.CR3), m.reg(unicorn.CR4)
	if g, err := m.E.MMR(unicorn.GDTR); err == nil {
		s.GDTBase, s.GDTLimit = g.Base, uint16(g.Limit)
	}
	if g, err := m.E.MMR(unicorn.IDTR); err == nil {
		s.IDTBase, s.IDTLimit = g.Base, uint16(g.Limit)
	}
	if g, err := m.E.MMR(unicorn.TR); err == nil {
		s.TR = g.Selector
	}
	if g, err := m.E.MMR(unicorn.LDTR); err == nil {
		s.LDTR = g.Selector
	}
	s.CPL = uint8(s.Seg[1] & 3)
	return s
}

// Virtual: on the bare machine the real state is the guest's.
func (m *Machine) Virtual() (CPUState, bool) { return CPUState{}, false }

// Image is the guest image.
func (m *Machine) Image() *guest.Image { return m.Img }

// PageRow is one page of the guest's address space: how the guest's own
// tables map it and how the page tables the real CPU uses map it (the
// shadow under a VMM that keeps one; the same tables under native and
// direct paging).
type PageRow struct {
	Lin          uint32
	Guest, Real  uint32 // the mapping entry (PTE, or PDE of a 4 MiB page); 0: none
	GuestLarge   bool
	Differs      bool
	Why          string // why they differ, for a student
	GuestPresent bool
	RealPresent  bool
}

// PagingView is what a strategy shows of its memory virtualization.
type PagingView struct {
	GuestPaging, RealPaging bool
	Rows                    []PageRow
}

// Paging shows the pages at the given linear addresses (and, after them,
// up to max other pages the guest maps, in address order): the guest's
// entry beside the real one, marking the entries that differ and why.
func (m *Machine) Paging(lins []uint32, max int) PagingView {
	g := m.MMU()
	var rv [3]uint32
	_ = m.E.Regs([]unicorn.Reg{unicorn.CR0, unicorn.CR3, unicorn.CR4}, rv[:])
	real := x86.MMU{CR0: rv[0], CR3: rv[1], CR4: rv[2]}
	v := PagingView{GuestPaging: g.Paging(), RealPaging: real.Paging()}
	if !v.GuestPaging {
		return v
	}
	seen := map[uint32]bool{}
	add := func(lin uint32) {
		lin &^= 0xFFF
		if seen[lin] {
			return
		}
		seen[lin] = true
		v.Rows = append(v.Rows, m.pageRow(g, real, lin))
	}
	for _, l := range lins {
		add(l)
	}
	// Then the guest's present pages, in order.
	if g.CR4&x86.CR4PAE != 0 {
		m.pagesPAE(g, func() bool { return len(v.Rows) < len(lins)+max }, add)
		return v
	}
	for pdi := uint32(0); pdi < 1024 && len(v.Rows) < len(lins)+max; pdi++ {
		pde, ok := physMem{m}.ReadPhys32(g.CR3&x86.PTEAddr + pdi*4)
		if !ok || pde&x86.PTEPresent == 0 {
			continue
		}
		if pde&x86.PTELarge != 0 && g.CR4&x86.CR4PSE != 0 {
			add(pdi << 22)
			continue
		}
		for i := uint32(0); i < 1024 && len(v.Rows) < len(lins)+max; i++ {
			if pte, ok := (physMem{m}).ReadPhys32(pde&x86.PTEAddr + i*4); ok && pte&x86.PTEPresent != 0 {
				add(pdi<<22 | i<<12)
			}
		}
	}
	return v
}

// pagesPAE calls add for each page PAE tables map (a 2 MiB page once), in
// address order, while more wants more.
func (m *Machine) pagesPAE(g x86.MMU, more func() bool, add func(lin uint32)) {
	pm := physMem{m}
	present := func(pa uint32) (uint32, bool) {
		v, ok := pm.ReadPhys32(pa)
		return v, ok && v&x86.PTEPresent != 0
	}
	for pi := uint32(0); pi < 4 && more(); pi++ {
		pdpte, ok := present(g.CR3&^0x1F + pi*8)
		if !ok {
			continue
		}
		for di := uint32(0); di < 512 && more(); di++ {
			pde, ok := present(pdpte&x86.PTEAddr + di*8)
			if !ok {
				continue
			}
			if pde&x86.PTELarge != 0 {
				add(pi<<30 | di<<21)
				continue
			}
			for ti := uint32(0); ti < 512 && more(); ti++ {
				if _, ok := present(pde&x86.PTEAddr + ti*8); ok {
					add(pi<<30 | di<<21 | ti<<12)
				}
			}
		}
	}
}

func (m *Machine) pageRow(g, real x86.MMU, lin uint32) PageRow {
	r := PageRow{Lin: lin}
	gt, gpf := g.Walk(physMem{m}, lin, x86.Access{}, false)
	if gpf == nil {
		r.GuestPresent = true
		r.Guest, r.GuestLarge = gt.PTE, gt.Large
		if gt.Large {
			r.Guest = gt.PDE
		}
	}
	if !real.Paging() {
		r.Real = lin | x86.PTEPresent | x86.PTEWrite | x86.PTEUser
		r.RealPresent = true
	} else if rt, rpf := real.Walk(hostPhys{m}, lin, x86.Access{}, false); rpf == nil {
		r.RealPresent = true
		r.Real = rt.PTE
		if rt.Large {
			r.Real = rt.PDE
		}
		if !rt.Large && rt.PDE&x86.PTEWrite == 0 {
			r.Real &^= x86.PTEWrite
		}
	}
	gFrame := r.Guest & x86.PTEAddr
	if r.GuestLarge {
		gFrame = r.Guest&x86.PDELargeAddr | lin&^x86.PDELargeAddr
	}
	switch {
	case m.vmmOwned(lin) && m.Overlaid(lin):
		r.Differs, r.Why = true, "the guest's RAM over a page the VMM keeps here for the CPU: the real tables map the VMM's page, and the VMM emulates each guest load and store here against the guest's frame (mem/vmm-overlay)"
	case m.vmmOwned(lin):
		r.Differs, r.Why = r.GuestPresent, "the VMM's own region: the real tables map the VMM here, whatever the guest maps"
	case r.GuestPresent && !r.RealPresent:
		r.Differs, r.Why = true, "not in the real tables yet: the first access is a hidden fault the VMM fills in"
	case !r.GuestPresent && r.RealPresent:
		r.Differs, r.Why = true, "the guest unmapped it but the real entry remains (a stale TLB-like entry until invlpg)"
	case r.GuestPresent && r.RealPresent && r.Real&x86.PTEAddr != gFrame:
		r.Differs, r.Why = true, "the real entry maps another frame"
	case r.GuestPresent && r.RealPresent && r.Guest&x86.PTEWrite != 0 && r.Real&x86.PTEWrite == 0:
		r.Differs = true
		if m.PageTraced != nil && m.PageTraced(gFrame) {
			r.Why = "a page of the guest's page tables: read-only so the VMM sees (traces) every write to it"
		} else if r.Guest&x86.PTEDirty == 0 {
			r.Why = "read-only until the guest's first write: that write faults so the VMM can set the dirty bit"
		} else {
			r.Why = "filled on a read, so read-only for now: the next write is a hidden fault that makes it writable"
		}
	}
	return r
}
