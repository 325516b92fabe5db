package guest

import (
	"encoding/binary"
	"fmt"
)

// Multiboot v1 header flags.
const (
	mbFlagPageAlign  = 1 << 0  // page-align modules (we load none: satisfied)
	mbFlagMemInfo    = 1 << 1  // wants mem_lower/mem_upper (always provided)
	mbFlagVideoMode  = 1 << 2  // wants a video mode (ignored, as QEMU does)
	mbFlagAddresses  = 1 << 16 // the header's address fields are valid
	mbSupportedFlags = mbFlagPageAlign | mbFlagMemInfo | mbFlagVideoMode
	mbRequiredMask   = 0xFFFF // bits 0..15: the loader must fail on what it lacks
)

// multibootHeader is a parsed multiboot v1 header.
type multibootHeader struct {
	offset uint32 // file offset of the magic
	flags  uint32
	// address fields, valid when flags&mbFlagAddresses != 0
	headerAddr, loadAddr, loadEndAddr, bssEndAddr, entryAddr uint32
}

func (h multibootHeader) hasAddresses() bool { return h.flags&mbFlagAddresses != 0 }

// findMultibootHeader scans the first MultibootSearchLimit bytes for a
// 4-byte aligned header with a valid checksum.
func findMultibootHeader(data []byte) (multibootHeader, error) {
	limit := min(len(data), MultibootSearchLimit)
	badSum := -1
	for off := 0; off+12 <= limit; off += 4 {
		if binary.LittleEndian.Uint32(data[off:]) != MultibootHeaderMagic {
			continue
		}
		flags := binary.LittleEndian.Uint32(data[off+4:])
		sum := binary.LittleEndian.Uint32(data[off+8:])
		if MultibootHeaderMagic+flags+sum != 0 {
			if badSum < 0 {
				badSum = off
			}
			continue
		}
		h := multibootHeader{offset: uint32(off), flags: flags}
		if unsup := flags & mbRequiredMask &^ mbSupportedFlags; unsup != 0 {
			return h, fmt.Errorf("guest: multiboot header at file offset %#x: flags %#x (bits %#x unsupported): %w", off, flags, unsup, ErrUnsupportedMultibootFlags)
		}
		if h.hasAddresses() {
			if off+32 > len(data) {
				return h, fmt.Errorf("guest: multiboot header at file offset %#x: address fields cut off by the end of the file: %w", off, ErrBadMultibootAddresses)
			}
			f := func(i int) uint32 { return binary.LittleEndian.Uint32(data[off+12+4*i:]) }
			h.headerAddr, h.loadAddr, h.loadEndAddr, h.bssEndAddr, h.entryAddr = f(0), f(1), f(2), f(3), f(4)
		}
		return h, nil
	}
	if badSum >= 0 {
		return multibootHeader{}, fmt.Errorf("guest: multiboot magic at file offset %#x: %w", badSum, ErrBadMultibootChecksum)
	}
	return multibootHeader{}, fmt.Errorf("guest: searched %d bytes for magic %#x: %w", limit, MultibootHeaderMagic, ErrNoMultibootHeader)
}

// loadKludge loads a kernel by its multiboot header's address fields:
// the file bytes from (header offset - (header_addr - load_addr)) go to
// load_addr, up to load_end_addr (0: the end of the file), zeros up to
// bss_end_addr (0: none), entry at entry_addr.
func loadKludge(data []byte, h multibootHeader, memSize uint32) (*Image, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("guest: multiboot header at file offset %#x: "+format+": %w", append([]any{h.offset}, append(a, ErrBadMultibootAddresses)...)...)
	}
	if h.headerAddr < h.loadAddr {
		return nil, bad("header_addr %#x below load_addr %#x", h.headerAddr, h.loadAddr)
	}
	delta := h.headerAddr - h.loadAddr
	if delta > h.offset {
		return nil, bad("load_addr %#x would start %#x bytes before the file", h.loadAddr, delta-h.offset)
	}
	start := h.offset - delta
	end := uint64(len(data))
	if h.loadEndAddr != 0 {
		if h.loadEndAddr < h.loadAddr {
			return nil, bad("load_end_addr %#x below load_addr %#x", h.loadEndAddr, h.loadAddr)
		}
		end = uint64(start) + uint64(h.loadEndAddr-h.loadAddr)
		if end > uint64(len(data)) {
			return nil, bad("load_end_addr %#x beyond the end of the %d-byte file", h.loadEndAddr, len(data))
		}
	}
	buf := append([]byte(nil), data[start:end]...)
	memEnd := uint64(h.loadAddr) + uint64(len(buf))
	if h.bssEndAddr != 0 {
		if uint64(h.bssEndAddr) < memEnd {
			return nil, bad("bss_end_addr %#x below the end of the loaded bytes %#x", h.bssEndAddr, memEnd)
		}
		memEnd = uint64(h.bssEndAddr)
	}
	if len(buf) == 0 {
		return nil, fmt.Errorf("guest: multiboot header at file offset %#x loads no bytes: %w", h.offset, ErrEmptyImage)
	}
	if memEnd > 1<<32 {
		return nil, fmt.Errorf("guest: multiboot load %#x..%#x wraps past 4 GiB: %w", h.loadAddr, memEnd, ErrSegmentOutsideRAM)
	}
	im := &Image{
		Entry:    h.entryAddr,
		Segments: []Segment{{Addr: h.loadAddr, Data: buf, MemSize: uint32(memEnd - uint64(h.loadAddr))}},
	}
	if err := im.validate(memSize); err != nil {
		return nil, err
	}
	return im, nil
}

