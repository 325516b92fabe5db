package shadow

import (
	"encoding/binary"
	"testing"

	"virtsim/vmm/x86"
)

// mem is a flat physical memory: guest RAM below 1 MiB, the pool above.
type mem map[uint32]uint32

func (m mem) ReadPhys32(pa uint32) (uint32, bool) { return m[pa], true }
func (m mem) WritePhys32(pa, v uint32) bool {
	m[pa] = v
	return true
}
func (m mem) WritePage(pa uint32, b []byte) error {
	for i := 0; i < len(b); i += 4 {
		m[pa+uint32(i)] = binary.LittleEndian.Uint32(b[i:])
	}
	return nil
}

// Guest: directory at 0x1000, table at 0x2000 for 0x00400000 (PDE 1):
// PTE 0 -> 0x5000 rw (dirty clear), PTE 1 not present, PTE 2 -> 0x2000 (the
// table itself, rw).
func fixture() (mem, x86.MMU, *MMU) {
	m := mem{
		0x1000 + 1*4: 0x2000 | x86.PTEPresent | x86.PTEWrite | x86.PTEUser,
		0x2000 + 0*4: 0x5000 | x86.PTEPresent | x86.PTEWrite | x86.PTEUser,
		0x2000 + 2*4: 0x2000 | x86.PTEPresent | x86.PTEWrite,
	}
	g := x86.MMU{CR0: x86.CR0PE | x86.CR0PG | x86.CR0WP, CR3: 0x1000}
	s := New(Config{RAMSize: 0x100000, PoolBase: 0x200000, PoolPages: 8, FirstVMMPDE: 1020, VMMPDEs: []uint32{0xABC001}}, m)
	return m, g, s
}

