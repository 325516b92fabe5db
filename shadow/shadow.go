// Package shadow keeps shadow page tables: the page tables a
// full-virtualization VMM (VMware's, or KVM before EPT) really loads into
// CR3 while the guest believes its own are in force.
//
// The guest writes page tables that map its virtual addresses onto what it
// thinks is physical memory. The VMM cannot load them as they are: it must
// keep its own region mapped, see every change the guest makes, and keep
// the accessed and dirty bits the guest reads honest. So it derives a
// second set of tables, the shadow, and loads those:
//
//   - The shadow starts empty. The first access to a page faults into the
//     VMM, which walks the guest's tables (x86.MMU.Walk). If they allow the
//     access, the VMM fills the shadow entry and retries: a hidden fault,
//     never seen by the guest. If they do not, it reflects a #PF with the
//     CR2 and error code the hardware would have given: a true fault.
//
//   - Accessed and dirty bits appear in the guest's own entries when the
//     shadow entry is filled: a read fills a read-only shadow entry (unless
//     the guest entry is dirty already), so the first write faults again
//     and sets D, just as the CPU would set it at that first write.
//
//   - Every guest page that holds a page table or directory is mapped
//     read-only in every shadow (it is traced): a guest write to it faults,
//     the VMM performs the write itself and drops the shadow entries derived
//     from what changed.
//
//   - CR3 loads switch between shadows, kept in a cache keyed by the guest's
//     CR3 (one shadow per address space; hits and misses counted); invlpg
//     drops one shadow entry.
//
//   - The VMM's own region (the top PDEs) is the same in every shadow. A
//     guest may map its own pages there too (a recursive directory entry in
//     slot 1023, a kernel's device window up to 4 GiB): the shadow keeps the
//     VMM's entries, and a guest access that reaches one of the VMM's
//     absent pages faults with the guest's own translation in hand
//     (VMMRegion, Fault.Alias), which the VMM puts in place like any
//     shadow entry, until the guest's paging state or tables change. The guest gets its own memory; only the few pages the
//     CPU itself must reach (descriptor tables, the privilege-switch
//     trampoline, a translator's code) stay the VMM's.
//
//   - Memory-mapped devices (Config.Device: the local and I/O APIC pages)
//     are mapped through as the guest maps them, onto physical addresses
//     that hold no memory: the access misses the substrate's memory map and
//     the machine emulates the device.
//
//   - A VMM may ask for more frames to stay read-only in every shadow
//     (Protect): a binary translator protects the frames it has translated
//     code from, so a guest store into one faults (Protected) and the
//     translations are retired before it lands (coherence, as for page
//     tables, but for code).
//
//   - A PAE guest (CR4.PAE) is shadowed by the same 32-bit tables: the
//     real CPU pages without PAE, each shadow entry carrying what the
//     guest's three-level walk allows (guest RAM lies below 4 GiB; qemu32
//     has no NX bit to keep). The PDPT's four entries are read, and the
//     directories they name traced, at each CR3 load, as the CPU loads
//     them; the guest's 8-byte entries are compared as such when a traced
//     table changes (wrotePAE).
//
// This package holds the tables and the decisions; the strategy (trap) runs
// the guest on them and performs what the decisions say.
package shadow

import (
	"fmt"

	"virtsim/vmm/x86"
)

// Mem is physical memory as the VMM sees it: guest RAM (where the guest's
// tables live) and the VMM's pool (where the shadows live).
type Mem interface {
	x86.PhysMem
	WritePage(pa uint32, b []byte) error
}

// Config places the shadows.
type Config struct {
	RAMSize   uint32 // guest RAM: frames at or above it do not exist
	PoolBase  uint32 // physical (= VMM linear) base of the shadow pages
	PoolPages int
	// FirstVMMPDE..1023 are the VMM's own directory entries, the same in
	// every shadow (VMMPDEs[i] for PDE FirstVMMPDE+i).
	FirstVMMPDE int
	VMMPDEs     []uint32
	// Device reports whether a physical frame beyond RAM is a device page
	// the shadow may map as the guest does (nil: none is).
	Device func(frame uint32) bool
}

