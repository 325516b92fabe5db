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
	if got := le.Uint32(b[0:]); got != InfoFlagMemory|InfoFlagCmdline {
		t.Errorf("flags %#x, want memory|cmdline", got)
	}
	// QEMU 7.2 -m 16M reports mem_lower=639, mem_upper=15232 (measured)
	if lo, up := le.Uint32(b[4:]), le.Uint32(b[8:]); lo != 639 || up != 15232 {
		t.Errorf("mem_lower/upper %d/%d, want 639/15232 as QEMU", lo, up)
	}
	if got := le.Uint32(b[16:]); got != CmdlineAddr || got != addr+InfoStructSize {
		t.Errorf("cmdline field %#x, want %#x", got, CmdlineAddr)
	}
	if got := string(b[InfoStructSize:]); got != "n=7 x=0x10\x00" {
		t.Errorf("cmdline bytes %q", got)
	}
	if len(b) > InfoMaxBlock {
		t.Errorf("block of %d bytes exceeds InfoMaxBlock", len(b))
	}
	for i := 12; i < 16; i++ {
		if b[i] != 0 {
			t.Errorf("byte %d = %#x, want 0 (boot_device unused)", i, b[i])
		}
	}
}

func TestMultibootInfoTruncates(t *testing.T) {
	long := strings.Repeat("a", 5000)
	_, b := MultibootInfo(16<<20, long)
	if len(b) != InfoMaxBlock || b[len(b)-1] != 0 || len(b)-InfoStructSize-1 != MaxCmdlineLen {
		t.Errorf("block %d bytes, want %d ending in NUL", len(b), InfoMaxBlock)
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
