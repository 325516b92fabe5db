package vmm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// Paging on the machine.
//
// Unicorn 2.1's MMU walks the guest's page tables the way the CPU does
// (4 KiB and 4 MiB pages, U/S, R/W, CR0.WP, accessed and dirty bits, #PF
// with CR2 and the error code), so guest instructions need nothing from the
// machine. What the machine itself does to guest memory by linear address —
// read an IDT gate or a descriptor, push an interrupt frame, fetch an
// instruction to decode it — goes through the same walk (x86.MMU.Walk)
// against the page tables the guest sees: the real ones under native, the
// guest's own (virtual CR3) under a VMM that virtualizes the MMU
// (GuestMMU). A fault in such an access is the #PF the hardware would raise
// there.
//
// The whole 4 GiB linear space is the guest's under native. The one moment
// the machine needs linear addresses of its own is a privilege-raising
// delivery: its call-gate trampoline (deliver.go) runs code and reads a GDT
// in the VMM region. With paging on, the machine runs that trampoline on a
// page directory of its own — a copy of the guest's whose last entry
// (0xFFC00000-0xFFFFFFFF) maps the machine's pages — and returns to the
// guest's CR3 at the landing pad, copying back the Accessed and Dirty bits
// the CPU set in the copy. The guest's own mapping of that last 4 MiB is
// out of sight only for the lcall itself; a guest whose inner stack or TSS
// lies there cannot take a privilege-raising interrupt (a clear crash).

// The machine's private pages for the trampoline under paging, in its part
// of the VMM region.
const (
	trampPDAddr = machineBase + 0x1B000 // the trampoline's page directory
	trampPTAddr = machineBase + 0x1C000 // its page table for 0xFFC00000-0xFFFFFFFF
	trampPDE    = 1023                  // the directory entry it replaces
	// Under PAE (CR4.PAE): a copy of the guest's four PDPTEs whose last
	// names a copy of the guest's last page directory (trampPDAddr, 512
	// 8-byte entries) whose last entry (0xFFE00000-0xFFFFFFFF) names a
	// PAE page table of the machine's pages.
	trampPAEPTAddr = machineBase + 0x1D000
	trampPDPTAddr  = machineBase + 0x1E000
	trampPAEPDE    = 511
	trampEnd       = trampPDPTAddr + 32 // the end of the trampoline's tables
)

// PFError is a page fault raised while the machine accessed guest memory
// by linear address.
type PFError struct{ x86.PageFault }

func (e *PFError) Error() string {
	return fmt.Sprintf("page fault at %#x (error code %#x)", e.Addr, e.Code)
}

// MMU is the paging state the guest sees: the real control registers under
// native, the guest's own under a VMM that virtualizes them.
func (m *Machine) MMU() x86.MMU {
	if m.GuestMMU != nil {
		return m.GuestMMU()
	}
	if !m.nativeMMU {
		return x86.MMU{}
	}
	var vals [3]uint32
	if err := m.E.Regs([]unicorn.Reg{unicorn.CR0, unicorn.CR3, unicorn.CR4}, vals[:]); err != nil {
		m.fail(fmt.Errorf("vmm: read control registers: %w", err))
		return x86.MMU{}
	}
	return x86.MMU{CR0: vals[0], CR3: vals[1], CR4: vals[2]}
}

// physMem is guest RAM as a page walk reads it.
type physMem struct{ m *Machine }

func (p physMem) ReadPhys32(pa uint32) (uint32, bool) {
	// Guest RAM, and the trampoline's own directory and table (in force
	// while the machine runs its trampoline under paging).
	if uint64(pa)+4 > uint64(p.m.Cfg.MemSize) && (pa < trampPDAddr || pa+4 > trampEnd) {
		return 0, false
	}
	var b [4]byte
	if err := p.m.E.MemRead(uint64(pa), b[:]); err != nil {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[:]), true
}

