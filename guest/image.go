package guest

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

// Segment is a run of guest-physical memory the loader fills: Data at Addr,
// then zeros up to MemSize (bss). MemSize >= len(Data).
type Segment struct {
	Addr    uint32
	Data    []byte
	MemSize uint32
	// VAddr is the address the segment was linked to run at (ELF
	// p_vaddr) when that differs from Addr: a higher-half kernel loaded
	// at 1 MiB runs at 0x80100000 once its paging is on. 0: at Addr.
	VAddr uint32
	// NoExec: the segment is data (an ELF segment without PF_X), so the
	// machine need not look for instructions in it.
	NoExec bool
}

// RunAddr is the address the segment's code runs at: VAddr if set, else Addr.
func (s Segment) RunAddr() uint32 {
	if s.VAddr != 0 {
		return s.VAddr
	}
	return s.Addr
}

// End returns the first address past the segment (as uint64: no overflow).
func (s Segment) End() uint64 { return uint64(s.Addr) + uint64(s.MemSize) }

// Symbol is a named address from the image's ELF symbol table.
type Symbol struct {
	Name string
	Addr uint32
	Size uint32 // 0 when the symbol has no size (a plain label)
}

// Image is a loaded, validated guest: what a VMM copies into guest RAM and
// where it starts executing.
type Image struct {
	Name     string // the workload name, or "" for an image from a file
	Entry    uint32
	Segments []Segment // sorted by Addr, non-overlapping
	Symbols  []Symbol  // sorted by Addr (then Name); empty for flat binaries
	// Disk is the workload's default disk (Workload.Disk), attached when
	// the run names no other; nil for workloads without a disk.
	Disk []byte
}

// Bounds returns the lowest and one-past-the-highest address the segments
// occupy.
func (im *Image) Bounds() (lo uint32, hi uint64) {
	if len(im.Segments) == 0 {
		return 0, 0
	}
	lo = im.Segments[0].Addr
	for _, s := range im.Segments {
		if s.End() > hi {
			hi = s.End()
		}
	}
	return lo, hi
}

// SymbolAt names addr: the symbol that contains it (a sized symbol whose
// range covers addr), else the nearest plain (size 0) label at or below it
// that is not inside a sized symbol ending before addr. off is addr minus
// the symbol's address. ok is false when nothing fits.
func (im *Image) SymbolAt(addr uint32) (name string, off uint32, ok bool) {
	syms := im.Symbols
	// the first symbol above addr; candidates are before it
	i := sort.Search(len(syms), func(i int) bool { return syms[i].Addr > addr })
	label := -1
	for j := i - 1; j >= 0; j-- {
		s := syms[j]
		if s.Size > 0 {
			if uint64(addr) < uint64(s.Addr)+uint64(s.Size) {
				return s.Name, addr - s.Addr, true
			}
			// addr is past the end of this sized symbol: a label found
			// earlier in the scan names addr only if it lies past that end
			// too (a label inside the symbol belongs to it).
			if label >= 0 && uint64(syms[label].Addr) < uint64(s.Addr)+uint64(s.Size) {
				label = -1
			}
			break
		}
		if label < 0 {
			label = j
		}
	}
	if label >= 0 {
		return syms[label].Name, addr - syms[label].Addr, true
	}
	return "", 0, false
}