// Stats counts what the shadow MMU did.
type Stats struct {
	CacheHits, CacheMisses uint64 // CR3 loads that found / built a shadow
	Hidden, True           uint64 // faults filled silently / reflected
	PTWrites               uint64 // traced writes to guest page tables
	Invlpg                 uint64
	Flushes                uint64 // every shadow dropped (pool exhausted)
	ProtectedWrites        uint64 // writes to frames the VMM protects
	VMMAliases             uint64 // guest accesses to its own pages where the VMM lives
	DevicePages            uint64 // shadow entries filled for device pages
	// Unshadowed: writes to a table only other address spaces' cached
	// shadows derived from, which dropped those shadows (inUse, unshadow).
	Unshadowed uint64
}

// space is the shadow of one guest address space (one guest CR3).
//
// A PAE guest is shadowed with the same 32-bit tables: the real CPU pages
// without PAE (guest RAM lies below 4 GiB, and qemu32 has no NX bit to
// keep), each shadow entry carrying what the guest's three-level walk
// allows. A shadow page table then covers 4 MiB, two of the guest's 2 MiB
// directory entries, so under PAE gpt is keyed by 2 MiB slot.
type space struct {
	key  uint32         // its key in MMU.spaces (gcr3, with bit 0 set for PAE)
	gcr3 uint32         // the guest's page directory, or under PAE its PDPT (physical)
	pae  bool           // the guest pages with PAE
	pd   uint32         // the shadow directory (pool page)
	pts  map[int]uint32 // shadow PDE index (4 MiB) -> shadow page table (pool page)
	gpt  map[int]uint32 // PDE index (PAE: 2 MiB slot) -> the guest page table it shadows (0 for a large page)
	// pdpte: under PAE, the four PDPTEs (low halves) as last loaded; the
	// directories they name are traced.
	pdpte [4]uint32
}

// root is the guest frame that holds the directory (PAE: the PDPT).
func (sp *space) root() uint32 { return sp.gcr3 & x86.PTEAddr }

// slot is the gpt key of linear address lin.
func (sp *space) slot(lin uint32) int {
	if sp.pae {
		return int(lin >> 21)
	}
	return int(lin >> 22)
}

// slots are the gpt keys under shadow table pdi: the first and how many.
func (sp *space) slots(pdi int) (first, n int) {
	if sp.pae {
		return 2 * pdi, 2
	}
	return pdi, 1
}

// pdOf reports whether frame is one of a PAE space's directories.
func (sp *space) pdOf(frame uint32) bool {
	if !sp.pae {
		return false
	}
	for _, e := range sp.pdpte {
		if e&x86.PTEPresent != 0 && e&x86.PTEAddr == frame {
			return true
		}
	}
	return false
}

// MMU is the set of shadows of one guest.
type MMU struct {
	cfg    Config
	mem    Mem
	spaces map[uint32]*space
	cur    *space
	free   []uint32
	traced map[uint32]int // guest frames holding a directory or table -> users
	// protected: guest frames the VMM keeps read-only (Protect); unlike
	// traced, they outlive a flush of the shadows.
	protected map[uint32]bool
	Stats     Stats
}

// New makes an empty set of shadows.
func New(cfg Config, mem Mem) *MMU {
	s := &MMU{cfg: cfg, mem: mem, protected: map[uint32]bool{}}
	s.reset()
	return s
}

func (s *MMU) reset() {
	s.spaces = map[uint32]*space{}
	s.cur = nil
	s.traced = map[uint32]int{}
	s.free = s.free[:0]
	for i := s.cfg.PoolPages - 1; i >= 0; i-- {
		s.free = append(s.free, s.cfg.PoolBase+uint32(i)*4096)
	}
}

var zeroPage = make([]byte, 4096)

