package vmm

import (
	"fmt"

	"virtsim/ata"
	"virtsim/blkring"
	"virtsim/disk"
	"virtsim/guest"
)

// Disks are the machine's block devices, both on the run's one disk: the
// emulated ATA controller on the legacy primary channel (package ata) and
// the paravirtual block ring's backend (package blkring), which the PV
// build reaches by hypercall and native guests through its ports.
type Disks struct {
	ATA  *ata.Controller
	Ring *blkring.Backend
	// RingPorts is the ring's port interface for native guests.
	RingPorts *blkring.Device
}

// diskFor is the disk a run uses: the configured one, else the image's
// default disk in memory (fresh for every run), else none.
func diskFor(cfg Config, img *guest.Image) disk.Backend {
	if cfg.Disk != nil {
		return cfg.Disk
	}
	if img != nil && img.Disk != nil {
		return disk.NewMem(img.Disk)
	}
	return nil
}

// AttachDisks puts the block devices on bus; the ATA channel drives IRQ
// 14 of pic. The Unicorn machine and the KVM VMM both call it, so the
// guest sees the same devices under every strategy.
func AttachDisks(bus *PortBus, cfg Config, img *guest.Image, pic *PIC, mem blkring.Memory) (*Disks, error) {
	dk := diskFor(cfg, img)
	d := &Disks{ATA: ata.New(dk), Ring: &blkring.Backend{Disk: dk, Mem: mem}}
	d.ATA.SetIRQ = func(level bool) { pic.SetIRQ(ata.IRQ, level) }
	ring := &blkring.Device{B: d.Ring}
	d.RingPorts = ring
	for _, r := range []struct {
		lo, hi uint16
		dev    Device
	}{
		{ata.PortData, ata.PortCommand, d.ATA},
		{ata.PortControl, ata.PortControl, d.ATA},
		{blkring.PortConnect, blkring.PortConnect + 3, ring},
		{blkring.PortNotify, blkring.PortNotify, ring},
	} {
		if err := bus.Register(r.lo, r.hi, r.dev); err != nil {
			return nil, fmt.Errorf("vmm: %w", err)
		}
	}
	return d, nil
}

// machineMem is the Unicorn machine's guest-physical memory for the ring
// backend.
type machineMem struct{ m *Machine }

func (mm machineMem) ReadPhys(addr uint32, b []byte) error {
	if err := mm.m.E.MemRead(uint64(addr), b); err != nil {
		return fmt.Errorf("vmm: read %d bytes at physical %#x: %w", len(b), addr, err)
	}
	return nil
}

func (mm machineMem) WritePhys(addr uint32, b []byte) error {
	if err := mm.m.E.MemWrite(uint64(addr), b); err != nil {
		return fmt.Errorf("vmm: write %d bytes at physical %#x: %w", len(b), addr, err)
	}
	// Code the guest may have run from there is stale now (dma.go).
	return mm.m.DeviceWrote(addr, uint32(len(b)))
}

func (mm machineMem) RAMSize() uint32 { return mm.m.Cfg.MemSize }

// DiskState is what the UI shows of the disks: the ATA drive's status and
// work, and the ring's indices (the guest's request producer, the
// backend's consumer and response producer) with its notifications.
type DiskState struct {
	ATAStatus                                uint8
	ATACommands, SectorsRead, SectorsWritten uint64
	RingConnected                            bool
	Ring                                     uint32
	ReqProd, Cons, RspProd                   uint32
	Notifications, RingRequests, RingErrors  uint64
	RingSectors                              uint64
	// The request being served: the ATA transfer in progress, and the
	// ring's last request with its response (RingServed: any yet).
	ATA        ata.Transfer
	RingLast   blkring.Request
	RingStatus int
	RingServed bool
}

// Used reports whether the guest has touched a disk.
func (s DiskState) Used() bool { return s.ATACommands > 0 || s.RingConnected }

// State reports the disks' state now.
func (d *Disks) State() DiskState {
	s := DiskState{ATAStatus: d.ATA.Status(), ATACommands: d.ATA.Commands,
		SectorsRead: d.ATA.SectorsRead, SectorsWritten: d.ATA.SectorsWritten}
	s.Ring, s.RingConnected = d.Ring.Connected()
	s.ReqProd, s.Cons, s.RspProd = d.Ring.Indices()
	s.Notifications, s.RingRequests, s.RingErrors = d.Ring.Notifications, d.Ring.Requests, d.Ring.Errors+d.Ring.RingErrors
	s.RingSectors = d.Ring.Sectors
	s.ATA = d.ATA.Current()
	s.RingLast, s.RingStatus, s.RingServed = d.Ring.Last, d.Ring.LastStatus, d.Ring.Served
	return s
}

// DiskInspector is an instance whose disks the UI can show.
type DiskInspector interface {
	DiskState() DiskState
}

// DiskState reports the machine's disks.
func (m *Machine) DiskState() DiskState { return m.Disks.State() }
