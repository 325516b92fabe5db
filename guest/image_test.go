package guest

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

const testMem = 16 << 20

// phdr is one program header of a synthetic ELF file.
type phdr struct {
	typ                        elf.ProgType
	off, vaddr, paddr, fs, msz uint32
}

// elfSpec describes a tiny synthetic ELF32 file: headers at 0, program
// headers at 52, and payload bytes at payloadOff.
type elfSpec struct {
	class      byte
	data       byte
	typ        elf.Type
	machine    elf.Machine
	entry      uint32
	progs      []phdr
	payloadOff uint32
	payload    []byte
	size       int // total file size (0: just big enough)
}

// mbHeader returns a 12-byte multiboot header with the given flags and a
// checksum off by delta (0: valid).
func mbHeader(flags uint32, delta uint32) []byte {
	b := make([]byte, 12)
	binary.LittleEndian.PutUint32(b[0:], MultibootHeaderMagic)
	binary.LittleEndian.PutUint32(b[4:], flags)
	binary.LittleEndian.PutUint32(b[8:], -(MultibootHeaderMagic+flags)+delta)
	return b
}

// code is the payload of a valid kernel: multiboot header, then `hlt; jmp .`.
var code = append(mbHeader(3, 0), 0xF4, 0xEB, 0xFE)

// okSpec is a valid kernel: one segment at 1 MiB holding code (entry right
// after the header) plus 0x100 bytes of bss.
func okSpec() elfSpec {
	return elfSpec{
		class: byte(elf.ELFCLASS32), data: byte(elf.ELFDATA2LSB),
		typ: elf.ET_EXEC, machine: elf.EM_386,
		entry:      0x10000c,
		payloadOff: 0x100,
		payload:    append([]byte(nil), code...),
		progs: []phdr{{typ: elf.PT_LOAD, off: 0x100, vaddr: 0x100000, paddr: 0x100000,
			fs: uint32(len(code)), msz: uint32(len(code)) + 0x100}},
	}
}

