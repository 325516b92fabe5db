package vmm

import (
	"fmt"

	"virtsim/ata"
	"virtsim/disk"
	"virtsim/guest"
)

// Disks are the machine's block devices: the emulated ATA controller on
// the legacy primary channel (package ata), with the run's disk as master.
type Disks struct {
	ATA *ata.Controller
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
func AttachDisks(bus *PortBus, cfg Config, img *guest.Image, pic *PIC) (*Disks, error) {
	d := &Disks{ATA: ata.New(diskFor(cfg, img))}
	d.ATA.SetIRQ = func(level bool) { pic.SetIRQ(ata.IRQ, level) }
	if err := bus.Register(ata.PortData, ata.PortCommand, d.ATA); err != nil {
		return nil, fmt.Errorf("vmm: %w", err)
	}
	if err := bus.Register(ata.PortControl, ata.PortControl, d.ATA); err != nil {
		return nil, fmt.Errorf("vmm: %w", err)
	}
	return d, nil
}