func (s *MMU) alloc() (uint32, bool) {
	if len(s.free) == 0 {
		return 0, false
	}
	pa := s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	if err := s.mem.WritePage(pa, zeroPage); err != nil {
		return 0, false
	}
	return pa, true
}

// Activate makes the shadow of the guest's current address space the one
// in force and returns the real CR3 to load.
func (s *MMU) Activate(g x86.MMU) (uint32, error) {
	pae := g.CR4&x86.CR4PAE != 0
	gcr3, key := g.CR3&x86.PTEAddr, g.CR3&x86.PTEAddr
	if pae {
		gcr3 = g.CR3 &^ 0x1F
		key = gcr3 | 1
	}
	if sp, ok := s.spaces[key]; ok {
		s.Stats.CacheHits++
		s.cur = sp
		if pae {
			s.loadPDPTEs(sp) // the CPU reloads them at every CR3 load
		}
		return sp.pd, nil
	}
	s.Stats.CacheMisses++
	pd, ok := s.alloc()
	if !ok {
		s.flush()
		if pd, ok = s.alloc(); !ok {
			return 0, fmt.Errorf("shadow: no page for a shadow directory")
		}
	}
	for i, v := range s.cfg.VMMPDEs {
		s.mem.WritePhys32(pd+uint32(s.cfg.FirstVMMPDE+i)*4, v)
	}
	sp := &space{key: key, gcr3: gcr3, pae: pae, pd: pd, pts: map[int]uint32{}, gpt: map[int]uint32{}}
	s.spaces[key] = sp
	s.cur = sp
	s.trace(sp.root())
	if pae {
		s.loadPDPTEs(sp)
	}
	return pd, nil
}

// loadPDPTEs reads a PAE space's four PDPTEs and traces the directories
// they name; if they changed since the last load, everything shadowed
// under the old ones goes.
func (s *MMU) loadPDPTEs(sp *space) {
	var now [4]uint32
	for i := range now {
		v, _ := s.mem.ReadPhys32(sp.gcr3 + uint32(i)*8)
		if v&x86.PTEPresent == 0 {
			v = 0
		}
		now[i] = v
	}
	if now == sp.pdpte {
		return
	}
	for pdi := range sp.pts {
		s.dropTable(sp, pdi)
	}
	for _, e := range sp.pdpte {
		if e != 0 {
			s.untrace(e & x86.PTEAddr)
		}
	}
	sp.pdpte = now
	for _, e := range now {
		if e != 0 {
			s.trace(e & x86.PTEAddr)
		}
	}
}

// Current is the real CR3 of the shadow in force (0 if none).
func (s *MMU) Current() uint32 {
	if s.cur == nil {
		return 0
	}
	return s.cur.pd
}

func (s *MMU) flush() {
	s.Stats.Flushes++
	s.reset()
}

// Flush drops every shadow (the guest's tables changed unseen: it wrote
// them while it did not page). Protected frames stay protected.
func (s *MMU) Flush() {
	if len(s.spaces) > 0 {
		s.flush()
	}
}

// trace marks a guest frame as holding a page table: every shadow maps it
// read-only from now on.
func (s *MMU) trace(frame uint32) {
	s.traced[frame]++
	if s.traced[frame] > 1 {
		return
	}
	// Entries filled before it became a table may map it writable.
	s.readOnly(frame)
}

// readOnly clears the write permission of every shadow entry mapping frame.
func (s *MMU) readOnly(frame uint32) {
	for _, sp := range s.spaces {
		for _, pt := range sp.pts {
			for i := uint32(0); i < 1024; i++ {
				v, _ := s.mem.ReadPhys32(pt + i*4)
				if v&x86.PTEPresent != 0 && v&x86.PTEWrite != 0 && v&x86.PTEAddr == frame {
					s.mem.WritePhys32(pt+i*4, v&^x86.PTEWrite)
				}
			}
		}
	}
}

