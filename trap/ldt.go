package trap

import (
	"encoding/binary"
	"fmt"

	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// The shadow LDT. A guest that keeps segments in a local descriptor table
// (lldt of an LDT descriptor in its GDT, then TI=1 selectors) needs the
// same ring compression there as in its GDT: the real CPU must not load
// the guest's DPL-0 descriptors at CPL 1 as they are. So the VMM keeps a
// shadow of the loaded LDT in its region, entry for entry and compressed
// like the GDT's (ShadowDescriptor), and the real LDTR points at it:
//
//   - the real GDT's copy of the guest's LDT descriptor (at the guest's own
//     index, so the real LDTR holds the guest's selector and sldt, which
//     does not trap at CPL 1, shows what the guest loaded) gets the
//     shadow's base, with the guest's limit;
//   - the shadow is rebuilt where the GDT's is: at lldt, lgdt, ltr and a
//     restore (deriveGDT); an emulated segment load writes the shadow of the
//     descriptor it checked (unicornCPU.LoadSeg), and the CPU's own store of
//     an Accessed bit into the read-only shadow is carried into the guest's
//     LDT (DescriptorAccessed), as for the GDT.
//
// Like the GDT's shadow, it is not traced: a guest that rewrites a loaded
// LDT entry in memory and then loads it without trapping (a data segment
// whose selector already has RPL 1..3) gets the entry as it was at lldt.
const (
	realLDTAddr = vmm.StrategyBase + 0x12000 // 8192 entries
	realLDTSize = 0x10000
	// AreaSize is trap's part of the strategy region (the real GDT, IDT,
	// TSS, entry stubs and the shadow LDT): read-only for the CPU.
	AreaSize = realLDTAddr + realLDTSize - vmm.StrategyBase
)

// ldtFlags are the LDTR descriptor-cache attributes: present, type LDT.
const ldtFlags = (x86.TypeLDT | 1<<7) << 8

// guestLDT is the guest's loaded LDT as its GDT describes it now (ok false
// with no usable LDT: a null LDTR, or a descriptor that is no longer one).
func (t *VMM) guestLDT() (d x86.Descriptor, ok bool) {
	if x86.SelNull(t.V.LDTR) || x86.SelTI(t.V.LDTR) {
		return d, false
	}
	d, err := t.GuestDescriptor(t.V.LDTR)
	if err != nil || d.S || d.Type != x86.TypeLDT || !d.Present {
		return d, false
	}
	return d, true
}

// deriveLDT rebuilds the shadow LDT from the guest's and loads the real
// LDTR with it (a null LDTR when the guest has none).
func (t *VMM) deriveLDT() error {
	d, ok := t.guestLDT()
	if !ok {
		if err := t.E.SetMMR(unicorn.LDTR, unicorn.MMR{}); err != nil {
			return fmt.Errorf("trap: load a null LDTR: %w", err)
		}
		return nil
	}
	limit := d.Limit
	if limit >= realLDTSize {
		limit = realLDTSize - 1
	}
	n := (limit + 1) / 8
	guest := make([]byte, n*8)
	if err := t.ReadMem(d.Base, guest); err != nil {
		return fmt.Errorf("trap: read the guest's LDT: %w", err)
	}
	shadow := make([]byte, len(guest))
	for i := uint32(0); i < n; i++ {
		e := x86.Decode(guest[i*8:])
		binary.LittleEndian.PutUint64(shadow[i*8:], t.ShadowDescriptor(e).Raw)
	}
	if err := t.OwnWrite(realLDTAddr, shadow); err != nil {
		return err
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], x86.EncodeSystem(realLDTAddr, limit, x86.TypeLDT, d.DPL))
	if err := t.OwnWrite(realGDTAddr+uint32(x86.SelIndex(t.V.LDTR))*8, b[:]); err != nil {
		return err
	}
	if err := t.E.SetMMR(unicorn.LDTR, unicorn.MMR{Selector: t.V.LDTR, Base: realLDTAddr, Limit: limit, Flags: ldtFlags}); err != nil {
		return fmt.Errorf("trap: load the real LDTR: %w", err)
	}
	return nil
}

