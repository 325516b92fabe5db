package blkring

import (
	"encoding/binary"
	"errors"
	"fmt"

	"virtsim/disk"
)

// The ring page layout (guest/src/include/blkif.inc; TestBlkifIncMatchesGo).
const (
	OffReqProd = 0x00
	OffRspProd = 0x04
	OffSectors = 0x08
	OffError   = 0x0C
	OffSlot0   = 0x40
	SlotSize   = 32
	Slots      = 32
	PageSize   = 4096

	SlotOp        = 0x00
	SlotNrSectors = 0x01
	SlotID        = 0x04
	SlotSector    = 0x08
	SlotBuf       = 0x10
	SlotStatus    = 0x14

	OpRead       = 0
	OpWrite      = 1
	OpFlush      = 3
	MaxSectors   = 8
	RspOkay      = 0
	RspError     = -1
	RspNotSupp   = -2
	PortConnect  = 0xE4
	PortNotify   = 0xE8
	EventChannel = 1 // the event-channel port of the disk's connection
)

// Ring errors (the value written at OffError).
const (
	ErrNone       = 0
	ErrIndexRange = 1 // the request producer is more than Slots ahead
)

// Memory is guest-physical memory as the backend reaches it.
type Memory interface {
	ReadPhys(addr uint32, b []byte) error
	WritePhys(addr uint32, b []byte) error
	RAMSize() uint32
}

// Range is [Lo, Hi) of guest-physical memory.
type Range struct{ Lo, Hi uint32 }

// Errors of Connect and Notify.
var (
	ErrNotConnected = errors.New("blkring: no ring connected")
	ErrBadRing      = errors.New("blkring: bad ring page")
	ErrBrokenRing   = errors.New("blkring: ring indices out of range")
)

// Stats counts what the backend did.
type Stats struct {
	Notifications, Requests, Sectors, Errors, RingErrors uint64
}

// Backend serves one ring.
type Backend struct {
	Disk disk.Backend // nil: no disk (connect fails)
	Mem  Memory
	// OnEvent, if set, raises the completion event (the VMM marks it
	// pending for the guest).
	OnEvent func()
	// DenyDMA, if set, refuses buffers the device may not write even
	// though they are guest RAM: under pv's direct paging the page tables
	// the VMM validated (a disk read into one would rewrite mappings
	// behind the VMM's back, as a grant of a page-table page would in Xen).
	DenyDMA func(addr, n uint32) bool
	Stats

	// Last is the request served last and LastStatus its response (for
	// the UI: the request being served); Served is false before the first.
	Last       Request
	LastStatus int
	Served     bool

	forbidden []Range
	ring      uint32
	connected bool
	cons      uint32 // the backend's private request consumer
	rspProd   uint32
}

// Forbid marks guest-physical [lo, hi) as the VMM's: no request may
// point there.
func (b *Backend) Forbid(lo, hi uint32) { b.forbidden = append(b.forbidden, Range{lo, hi}) }

// Connected reports whether a ring is connected, and where.
func (b *Backend) Connected() (ring uint32, ok bool) { return b.ring, b.connected }

// Indices returns the ring's indices as the backend last saw them: the
// guest's request producer, the backend's consumer and response producer.
func (b *Backend) Indices() (reqProd, cons, rspProd uint32) {
	if !b.connected {
		return 0, 0, 0
	}
	reqProd, _ = b.read32(OffReqProd)
	return reqProd, b.cons, b.rspProd
}

// Connect accepts the guest's grant of the ring page at ring: page
// aligned, inside RAM, not on a VMM page. It publishes the disk size and
// starts both indices at the guest's current request producer.
func (b *Backend) Connect(ring uint32) error {
	if b.Disk == nil {
		return fmt.Errorf("%w: no disk attached", ErrNotConnected)
	}
	if ring%PageSize != 0 || !b.guestRange(ring, PageSize) {
		return fmt.Errorf("%w: %#x is not a page of guest RAM", ErrBadRing, ring)
	}
	b.ring, b.connected = ring, true
	prod, err := b.read32(OffReqProd)
	if err != nil {
		b.connected = false
		return err
	}
	b.cons, b.rspProd = prod, prod
	sectors := b.Disk.Sectors()
	if sectors > 0xFFFFFFFF {
		sectors = 0xFFFFFFFF
	}
	for _, w := range []struct{ off, v uint32 }{{OffRspProd, prod}, {OffSectors, uint32(sectors)}, {OffError, ErrNone}} {
		if err := b.write32(w.off, w.v); err != nil {
			b.connected = false
			return err
		}
	}
	return nil
}

// guestRange: [addr, addr+n) is guest RAM and clear of the VMM's pages.
func (b *Backend) guestRange(addr, n uint32) bool {
	end := uint64(addr) + uint64(n)
	if n == 0 || end > uint64(b.Mem.RAMSize()) {
		return false
	}
	for _, r := range b.forbidden {
		if uint64(addr) < uint64(r.Hi) && uint64(r.Lo) < end {
			return false
		}
	}
	return true
}

func (b *Backend) read32(off uint32) (uint32, error) {
	var w [4]byte
	if err := b.Mem.ReadPhys(b.ring+off, w[:]); err != nil {
		return 0, fmt.Errorf("blkring: read ring: %w", err)
	}
	return binary.LittleEndian.Uint32(w[:]), nil
}