func (s elfSpec) build() []byte {
	n := int(s.payloadOff) + len(s.payload)
	if s.size > n {
		n = s.size
	}
	b := make([]byte, n)
	copy(b, elf.ELFMAG)
	b[elf.EI_CLASS] = s.class
	b[elf.EI_DATA] = s.data
	b[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	le := binary.LittleEndian
	le.PutUint16(b[16:], uint16(s.typ))
	le.PutUint16(b[18:], uint16(s.machine))
	le.PutUint32(b[20:], uint32(elf.EV_CURRENT))
	le.PutUint32(b[24:], s.entry)
	le.PutUint32(b[28:], 52) // e_phoff
	le.PutUint16(b[40:], 52) // e_ehsize
	le.PutUint16(b[42:], 32) // e_phentsize
	le.PutUint16(b[44:], uint16(len(s.progs)))
	le.PutUint16(b[46:], 40) // e_shentsize
	for i, p := range s.progs {
		o := 52 + 32*i
		le.PutUint32(b[o:], uint32(p.typ))
		le.PutUint32(b[o+4:], p.off)
		le.PutUint32(b[o+8:], p.vaddr)
		le.PutUint32(b[o+12:], p.paddr)
		le.PutUint32(b[o+16:], p.fs)
		le.PutUint32(b[o+20:], p.msz)
		le.PutUint32(b[o+24:], uint32(elf.PF_R|elf.PF_X))
		le.PutUint32(b[o+28:], 0x1000)
	}
	copy(b[s.payloadOff:], s.payload)
	return b
}

func TestLoadELFSynthetic(t *testing.T) {
	im, err := LoadELF(okSpec().build(), testMem)
	if err != nil {
		t.Fatalf("LoadELF: %v", err)
	}
	if im.Entry != 0x10000c {
		t.Errorf("Entry = %#x, want 0x10000c", im.Entry)
	}
	if len(im.Segments) != 1 {
		t.Fatalf("%d segments, want 1", len(im.Segments))
	}
	s := im.Segments[0]
	if s.Addr != 0x100000 || !bytes.Equal(s.Data, code) || s.MemSize != uint32(len(code))+0x100 {
		t.Errorf("segment = %#x %x %#x", s.Addr, s.Data, s.MemSize)
	}
	if len(im.Symbols) != 0 {
		t.Errorf("symbols %v, want none", im.Symbols)
	}
}

// TestLoadELFVirtualEntry: an entry given as a virtual address is
// translated to the segment's physical address.
func TestLoadELFVirtualEntry(t *testing.T) {
	s := okSpec()
	s.progs[0].vaddr = 0xC0100000
	s.entry = 0xC010000c
	im, err := LoadELF(s.build(), testMem)
	if err != nil {
		t.Fatalf("LoadELF: %v", err)
	}
	if im.Entry != 0x10000c || im.Segments[0].Addr != 0x100000 {
		t.Errorf("entry %#x, segment %#x; want physical 0x10000c, 0x100000", im.Entry, im.Segments[0].Addr)
	}
}

func TestLoadErrors(t *testing.T) {
	mod := func(f func(*elfSpec)) []byte {
		s := okSpec()
		f(&s)
		return s.build()
	}
	hello := mustCatalogImage(t, "hello")
	patch := func(b []byte, off int, v ...byte) []byte {
		c := append([]byte(nil), b...)
		copy(c[off:], v)
		return c
	}
	helloHdr := bytes.Index(hello, mbHeader(3, 0))
	if helloHdr < 0 {
		t.Fatal("no multiboot header in hello.elf")
	}

	tests := []struct {
		name    string
		load    func() (*Image, error)
		want    error
		message string // substring of the error text
	}{
		{"not ELF", func() (*Image, error) { return LoadELF([]byte("just some text, not a kernel"), testMem) }, ErrNotELF, "ELF magic"},
		{"empty ELF", func() (*Image, error) { return LoadELF(nil, testMem) }, ErrNotELF, ""},
		{"ELF64", func() (*Image, error) {
			return LoadELF(mod(func(s *elfSpec) { s.class = byte(elf.ELFCLASS64) }), testMem)
		}, ErrNotELF32, "ELFCLASS64"},
		{"x86-64 machine", func() (*Image, error) { return LoadELF(mod(func(s *elfSpec) { s.machine = elf.EM_X86_64 }), testMem) }, ErrNotI386, "EM_X86_64"},
		{"ARM machine", func() (*Image, error) { return LoadELF(mod(func(s *elfSpec) { s.machine = elf.EM_ARM }), testMem) }, ErrNotI386, "EM_ARM"},
		{"big-endian", func() (*Image, error) {
			return LoadELF(mod(func(s *elfSpec) { s.data = byte(elf.ELFDATA2MSB) }), testMem)
		}, ErrNotI386, "ELFDATA2MSB"},
		{"shared object", func() (*Image, error) { return LoadELF(mod(func(s *elfSpec) { s.typ = elf.ET_DYN }), testMem) }, ErrNotExecutable, "ET_DYN"},
		{"truncated headers", func() (*Image, error) { return LoadELF(okSpec().build()[:40], testMem) }, ErrMalformedELF, ""},
		{"segment beyond file", func() (*Image, error) {
			return LoadELF(mod(func(s *elfSpec) { s.progs[0].fs, s.progs[0].msz = 0x10000, 0x10000 }), testMem)
		}, ErrMalformedELF, "beyond"},
		{"filesz > memsz", func() (*Image, error) { return LoadELF(mod(func(s *elfSpec) { s.progs[0].msz = 4 }), testMem) }, ErrMalformedELF, "file size"},
		{"no multiboot header", func() (*Image, error) {
			return LoadELF(mod(func(s *elfSpec) { s.payload = []byte{0xF4, 0xEB, 0xFE}; s.progs[0].fs = 3; s.entry = 0x100000 }), testMem)
		}, ErrNoMultibootHeader, "first 8 KiB"},
		{"multiboot header after 8 KiB", func() (*Image, error) {
			return LoadELF(mod(func(s *elfSpec) { s.payloadOff = 0x2000; s.progs[0].off = 0x2000 }), testMem)
		}, ErrNoMultibootHeader, ""},
		{"misaligned multiboot header", func() (*Image, error) {
			return LoadELF(mod(func(s *elfSpec) { s.payloadOff = 0x102; s.progs[0].off = 0x102 }), testMem)
		}, ErrNoMultibootHeader, ""},
		{"bad checksum", func() (*Image, error) {
			return LoadELF(mod(func(s *elfSpec) { copy(s.payload, mbHeader(3, 1)) }), testMem)
		}, ErrBadMultibootChecksum, "offset 0x100"},
		{"header outside loaded segment", func() (*Image, error) {
			return LoadELF(mod(func(s *elfSpec) {
				s.progs[0].off, s.progs[0].fs, s.progs[0].msz = 0x10c, 3, 3
			}), testMem)
		}, ErrMultibootHeaderNotLoaded, ""},
		{"unsupported flags", func() (*Image, error) {
			return LoadELF(mod(func(s *elfSpec) { copy(s.payload, mbHeader(1<<3, 0)) }), testMem)
		}, ErrUnsupportedMultibootFlags, "0x8"},
		{"no PT_LOAD", func() (*Image, error) {
			return LoadELF(mod(func(s *elfSpec) { s.progs[0].typ = elf.PT_NOTE }), testMem)
		}, ErrEmptyImage, "PT_LOAD"},
		{"file larger than RAM", func() (*Image, error) { return LoadELF(okSpec().build(), 0x100) }, ErrImageTooLarge, ""},
		{"segment beyond RAM", func() (*Image, error) {
			return LoadELF(mod(func(s *elfSpec) { s.progs[0].msz = testMem }), testMem)
		}, ErrSegmentOutsideRAM, "beyond guest RAM"},
		{"segment wraps 4 GiB", func() (*Image, error) {
			return LoadELF(mod(func(s *elfSpec) { s.progs[0].paddr = 0xFFFFFFF0; s.progs[0].vaddr = 0xFFFFFFF0 }), testMem)
		}, ErrSegmentOutsideRAM, ""},
		{"segment below 4 KiB", func() (*Image, error) {
			return LoadELF(mod(func(s *elfSpec) { s.progs[0].paddr, s.progs[0].vaddr, s.entry = 0x800, 0x800, 0x80c }), testMem)
		}, ErrSegmentTooLow, "below 0x1000"},
		{"segment over the info block", func() (*Image, error) {
			return LoadELF(mod(func(s *elfSpec) { s.progs[0].paddr, s.progs[0].vaddr, s.entry = 0x8ff0, 0x8ff0, 0x8ffc }), testMem)
		}, ErrSegmentOverlapsInfo, "0x9000"},
		{"overlapping segments", func() (*Image, error) {
			return LoadELF(mod(func(s *elfSpec) {
				s.progs = append(s.progs, phdr{typ: elf.PT_LOAD, off: 0x100, vaddr: 0x100080, paddr: 0x100080, fs: 4, msz: 0x10})
			}), testMem)
		}, ErrSegmentsOverlap, ""},
		{"entry outside segments", func() (*Image, error) { return LoadELF(mod(func(s *elfSpec) { s.entry = 0x200000 }), testMem) }, ErrEntryOutsideSegments, "0x200000"},
		{"entry in bss", func() (*Image, error) { return LoadELF(mod(func(s *elfSpec) { s.entry = 0x100080 }), testMem) }, ErrEntryOutsideSegments, ""},

		// mutations of a real committed image
		{"hello.elf, checksum corrupted", func() (*Image, error) {
			return LoadELF(patch(hello, helloHdr+8, 0), testMem)
		}, ErrBadMultibootChecksum, ""},
		{"hello.elf, machine changed", func() (*Image, error) {
			return LoadELF(patch(hello, 18, byte(elf.EM_X86_64), 0), testMem)
		}, ErrNotI386, ""},
		{"hello.elf, in 1 MiB of RAM", func() (*Image, error) { return LoadELF(hello, 1<<20) }, ErrSegmentOutsideRAM, ""},
		{"hello.elf, truncated", func() (*Image, error) { return LoadELF(hello[:helloHdr+4], testMem) }, ErrMalformedELF, ""},

		// flat binaries
		{"flat empty", func() (*Image, error) { return LoadFlat(nil, DefaultLoadAddr, testMem) }, ErrEmptyImage, ""},
		{"flat larger than RAM", func() (*Image, error) { return LoadFlat(make([]byte, 0x2000), 0x1000, 0x1000) }, ErrImageTooLarge, ""},
		{"flat at 0", func() (*Image, error) { return LoadFlat([]byte{0xF4}, 0, testMem) }, ErrSegmentTooLow, ""},
		{"flat over the info block", func() (*Image, error) { return LoadFlat([]byte{0xF4}, InfoAddr+0x10, testMem) }, ErrSegmentOverlapsInfo, ""},
		{"flat beyond RAM", func() (*Image, error) { return LoadFlat([]byte{0xF4, 0xF4}, testMem-1, testMem) }, ErrSegmentOutsideRAM, ""},

		// sniffing
		{"Load: flat binary", func() (*Image, error) { return Load([]byte{0xF4, 0xEB, 0xFE}, testMem) }, ErrNotELF, "--load"},
		{"Load: multiboot without addresses", func() (*Image, error) { return Load(code, testMem) }, ErrNotELF, "--load"},
		{"Load: ELF64", func() (*Image, error) { return Load(mod(func(s *elfSpec) { s.class = byte(elf.ELFCLASS64) }), testMem) }, ErrNotELF32, ""},
		{"Load: kludge header_addr < load_addr", func() (*Image, error) { return Load(kludge(0x100000, 0x100010, 0, 0, 0x100020), testMem) }, ErrBadMultibootAddresses, "header_addr"},
		{"Load: kludge load before the file", func() (*Image, error) { return Load(kludge(0x100100, 0x100000, 0, 0, 0x100120), testMem) }, ErrBadMultibootAddresses, "before the file"},
		{"Load: kludge load_end beyond file", func() (*Image, error) {
			return Load(kludge(0x100000, 0x100000, 0x101000, 0, 0x100020), testMem)
		}, ErrBadMultibootAddresses, "load_end_addr"},
		{"Load: kludge bss_end too low", func() (*Image, error) {
			return Load(kludge(0x100000, 0x100000, 0, 0x100004, 0x100020), testMem)
		}, ErrBadMultibootAddresses, "bss_end_addr"},
		{"Load: kludge entry outside", func() (*Image, error) { return Load(kludge(0x100000, 0x100000, 0, 0, 0x300000), testMem) }, ErrEntryOutsideSegments, ""},
		{"Load: kludge below 4 KiB", func() (*Image, error) { return Load(kludge(0x100, 0x100, 0, 0, 0x120), testMem) }, ErrSegmentTooLow, ""},
	}
	sentinels := []error{ErrNotELF, ErrNotELF32, ErrNotI386, ErrNotExecutable, ErrMalformedELF,
		ErrNoMultibootHeader, ErrBadMultibootChecksum, ErrMultibootHeaderNotLoaded, ErrUnsupportedMultibootFlags,
		ErrBadMultibootAddresses, ErrImageTooLarge, ErrSegmentOutsideRAM, ErrSegmentTooLow, ErrSegmentOverlapsInfo,
		ErrSegmentsOverlap, ErrEntryOutsideSegments, ErrEmptyImage}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			im, err := tc.load()
			if err == nil {
				t.Fatalf("loaded (entry %#x), want %v", im.Entry, tc.want)
			}
			if im != nil {
				t.Errorf("non-nil image with error %v", err)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %q, want errors.Is %v", err, tc.want)
			}
			for _, s := range sentinels {
				if s != tc.want && errors.Is(err, s) {
					t.Errorf("error %q also matches %v", err, s)
				}
			}
			if !strings.HasPrefix(err.Error(), "guest: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not mention %q", err, tc.message)
			}
		})
	}
}

