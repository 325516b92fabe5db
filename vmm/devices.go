package vmm

import (
	"fmt"
	"sort"
)

// Device is something on the port-I/O bus. size is 1, 2 or 4 bytes.
type Device interface {
	Name() string
	In(port uint16, size int) uint32
	Out(port uint16, size int, v uint32)
}

type portRange struct {
	lo, hi uint16 // inclusive
	dev    Device
}

// PortBus routes port I/O to devices. Ranges may not overlap.
type PortBus struct {
	ranges []portRange // sorted by lo
}

// Register attaches dev to ports lo..hi inclusive.
func (b *PortBus) Register(lo, hi uint16, dev Device) error {
	if hi < lo {
		return fmt.Errorf("port bus: %s: empty range %#x-%#x", dev.Name(), lo, hi)
	}
	for _, r := range b.ranges {
		if lo <= r.hi && r.lo <= hi {
			return fmt.Errorf("port bus: %s at %#x-%#x overlaps %s at %#x-%#x", dev.Name(), lo, hi, r.dev.Name(), r.lo, r.hi)
		}
	}
	b.ranges = append(b.ranges, portRange{lo, hi, dev})
	sort.Slice(b.ranges, func(i, j int) bool { return b.ranges[i].lo < b.ranges[j].lo })
	return nil
}

// Lookup finds the device at port, or nil.
func (b *PortBus) Lookup(port uint16) Device {
	for _, r := range b.ranges {
		if port >= r.lo && port <= r.hi {
			return r.dev
		}
	}
	return nil
}

// In reads from port; an unclaimed port reads as all ones, as on a PC.
func (b *PortBus) In(port uint16, size int) uint32 {
	if d := b.Lookup(port); d != nil {
		return d.In(port, size)
	}
	return sizeMask(size)
}

// Out writes to port; writes to unclaimed ports are dropped, as on a PC.
func (b *PortBus) Out(port uint16, size int, v uint32) {
	if d := b.Lookup(port); d != nil {
		d.Out(port, size, v&sizeMask(size))
	}
}

func sizeMask(size int) uint32 {
	switch size {
	case 1:
		return 0xFF
	case 2:
		return 0xFFFF
	}
	return 0xFFFFFFFF
}

// DebugExit is QEMU's isa-debug-exit: a write of v stops the VM with
// status v. QEMU itself exits with (v<<1)|1.
type DebugExit struct {
	Written bool
	Status  uint32
}

func (d *DebugExit) Name() string                    { return "debug-exit" }
func (d *DebugExit) In(port uint16, size int) uint32 { return 0 }
func (d *DebugExit) Out(port uint16, size int, v uint32) {
	d.Written, d.Status = true, v
}

// PostSink is the POST-code port 0x80: writes are ignored. It is the
// cheapest I/O there is, which makes it the microbenchmark port.
type PostSink struct{ Writes uint64 }

func (p *PostSink) Name() string                        { return "post" }
func (p *PostSink) In(port uint16, size int) uint32     { return sizeMask(size) }
func (p *PostSink) Out(port uint16, size int, v uint32) { p.Writes++ }

// PortSysCtlB is the PC's system control port B.
const PortSysCtlB = 0x61

// SysCtlB is port 0x61 as QEMU's PC speaker model has it: bit 0 is the
// gate of PIT channel 2 and bit 1 the speaker data enable (both as last
// written), bit 4 a DRAM-refresh flip-flop that toggles on every read
// (firmware delay loops poll it), bit 5 channel 2's OUT level. The gate is
// stored, not wired to the PIT (which models no gates).
type SysCtlB struct {
	PIT     *PIT
	ctl     uint8
	refresh bool
}

func (s *SysCtlB) Name() string { return "sysctl-b" }

func (s *SysCtlB) In(port uint16, size int) uint32 {
	s.refresh = !s.refresh
	v := uint32(s.ctl & 3)
	if s.refresh {
		v |= 1 << 4
	}
	if s.PIT != nil && s.PIT.Output(2) {
		v |= 1 << 5
	}
	return v
}

func (s *SysCtlB) Out(port uint16, size int, v uint32) { s.ctl = uint8(v) & 3 }