// Traced reports whether a guest frame holds a page table the shadows derive from.
func (s *MMU) Traced(frame uint32) bool { return s.traced[frame&x86.PTEAddr] > 0 }

// Protect keeps a guest frame read-only in every shadow, now and from now
// on, until Unprotect: a write to it is a Protected fault. The caller
// flushes the TLB.
func (s *MMU) Protect(frame uint32) {
	frame &= x86.PTEAddr
	if s.protected[frame] {
		return
	}
	s.protected[frame] = true
	s.readOnly(frame)
}

// Unprotect lets a protected frame be written again: the next write to it
// is a hidden fault that makes the entry writable.
func (s *MMU) Unprotect(frame uint32) { delete(s.protected, frame&x86.PTEAddr) }

// Protected reports whether a frame is protected.
func (s *MMU) Protected(frame uint32) bool { return s.protected[frame&x86.PTEAddr] }

// Kind is what a fault means.
type Kind int

const (
	// Hidden: the guest's tables allow the access; the shadow entry was
	// filled. Retry the instruction; the guest sees nothing.
	Hidden Kind = iota
	// True: the guest's own tables refuse the access. Reflect #PF with
	// Fault.Code and CR2 = Fault.Addr.
	True
	// PTWrite: a write to a traced page table. The VMM performs it
	// (Fault.Phys is where it goes) and calls Wrote.
	PTWrite
	// Beyond: the guest maps the page onto memory it does not have.
	Beyond
	// VMMRegion: the guest touched its own mapping of the VMM's region.
	VMMRegion
	// Protected: a write the guest's tables allow to a frame the VMM
	// protects (Protect). The VMM does what it must (a translator retires
	// its translations), calls Unprotect and retries the write.
	Protected
)

var kindNames = [...]string{Hidden: "hidden", True: "true", PTWrite: "pt-write", Beyond: "beyond-ram", VMMRegion: "vmm-region", Protected: "protected"}

func (k Kind) String() string { return kindNames[k] }

// Fault is the decision for one page fault.
type Fault struct {
	Kind Kind
	Addr uint32 // the faulting linear address (CR2)
	Code uint32 // for True: the guest's error code
	Phys uint32 // for PTWrite, Beyond, Protected and VMMRegion: the physical address
	// For VMMRegion and PTWrite, what lets the VMM map the guest's page
	// itself (VMMRegion: until the guest's paging changes; PTWrite: for the
	// one step of a store it does not emulate): Alias is a page-table entry
	// mapping the guest's page at Addr as its tables allow (writable for
	// PTWrite), Entry the physical address of the real entry to put it in
	// (the VMM's own table in its region, else the current shadow's),
	// Restore what goes back afterwards.
	Alias, Entry, Restore uint32
}