// LoadELF loads a multiboot v1 ELF32 i386 kernel: every PT_LOAD segment at
// its physical address, entry at e_entry. It requires a valid multiboot
// header (in the first 8 KiB, inside a loaded segment) and checks that the
// image fits guest RAM of memSize bytes without touching the first 4 KiB or
// the multiboot info region. If the header's flags bit 16 is set, the
// header's address fields are used instead of the program headers, as QEMU
// and GRUB do.
func LoadELF(data []byte, memSize uint32) (*Image, error) {
	if uint64(len(data)) > uint64(memSize) {
		return nil, fmt.Errorf("guest: %d-byte file, %d bytes of guest RAM: %w", len(data), memSize, ErrImageTooLarge)
	}
	if err := checkELFIdent(data); err != nil {
		return nil, err
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("guest: %v: %w", err, ErrMalformedELF)
	}
	defer f.Close()
	if f.Machine != elf.EM_386 {
		return nil, fmt.Errorf("guest: ELF machine is %v: %w", f.Machine, ErrNotI386)
	}
	if f.Type != elf.ET_EXEC {
		return nil, fmt.Errorf("guest: ELF type is %v: %w", f.Type, ErrNotExecutable)
	}

	for i, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		if p.Filesz > p.Memsz {
			return nil, fmt.Errorf("guest: program header %d: file size %#x > memory size %#x: %w", i, p.Filesz, p.Memsz, ErrMalformedELF)
		}
		if p.Off+p.Filesz > uint64(len(data)) {
			return nil, fmt.Errorf("guest: program header %d: bytes %#x..%#x beyond the %d-byte file: %w", i, p.Off, p.Off+p.Filesz, len(data), ErrMalformedELF)
		}
	}

	hdr, err := findMultibootHeader(data)
	if err != nil {
		return nil, err
	}
	if hdr.hasAddresses() {
		im, err := loadKludge(data, hdr, memSize)
		if err != nil {
			return nil, err
		}
		im.Symbols = elfSymbols(f)
		return im, nil
	}

	var segs []Segment
	headerLoaded := false
	entry := uint32(f.Entry)
	entryMapped := false
	for i, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Memsz == 0 {
			continue
		}
		if p.Paddr+p.Memsz > 1<<32 {
			return nil, fmt.Errorf("guest: program header %d: %#x+%#x wraps past 4 GiB: %w", i, p.Paddr, p.Memsz, ErrSegmentOutsideRAM)
		}
		buf := make([]byte, p.Filesz)
		if _, err := io.ReadFull(p.Open(), buf); err != nil {
			return nil, fmt.Errorf("guest: program header %d: read: %v: %w", i, err, ErrMalformedELF)
		}
		if uint64(hdr.offset) >= p.Off && uint64(hdr.offset)+12 <= p.Off+p.Filesz {
			headerLoaded = true
		}
		// Multiboot loads at physical addresses with paging off; if the
		// entry is given as a virtual address of a segment, translate it.
		if !entryMapped && p.Vaddr != p.Paddr && uint64(f.Entry) >= p.Vaddr && uint64(f.Entry) < p.Vaddr+p.Memsz {
			entry = uint32(uint64(f.Entry) - p.Vaddr + p.Paddr)
			entryMapped = true
		}
		seg := Segment{Addr: uint32(p.Paddr), Data: buf, MemSize: uint32(p.Memsz), NoExec: p.Flags&elf.PF_X == 0}
		if p.Vaddr != p.Paddr && p.Vaddr+p.Memsz <= 1<<32 {
			seg.VAddr = uint32(p.Vaddr)
		}
		segs = append(segs, seg)
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("guest: no loadable (PT_LOAD) segment: %w", ErrEmptyImage)
	}
	if !headerLoaded {
		return nil, fmt.Errorf("guest: multiboot header at file offset %#x: %w", hdr.offset, ErrMultibootHeaderNotLoaded)
	}
	im := &Image{Entry: entry, Segments: segs, Symbols: elfSymbols(f)}
	if err := im.validate(memSize); err != nil {
		return nil, err
	}
	return im, nil
}

// LoadFlat loads a flat binary (raw bytes, no headers) at loadAddr; the
// entry point is loadAddr. The same placement checks as LoadELF apply; no
// multiboot header is required (the VMM still passes the multiboot entry
// state).
func LoadFlat(data []byte, loadAddr, memSize uint32) (*Image, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("guest: flat binary has no bytes: %w", ErrEmptyImage)
	}
	if uint64(len(data)) > uint64(memSize) {
		return nil, fmt.Errorf("guest: %d-byte file, %d bytes of guest RAM: %w", len(data), memSize, ErrImageTooLarge)
	}
	buf := append([]byte(nil), data...)
	im := &Image{
		Entry:    loadAddr,
		Segments: []Segment{{Addr: loadAddr, Data: buf, MemSize: uint32(len(buf))}},
	}
	if err := im.validate(memSize); err != nil {
		return nil, err
	}
	return im, nil
}

// Load sniffs the format: an ELF file goes to LoadELF; a non-ELF file with a
// multiboot header that carries load addresses (flags bit 16, the "a.out
// kludge") is loaded by those addresses, as QEMU does; anything else is an
// error that suggests loading it as a flat binary with an explicit address.
func Load(data []byte, memSize uint32) (*Image, error) {
	if bytes.HasPrefix(data, []byte(elf.ELFMAG)) {
		return LoadELF(data, memSize)
	}
	if uint64(len(data)) > uint64(memSize) {
		return nil, fmt.Errorf("guest: %d-byte file, %d bytes of guest RAM: %w", len(data), memSize, ErrImageTooLarge)
	}
	if hdr, err := findMultibootHeader(data); err == nil && hdr.hasAddresses() {
		return loadKludge(data, hdr, memSize)
	}
	return nil, fmt.Errorf("guest: neither an ELF file nor a multiboot kernel with load addresses; "+
		"for a flat binary give its load address (--load %#x): %w", DefaultLoadAddr, ErrNotELF)
}