// kludge builds a non-ELF multiboot kernel with address fields (flags bit
// 16): header at file offset 0 (= headerAddr), 0x40 bytes of hlt.
func kludge(headerAddr, loadAddr, loadEnd, bssEnd, entry uint32) []byte {
	const flags = 1<<16 | 3
	b := append(mbHeader(flags, 0), make([]byte, 20+0x40-12)...)
	le := binary.LittleEndian
	le.PutUint32(b[12:], headerAddr)
	le.PutUint32(b[16:], loadAddr)
	le.PutUint32(b[20:], loadEnd)
	le.PutUint32(b[24:], bssEnd)
	le.PutUint32(b[28:], entry)
	for i := 32; i < len(b); i++ {
		b[i] = 0xF4
	}
	return b
}

func TestLoadKludge(t *testing.T) {
	// prefix of 0x10 junk bytes before the header: load_addr is 0x10 below header_addr
	k := append(bytes.Repeat([]byte{0x90}, 0x10), kludge(0x100010, 0x100000, 0x100040, 0x100100, 0x100030)...)
	im, err := Load(k, testMem)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if im.Entry != 0x100030 || len(im.Segments) != 1 {
		t.Fatalf("entry %#x, %d segments", im.Entry, len(im.Segments))
	}
	s := im.Segments[0]
	if s.Addr != 0x100000 || len(s.Data) != 0x40 || s.MemSize != 0x100 || !bytes.Equal(s.Data, k[:0x40]) {
		t.Errorf("segment %#x len %#x memsize %#x", s.Addr, len(s.Data), s.MemSize)
	}
	// an ELF file with flags bit 16 is loaded by the header, not by its program headers
	e := okSpec()
	e.payload = kludge(0x100000, 0x100000, 0, 0x100200, 0x100020)
	e.progs[0].fs = uint32(len(e.payload))
	e.progs[0].msz = e.progs[0].fs
	e.progs[0].paddr, e.progs[0].vaddr = 0x400000, 0x400000
	im, err = LoadELF(e.build(), testMem)
	if err != nil {
		t.Fatalf("LoadELF kludge: %v", err)
	}
	if im.Entry != 0x100020 || im.Segments[0].Addr != 0x100000 || im.Segments[0].MemSize != 0x200 {
		t.Errorf("ELF kludge: entry %#x, segment %#x+%#x", im.Entry, im.Segments[0].Addr, im.Segments[0].MemSize)
	}
}

