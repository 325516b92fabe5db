package vmm_test

import (
	"encoding/binary"
	"testing"
	"time"

	"virtsim/guest"
	"virtsim/vmm"
)

// deviceLoop is a flat image: n accesses in a loop, then exit 0. The
// access is a load of the local APIC's version register (mmio) or an
// `out` to the POST port (port I/O).
func deviceLoop(b *testing.B, mmio bool, n uint32) *guest.Image {
	access := []byte{0xE6, 0x80, 0x90} // out %al,$0x80; nop
	if mmio {
		access = []byte{0x8B, 0x46, 0x30} // mov 0x30(%esi),%eax
	}
	code := []byte{0xBE, 0x00, 0x00, 0xE0, 0xFE, 0xB9, 0, 0, 0, 0} // mov $LAPIC,%esi; mov $n,%ecx
	binary.LittleEndian.PutUint32(code[6:], n)
	code = append(code, access...)
	code = append(code, 0x49, 0x75, byte(-(len(access) + 3))) // dec %ecx; jnz access
	code = append(code, 0x30, 0xC0, 0xE6, 0xF4)               // xor %al,%al; out %al,$0xf4
	img, err := guest.LoadFlat(code, guest.DefaultLoadAddr, vmm.DefaultMemSize)
	if err != nil {
		b.Fatal(err)
	}
	return img
}

// BenchmarkMMIOExit reports the cost of one access to a memory-mapped
// device register under native — the machine traps the access at the
// unmapped page, stops the engine, finds and emulates the instruction and
// restarts — beside one port access, which it emulates inside a code hook
// without stopping the engine. From wall times at two n, so boot and
// translation cancel. Goal: an MMIO access within a small multiple of a
// port access (a few µs: one engine stop and restart), never the
// ~300 µs that uc_emu_start's timeout thread cost per restart.
func BenchmarkMMIOExit(b *testing.B) {
	s, _ := vmm.LookupStrategy("native")
	const n1, n2 = 5000, 25000
	var mmio, port time.Duration
	for i := 0; i < b.N; i++ {
		mmio += nativeRun(b, s, deviceLoop(b, true, n2), "") - nativeRun(b, s, deviceLoop(b, true, n1), "")
		port += nativeRun(b, s, deviceLoop(b, false, n2), "") - nativeRun(b, s, deviceLoop(b, false, n1), "")
	}
	exits := float64(n2-n1) * float64(b.N)
	b.ReportMetric(float64(mmio.Nanoseconds())/exits, "mmio-ns/access")
	b.ReportMetric(float64(port.Nanoseconds())/exits, "port-ns/access")
	b.ReportMetric(float64(mmio.Nanoseconds())/float64(port.Nanoseconds()), "mmio/port")
}