// Fault decides what a #PF of the shadow at lin means, and fills the shadow
// entry for a hidden one.
func (s *MMU) Fault(g x86.MMU, lin uint32, acc x86.Access) (Fault, error) {
	if s.cur == nil {
		return Fault{}, fmt.Errorf("shadow: page fault at %#x with no shadow active", lin)
	}
	pdi := int(lin >> 22)
	t, pf := g.Walk(s.mem, lin, acc, true)
	if pf != nil {
		s.Stats.True++
		return Fault{Kind: True, Addr: lin, Code: pf.Code}, nil
	}
	frame := t.Phys & x86.PTEAddr
	if uint64(frame)+4096 > uint64(s.cfg.RAMSize) {
		if pdi < s.cfg.FirstVMMPDE && s.cfg.Device != nil && s.cfg.Device(frame) {
			return s.fill(lin, t, frame|x86.PTEPresent|x86.PTEAccessed|x86.PTEDirty|permBits(t, true))
		}
		return Fault{Kind: Beyond, Addr: lin, Phys: t.Phys}, nil
	}
	if acc.Write && s.Traced(frame) && !s.inUse(frame) {
		// A table only other address spaces' shadows derive from: the
		// guest has most likely freed it (a process exited) and reuses
		// the page as data. Drop those shadows instead of tracing every
		// store into a dead table (KVM zaps such pages on write flooding).
		s.unshadow(frame)
	}
	if acc.Write && s.Traced(frame) {
		s.Stats.PTWrites++
		f := Fault{Kind: PTWrite, Addr: lin, Phys: t.Phys, Alias: frame | x86.PTEPresent | x86.PTEAccessed | x86.PTEDirty | permBits(t, true)}
		return s.placeStep(f, t)
	}
	if acc.Write && s.protected[frame] {
		s.Stats.ProtectedWrites++
		return Fault{Kind: Protected, Addr: lin, Phys: t.Phys}, nil
	}
	dirty := t.PTE&x86.PTEDirty != 0
	if t.Large {
		dirty = t.PDE&x86.PTEDirty != 0
	}
	v := frame | x86.PTEPresent | x86.PTEAccessed | x86.PTEDirty |
		permBits(t, (dirty || acc.Write) && !s.Traced(frame) && !s.protected[frame])
	if pdi >= s.cfg.FirstVMMPDE {
		s.Stats.VMMAliases++
		return s.placeStep(Fault{Kind: VMMRegion, Addr: lin, Phys: t.Phys, Alias: v}, t)
	}
	return s.fill(lin, t, v)
}

// placeStep says where f.Alias goes for a stepped instruction: the VMM's
// own entry in its region (restored to what it is now), else the current
// shadow's (restored absent: the next access fills it anew).
func (s *MMU) placeStep(f Fault, t x86.Translation) (Fault, error) {
	if int(f.Addr>>22) >= s.cfg.FirstVMMPDE {
		at, ok := s.VMMEntry(f.Addr)
		if ok {
			f.Entry = at
			f.Restore, _ = s.mem.ReadPhys32(at)
		}
		return f, nil
	}
	pt, err := s.table(f.Addr, t)
	if err != nil {
		return Fault{}, err
	}
	if s.cur != nil {
		f.Entry = pt + (f.Addr>>12&0x3FF)*4
	}
	return f, nil
}

// permBits are the user and writable bits of a shadow entry for t
// (writable only if mayWrite). The real CPU runs with CR0.WP set; a page
// the guest's tables make read-only that its kernel may write because the
// guest's CR0.WP is clear gets a writable entry only as a supervisor page,
// so that user code's write still faults (#PF 7, as on the CPU): a user
// access there is a hidden fault that fills the entry read-only for user
// code again.
func permBits(t x86.Translation, mayWrite bool) uint32 {
	var v uint32
	if t.User {
		v |= x86.PTEUser
	}
	if t.Writable && mayWrite {
		v |= x86.PTEWrite
		if !guestRW(t) {
			v &^= x86.PTEUser
		}
	}
	return v
}

// guestRW reports whether the guest's own entries allow writes (the R/W
// bit of every level), whatever CR0.WP says for the kernel.
func guestRW(t x86.Translation) bool {
	if t.PDE&x86.PTEWrite == 0 {
		return false
	}
	return t.Large || t.PTE&x86.PTEWrite != 0
}

// fill writes shadow entry v for lin (guest translation t): a hidden
// fault.
func (s *MMU) fill(lin uint32, t x86.Translation, v uint32) (Fault, error) {
	pt, err := s.table(lin, t)
	if err != nil {
		return Fault{}, err
	}
	if s.cur == nil { // the table's allocation flushed everything
		return Fault{Kind: Hidden, Addr: lin}, nil
	}
	if s.Traced(v & x86.PTEAddr) {
		// Making the table traced its own frame (a table that maps
		// itself, shadowed anew after Unshadow): read-only after all.
		v &^= x86.PTEWrite
	}
	s.mem.WritePhys32(pt+(lin>>12&0x3FF)*4, v)
	s.Stats.Hidden++
	if v&x86.PTEAddr >= s.cfg.RAMSize {
		s.Stats.DevicePages++
	}
	return Fault{Kind: Hidden, Addr: lin}, nil
}

