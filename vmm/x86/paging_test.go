package x86

import "testing"

// physMap is a sparse physical memory of 32-bit words.
type physMap map[uint32]uint32

func (p physMap) ReadPhys32(pa uint32) (uint32, bool) { v, ok := p[pa]; return v, ok || pa < 0x1000000 }
func (p physMap) WritePhys32(pa, v uint32) bool       { p[pa] = v; return true }

// The page directory at 0x10000 maps:
//
//	0x00400000 (PDE 1) -> page table 0x11000; its PTE 0 -> 0x20000 (P|W|U),
//	  PTE 1 -> 0x21000 (P|U, read-only), PTE 2 -> 0x22000 (P|W, supervisor), PTE 3 not present
//	0xC0000000 (PDE 768) -> a 4 MiB page at 0x00800000 (P|W|PS, supervisor)
//	0xFFC00000 (PDE 1023) -> the page directory itself (recursive, P|W)
func walkFixture() physMap {
	return physMap{
		0x10000 + 1*4:    0x11000 | PTEPresent | PTEWrite | PTEUser,
		0x10000 + 768*4:  0x00800000 | PTEPresent | PTEWrite | PTELarge,
		0x10000 + 1023*4: 0x10000 | PTEPresent | PTEWrite,
		0x11000 + 0*4:    0x20000 | PTEPresent | PTEWrite | PTEUser,
		0x11000 + 1*4:    0x21000 | PTEPresent | PTEUser,
		0x11000 + 2*4:    0x22000 | PTEPresent | PTEWrite,
	}
}

func TestWalk(t *testing.T) {
	const pg = CR0PE | CR0PG
	cases := []struct {
		name     string
		cr0, cr4 uint32
		lin      uint32
		acc      Access
		phys     uint32
		fault    bool
		code     uint32
		pte      uint32 // PTE (or large PDE) value after the walk, 0 = not checked
	}{
		{"paging off is the identity", CR0PE, 0, 0x12345678, Access{}, 0x12345678, false, 0, 0},
		{"4 KiB read sets A", pg, 0, 0x00400010, Access{}, 0x20010, false, 0, 0x20000 | PTEPresent | PTEWrite | PTEUser | PTEAccessed},
		{"4 KiB write sets A and D", pg, 0, 0x00400010, Access{Write: true, User: true}, 0x20010, false, 0, 0x20000 | PTEPresent | PTEWrite | PTEUser | PTEAccessed | PTEDirty},
		{"user write to read-only page", pg, 0, 0x00401000, Access{Write: true, User: true}, 0, true, PFPresent | PFWrite | PFUser, 0},
		{"supervisor write to read-only page, WP=0", pg, 0, 0x00401000, Access{Write: true}, 0x21000, false, 0, 0},
		{"supervisor write to read-only page, WP=1", pg | CR0WP, 0, 0x00401000, Access{Write: true}, 0, true, PFPresent | PFWrite, 0},
		{"user read of supervisor page", pg, 0, 0x00402004, Access{User: true}, 0, true, PFPresent | PFUser, 0},
		{"PTE not present", pg, 0, 0x00403000, Access{}, 0, true, 0, 0},
		{"PDE not present, user fetch", pg, 0, 0x08000000, Access{User: true, Fetch: true}, 0, true, PFUser, 0},
		{"4 MiB page needs CR4.PSE", pg, CR4PSE, 0xC0123456, Access{Write: true}, 0x00923456, false, 0, 0x00800000 | PTEPresent | PTEWrite | PTELarge | PTEAccessed | PTEDirty},
		{"recursive entry maps the directory", pg, 0, 0xFFFFF000 + 768*4, Access{}, 0x10000 + 768*4, false, 0, 0},
		{"supervisor fetch from a user page under SMEP", pg, CR4SMEP, 0x00400000, Access{Fetch: true}, 0, true, PFPresent | PFFetch, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := walkFixture()
			tr, pf := MMU{CR0: c.cr0, CR3: 0x10000, CR4: c.cr4}.Walk(mem, c.lin, c.acc, true)
			if c.fault {
				if pf == nil || pf.Code != c.code || pf.Addr != c.lin {
					t.Fatalf("fault %+v, want code %#x at %#x", pf, c.code, c.lin)
				}
				return
			}
			if pf != nil || tr.Phys != c.phys {
				t.Fatalf("phys %#x fault %+v, want %#x", tr.Phys, pf, c.phys)
			}
			got := tr.PTE
			if tr.Large {
				got = tr.PDE
			}
			if c.pte != 0 && got != c.pte {
				t.Errorf("entry %#x, want %#x", got, c.pte)
			}
		})
	}
	// A walk without setAD changes nothing.
	mem := walkFixture()
	before := len(mem)
	if _, pf := (MMU{CR0: pg, CR3: 0x10000}).Walk(mem, 0x00400000, Access{Write: true}, false); pf != nil || mem[0x11000] != 0x20000|PTEPresent|PTEWrite|PTEUser || len(mem) != before {
		t.Errorf("a look-only walk wrote entries: %v", pf)
	}
}