func TestShadowDecisions(t *testing.T) {
	m, g, s := fixture()
	cr3, err := s.Activate(g)
	if err != nil || m[cr3+1020*4] != 0xABC001 {
		t.Fatalf("activate: cr3 %#x err %v, VMM PDE %#x", cr3, err, m[cr3+1020*4])
	}
	// A read fills a read-only entry (the guest PTE is not dirty) and sets A.
	f, _ := s.Fault(g, 0x00400010, x86.Access{})
	pt := m[cr3+1*4] & x86.PTEAddr
	if f.Kind != Hidden || m[pt]&x86.PTEWrite != 0 || m[pt]&x86.PTEAddr != 0x5000 || m[0x2000]&x86.PTEAccessed == 0 {
		t.Fatalf("read: %v, shadow %#x, guest %#x", f.Kind, m[pt], m[0x2000])
	}
	// The first write faults again: D set in the guest, the entry writable.
	f, _ = s.Fault(g, 0x00400010, x86.Access{Write: true})
	if f.Kind != Hidden || m[pt]&x86.PTEWrite == 0 || m[0x2000]&x86.PTEDirty == 0 {
		t.Fatalf("write: %v, shadow %#x, guest %#x", f.Kind, m[pt], m[0x2000])
	}
	// Not present in the guest: a true fault with the guest's error code.
	f, _ = s.Fault(g, 0x00401000, x86.Access{Write: true, User: true})
	if f.Kind != True || f.Code != x86.PFWrite|x86.PFUser || f.Addr != 0x00401000 {
		t.Fatalf("true fault: %+v", f)
	}
	// The guest table maps itself writable: a write through it is traced.
	f, _ = s.Fault(g, 0x00402000, x86.Access{Write: true})
	if f.Kind != PTWrite || f.Phys != 0x2000 {
		t.Fatalf("pt write: %+v", f)
	}
	// ... and a read maps it read-only.
	if f, _ = s.Fault(g, 0x00402000, x86.Access{}); f.Kind != Hidden || m[pt+2*4]&x86.PTEWrite != 0 {
		t.Fatalf("pt read: %+v shadow %#x", f, m[pt+2*4])
	}
	// The guest changes PTE 0: the shadow entry derived from it goes.
	old := make([]byte, 4096)
	binary.LittleEndian.PutUint32(old, m[0x2000])
	now := make([]byte, 4096)
	binary.LittleEndian.PutUint32(now, 0x6000|x86.PTEPresent)
	s.Wrote(0x2000, old, now)
	if m[pt] != 0 {
		t.Errorf("after the guest's write the shadow entry is %#x, want dropped", m[pt])
	}
	// invlpg drops one entry; the VMM region is the VMM's.
	s.Fault(g, 0x00402000, x86.Access{})
	s.Invlpg(0x00402000)
	if m[pt+2*4] != 0 {
		t.Errorf("invlpg left %#x", m[pt+2*4])
	}
	// Where the VMM's region lies, an address the guest does not map is
	// the guest's own #PF; one it maps is aliased: its own entry, to be put
	// in the VMM's table (VMMPDEs[0] names the table at 0xABC000) for one
	// instruction, and the VMM's entry to restore after.
	if f, _ = s.Fault(g, 0xFF000000, x86.Access{}); f.Kind != True {
		t.Errorf("VMM region, unmapped by the guest: %v", f.Kind)
	}
	m[0x1000+1020*4] = 0x3000 | x86.PTEPresent | x86.PTEWrite
	m[0x3000+5*4] = 0x7000 | x86.PTEPresent | x86.PTEWrite
	m[0xABC000+5*4] = 0xFF005000 | x86.PTEPresent
	f, _ = s.Fault(g, 0xFF005010, x86.Access{Write: true})
	want := Fault{Kind: VMMRegion, Addr: 0xFF005010, Phys: 0x7010, Entry: 0xABC000 + 5*4, Restore: 0xFF005000 | x86.PTEPresent,
		Alias: 0x7000 | x86.PTEPresent | x86.PTEWrite | x86.PTEAccessed | x86.PTEDirty}
	if f != want || m[0x3000+5*4]&x86.PTEDirty == 0 {
		t.Errorf("VMM region, mapped by the guest:\n got %+v\nwant %+v (guest PTE %#x: dirty expected)", f, want, m[0x3000+5*4])
	}
	// A second CR3 load of the same space hits the cache.
	if _, err := s.Activate(g); err != nil || s.Stats.CacheHits != 1 || s.Stats.CacheMisses != 1 {
		t.Errorf("cache: %+v %v", s.Stats, err)
	}
}

// A PTE naming a frame beyond guest RAM is reported, never mapped.
func TestShadowBeyondRAM(t *testing.T) {
	m, g, s := fixture()
	m[0x2000+3*4] = 0x00F00000 | x86.PTEPresent
	s.Activate(g)
	if f, _ := s.Fault(g, 0x00403000, x86.Access{}); f.Kind != Beyond {
		t.Errorf("got %v, want beyond-ram", f.Kind)
	}
}

// A device page (Config.Device) is mapped through as the guest maps it;
// any other frame beyond RAM is refused.
func TestShadowDevicePage(t *testing.T) {
	m, g, s := fixture()
	s.cfg.Device = func(f uint32) bool { return f == 0xFEE00000 }
	m[0x2000+3*4] = 0xFEE00000 | x86.PTEPresent | x86.PTEWrite
	m[0x2000+4*4] = 0xFED00000 | x86.PTEPresent | x86.PTEWrite
	cr3, _ := s.Activate(g)
	if f, _ := s.Fault(g, 0x00403030, x86.Access{}); f.Kind != Hidden {
		t.Fatalf("device page: %v", f.Kind)
	}
	pt := m[cr3+1*4] & x86.PTEAddr
	if m[pt+3*4]&x86.PTEAddr != 0xFEE00000 || m[pt+3*4]&x86.PTEWrite == 0 || s.Stats.DevicePages != 1 {
		t.Errorf("device entry %#x, %d device pages", m[pt+3*4], s.Stats.DevicePages)
	}
	if f, _ := s.Fault(g, 0x00404000, x86.Access{}); f.Kind != Beyond {
		t.Errorf("not a device: %v, want beyond-ram", f.Kind)
	}
}