// VMMPDEs are the VMM's own directory entries (for FirstVMMPDE upward).
func (s *MMU) VMMPDEs() []uint32 { return s.cfg.VMMPDEs }

// VMMEntry is the physical address of the VMM's own page-table entry for
// lin, in its region (false if lin is below it or its directory entry maps
// no table).
func (s *MMU) VMMEntry(lin uint32) (uint32, bool) {
	i := int(lin>>22) - s.cfg.FirstVMMPDE
	if i < 0 || i >= len(s.cfg.VMMPDEs) {
		return 0, false
	}
	pde := s.cfg.VMMPDEs[i]
	if pde&x86.PTEPresent == 0 || pde&x86.PTELarge != 0 {
		return 0, false
	}
	return pde&x86.PTEAddr + (lin>>12&0x3FF)*4, true
}

// table returns the shadow page table for lin in the current space,
// making it (and tracing the guest table t names) if needed.
func (s *MMU) table(lin uint32, t x86.Translation) (uint32, error) {
	sp := s.cur
	pdi, key := int(lin>>22), sp.slot(lin)
	gpt := uint32(0)
	if !t.Large {
		gpt = t.PDE & x86.PTEAddr
	}
	if pt, ok := sp.pts[pdi]; ok {
		g, known := sp.gpt[key]
		if known && g == gpt {
			return pt, nil
		}
		if !known { // PAE: the other 2 MiB half made the table
			sp.gpt[key] = gpt
			if gpt != 0 {
				s.trace(gpt)
			}
			return pt, nil
		}
	}
	s.dropTable(sp, pdi)
	pt, ok := s.alloc()
	if !ok {
		g := x86.MMU{CR3: sp.gcr3}
		if sp.pae {
			g.CR4 = x86.CR4PAE
		}
		s.flush()
		if _, err := s.Activate(g); err != nil {
			return 0, err
		}
		sp = s.cur
		if pt, ok = s.alloc(); !ok {
			return 0, fmt.Errorf("shadow: no page for a shadow table")
		}
	}
	sp.pts[pdi] = pt
	sp.gpt[key] = gpt
	if gpt != 0 {
		s.trace(gpt)
	}
	// The directory entry allows everything: the shadow PTE carries the
	// combined permissions.
	s.mem.WritePhys32(sp.pd+uint32(pdi)*4, pt|x86.PTEPresent|x86.PTEWrite|x86.PTEUser|x86.PTEAccessed)
	return pt, nil
}

func (s *MMU) dropTable(sp *space, pdi int) {
	pt, ok := sp.pts[pdi]
	if !ok {
		return
	}
	first, n := sp.slots(pdi)
	for k := first; k < first+n; k++ {
		if g, known := sp.gpt[k]; known {
			if g != 0 {
				s.untrace(g)
			}
			delete(sp.gpt, k)
		}
	}
	delete(sp.pts, pdi)
	s.mem.WritePhys32(sp.pd+uint32(pdi)*4, 0)
	s.free = append(s.free, pt)
}

// inUse reports whether the shadow in force derives from frame: it is the
// current directory or one of the page tables under it.
func (s *MMU) inUse(frame uint32) bool {
	if s.cur == nil {
		return false
	}
	if s.cur.root() == frame || s.cur.pdOf(frame) {
		return true
	}
	for _, g := range s.cur.gpt {
		if g == frame {
			return true
		}
	}
	return false
}