// shadowEntry is the real-table address of selector sel's descriptor in
// the shadow GDT or LDT (ok false outside the part the guest owns). The
// real LDTR says where the shadow LDT ends.
func shadowEntry(m *vmm.Machine, sel uint16) (addr uint32, ok bool) {
	idx := uint32(x86.SelIndex(sel))
	if !x86.SelTI(sel) {
		return realGDTAddr + idx*8, idx != 0 && idx <= guestMaxIndex
	}
	ldtr, err := m.E.MMR(unicorn.LDTR)
	if err != nil || ldtr.Base != realLDTAddr || idx*8+7 > ldtr.Limit {
		return 0, false
	}
	return realLDTAddr + idx*8, true
}

// DescriptorAccessed handles the CPU's store of a descriptor's Accessed
// bit into the VMM's read-only shadow GDT or LDT at addr (the 4-byte high
// word of an entry): the guest's descriptor gets the bit, as on a real
// CPU, and so does the shadow, so later loads store nothing. It reports
// false for any other address.
func (t *VMM) DescriptorAccessed(addr uint32) (bool, error) {
	switch {
	case addr >= realGDTAddr+8 && addr < realGDTAddr+(guestMaxIndex+1)*8 && addr%8 == 4:
		return true, t.MarkAccessed(uint16((addr - realGDTAddr) / 8))
	case addr >= realLDTAddr && addr < realLDTAddr+realLDTSize && addr%8 == 4:
		return true, t.markAccessedLDT(uint16((addr - realLDTAddr) / 8))
	}
	return false, nil
}

// onLDTWrite is onProtWrite for the shadow LDT: only the Accessed bit of a
// code or data descriptor.
func (t *VMM) onLDTWrite(addr uint32, size int, value uint64) bool {
	if addr < realLDTAddr || addr >= realLDTAddr+realLDTSize || addr%8 != 4 || size != 4 {
		return false
	}
	var hi [4]byte
	if err := t.OwnRead(addr, hi[:]); err != nil {
		return false
	}
	old := binary.LittleEndian.Uint32(hi[:])
	if uint32(value) != old|1<<8 || old&(1<<12) == 0 {
		return false
	}
	if err := t.markAccessedLDT(uint16((addr - realLDTAddr) / 8)); err != nil {
		t.Fail(err)
	}
	return true
}

// markAccessedLDT sets the Accessed bit of LDT entry index in the guest's
// LDT and in the shadow.
func (t *VMM) markAccessedLDT(index uint16) error {
	off := uint32(index) * 8
	if d, ok := t.guestLDT(); ok && off+7 <= d.Limit {
		if err := setAccessedAt(t.Machine.ReadMem, t.Machine.WriteMem, d.Base+off); err != nil {
			return fmt.Errorf("trap: set the Accessed bit of guest LDT descriptor %d: %w", index, err)
		}
	}
	if off+7 < realLDTSize {
		if err := setAccessedAt(t.Machine.OwnRead, t.Machine.OwnWrite, realLDTAddr+off); err != nil {
			return fmt.Errorf("trap: set the Accessed bit of shadow LDT descriptor %d: %w", index, err)
		}
	}
	return nil
}

// setAccessedAt sets the Accessed bit of the code or data descriptor at
// addr, if it is clear, through read and write (the guest's memory or the
// VMM's own).
func setAccessedAt(read, write func(uint32, []byte) error, addr uint32) error {
	var b [1]byte
	if err := read(addr+5, b[:]); err != nil {
		return err
	}
	if b[0]&0x10 != 0 && b[0]&1 == 0 {
		return write(addr+5, []byte{b[0] | 1})
	}
	return nil
}
