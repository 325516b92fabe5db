package vmm

import (
	"fmt"

	"virtsim/vmm/x86"
)

// Device writes and code coherence.
//
// The data a device puts into guest memory — the words of an `ins`, the
// sectors a ring backend copies in (DMA) — are stores no guest instruction
// made. A CPU snoops them and keeps its caches coherent, so a program a
// loader just read from a disk runs as read (x86 needs no flush; QEMU's TCG
// invalidates its translations of a page any store reaches). Unicorn's host
// writes do not: its translated blocks of the old bytes stay valid
// (SUBSTRATE.md, pitfall 5), and so would a binary translator's cache. The
// streaming workload shows what happens then: the second boot of a program
// that patches itself runs the patched code, not the disk's.
//
// So every device write into guest memory goes through DeviceWrote, which
// drops the substrate's translations of the bytes written and tells the
// strategy (OnDeviceWrite). Guest stores and the VMM's own writes (frames
// pushed, descriptor accesses) keep their paths: they are either seen by the
// substrate or never land on code.

// DeviceWrote keeps translated code coherent after a device wrote n bytes
// of guest-physical memory at phys.
func (m *Machine) DeviceWrote(phys, n uint32) error {
	if n == 0 {
		return nil
	}
	if err := m.DropTranslations(uint64(phys), uint64(phys)+uint64(n)); err != nil {
		return fmt.Errorf("vmm: device write at %#x: %w", phys, err)
	}
	if m.OnDeviceWrite != nil {
		m.OnDeviceWrite(phys, n)
	}
	return nil
}

// DeviceWroteLinear is DeviceWrote for n bytes a device wrote at guest
// linear address lin (the destination of an `ins`), page by page through
// the guest's translation as the write itself went. Pages that do not
// translate were not written.
func (m *Machine) DeviceWroteLinear(lin, n uint32) error {
	var mmu x86.MMU
	if !m.vmmOwned(lin) {
		mmu = m.MMU()
	}
	for n > 0 {
		k := min(n, 4096-lin&0xFFF)
		phys := lin
		if mmu.Paging() {
			t, pf := mmu.Walk(physMem{m}, lin, x86.Access{Write: true}, false)
			if pf != nil {
				lin, n = lin+k, n-k
				continue
			}
			phys = t.Phys
		}
		if err := m.DeviceWrote(phys, k); err != nil {
			return err
		}
		lin, n = lin+k, n-k
	}
	return nil
}

// stringRange is the span of guest linear memory `count` elements of size
// bytes starting at ptr covered, moving by step: [lo, lo+n).
func stringRange(ptr uint32, count uint32, size, step int32) (lo, n uint32) {
	if count == 0 {
		return ptr, 0
	}
	n = count * uint32(size)
	if step < 0 {
		return ptr - (count-1)*uint32(size), n
	}
	return ptr, n
}