// An exhausted pool flushes every shadow and keeps going.
func TestShadowPoolFlush(t *testing.T) {
	m, g, s := fixture()
	for i := uint32(0); i < 16; i++ {
		m[0x1000+(2+i)*4] = 0x2000 | x86.PTEPresent | x86.PTEWrite
	}
	s.Activate(g)
	for i := uint32(0); i < 16; i++ {
		if f, err := s.Fault(g, (2+i)<<22, x86.Access{}); err != nil || f.Kind != Hidden {
			t.Fatalf("fault %d: %+v %v", i, f, err)
		}
	}
	if s.Stats.Flushes == 0 {
		t.Errorf("8 pool pages for 16 tables and no flush: %+v", s.Stats)
	}
}

// A protected frame (a translator's code) stays read-only in every shadow:
// entries already filled lose W, a write is a Protected fault until
// Unprotect, after which the write fills a writable entry (hidden). The
// protection outlives a flush of the shadows.
func TestShadowProtect(t *testing.T) {
	m, g, s := fixture()
	cr3, _ := s.Activate(g)
	if f, _ := s.Fault(g, 0x00400010, x86.Access{Write: true}); f.Kind != Hidden {
		t.Fatalf("write before protect: %v", f.Kind)
	}
	pt := m[cr3+1*4] & x86.PTEAddr
	if m[pt]&x86.PTEWrite == 0 {
		t.Fatalf("entry not writable after a write: %#x", m[pt])
	}
	s.Protect(0x5000)
	if m[pt]&x86.PTEWrite != 0 || !s.Protected(0x5123) {
		t.Fatalf("protect left the entry writable: %#x", m[pt])
	}
	f, _ := s.Fault(g, 0x00400010, x86.Access{Write: true})
	if f.Kind != Protected || f.Phys != 0x5010 || s.Stats.ProtectedWrites != 1 {
		t.Fatalf("write to a protected frame: %+v", f)
	}
	if f, _ := s.Fault(g, 0x00400010, x86.Access{}); f.Kind != Hidden || m[pt]&x86.PTEWrite != 0 {
		t.Fatalf("read of a protected frame: %v, entry %#x", f.Kind, m[pt])
	}
	s.flush()
	cr3, _ = s.Activate(g)
	if f, _ := s.Fault(g, 0x00400010, x86.Access{Write: true}); f.Kind != Protected {
		t.Fatalf("after a flush: %v, want protected", f.Kind)
	}
	s.Unprotect(0x5000)
	if f, _ := s.Fault(g, 0x00400010, x86.Access{Write: true}); f.Kind != Hidden || m[m[cr3+1*4]&x86.PTEAddr]&x86.PTEWrite == 0 {
		t.Fatalf("after unprotect: %v", f.Kind)
	}
}

// Mapped says whether an access would pass the shadow in force without a
// fault: nothing before the fill, read-only after a read of a clean page,
// writable after the write.
func TestShadowMapped(t *testing.T) {
	_, g, s := fixture()
	if s.Mapped(0x00400010, false) {
		t.Fatal("mapped with no shadow active")
	}
	s.Activate(g)
	if s.Mapped(0x00400010, false) {
		t.Fatal("mapped before any fill")
	}
	s.Fault(g, 0x00400010, x86.Access{})
	if !s.Mapped(0x00400010, false) || s.Mapped(0x00400010, true) {
		t.Fatalf("after a read: read %v write %v, want true false", s.Mapped(0x00400010, false), s.Mapped(0x00400010, true))
	}
	s.Fault(g, 0x00400010, x86.Access{Write: true})
	if !s.Mapped(0x00400010, true) || s.Mapped(0x00401000, false) {
		t.Fatal("after a write: not mapped writable, or its neighbour mapped")
	}
	s.Invlpg(0x00400010)
	if s.Mapped(0x00400010, false) {
		t.Fatal("mapped after invlpg")
	}
}

