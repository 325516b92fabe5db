package x86

// 32-bit paging (no PAE), as the CPU walks it (Intel SDM vol. 3, 4.3 and
// 4.6). A linear address splits into a page-directory index (bits 31:22), a
// page-table index (21:12) and an offset (11:0). CR3 names the page
// directory; a present PDE with PS=1 (and CR4.PSE) maps a 4 MiB page
// directly, otherwise it names a page table whose PTE maps a 4 KiB page.
//
// Permissions combine across both levels: a user-mode access (CPL 3) needs
// U/S=1 in both entries; a write needs R/W=1 in both — for supervisor
// accesses only when CR0.WP=1. A successful walk sets the Accessed bit of
// the PDE and the PTE, and the Dirty bit of the entry that maps the page on
// a write. A failed walk raises #PF with CR2 = the linear address and an
// error code saying why (PFPresent: a protection violation rather than a
// missing entry; PFWrite; PFUser; PFRsvd; PFFetch with SMEP).
//
// With CR4.PAE the walk is PAE paging (SDM 4.4): CR3 names a table of four
// 64-bit page-directory-pointer entries (bits 31:30 of the address), each
// naming a page directory of 512 64-bit entries (29:21), whose entries map
// a 2 MiB page (PS=1) or name a page table of 512 entries (20:12). The
// CPU model (qemu32) has no NX and a 36-bit physical address: bits 63:36 of
// an entry are reserved, and so are address bits 35:32 here, where
// physical memory ends at 4 GiB (walkPAE).
//
// Walk is the same rule the Unicorn MMU applies in hardware's place; the
// machine uses it where the VMM itself touches guest memory by linear
// address (pushing an interrupt frame, reading the IDT), and shadow paging
// uses it to read what the guest's tables allow.

// Page-table entry bits.
const (
	PTEPresent   = 1 << 0
	PTEWrite     = 1 << 1
	PTEUser      = 1 << 2
	PTEPWT       = 1 << 3
	PTEPCD       = 1 << 4
	PTEAccessed  = 1 << 5
	PTEDirty     = 1 << 6
	PTELarge     = 1 << 7 // PS in a PDE: a 4 MiB page
	PTEGlobal    = 1 << 8
	PTEAddr      = 0xFFFFF000
	PDELargeAddr = 0xFFC00000
	// Bits 21:13 of a 4 MiB PDE: PSE-36 address bits and a reserved bit.
	// virtsim's CPU has no PSE-36, so they must be zero.
	PDELargeRsvd = 0x003FE000
)

// #PF error-code bits.
const (
	PFPresent = 1 << 0
	PFWrite   = 1 << 1
	PFUser    = 1 << 2
	PFRsvd    = 1 << 3
	PFFetch   = 1 << 4
)

// Access says what kind of access a walk is for.
type Access struct {
	Write bool // a store (or a read-modify-write)
	User  bool // made at CPL 3 (not an implicit supervisor access)
	Fetch bool // an instruction fetch
}

// PhysMem is the physical memory a walk reads entries from and writes
// Accessed/Dirty bits into. ok=false means no memory is there.
type PhysMem interface {
	ReadPhys32(pa uint32) (v uint32, ok bool)
	WritePhys32(pa, v uint32) bool
}

// MMU is the paging state a walk depends on.
type MMU struct {
	CR0, CR3, CR4 uint32
}

// Paging reports whether paging is on (CR0.PG and CR0.PE).
func (m MMU) Paging() bool { return m.CR0&CR0PG != 0 && m.CR0&CR0PE != 0 }

// Translation is the outcome of a successful walk.
type Translation struct {
	Phys     uint32 // the physical address
	PDEAddr  uint32 // physical address of the PDE used
	PDE      uint32 // its value (after A/D updates)
	PTEAddr  uint32 // physical address of the PTE (0 for a 4 MiB page)
	PTE      uint32 // its value (after A/D updates; 0 for a 4 MiB page)
	Large    bool   // a 4 MiB page (2 MiB under PAE)
	PAE      bool   // a PAE walk: the entries are 64-bit, PDE and PTE their low halves
	Writable bool   // a write at this privilege would be allowed
	User     bool   // user mode may access the page
}

// PageFault is a failed walk: the #PF the access raises.
type PageFault struct {
	Addr uint32 // CR2
	Code uint32 // the error code
}