func (b *Backend) write32(off, v uint32) error {
	var w [4]byte
	binary.LittleEndian.PutUint32(w[:], v)
	if err := b.Mem.WritePhys(b.ring+off, w[:]); err != nil {
		return fmt.Errorf("blkring: write ring: %w", err)
	}
	return nil
}

// Notify serves every request the guest has produced, then raises the
// completion event. It returns how many requests it served; an error
// means the ring itself is unusable (not connected, or its indices out of
// range — then OffError says so); bad requests are answered, not errors.
func (b *Backend) Notify() (int, error) {
	b.Notifications++
	if !b.connected {
		return 0, ErrNotConnected
	}
	prod, err := b.read32(OffReqProd)
	if err != nil {
		return 0, err
	}
	if prod-b.cons > Slots {
		b.RingErrors++
		if err := b.write32(OffError, ErrIndexRange); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("%w: request producer %d, consumer %d, %d slots", ErrBrokenRing, prod, b.cons, Slots)
	}
	served := 0
	for ; b.cons != prod; b.cons++ {
		slot := b.ring + OffSlot0 + (b.cons%Slots)*SlotSize
		var req [SlotSize]byte
		if err := b.Mem.ReadPhys(slot, req[:]); err != nil {
			return served, fmt.Errorf("blkring: read slot: %w", err)
		}
		status := b.serve(req[:])
		b.Last, b.LastStatus, b.Served = Decode(req[:]), status, true
		if status != RspOkay {
			b.Errors++
		}
		var st [4]byte
		binary.LittleEndian.PutUint32(st[:], uint32(int32(status)))
		if err := b.Mem.WritePhys(slot+SlotStatus, st[:]); err != nil {
			return served, fmt.Errorf("blkring: write slot: %w", err)
		}
		b.Requests++
		served++
	}
	b.rspProd = b.cons
	if err := b.write32(OffRspProd, b.rspProd); err != nil {
		return served, err
	}
	if b.OnEvent != nil {
		b.OnEvent()
	}
	return served, nil
}

// Request is one decoded slot.
type Request struct {
	Op, NrSectors uint8
	ID            uint32
	Sector        uint64
	Buf           uint32
}

// Decode reads a request slot.
func Decode(slot []byte) Request {
	le := binary.LittleEndian
	return Request{Op: slot[SlotOp], NrSectors: slot[SlotNrSectors], ID: le.Uint32(slot[SlotID:]),
		Sector: le.Uint64(slot[SlotSector:]), Buf: le.Uint32(slot[SlotBuf:])}
}

// Check validates r against a disk of sectors sectors; "" means valid.
func (b *Backend) Check(r Request) string {
	switch r.Op {
	case OpFlush:
		return ""
	case OpRead, OpWrite:
	default:
		return fmt.Sprintf("operation %d", r.Op)
	}
	if r.NrSectors == 0 || r.NrSectors > MaxSectors {
		return fmt.Sprintf("%d sectors (1..%d)", r.NrSectors, MaxSectors)
	}
	if n := b.Disk.Sectors(); r.Sector >= n || r.Sector+uint64(r.NrSectors) > n {
		return fmt.Sprintf("sectors %d+%d beyond the disk's %d", r.Sector, r.NrSectors, n)
	}
	n := uint32(r.NrSectors) * disk.SectorSize
	if !b.guestRange(r.Buf, n) {
		return fmt.Sprintf("buffer %#x outside guest RAM or on a VMM page", r.Buf)
	}
	if r.Op == OpRead && b.DenyDMA != nil && b.DenyDMA(r.Buf, n) {
		return fmt.Sprintf("buffer %#x is memory the device may not write", r.Buf)
	}
	return ""
}

func (b *Backend) serve(slot []byte) int {
	r := Decode(slot)
	if why := b.Check(r); why != "" {
		if r.Op != OpRead && r.Op != OpWrite && r.Op != OpFlush {
			return RspNotSupp
		}
		return RspError
	}
	if r.Op == OpFlush {
		if b.Disk.Flush() != nil {
			return RspError
		}
		return RspOkay
	}
	buf := make([]byte, int(r.NrSectors)*disk.SectorSize)
	off := int64(r.Sector) * disk.SectorSize
	if r.Op == OpRead {
		if _, err := b.Disk.ReadAt(buf, off); err != nil {
			return RspError
		}
		if err := b.Mem.WritePhys(r.Buf, buf); err != nil {
			return RspError
		}
	} else {
		if err := b.Mem.ReadPhys(r.Buf, buf); err != nil {
			return RspError
		}
		if _, err := b.Disk.WriteAt(buf, off); err != nil {
			return RspError
		}
	}
	b.Sectors += uint64(r.NrSectors)
	return RspOkay
}

// Device is the ring's port interface for guests without hypercalls (the
// native build, and KVM, where the notification is a port write):
// an outl of the ring page's address to PortConnect grants it, an inl of
// PortConnect reads 0 when connected (1 after a refused connect), any
// write to PortNotify is the notification.
type Device struct {
	B       *Backend
	refused bool
}

func (d *Device) Name() string { return "blkring" }

func (d *Device) In(port uint16, size int) uint32 {
	if port == PortConnect && (d.refused || !d.B.connected) {
		return 1
	}
	return 0
}

func (d *Device) Out(port uint16, size int, v uint32) {
	switch port {
	case PortConnect:
		d.refused = size != 4 || d.B.Connect(v) != nil
	case PortNotify:
		d.B.Notify() // a broken ring says so at OffError
	}
}