func TestLoadFlat(t *testing.T) {
	data := []byte{0xF4, 0xEB, 0xFE}
	im, err := LoadFlat(data, DefaultLoadAddr, testMem)
	if err != nil {
		t.Fatalf("LoadFlat: %v", err)
	}
	if im.Entry != DefaultLoadAddr || len(im.Segments) != 1 || im.Segments[0].Addr != DefaultLoadAddr ||
		im.Segments[0].MemSize != 3 || !bytes.Equal(im.Segments[0].Data, data) {
		t.Errorf("image %+v", im)
	}
	data[0] = 0 // the image owns a copy
	if im.Segments[0].Data[0] != 0xF4 {
		t.Error("LoadFlat aliases its input")
	}
}

func TestSymbolAt(t *testing.T) {
	im := &Image{Symbols: []Symbol{
		{"start", 0x1000, 0},
		{"f", 0x1010, 0x10},
		{"label_in_f", 0x1014, 0},
		{"g", 0x1030, 0x8},
		{"buf", 0x2000, 0x80},
		{"stack_top", 0x2000, 0}, // a label at the same address as a sized object
	}}
	tests := []struct {
		addr uint32
		name string
		off  uint32
		ok   bool
	}{
		{0x0fff, "", 0, false},
		{0x1000, "start", 0, true},
		{0x100f, "start", 0xf, true},
		{0x1010, "f", 0, true},
		{0x1016, "f", 6, true}, // sized symbol wins over the label inside it
		{0x1020, "", 0, false}, // past f, no label after it
		{0x1037, "g", 7, true},
		{0x1038, "", 0, false},
		{0x2010, "buf", 0x10, true},
		{0x2080, "", 0, false},
	}
	for _, tc := range tests {
		name, off, ok := im.SymbolAt(tc.addr)
		if name != tc.name || off != tc.off || ok != tc.ok {
			t.Errorf("SymbolAt(%#x) = %q+%#x %v, want %q+%#x %v", tc.addr, name, off, ok, tc.name, tc.off, tc.ok)
		}
	}
}