// PAE walks (CR4.PAE): the PDPT at 0x30000 names page directories for the
// first GiB (0x31000) and the last (0x32000):
//
//	0x00000000 -> a 2 MiB page at 0x00400000 (P|W|U|PS)
//	0x00200000 -> page table 0x33000: PTE 0 -> 0x50000 (P|W|U), PTE 1 -> 0x51000 (P, supervisor, read-only)
//	0xFFE00000 -> a 2 MiB page at 0x00600000 (P|W|PS), high half nonzero (reserved: no NX here)
//	0x40000000 (PDPTE 1) not present
func paeFixture() physMap {
	return physMap{
		0x30000 + 0*8:       0x31000 | PTEPresent,
		0x30000 + 3*8:       0x32000 | PTEPresent,
		0x31000 + 0*8:       0x00400000 | PTEPresent | PTEWrite | PTEUser | PTELarge,
		0x31000 + 1*8:       0x33000 | PTEPresent | PTEWrite | PTEUser,
		0x32000 + 511*8:     0x00600000 | PTEPresent | PTEWrite | PTELarge,
		0x32000 + 511*8 + 4: 0x80000000,
		0x33000 + 0*8:       0x50000 | PTEPresent | PTEWrite | PTEUser,
		0x33000 + 1*8:       0x51000 | PTEPresent,
	}
}

func TestWalkPAE(t *testing.T) {
	const pg = CR0PE | CR0PG
	cases := []struct {
		name  string
		cr0   uint32
		lin   uint32
		acc   Access
		phys  uint32
		fault bool
		code  uint32
		entry uint32 // physical address of the entry that maps the page, checked for A/D
		ad    uint32 // its A/D bits after the walk
	}{
		{"2 MiB page, user write sets A and D", pg, 0x00123456, Access{Write: true, User: true}, 0x00523456, false, 0, 0x31000, PTEAccessed | PTEDirty},
		{"4 KiB page read sets A only", pg, 0x00200010, Access{User: true}, 0x50010, false, 0, 0x33000, PTEAccessed},
		{"user read of a supervisor page", pg, 0x00201000, Access{User: true}, 0, true, PFPresent | PFUser, 0, 0},
		{"supervisor write, read-only page, WP=1", pg | CR0WP, 0x00201000, Access{Write: true}, 0, true, PFPresent | PFWrite, 0, 0},
		{"supervisor write, read-only page, WP=0", pg, 0x00201004, Access{Write: true}, 0x51004, false, 0, 0x33008, PTEAccessed | PTEDirty},
		{"PDPTE not present", pg, 0x40000000, Access{}, 0, true, 0, 0, 0},
		{"PTE not present", pg, 0x00202000, Access{Write: true}, 0, true, PFWrite, 0, 0},
		{"reserved bit in the high half", pg, 0xFFE01000, Access{}, 0, true, PFPresent | PFRsvd, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := paeFixture()
			tr, pf := MMU{CR0: c.cr0, CR3: 0x30000, CR4: CR4PAE}.Walk(mem, c.lin, c.acc, true)
			if c.fault {
				if pf == nil || pf.Code != c.code || pf.Addr != c.lin {
					t.Fatalf("fault %+v, want code %#x at %#x", pf, c.code, c.lin)
				}
				return
			}
			if pf != nil || tr.Phys != c.phys || !tr.PAE {
				t.Fatalf("phys %#x fault %+v (PAE %v), want %#x", tr.Phys, pf, tr.PAE, c.phys)
			}
			if got := mem[c.entry] & (PTEAccessed | PTEDirty); got != c.ad {
				t.Errorf("A/D of the entry at %#x = %#x, want %#x", c.entry, got, c.ad)
			}
		})
	}
}