// MultibootInfo builds the multiboot v1 info block a VMM writes into guest
// RAM of memSize bytes, with what QEMU's multiboot loader (7.2, on its
// SeaBIOS PC) gives a kernel, so that a kernel reading it sees the same
// under virtsim: the InfoStructSize-byte structure at InfoAddr with flags
// memory, boot device, cmdline, modules, memory map and boot loader name;
// mem_lower = MemLowerKiB; mem_upper = KiB of RAM above 1 MiB less
// FirmwareReservedKiB; boot_device 0x8000ffff (BIOS disk 0x80, no
// partition); no modules; cmdline at CmdlineAddr, NUL-terminated; the
// memory map at MmapAddr (MemoryMap); "qemu" at LoaderNameAddr. block
// starts at addr (= InfoAddr) and is InfoMaxBlock bytes: a cmdline longer
// than MaxCmdlineLen bytes is truncated (CheckCmdline reports that case as
// an error beforehand). The VMM passes addr to the guest in EBX and
// MultibootMagic in EAX. (QEMU's cmdline begins with the kernel's file
// name; virtsim's is the arguments alone.)
func MultibootInfo(memSize uint32, cmdline string) (addr uint32, block []byte) {
	if len(cmdline) > MaxCmdlineLen {
		cmdline = cmdline[:MaxCmdlineLen]
	}
	block = make([]byte, InfoMaxBlock)
	le := binary.LittleEndian
	le.PutUint32(block[0:], InfoFlagMemory|InfoFlagBootDevice|InfoFlagCmdline|InfoFlagModules|InfoFlagMemoryMap|InfoFlagLoaderName)
	le.PutUint32(block[4:], MemLowerKiB)
	le.PutUint32(block[8:], MemUpperKiB(memSize))
	le.PutUint32(block[12:], 0x8000FFFF)
	le.PutUint32(block[16:], CmdlineAddr)
	// mods_count 0; mods_addr points at the (empty) list, where the map is
	le.PutUint32(block[24:], MmapAddr)
	mm := MemoryMap(memSize)
	le.PutUint32(block[44:], uint32(len(mm)*24))
	le.PutUint32(block[48:], MmapAddr)
	le.PutUint32(block[64:], LoaderNameAddr)
	copy(block[InfoStructSize:], cmdline)
	for i, e := range mm {
		b := block[MmapAddr-InfoAddr+i*24:]
		le.PutUint32(b[0:], 20) // the entry's size, without this field
		le.PutUint64(b[4:], e.Base)
		le.PutUint64(b[12:], e.Len)
		le.PutUint32(b[20:], e.Type)
	}
	copy(block[LoaderNameAddr-InfoAddr:], "qemu")
	return InfoAddr, block
}

// MemRegion is one entry of the multiboot memory map (the BIOS's E820
// map): Type 1 is RAM the kernel may use, 2 reserved.
type MemRegion struct {
	Base, Len uint64
	Type      uint32
}

// MemoryMap is the memory map QEMU 7.2's SeaBIOS reports for memSize
// bytes of RAM (memSize >= 2 MiB, below the PCI hole), as its multiboot
// loader passes it on: conventional memory below the EBDA, the EBDA's
// KiB, the BIOS ROM's 64 KiB, RAM from 1 MiB up to the firmware's top
// FirmwareReservedKiB, those, and the 256 KiB flash below 4 GiB (measured
// with -m 16M: corpus mbinfo checks it against QEMU).
func MemoryMap(memSize uint32) []MemRegion {
	top := uint64(memSize)
	fw := uint64(FirmwareReservedKiB) * 1024
	return []MemRegion{
		{0, 0x9FC00, 1},
		{0x9FC00, 0x400, 2},
		{0xF0000, 0x10000, 2},
		{0x100000, top - fw - 0x100000, 1},
		{top - fw, fw, 2},
		{0xFFFC0000, 0x40000, 2},
	}
}

// MemUpperKiB is the mem_upper value MultibootInfo reports for memSize bytes
// of guest RAM: KiB above 1 MiB, less FirmwareReservedKiB (0 if RAM is
// smaller than that).
func MemUpperKiB(memSize uint32) uint32 {
	kib := memSize / 1024
	if kib < 1024+FirmwareReservedKiB {
		return 0
	}
	return kib - 1024 - FirmwareReservedKiB
}

// CheckCmdline reports a command line MultibootInfo would have to truncate
// or that the guest could not read as one string.
func CheckCmdline(cmdline string) error {
	if len(cmdline) > MaxCmdlineLen {
		return fmt.Errorf("guest: command line is %d bytes, at most %d fit", len(cmdline), MaxCmdlineLen)
	}
	for i := 0; i < len(cmdline); i++ {
		if cmdline[i] == 0 {
			return fmt.Errorf("guest: command line contains a NUL byte at offset %d", i)
		}
	}
	return nil
}