func TestCatalogImagesLoad(t *testing.T) {
	for _, w := range Catalog() {
		im, err := w.Load(testMem)
		if err != nil {
			t.Errorf("%s: %v", w.Name, err)
			continue
		}
		if im.Name != w.Name {
			t.Errorf("%s: image name %q", w.Name, im.Name)
		}
		if name, off, ok := im.SymbolAt(im.Entry); name != "_start" || off != 0 || !ok {
			t.Errorf("%s: SymbolAt(entry %#x) = %q+%#x %v, want _start", w.Name, im.Entry, name, off, ok)
		}
		if len(im.Segments) != 2 || im.Segments[0].Addr != DefaultLoadAddr {
			t.Errorf("%s: segments %d, first at %#x; want text at 1 MiB and data", w.Name, len(im.Segments), im.Segments[0].Addr)
		} else if im.Segments[1].Addr%0x1000 != 0 || uint64(im.Segments[1].Addr) < im.Segments[0].End() {
			t.Errorf("%s: data segment at %#x does not start on a fresh page after the text", w.Name, im.Segments[1].Addr)
		}
		for i := 1; i < len(im.Symbols); i++ {
			if im.Symbols[i-1].Addr > im.Symbols[i].Addr {
				t.Errorf("%s: symbols not sorted at %d", w.Name, i)
				break
			}
		}
		for _, sym := range []string{"main", "rt_exit", "rt_putc", "mb_header"} {
			found := false
			for _, s := range im.Symbols {
				if s.Name == sym {
					found = true
					if name, _, ok := im.SymbolAt(s.Addr); !ok || (name != sym && s.Size > 0) {
						t.Errorf("%s: SymbolAt(%s=%#x) = %q", w.Name, sym, s.Addr, name)
					}
				}
			}
			if !found {
				t.Errorf("%s: no symbol %s", w.Name, sym)
			}
		}
		lo, hi := im.Bounds()
		if lo != DefaultLoadAddr || hi <= uint64(lo) || hi > 2<<20 {
			t.Errorf("%s: bounds %#x..%#x", w.Name, lo, hi)
		}
	}
}

func mustCatalogImage(t *testing.T, name string) []byte {
	t.Helper()
	w, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return w.Image
}

// FuzzLoad: the loaders never panic, and whatever they accept satisfies the
// placement rules.
func FuzzLoad(f *testing.F) {
	f.Add(okSpec().build())
	f.Add(kludge(0x100000, 0x100000, 0, 0x100100, 0x100020))
	if w, err := Lookup("hello"); err == nil {
		f.Add(w.Image)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, load := range []func() (*Image, error){
			func() (*Image, error) { return Load(data, testMem) },
			func() (*Image, error) { return LoadFlat(data, DefaultLoadAddr, testMem) },
		} {
			im, err := load()
			if err != nil {
				continue
			}
			for _, s := range im.Segments {
				if s.Addr < MinLoadAddr || s.End() > testMem || uint32(len(s.Data)) > s.MemSize {
					t.Fatalf("accepted a bad segment %#x+%#x", s.Addr, s.MemSize)
				}
			}
		}
	})
}