func (p physMem) WritePhys32(pa, v uint32) bool {
	if uint64(pa)+4 > uint64(p.m.Cfg.MemSize) {
		return false
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return p.m.E.MemWrite(uint64(pa), b[:]) == nil
}

// PhysMem is guest RAM for page walks (reads and A/D updates).
func (m *Machine) PhysMem() x86.PhysMem { return physMem{m} }

// hostPhys is physical memory as the VMM sees it: guest RAM (bounded as
// PhysMem bounds it) and, from VMMBase up, the VMM's own pages — where the
// page tables a VMM really loads (shadows, its region's tables) live.
type hostPhys struct{ m *Machine }

func (p hostPhys) ReadPhys32(pa uint32) (uint32, bool) {
	if pa < VMMBase {
		return physMem(p).ReadPhys32(pa)
	}
	var b [4]byte
	if err := p.m.E.MemRead(uint64(pa), b[:]); err != nil {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[:]), true
}

func (p hostPhys) WritePhys32(pa, v uint32) bool {
	if pa < VMMBase {
		return physMem(p).WritePhys32(pa, v)
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return p.m.E.MemWrite(uint64(pa), b[:]) == nil
}

// HostPhys is guest RAM and the VMM's own pages, for walks of the page
// tables the real CPU uses.
func (m *Machine) HostPhys() x86.PhysMem { return hostPhys{m} }

// vmmOwned reports whether lin is the VMM's own address under a strategy
// that keeps its region at the top of the linear space (every strategy but
// native): such addresses are not translated.
func (m *Machine) vmmOwned(lin uint32) bool { return !m.nativeMMU && lin >= VMMBase }

// Translate maps a guest linear address to a physical one for acc. setAD
// sets accessed and dirty bits as the CPU would (for the machine's own
// hardware-like accesses); a look (disassembly, the TUI) passes false.
func (m *Machine) Translate(lin uint32, acc x86.Access, setAD bool) (uint32, error) {
	if m.vmmOwned(lin) {
		return lin, nil
	}
	return m.GuestTranslate(lin, acc, setAD)
}

// GuestTranslate is Translate by the guest's own tables alone, even where
// the VMM's region lies: what a guest address means to the guest (a
// paging guest may map its own pages there: trap's MapAlias).
func (m *Machine) GuestTranslate(lin uint32, acc x86.Access, setAD bool) (uint32, error) {
	mmu := m.MMU()
	if !mmu.Paging() {
		return lin, nil
	}
	t, pf := mmu.Walk(physMem{m}, lin, acc, setAD)
	if pf != nil {
		return 0, &PFError{*pf}
	}
	return t.Phys, nil
}

// linearIO reads or writes guest memory by linear address, page by page,
// as a supervisor access: what the machine itself does (read an IDT gate,
// a descriptor or the TSS, push an interrupt frame, fetch code to decode
// it) is an implicit supervisor access on the CPU too, whatever the CPL —
// a kernel's IDT in pages user code cannot touch must still deliver a
// fault taken in user mode.
func (m *Machine) linearIO(lin uint32, b []byte, write bool) error {
	return m.linearIOAs(lin, b, write, false)
}

// insnIO is linearIO for an access the current instruction makes (ins and
// outs move data through memory): a user-mode access at CPL 3 under native
// (a VMM's own strategies check privilege themselves).
func (m *Machine) insnIO(lin uint32, b []byte, write bool) error {
	return m.linearIOAs(lin, b, write, m.nativeMMU && m.reg(unicorn.CS)&3 == 3)
}

func (m *Machine) linearIOAs(lin uint32, b []byte, write, user bool) error {
	if len(m.overlay) > 0 && lin >= VMMBase {
		return m.overlayIO(lin, b, write)
	}
	return m.cpuIO(lin, b, write, user)
}

// cpuRead reads memory as the CPU itself sees it at lin: through the
// tables in force, the VMM's own pages where the VMM keeps them (the real
// GDT, IDT and TSS a VMM loads), even under a guest page overlaid there.
func (m *Machine) cpuRead(lin uint32, b []byte) error { return m.cpuIO(lin, b, false, false) }

// cpuWrite is cpuRead's store.
func (m *Machine) cpuWrite(lin uint32, b []byte) error { return m.cpuIO(lin, b, true, false) }

func (m *Machine) cpuIO(lin uint32, b []byte, write, user bool) error {
	var mmu x86.MMU // the VMM's own addresses: no paging, the identity
	if !m.vmmOwned(lin) {
		mmu = m.MMU()
	}
	if !mmu.Paging() {
		if write {
			return m.E.MemWrite(uint64(lin), b)
		}
		return m.E.MemRead(uint64(lin), b)
	}
	for len(b) > 0 {
		n := 4096 - int(lin&0xFFF)
		if n > len(b) {
			n = len(b)
		}
		t, pf := mmu.Walk(physMem{m}, lin, x86.Access{Write: write, User: user}, write)
		if pf != nil {
			return &PFError{*pf}
		}
		var err error
		if write {
			err = m.E.MemWrite(uint64(t.Phys), b[:n])
		} else {
			err = m.E.MemRead(uint64(t.Phys), b[:n])
		}
		if err != nil {
			return err
		}
		lin += uint32(n)
		b = b[n:]
	}
	return nil
}

// overlayIO is linearIOAs in the VMM's region while the guest has pages
// overlaid there (overlay.go): those pages are the guest's frames, the
// rest the VMM's own. The VMM reaches its own pages under an overlay with
// OwnRead and OwnWrite.
func (m *Machine) overlayIO(lin uint32, b []byte, write bool) error {
	m.restoreSwaps()
	for len(b) > 0 {
		n := min(len(b), 4096-int(lin&0xFFF))
		pa := lin
		if frame, ok := m.overlay[lin&^0xFFF]; ok {
			pa = frame + lin&0xFFF
		}
		var err error
		if write {
			err = m.E.MemWrite(uint64(pa), b[:n])
		} else {
			err = m.E.MemRead(uint64(pa), b[:n])
		}
		if err != nil {
			return err
		}
		lin += uint32(n)
		b = b[n:]
	}
	return nil
}

// OwnRead reads the VMM's own memory at addr in its region, whatever the
// guest maps there (the VMM's tables, its translation cache).
func (m *Machine) OwnRead(addr uint32, b []byte) error {
	if err := m.E.MemRead(uint64(addr), b); err != nil {
		return fmt.Errorf("vmm: read %d bytes of the VMM's at %#x: %w", len(b), addr, err)
	}
	return nil
}

// OwnWrite writes the VMM's own memory at addr in its region.
func (m *Machine) OwnWrite(addr uint32, b []byte) error {
	if err := m.E.MemWrite(uint64(addr), b); err != nil {
		return fmt.Errorf("vmm: write %d bytes of the VMM's at %#x: %w", len(b), addr, err)
	}
	return nil
}

// pfFault turns a machine access error into the fault delivery raises: a
// #PF for a page fault, else fallback.
func pfFault(err error, fallback *DeliveryFault) *DeliveryFault {
	var pf *PFError
	if errors.As(err, &pf) {
		return &DeliveryFault{Vec: x86.VecPF, Code: pf.Code, CR2: pf.Addr, Why: fallback.Why}
	}
	return fallback
}

// enterTrampolineCR3 puts the machine's trampoline page directory in
// force when the guest pages (native only): a copy of the guest's with
// its last entry mapping the machine's pages. It returns the guest CR3 to
// restore, or ok=false when no switch was needed.
func (m *Machine) enterTrampolineCR3() (guestCR3 uint32, ok bool, err error) {
	if !m.nativeMMU {
		return 0, false, nil
	}
	mmu := m.MMU()
	if !mmu.Paging() {
		return 0, false, nil
	}
	if mmu.CR4&x86.CR4PAE != 0 {
		return m.enterTrampolinePAE(mmu)
	}
	pd := make([]byte, 4096)
	if uint64(mmu.CR3&x86.PTEAddr)+4096 > uint64(m.Cfg.MemSize) {
		return 0, false, fmt.Errorf("the page directory at %#x (CR3) lies outside guest RAM", mmu.CR3&x86.PTEAddr)
	}
	if err := m.E.MemRead(uint64(mmu.CR3&x86.PTEAddr), pd); err != nil {
		return 0, false, err
	}
	binary.LittleEndian.PutUint32(pd[trampPDE*4:], trampPTAddr|x86.PTEPresent|x86.PTEWrite|x86.PTEUser|x86.PTEAccessed)
	if err := m.E.MemWrite(trampPDAddr, pd); err != nil {
		return 0, false, err
	}
	if !m.trampPTReady {
		if err := m.E.MemWrite(trampPTAddr, trampolineTable(4)); err != nil {
			return 0, false, err
		}
		m.trampPTReady = true
	}
	if err := m.switchCR3(trampPDAddr | mmu.CR3&0xFFF); err != nil {
		return 0, false, err
	}
	return mmu.CR3, true, nil
}

// leaveTrampolineCR3 returns to the guest's page directory, copying the
// Accessed and Dirty bits the CPU set in the trampoline's copy back into
// the guest's own entries, as if it had walked them.
func (m *Machine) leaveTrampolineCR3(guestCR3 uint32) error {
	if m.MMU().CR4&x86.CR4PAE != 0 {
		return m.leaveTrampolinePAE(guestCR3)
	}
	if err := m.copyBackAD(uint64(guestCR3&x86.PTEAddr), trampPDE, 4); err != nil {
		return err
	}
	return m.switchCR3(guestCR3)
}

// enterTrampolinePAE is enterTrampolineCR3 under PAE paging: the guest's
// PDPT copied with its last entry naming a copy of the guest's last page
// directory, whose last 2 MiB map the machine's pages.
func (m *Machine) enterTrampolinePAE(mmu x86.MMU) (uint32, bool, error) {
	pdptAddr := mmu.CR3 &^ 0x1F
	if uint64(pdptAddr)+32 > uint64(m.Cfg.MemSize) {
		return 0, false, fmt.Errorf("the page-directory-pointer table at %#x (CR3) lies outside guest RAM", pdptAddr)
	}
	pdpt := make([]byte, 32)
	if err := m.E.MemRead(uint64(pdptAddr), pdpt); err != nil {
		return 0, false, err
	}
	pd := make([]byte, 4096)
	if last := binary.LittleEndian.Uint32(pdpt[24:]); last&x86.PTEPresent != 0 {
		if uint64(last&x86.PTEAddr)+4096 > uint64(m.Cfg.MemSize) {
			return 0, false, fmt.Errorf("the page directory at %#x (PDPTE 3) lies outside guest RAM", last&x86.PTEAddr)
		}
		if err := m.E.MemRead(uint64(last&x86.PTEAddr), pd); err != nil {
			return 0, false, err
		}
	}
	binary.LittleEndian.PutUint64(pd[trampPAEPDE*8:], trampPAEPTAddr|x86.PTEPresent|x86.PTEWrite|x86.PTEUser|x86.PTEAccessed)
	binary.LittleEndian.PutUint64(pdpt[24:], trampPDAddr|x86.PTEPresent)
	if err := m.E.MemWrite(trampPDAddr, pd); err != nil {
		return 0, false, err
	}
	if err := m.E.MemWrite(trampPDPTAddr, pdpt); err != nil {
		return 0, false, err
	}
	if !m.trampPAEReady {
		if err := m.E.MemWrite(trampPAEPTAddr, trampolineTable(8)); err != nil {
			return 0, false, err
		}
		m.trampPAEReady = true
	}
	if err := m.switchCR3(trampPDPTAddr); err != nil {
		return 0, false, err
	}
	return mmu.CR3, true, nil
}

// leaveTrampolinePAE returns to the guest's PDPT, copying the Accessed and
// Dirty bits the CPU set in the copy of its last page directory back.
func (m *Machine) leaveTrampolinePAE(guestCR3 uint32) error {
	var b [8]byte
	if err := m.E.MemRead(uint64(guestCR3&^0x1F)+24, b[:]); err != nil {
		return err
	}
	if last := binary.LittleEndian.Uint32(b[:]); last&x86.PTEPresent != 0 {
		if err := m.copyBackAD(uint64(last&x86.PTEAddr), trampPAEPDE, 8); err != nil {
			return err
		}
	}
	return m.switchCR3(guestCR3)
}

// trampolineTable is the page table of the trampoline's last directory
// entry, in entries of entry bytes (4: 32-bit paging, the last 4 MiB; 8:
// PAE, the last 2 MiB, the high halves 0). Only the machine's own pages
// are present: the stub runs at the interrupted privilege (user), the
// landing pad at the handler's (supervisor: SMEP allows the fetch).
// Accessed and dirty already: the CPU has nothing to write there.
func trampolineTable(entry int) []byte {
	pt := make([]byte, 4096)
	index := uint64(4096/entry - 1)
	for a := uint64(machineBase); a < machineBase+machineSize; a += 4096 {
		pte := uint32(a) | x86.PTEPresent | x86.PTEAccessed | x86.PTEDirty
		if a != landingAddr {
			pte |= x86.PTEUser
		}
		binary.LittleEndian.PutUint32(pt[(a>>12&index)*uint64(entry):], pte)
	}
	return pt
}

// copyBackAD copies the Accessed and Dirty bits the CPU set in the first n
// entries (of entry bytes) of the trampoline's copy of a directory into
// the guest's own directory at base, as if it had walked them.
func (m *Machine) copyBackAD(base uint64, n, entry int) error {
	pd := make([]byte, 4096)
	if err := m.E.MemRead(trampPDAddr, pd); err != nil {
		return err
	}
	gpd := make([]byte, 4096)
	if err := m.E.MemRead(base, gpd); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		got := binary.LittleEndian.Uint32(pd[i*entry:])
		old := binary.LittleEndian.Uint32(gpd[i*entry:])
		if bits := got & (x86.PTEAccessed | x86.PTEDirty) &^ old; bits != 0 && old&x86.PTEPresent != 0 {
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], old|bits)
			if err := m.E.MemWrite(base+uint64(i*entry), b[:]); err != nil {
				return err
			}
		}
	}
	return nil
}

// switchCR3 loads CR3 from the host and empties Unicorn's TLB, as a mov to
// CR3 does on the CPU (a host write of CR3 alone may keep stale entries).
func (m *Machine) switchCR3(cr3 uint32) error {
	if err := m.E.SetReg(unicorn.CR3, cr3); err != nil {
		return fmt.Errorf("vmm: load CR3: %w", err)
	}
	if err := m.E.FlushTLB(); err != nil {
		return fmt.Errorf("vmm: flush TLB: %w", err)
	}
	return nil
}