// unshadow drops every cached shadow structure derived from frame: a
// whole address space whose directory it is, or the shadow tables of
// other spaces under entries that point at it. The shadow in force does
// not derive from it (inUse). Counted in Stats.Unshadowed.
func (s *MMU) unshadow(frame uint32) {
	s.Stats.Unshadowed++
	for _, sp := range s.spaces {
		if sp == s.cur {
			continue
		}
		if sp.root() == frame || sp.pdOf(frame) {
			for pdi := range sp.pts {
				s.dropTable(sp, pdi)
			}
			s.untrace(sp.root())
			for _, e := range sp.pdpte {
				if e != 0 {
					s.untrace(e & x86.PTEAddr)
				}
			}
			s.free = append(s.free, sp.pd)
			delete(s.spaces, sp.key)
			continue
		}
		for k, g := range sp.gpt {
			if g == frame {
				s.dropTable(sp, pdiOf(sp, k))
			}
		}
	}
}

func (s *MMU) untrace(frame uint32) {
	if s.traced[frame]--; s.traced[frame] <= 0 {
		delete(s.traced, frame)
	}
}

// Invlpg drops the current shadow's entry for lin.
func (s *MMU) Invlpg(lin uint32) {
	s.Stats.Invlpg++
	if s.cur == nil {
		return
	}
	if pt, ok := s.cur.pts[int(lin>>22)]; ok {
		s.mem.WritePhys32(pt+(lin>>12&0x3FF)*4, 0)
	}
}

// Mapped reports whether the shadow in force already maps lin (writable,
// if write is set): an access there would not fault, so there is nothing to
// fill.
func (s *MMU) Mapped(lin uint32, write bool) bool {
	if s.cur == nil {
		return false
	}
	pt, ok := s.cur.pts[int(lin>>22)]
	if !ok {
		return false
	}
	v, _ := s.mem.ReadPhys32(pt + (lin>>12&0x3FF)*4)
	return v&x86.PTEPresent != 0 && (!write || v&x86.PTEWrite != 0)
}

// Wrote tells the shadows that the guest's page at frame changed from old
// to now (both 4 KiB): every shadow entry derived from a changed entry is
// dropped, to be filled again from the guest's new tables.
func (s *MMU) Wrote(frame uint32, old, now []byte) {
	for _, sp := range s.spaces {
		if sp.pae {
			s.wrotePAE(sp, frame, old, now)
		}
	}
	for i := 0; i < 1024; i++ {
		o := le32(old[i*4:])
		n := le32(now[i*4:])
		if o == n {
			continue
		}
		for _, sp := range s.spaces {
			if sp.pae {
				continue
			}
			// As a directory: the whole table under entry i goes.
			if sp.gcr3 == frame && i < s.cfg.FirstVMMPDE {
				s.dropTable(sp, i)
			}
			// As a page table: the one entry under it.
			for pdi, g := range sp.gpt {
				if g == frame {
					s.mem.WritePhys32(sp.pts[pdi]+uint32(i)*4, 0)
				}
			}
		}
	}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// pdiOf is the shadow table index of gpt key k.
func pdiOf(sp *space, k int) int {
	if sp.pae {
		return k / 2
	}
	return k
}

// wrotePAE is Wrote for a PAE space, whose guest entries are 8 bytes. A
// write to the PDPT is not seen here: the CPU reads PDPTEs only when CR3 is
// loaded (Activate reloads them).
func (s *MMU) wrotePAE(sp *space, frame uint32, old, now []byte) {
	changed := func(e int) bool { return string(old[e*8:e*8+8]) != string(now[e*8:e*8+8]) }
	for j, pdpte := range sp.pdpte {
		if pdpte == 0 || pdpte&x86.PTEAddr != frame {
			continue
		}
		for e := 0; e < 512; e++ {
			if pdi := (j*512 + e) / 2; changed(e) && pdi < s.cfg.FirstVMMPDE {
				s.dropTable(sp, pdi)
			}
		}
	}
	for k, g := range sp.gpt {
		if g != frame {
			continue
		}
		for e := 0; e < 512; e++ {
			if !changed(e) {
				continue
			}
			lin := uint32(k)<<21 | uint32(e)<<12
			if pt, ok := sp.pts[int(lin>>22)]; ok {
				s.mem.WritePhys32(pt+(lin>>12&0x3FF)*4, 0)
			}
		}
	}
}