// checkELFIdent classifies the ELF identification bytes before debug/elf
// parses the rest, so that the common mistakes get precise errors.
func checkELFIdent(data []byte) error {
	if !bytes.HasPrefix(data, []byte(elf.ELFMAG)) {
		return fmt.Errorf("guest: no ELF magic (\\x7fELF) at the start of the file: %w", ErrNotELF)
	}
	if len(data) < elf.EI_NIDENT {
		return fmt.Errorf("guest: %d bytes are too few for an ELF identification: %w", len(data), ErrMalformedELF)
	}
	if c := elf.Class(data[elf.EI_CLASS]); c != elf.ELFCLASS32 {
		return fmt.Errorf("guest: ELF class is %v: %w", c, ErrNotELF32)
	}
	if d := elf.Data(data[elf.EI_DATA]); d != elf.ELFDATA2LSB {
		return fmt.Errorf("guest: ELF data encoding is %v: %w", d, ErrNotI386)
	}
	if len(data) >= 20 {
		if m := elf.Machine(binary.LittleEndian.Uint16(data[18:])); m != elf.EM_386 {
			return fmt.Errorf("guest: ELF machine is %v: %w", m, ErrNotI386)
		}
	}
	return nil
}

// elfSymbols returns the named code and data symbols, sorted by address.
func elfSymbols(f *elf.File) []Symbol {
	syms, err := f.Symbols()
	if err != nil { // no symbol table (stripped): not an error
		return nil
	}
	var out []Symbol
	for _, s := range syms {
		if s.Name == "" || s.Section == elf.SHN_UNDEF || s.Section == elf.SHN_ABS || s.Section >= elf.SHN_LORESERVE {
			continue
		}
		switch elf.ST_TYPE(s.Info) {
		case elf.STT_NOTYPE, elf.STT_OBJECT, elf.STT_FUNC:
		default:
			continue
		}
		out = append(out, Symbol{Name: s.Name, Addr: uint32(s.Value), Size: uint32(s.Size)})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Addr != out[j].Addr {
			return out[i].Addr < out[j].Addr
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// validate checks the placement rules every image must satisfy in guest RAM
// of memSize bytes, and sorts the segments by address.
func (im *Image) validate(memSize uint32) error {
	sort.SliceStable(im.Segments, func(i, j int) bool { return im.Segments[i].Addr < im.Segments[j].Addr })
	for _, s := range im.Segments {
		if uint32(len(s.Data)) > s.MemSize {
			return fmt.Errorf("guest: segment at %#x: %d data bytes > memory size %#x: %w", s.Addr, len(s.Data), s.MemSize, ErrMalformedELF)
		}
		switch {
		case s.Addr < MinLoadAddr:
			return fmt.Errorf("guest: segment %#x..%#x starts below %#x: %w", s.Addr, s.End(), MinLoadAddr, ErrSegmentTooLow)
		case s.End() > uint64(memSize):
			return fmt.Errorf("guest: segment %#x..%#x ends beyond guest RAM (%#x bytes): %w", s.Addr, s.End(), memSize, ErrSegmentOutsideRAM)
		case uint64(s.Addr) < InfoAddr+InfoSize && s.End() > InfoAddr:
			return fmt.Errorf("guest: segment %#x..%#x overlaps the multiboot info region %#x..%#x: %w", s.Addr, s.End(), InfoAddr, InfoAddr+InfoSize, ErrSegmentOverlapsInfo)
		}
	}
	for i := 1; i < len(im.Segments); i++ {
		a, b := im.Segments[i-1], im.Segments[i]
		if a.End() > uint64(b.Addr) {
			return fmt.Errorf("guest: segments %#x..%#x and %#x..%#x: %w", a.Addr, a.End(), b.Addr, b.End(), ErrSegmentsOverlap)
		}
	}
	for _, s := range im.Segments {
		if im.Entry >= s.Addr && uint64(im.Entry) < uint64(s.Addr)+uint64(len(s.Data)) {
			return nil
		}
	}
	return fmt.Errorf("guest: entry point %#x: %w", im.Entry, ErrEntryOutsideSegments)
}
