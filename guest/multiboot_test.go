package guest

import (
	"encoding/binary"
	"strings"
	"testing"
)

func TestMultibootInfo(t *testing.T) {
	addr, b := MultibootInfo(16<<20, "n=7 x=0x10")
	if addr != InfoAddr {
		t.Errorf("addr %#x, want InfoAddr %#x", addr, InfoAddr)
	}
	le := binary.LittleEndian
	// QEMU 7.2's loader (corpus mbinfo measures it): flags 0x24f
	if got := le.Uint32(b[0:]); got != 0x24F {
		t.Errorf("flags %#x, want 0x24f (memory, boot device, cmdline, modules, memory map, loader name) as QEMU", got)
	}
	// QEMU 7.2 -m 16M reports mem_lower=639, mem_upper=15232 (measured)
	if lo, up := le.Uint32(b[4:]), le.Uint32(b[8:]); lo != 639 || up != 15232 {
		t.Errorf("mem_lower/upper %d/%d, want 639/15232 as QEMU", lo, up)
	}
	if got := le.Uint32(b[12:]); got != 0x8000FFFF {
		t.Errorf("boot_device %#x, want 0x8000ffff as QEMU", got)
	}
	if got := le.Uint32(b[16:]); got != CmdlineAddr || got != addr+InfoStructSize {
		t.Errorf("cmdline field %#x, want %#x", got, CmdlineAddr)
	}
	if got := string(b[InfoStructSize : InfoStructSize+11]); got != "n=7 x=0x10\x00" {
		t.Errorf("cmdline bytes %q", got)
	}
	if n := le.Uint32(b[20:]); n != 0 {
		t.Errorf("mods_count %d, want 0", n)
	}
	if len(b) != InfoMaxBlock {
		t.Errorf("block of %d bytes, want InfoMaxBlock", len(b))
	}
	// the memory map, entry by entry, as QEMU 7.2 -m 16M reports it
	want := [][3]uint64{{0, 0x9FC00, 1}, {0x9FC00, 0x400, 2}, {0xF0000, 0x10000, 2},
		{0x100000, 0xEE0000, 1}, {0xFE0000, 0x20000, 2}, {0xFFFC0000, 0x40000, 2}}
	if l, a := le.Uint32(b[44:]), le.Uint32(b[48:]); l != uint32(len(want)*24) || a != MmapAddr {
		t.Fatalf("mmap_length %d at %#x, want %d at %#x", l, a, len(want)*24, MmapAddr)
	}
	for i, w := range want {
		e := b[MmapAddr-InfoAddr+i*24:]
		got := [3]uint64{le.Uint64(e[4:]), le.Uint64(e[12:]), uint64(le.Uint32(e[20:]))}
		if le.Uint32(e) != 20 || got != w {
			t.Errorf("mmap entry %d: size %d %#x, want 20 %#x", i, le.Uint32(e), got, w)
		}
	}
	if a := le.Uint32(b[64:]); a != LoaderNameAddr || string(b[a-InfoAddr:a-InfoAddr+5]) != "qemu\x00" {
		t.Errorf("boot_loader_name at %#x is not \"qemu\"", a)
	}
}

func TestMultibootInfoTruncates(t *testing.T) {
	long := strings.Repeat("a", 5000)
	_, b := MultibootInfo(16<<20, long)
	end := InfoStructSize + MaxCmdlineLen
	if len(b) != InfoMaxBlock || b[end] != 0 || b[end-1] != 'a' || InfoAddr+uint32(end)+1 != MmapAddr {
		t.Errorf("block %d bytes, want %d; the command line cut to %d bytes ending in NUL before the map", len(b), InfoMaxBlock, MaxCmdlineLen)
	}
	if binary.LittleEndian.Uint32(b[MmapAddr-InfoAddr:]) != 20 {
		t.Error("a long command line overwrote the memory map")
	}
	if BootScratchAddr < InfoAddr+uint32(len(b)) || BootScratchAddr >= InfoAddr+InfoSize {
		t.Errorf("BootScratchAddr %#x collides with the block or leaves the reserved page", BootScratchAddr)
	}
	if err := CheckCmdline(long); err == nil {
		t.Error("CheckCmdline accepted a command line that does not fit")
	}
	if err := CheckCmdline("n=1\x00"); err == nil {
		t.Error("CheckCmdline accepted a NUL byte")
	}
	if err := CheckCmdline(strings.Repeat("b", MaxCmdlineLen)); err != nil {
		t.Errorf("CheckCmdline: %v", err)
	}
}

func TestMemUpperKiB(t *testing.T) {
	// values measured with QEMU 7.2 (-m 2M, 8M, 16M, 32M, 64M, 128M)
	for _, tc := range []struct{ mem, want uint32 }{
		{2 << 20, 896}, {8 << 20, 7040}, {16 << 20, 15232}, {32 << 20, 31616}, {64 << 20, 64384}, {128 << 20, 129920},
		{1 << 20, 0}, {0, 0},
	} {
		if got := MemUpperKiB(tc.mem); got != tc.want {
			t.Errorf("MemUpperKiB(%d MiB) = %d, want %d", tc.mem>>20, got, tc.want)
		}
	}
}