// Walk translates lin for acc. With setAD it sets Accessed and Dirty bits
// in the entries as the CPU does (a walk for the VMM's own look, such as a
// disassembly, passes false and changes nothing). When paging is off the
// translation is the identity.
func (m MMU) Walk(mem PhysMem, lin uint32, acc Access, setAD bool) (Translation, *PageFault) {
	if !m.Paging() {
		return Translation{Phys: lin, Writable: true, User: true}, nil
	}
	fault := func(code uint32) *PageFault {
		if acc.Write {
			code |= PFWrite
		}
		if acc.User {
			code |= PFUser
		}
		if acc.Fetch && m.CR4&CR4SMEP != 0 {
			code |= PFFetch
		}
		return &PageFault{Addr: lin, Code: code}
	}
	if m.CR4&CR4PAE != 0 {
		return m.walkPAE(mem, lin, acc, setAD, fault)
	}
	var t Translation
	t.PDEAddr = m.CR3&PTEAddr | (lin>>22)<<2
	pde, ok := mem.ReadPhys32(t.PDEAddr)
	if !ok || pde&PTEPresent == 0 {
		return t, fault(0)
	}
	perm := pde
	if pde&PTELarge != 0 && m.CR4&CR4PSE != 0 {
		if pde&PDELargeRsvd != 0 {
			return t, fault(PFPresent | PFRsvd)
		}
		t.Large = true
		t.Phys = pde&PDELargeAddr | lin&^PDELargeAddr
	} else {
		if setAD && pde&PTEAccessed == 0 {
			pde |= PTEAccessed
			mem.WritePhys32(t.PDEAddr, pde)
		}
		t.PTEAddr = pde&PTEAddr | (lin>>12&0x3FF)<<2
		pte, ok := mem.ReadPhys32(t.PTEAddr)
		if !ok || pte&PTEPresent == 0 {
			t.PDE = pde
			return t, fault(0)
		}
		perm &= pte
		t.PTE = pte
		t.Phys = pte&PTEAddr | lin&0xFFF
	}
	return m.finishWalk(mem, t, perm, pde, acc, setAD, fault)
}

// finishWalk checks the permissions the entries combine to (perm) and sets
// the Accessed and Dirty bits: the last steps of both walks.
func (m MMU) finishWalk(mem PhysMem, t Translation, perm, pde uint32, acc Access, setAD bool, fault func(uint32) *PageFault) (Translation, *PageFault) {
	t.User = perm&PTEUser != 0
	t.Writable = perm&PTEWrite != 0 || (!acc.User && m.CR0&CR0WP == 0)
	switch {
	case acc.User && !t.User:
		return t, fault(PFPresent)
	case acc.Write && !t.Writable:
		return t, fault(PFPresent)
	case acc.Fetch && !acc.User && t.User && m.CR4&CR4SMEP != 0:
		return t, fault(PFPresent)
	}
	if t.Large {
		if setAD && (pde&PTEAccessed == 0 || acc.Write && pde&PTEDirty == 0) {
			pde |= PTEAccessed
			if acc.Write {
				pde |= PTEDirty
			}
			mem.WritePhys32(t.PDEAddr, pde)
		}
	} else if setAD && (t.PTE&PTEAccessed == 0 || acc.Write && t.PTE&PTEDirty == 0) {
		t.PTE |= PTEAccessed
		if acc.Write {
			t.PTE |= PTEDirty
		}
		mem.WritePhys32(t.PTEAddr, t.PTE)
	}
	t.PDE = pde
	return t, nil
}

// PAE entry bits beyond the 32-bit ones.
const (
	// PAEHighRsvd: bits 63:32 of a PAE entry that must be zero here (no NX;
	// physical memory below 4 GiB, so no address bits above 31).
	PAEHighRsvd = 0xFFFFFFFF
	// PDPTERsvd: the low bits of a PDPTE that are reserved (R/W, U/S, A,
	// D, PS, G: the PDPT carries no permissions).
	PDPTERsvd = 0x1E6
	// PAELargeAddr, PAELargeRsvd: a 2 MiB page's address bits, and bits
	// 20:13 of its PDE, reserved.
	PAELargeAddr = 0xFFE00000
	PAELargeRsvd = 0x001FE000
)

// walkPAE is Walk under CR4.PAE (see the package comment).
func (m MMU) walkPAE(mem PhysMem, lin uint32, acc Access, setAD bool, fault func(uint32) *PageFault) (Translation, *PageFault) {
	t := Translation{PAE: true}
	entry := func(pa uint32) (lo uint32, present, rsvd bool) {
		lo, ok := mem.ReadPhys32(pa)
		hi, ok2 := mem.ReadPhys32(pa + 4)
		if !ok || !ok2 || lo&PTEPresent == 0 {
			return lo, false, false
		}
		return lo, true, hi&PAEHighRsvd != 0
	}
	pdpte, present, rsvd := entry(m.CR3&^0x1F | (lin>>30)<<3)
	if !present {
		return t, fault(0)
	}
	if rsvd || pdpte&PDPTERsvd != 0 {
		return t, fault(PFPresent | PFRsvd)
	}
	t.PDEAddr = pdpte&PTEAddr | (lin>>21&0x1FF)<<3
	pde, present, rsvd := entry(t.PDEAddr)
	if !present {
		return t, fault(0)
	}
	if rsvd || pde&PTELarge != 0 && pde&PAELargeRsvd != 0 {
		return t, fault(PFPresent | PFRsvd)
	}
	perm := pde
	if pde&PTELarge != 0 {
		t.Large = true
		t.Phys = pde&PAELargeAddr | lin&^PAELargeAddr
		return m.finishWalk(mem, t, perm, pde, acc, setAD, fault)
	}
	if setAD && pde&PTEAccessed == 0 {
		pde |= PTEAccessed
		mem.WritePhys32(t.PDEAddr, pde)
	}
	t.PTEAddr = pde&PTEAddr | (lin>>12&0x1FF)<<3
	pte, present, rsvd := entry(t.PTEAddr)
	if !present {
		t.PDE = pde
		return t, fault(0)
	}
	if rsvd {
		t.PDE = pde
		return t, fault(PFPresent | PFRsvd)
	}
	perm &= pte
	t.PTE = pte
	t.Phys = pte&PTEAddr | lin&0xFFF
	return m.finishWalk(mem, t, perm, pde, acc, setAD, fault)
}