// A table that maps itself, first reached through its own mapping by a
// write: shadowing the table traces its frame, so the entry filled for the
// write is read-only after all (the write then faults as a PT write).
func TestShadowSelfMapFirstWrite(t *testing.T) {
	m, g, s := fixture()
	cr3, err := s.Activate(g)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := s.Fault(g, 0x00402000, x86.Access{Write: true})
	pt := m[cr3+1*4] & x86.PTEAddr
	if f.Kind != Hidden || !s.Traced(0x2000) || m[pt+2*4]&x86.PTEWrite != 0 {
		t.Fatalf("%v, traced %v, shadow entry %#x: want a read-only entry", f.Kind, s.Traced(0x2000), m[pt+2*4])
	}
	if f, _ = s.Fault(g, 0x00402000, x86.Access{Write: true}); f.Kind != PTWrite {
		t.Errorf("the write again: %v, want a PT write", f.Kind)
	}
}

// A PAE guest on 32-bit shadow tables: PDPT at 0x1000 (PDPTE 0 -> the
// directory at 0x3000), whose entry 0 maps 0-2 MiB through the table at
// 0x4000 and entry 1 maps 2-4 MiB by a large page. Both halves share one
// shadow table; a change of an 8-byte entry drops what derives from it; a
// changed PDPTE counts at the next activation, as at a CR3 load.
func TestShadowPAE(t *testing.T) {
	m := mem{
		0x1000:           0x3000 | x86.PTEPresent,
		0x3000 + 0*8:     0x4000 | x86.PTEPresent | x86.PTEWrite | x86.PTEUser,
		0x3000 + 1*8:     0x200000 | x86.PTEPresent | x86.PTEWrite | x86.PTELarge,
		0x4000 + 5*8:     0x7000 | x86.PTEPresent | x86.PTEWrite | x86.PTEUser,
		0x4000 + 6*8:     0x8000 | x86.PTEPresent,
		0x4000 + 6*8 + 4: 0,
	}
	g := x86.MMU{CR0: x86.CR0PE | x86.CR0PG | x86.CR0WP, CR3: 0x1000, CR4: x86.CR4PAE}
	s := New(Config{RAMSize: 0x1000000, PoolBase: 0x2000000, PoolPages: 8, FirstVMMPDE: 1020, VMMPDEs: []uint32{0xABC001}}, m)
	cr3, err := s.Activate(g)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Traced(0x1000) || !s.Traced(0x3000) {
		t.Fatalf("PDPT traced %v, directory traced %v", s.Traced(0x1000), s.Traced(0x3000))
	}
	if f, _ := s.Fault(g, 0x5010, x86.Access{Write: true}); f.Kind != Hidden {
		t.Fatalf("4 KiB page: %+v", f)
	}
	pt := m[cr3] & x86.PTEAddr
	if m[pt+5*4]&x86.PTEAddr != 0x7000 || m[pt+5*4]&x86.PTEWrite == 0 || m[0x4000+5*8]&x86.PTEDirty == 0 {
		t.Fatalf("shadow %#x, guest %#x", m[pt+5*4], m[0x4000+5*8])
	}
	if f, _ := s.Fault(g, 0x200000+3*4096, x86.Access{}); f.Kind != Hidden || m[pt+(512+3)*4]&x86.PTEAddr != 0x203000 {
		t.Fatalf("2 MiB page through the same shadow table: %+v, entry %#x", f, m[pt+(512+3)*4])
	}
	if f, _ := s.Fault(g, 0x6000, x86.Access{Write: true}); f.Kind != True || f.Code != x86.PFPresent|x86.PFWrite {
		t.Fatalf("write to a read-only PAE page: %+v", f)
	}
	if !s.Traced(0x4000) {
		t.Fatal("the PAE page table is not traced")
	}
	// The guest rewrites PTE 5 (its low half): the shadow entry goes; its
	// neighbour in the same 8-byte stride stays.
	s.Fault(g, 0x6000, x86.Access{}) // page 6 read: its entry filled
	old := make([]byte, 4096)
	now := make([]byte, 4096)
	binary.LittleEndian.PutUint32(old[5*8:], m[0x4000+5*8])
	binary.LittleEndian.PutUint32(now[5*8:], 0x9000|x86.PTEPresent)
	binary.LittleEndian.PutUint32(old[6*8:], m[0x4000+6*8])
	binary.LittleEndian.PutUint32(now[6*8:], m[0x4000+6*8])
	s.Wrote(0x4000, old, now)
	if m[pt+5*4] != 0 || m[pt+6*4] == 0 {
		t.Errorf("after the write: entry 5 %#x (want dropped), entry 6 %#x (want kept)", m[pt+5*4], m[pt+6*4])
	}
	// The directory's entry 1 changes: the whole shadow table goes.
	oldPD, nowPD := make([]byte, 4096), make([]byte, 4096)
	binary.LittleEndian.PutUint32(oldPD[8:], m[0x3000+8])
	binary.LittleEndian.PutUint32(nowPD[8:], 0)
	s.Wrote(0x3000, oldPD, nowPD)
	if m[cr3] != 0 {
		t.Errorf("after the directory write the shadow directory entry is %#x, want dropped", m[cr3])
	}
	// A new PDPTE: seen at the next activation (a CR3 load), not before.
	s.Fault(g, 0x5010, x86.Access{})
	m[0x1000] = 0
	if m[cr3] == 0 {
		t.Fatal("no shadow table after the refill")
	}
	if _, err := s.Activate(g); err != nil {
		t.Fatal(err)
	}
	if m[cr3] != 0 || s.Traced(0x3000) {
		t.Errorf("after a CR3 load with PDPTE 0 gone: shadow entry %#x, directory traced %v", m[cr3], s.Traced(0x3000))
	}
}

