package ata

import (
	"encoding/binary"
	"fmt"

	"virtsim/disk"
)

// The legacy primary channel.
const (
	PortData    = 0x1F0 // data (16-bit; 32-bit accesses move two words)
	PortError   = 0x1F1 // read: error; write: features
	PortCount   = 0x1F2 // sector count
	PortLBALow  = 0x1F3 // LBA 0-7 / sector number
	PortLBAMid  = 0x1F4 // LBA 8-15 / cylinder low
	PortLBAHigh = 0x1F5 // LBA 16-23 / cylinder high
	PortSelect  = 0x1F6 // drive/head: 0xE0 | LBA 24-27 for the master in LBA mode
	PortCommand = 0x1F7 // read: status (clears the IRQ); write: command
	PortControl = 0x3F6 // read: alternate status; write: device control
	IRQ         = 14
)

// Status register bits.
const (
	StBSY  = 0x80
	StDRDY = 0x40
	StDF   = 0x20
	StDSC  = 0x10 // seek complete
	StDRQ  = 0x08
	StERR  = 0x01
)

// Error register bits and device control bits.
const (
	ErrABRT = 0x04
	CtlNIEN = 0x02
	CtlSRST = 0x04
	selLBA  = 0x40
	selDev  = 0x10
)

// Commands.
const (
	CmdReadSectors      = 0x20
	CmdReadSectorsNR    = 0x21
	CmdWriteSectors     = 0x30
	CmdWriteSectorsNR   = 0x31
	CmdFlushCache       = 0xE7
	CmdFlushCacheExt    = 0xEA
	CmdIdentify         = 0xEC
	wordsPerSector      = disk.SectorSize / 2
	idleStatus          = StDRDY | StDSC
	errorStatus         = StDRDY | StERR
	maxCHSSectorsPerTrk = 63
)

// Counters: what the drive did, for tests and experiments.
type Counters struct {
	Commands, SectorsRead, SectorsWritten, Flushes, Aborts uint64
}

// Controller is the primary ATA channel with its master drive (no slave).
type Controller struct {
	Disk disk.Backend // nil: no drive attached (status reads 0)
	// SetIRQ, if set, drives the channel's interrupt line (IRQ 14).
	SetIRQ func(level bool)
	// OnFlushError, if set, hears a failed flush or write (the guest gets
	// ERR/ABRT).
	OnError func(err error)
	Counters

	feature, count, lbaLow, lbaMid, lbaHigh, sel, status, errReg, control uint8
	// The PIO transfer in progress: buf holds one sector (or the IDENTIFY
	// block); pos is the next byte; remaining sectors after this one.
	buf       [disk.SectorSize]byte
	pos       int
	xfer      bool // DRQ data phase active
	writing   bool
	lba       uint64
	remaining int
	lastCmd   uint8
	irq       bool
	cyls      int
	heads     int
	secs      int
}

// New returns a controller with d as master (d may be nil: no drive).
func New(d disk.Backend) *Controller {
	c := &Controller{Disk: d}
	c.geometry()
	c.reset()
	return c
}

func (c *Controller) Name() string { return "ata0" }

// Transfer is the PIO transfer in progress, for the UI: the command, the
// sector whose words move now, the sectors after it, and the bytes of this
// one moved so far. Active is false between commands.
type Transfer struct {
	Active    bool
	Command   uint8
	LBA       uint64
	Remaining int
	Pos       int
}

// Current reports the transfer in progress.
func (c *Controller) Current() Transfer {
	return Transfer{Active: c.xfer, Command: c.lastCmd, LBA: c.lba, Remaining: c.remaining, Pos: c.pos}
}

// geometry guesses CHS as QEMU does for a disk without a partition table:
// 16 heads, 63 sectors per track, at least 2 and at most 16383 cylinders.
func (c *Controller) geometry() {
	if c.Disk == nil {
		return
	}
	c.heads, c.secs = 16, maxCHSSectorsPerTrk
	cyl := c.Disk.Sectors() / (16 * 63)
	switch {
	case cyl > 16383:
		cyl = 16383
	case cyl < 2:
		cyl = 2
	}
	c.cyls = int(cyl)
}

// reset puts the drive in its power-on state: the ATA signature in the
// task file, diagnostics passed, ready.
func (c *Controller) reset() {
	c.count, c.lbaLow, c.lbaMid, c.lbaHigh, c.sel = 1, 1, 0, 0, 0xA0
	c.errReg = 0x01
	c.status = idleStatus
	c.xfer, c.remaining, c.pos = false, 0, 0
	c.setIRQ(false)
}

// present: the selected drive exists (only the master can).
func (c *Controller) present() bool { return c.Disk != nil && c.sel&selDev == 0 }

func (c *Controller) setIRQ(level bool) {
	if level && c.control&CtlNIEN != 0 {
		level = false
	}
	if level == c.irq {
		return
	}
	c.irq = level
	if c.SetIRQ != nil {
		c.SetIRQ(level)
	}
}

// IRQPending reports the interrupt line.
func (c *Controller) IRQPending() bool { return c.irq }

// Status is the status register (without the side effect of reading it).
func (c *Controller) Status() uint8 {
	if !c.present() {
		return 0
	}
	return c.status
}

func (c *Controller) In(port uint16, size int) uint32 {
	switch port {
	case PortData:
		if size == 4 {
			lo := c.readWord()
			return lo | c.readWord()<<16
		}
		return c.readWord()
	case PortError:
		return uint32(c.present8(c.errReg))
	case PortCount:
		return uint32(c.present8(c.count))
	case PortLBALow:
		return uint32(c.present8(c.lbaLow))
	case PortLBAMid:
		return uint32(c.present8(c.lbaMid))
	case PortLBAHigh:
		return uint32(c.present8(c.lbaHigh))
	case PortSelect:
		return uint32(c.sel)
	case PortCommand:
		c.setIRQ(false)
		return uint32(c.Status())
	case PortControl:
		return uint32(c.Status())
	}
	return 0xFF
}