// With the guest's CR0.WP clear its kernel may write a read-only user page;
// the real CPU runs with WP set, so that write gets a writable entry only
// as a supervisor page: user code's read refills it read-only for user
// code, and its write is a true fault with error code 7 (corpus wp0).
func TestShadowWP0(t *testing.T) {
	m := mem{
		0x1000 + 1*4: 0x2000 | x86.PTEPresent | x86.PTEWrite | x86.PTEUser,
		0x2000 + 0*4: 0x5000 | x86.PTEPresent | x86.PTEUser, // read-only user page
	}
	g := x86.MMU{CR0: x86.CR0PE | x86.CR0PG, CR3: 0x1000} // WP clear
	s := New(Config{RAMSize: 0x100000, PoolBase: 0x200000, PoolPages: 8, FirstVMMPDE: 1020, VMMPDEs: []uint32{0xABC001}}, m)
	cr3, _ := s.Activate(g)
	if f, _ := s.Fault(g, 0x00400000, x86.Access{Write: true}); f.Kind != Hidden {
		t.Fatalf("kernel write with WP clear: %+v", f)
	}
	pt := m[cr3+1*4] & x86.PTEAddr
	if e := m[pt]; e&x86.PTEWrite == 0 || e&x86.PTEUser != 0 {
		t.Fatalf("entry after the kernel's write %#x: want writable, supervisor-only", e)
	}
	if f, _ := s.Fault(g, 0x00400000, x86.Access{User: true}); f.Kind != Hidden || m[pt]&x86.PTEWrite != 0 || m[pt]&x86.PTEUser == 0 {
		t.Fatalf("user read: %+v, entry %#x: want read-only user", f, m[pt])
	}
	if f, _ := s.Fault(g, 0x00400000, x86.Access{User: true, Write: true}); f.Kind != True || f.Code != x86.PFPresent|x86.PFWrite|x86.PFUser {
		t.Fatalf("user write: %+v, want a true fault with code 7", f)
	}
}