func (c *Controller) present8(v uint8) uint8 {
	if c.Disk == nil {
		return 0
	}
	return v
}

func (c *Controller) Out(port uint16, size int, v uint32) {
	b := uint8(v)
	switch port {
	case PortData:
		c.writeWord(uint16(v))
		if size == 4 {
			c.writeWord(uint16(v >> 16))
		}
	case PortError:
		c.feature = b
	case PortCount:
		c.count = b
	case PortLBALow:
		c.lbaLow = b
	case PortLBAMid:
		c.lbaMid = b
	case PortLBAHigh:
		c.lbaHigh = b
	case PortSelect:
		c.sel = b | 0xA0
	case PortCommand:
		c.command(b)
	case PortControl:
		old := c.control
		c.control = b
		if old&CtlSRST != 0 && b&CtlSRST == 0 {
			c.reset()
		} else if b&CtlSRST != 0 {
			c.status = StBSY | StDSC
		}
		if b&CtlNIEN != 0 {
			c.setIRQ(false)
		}
	}
}

// address is the LBA the task file names: LBA28 or CHS.
func (c *Controller) address() uint64 {
	if c.sel&selLBA != 0 {
		return uint64(c.sel&0x0F)<<24 | uint64(c.lbaHigh)<<16 | uint64(c.lbaMid)<<8 | uint64(c.lbaLow)
	}
	cyl := uint64(c.lbaHigh)<<8 | uint64(c.lbaMid)
	head := uint64(c.sel & 0x0F)
	sec := uint64(c.lbaLow)
	if sec == 0 {
		return ^uint64(0) // sector numbers start at 1: out of range
	}
	return (cyl*uint64(c.heads)+head)*uint64(c.secs) + sec - 1
}

func (c *Controller) command(cmd uint8) {
	if !c.present() {
		return // no drive answers
	}
	c.Commands++
	c.lastCmd = cmd
	c.xfer = false
	c.setIRQ(false)
	switch cmd {
	case CmdIdentify:
		c.identify()
		c.startXfer(false)
	case CmdReadSectors, CmdReadSectorsNR, CmdWriteSectors, CmdWriteSectorsNR:
		n := int(c.count)
		if n == 0 {
			n = 256
		}
		c.lba = c.address()
		if c.lba >= c.Disk.Sectors() || c.lba+uint64(n) > c.Disk.Sectors() {
			c.abort()
			return
		}
		c.remaining = n - 1
		if cmd == CmdReadSectors || cmd == CmdReadSectorsNR {
			if !c.loadSector() {
				return
			}
			c.startXfer(false)
		} else {
			c.startXfer(true) // the guest fills buf; no interrupt before the first sector
		}
	case CmdFlushCache, CmdFlushCacheExt:
		c.Flushes++
		if err := c.Disk.Flush(); err != nil {
			c.fail(fmt.Errorf("ata: flush: %w", err))
			return
		}
		c.done()
	default:
		c.abort()
	}
}

// startXfer opens a data phase (DRQ) on buf.
func (c *Controller) startXfer(write bool) {
	c.xfer, c.writing, c.pos = true, write, 0
	c.status = idleStatus | StDRQ
	c.errReg = 0
	if !write {
		c.setIRQ(true)
	}
}

func (c *Controller) done() {
	c.xfer = false
	c.status = idleStatus
	c.errReg = 0
	c.setIRQ(true)
}

func (c *Controller) abort() {
	c.Aborts++
	c.xfer = false
	c.status = errorStatus
	c.errReg = ErrABRT
	c.setIRQ(true)
}

func (c *Controller) fail(err error) {
	if c.OnError != nil {
		c.OnError(err)
	}
	c.abort()
}

// loadSector reads sector c.lba into buf.
func (c *Controller) loadSector() bool {
	if _, err := c.Disk.ReadAt(c.buf[:], int64(c.lba)*disk.SectorSize); err != nil {
		c.fail(fmt.Errorf("ata: read sector %d: %w", c.lba, err))
		return false
	}
	c.SectorsRead++
	return true
}

func (c *Controller) readWord() uint32 {
	if !c.present() || !c.xfer || c.writing {
		return 0 // PIO data reads outside DRQ are indeterminate; QEMU returns 0
	}
	w := binary.LittleEndian.Uint16(c.buf[c.pos:])
	c.pos += 2
	if c.pos == disk.SectorSize {
		c.sectorDone()
	}
	return uint32(w)
}

func (c *Controller) writeWord(w uint16) {
	if !c.present() || !c.xfer || !c.writing {
		return
	}
	binary.LittleEndian.PutUint16(c.buf[c.pos:], w)
	c.pos += 2
	if c.pos == disk.SectorSize {
		c.sectorDone()
	}
}

// sectorDone ends the data phase of one sector: store it (a write), then
// open the next sector's phase or finish the command.
func (c *Controller) sectorDone() {
	c.xfer = false
	if c.writing {
		if _, err := c.Disk.WriteAt(c.buf[:], int64(c.lba)*disk.SectorSize); err != nil {
			c.fail(fmt.Errorf("ata: write sector %d: %w", c.lba, err))
			return
		}
		c.SectorsWritten++
	}
	if c.remaining == 0 {
		c.done()
		return
	}
	c.remaining--
	c.lba++
	if c.writing {
		c.startXfer(true)
		c.setIRQ(true)
		return
	}
	if c.loadSector() {
		c.startXfer(false)
	}
}
