package ata

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"virtsim/disk"
)

func pattern(sectors int) []byte {
	b := make([]byte, sectors*disk.SectorSize)
	for i := range b {
		b[i] = byte(i*7 + i/disk.SectorSize)
	}
	return b
}

// issue writes the task file for an LBA28 command on the master.
func issue(c *Controller, cmd uint8, lba uint32, count uint8) {
	c.Out(PortSelect, 1, 0xE0|lba>>24&0x0F)
	c.Out(PortCount, 1, uint32(count))
	c.Out(PortLBALow, 1, lba&0xFF)
	c.Out(PortLBAMid, 1, lba>>8&0xFF)
	c.Out(PortLBAHigh, 1, lba>>16&0xFF)
	c.Out(PortCommand, 1, uint32(cmd))
}

func readSector(c *Controller) []byte {
	b := make([]byte, disk.SectorSize)
	for i := 0; i < wordsPerSector; i++ {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(c.In(PortData, 2)))
	}
	return b
}

func TestPowerOn(t *testing.T) {
	c := New(disk.NewMem(pattern(4)))
	for _, r := range []struct {
		port uint16
		want uint32
	}{
		{PortCommand, idleStatus}, {PortControl, idleStatus}, {PortError, 1},
		{PortCount, 1}, {PortLBALow, 1}, {PortLBAMid, 0}, {PortLBAHigh, 0},
	} {
		if got := c.In(r.port, 1); got != r.want {
			t.Errorf("in %#x = %#x, want %#x", r.port, got, r.want)
		}
	}
	if got := New(nil).In(PortCommand, 1); got != 0 {
		t.Errorf("status with no drive = %#x, want 0", got)
	}
	c.Out(PortSelect, 1, 0xF0) // the slave: absent
	if got := c.In(PortCommand, 1); got != 0 {
		t.Errorf("status of the absent slave = %#x, want 0", got)
	}
}

func TestIdentify(t *testing.T) {
	c := New(disk.NewMem(pattern(100)))
	issue(c, CmdIdentify, 0, 0)
	if st := c.In(PortCommand, 1); st != idleStatus|StDRQ {
		t.Fatalf("status after IDENTIFY = %#x, want DRQ", st)
	}
	b := readSector(c)
	word := func(i int) uint16 { return binary.LittleEndian.Uint16(b[2*i:]) }
	str := func(from, to int) string {
		var s []byte
		for i := from; i < to; i++ {
			s = append(s, b[2*i+1], b[2*i])
		}
		return strings.TrimRight(string(s), " ")
	}
	if got := uint32(word(60)) | uint32(word(61))<<16; got != 100 {
		t.Errorf("LBA28 capacity = %d, want 100", got)
	}
	if got := str(27, 47); got != Model {
		t.Errorf("model = %q, want %q", got, Model)
	}
	if got := str(10, 20); got != Serial {
		t.Errorf("serial = %q, want %q", got, Serial)
	}
	if word(0) != 0x0040 || word(83)&(1<<12) == 0 {
		t.Errorf("word 0 = %#x, word 83 = %#x: want a fixed disk that supports FLUSH CACHE", word(0), word(83))
	}
	if st := c.In(PortCommand, 1); st != idleStatus {
		t.Errorf("status after the block = %#x, want %#x", st, idleStatus)
	}
}

func TestReadWriteSectors(t *testing.T) {
	img := pattern(16)
	m := disk.NewMem(img)
	c := New(m)
	issue(c, CmdReadSectors, 3, 2)
	for s := 3; s < 5; s++ {
		if st := c.In(PortCommand, 1); st&StDRQ == 0 {
			t.Fatalf("sector %d: status %#x without DRQ", s, st)
		}
		if got := readSector(c); !bytes.Equal(got, img[s*512:(s+1)*512]) {
			t.Fatalf("sector %d differs", s)
		}
	}
	if st := c.In(PortCommand, 1); st != idleStatus {
		t.Fatalf("status after the read = %#x", st)
	}
	if got := c.In(PortData, 2); got != 0 {
		t.Errorf("data read outside DRQ = %#x, want 0", got)
	}
	// Write two sectors with 32-bit accesses.
	issue(c, CmdWriteSectors, 10, 2)
	want := bytes.Repeat([]byte{0xA5, 0x5A, 0x11, 0x22}, 256)
	for i := 0; i < len(want); i += 4 {
		if c.In(PortControl, 1)&StDRQ == 0 {
			t.Fatalf("byte %d: no DRQ", i)
		}
		c.Out(PortData, 4, binary.LittleEndian.Uint32(want[i:]))
	}
	if st := c.In(PortCommand, 1); st != idleStatus {
		t.Fatalf("status after the write = %#x", st)
	}
	if got := m.Bytes()[10*512 : 12*512]; !bytes.Equal(got, want) {
		t.Fatalf("written sectors differ")
	}
	issue(c, CmdFlushCache, 0, 0)
	if st := c.In(PortCommand, 1); st != idleStatus || m.Flushes != 1 {
		t.Fatalf("after FLUSH CACHE: status %#x, backend flushes %d", st, m.Flushes)
	}
	if c.SectorsRead != 2 || c.SectorsWritten != 2 || c.Flushes != 1 {
		t.Errorf("counters %+v", c.Counters)
	}
}

func TestCountZeroIs256(t *testing.T) {
	c := New(disk.NewMem(pattern(300)))
	issue(c, CmdReadSectors, 0, 0)
	for s := 0; s < 256; s++ {
		readSector(c)
	}
	if c.SectorsRead != 256 || c.In(PortCommand, 1) != idleStatus {
		t.Fatalf("read %d sectors, status %#x", c.SectorsRead, c.In(PortCommand, 1))
	}
}

func TestCHSAddressing(t *testing.T) {
	img := pattern(2 * 16 * 63)
	c := New(disk.NewMem(img))
	// cylinder 1, head 2, sector 5 -> LBA (1*16+2)*63+4
	c.Out(PortSelect, 1, 0xA2)
	c.Out(PortCount, 1, 1)
	c.Out(PortLBALow, 1, 5)
	c.Out(PortLBAMid, 1, 1)
	c.Out(PortLBAHigh, 1, 0)
	c.Out(PortCommand, 1, CmdReadSectors)
	lba := (1*16+2)*63 + 4
	if got := readSector(c); !bytes.Equal(got, img[lba*512:(lba+1)*512]) {
		t.Fatal("CHS read differs")
	}
}

func TestAborts(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  uint8
		lba  uint32
		n    uint8
	}{
		{"unknown command", 0x99, 0, 1},
		{"read past the end", CmdReadSectors, 7, 2},
		{"write past the end", CmdWriteSectors, 8, 1},
		{"LBA beyond 28 bits' disk", CmdReadSectors, 0x0FFFFFFF, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(disk.NewMem(pattern(8)))
			issue(c, tc.cmd, tc.lba, tc.n)
			if st, er := c.In(PortCommand, 1), c.In(PortError, 1); st != errorStatus || er != ErrABRT {
				t.Fatalf("status %#x error %#x, want %#x %#x", st, er, errorStatus, ErrABRT)
			}
		})
	}
}

func TestIRQ(t *testing.T) {
	var line []bool
	c := New(disk.NewMem(pattern(4)))
	c.SetIRQ = func(l bool) { line = append(line, l) }
	issue(c, CmdReadSectors, 0, 1)
	if !c.IRQPending() {
		t.Fatal("no IRQ when the sector is ready")
	}
	c.In(PortControl, 1)
	if !c.IRQPending() {
		t.Fatal("reading alternate status cleared the IRQ")
	}
	c.In(PortCommand, 1)
	if c.IRQPending() {
		t.Fatal("reading status did not clear the IRQ")
	}
	c.Out(PortControl, 1, CtlNIEN)
	readSector(c)
	if c.IRQPending() {
		t.Fatal("IRQ raised with nIEN set")
	}
	if len(line) != 2 || !line[0] || line[1] {
		t.Errorf("line transitions %v, want [true false]", line)
	}
	// Software reset.
	c.Out(PortControl, 1, CtlSRST|CtlNIEN)
	if st := c.In(PortControl, 1); st&StBSY == 0 {
		t.Errorf("status during SRST = %#x, want BSY", st)
	}
	c.Out(PortControl, 1, CtlNIEN)
	if st := c.In(PortCommand, 1); st != idleStatus {
		t.Errorf("status after SRST = %#x", st)
	}
}

func TestWriteCacheFlush(t *testing.T) {
	m := disk.NewMem(pattern(4))
	wc := disk.NewWriteCache(m)
	c := New(wc)
	issue(c, CmdWriteSectors, 1, 1)
	for i := 0; i < wordsPerSector; i++ {
		c.Out(PortData, 2, 0xBEEF)
	}
	if wc.Dirty() != 1 || m.Bytes()[512] == 0xEF {
		t.Fatal("a write reached the backend before FLUSH CACHE")
	}
	issue(c, CmdReadSectors, 1, 1)
	if got := readSector(c); got[0] != 0xEF {
		t.Fatal("a read did not see the cached write")
	}
	issue(c, CmdFlushCache, 0, 0)
	if wc.Dirty() != 0 || m.Bytes()[512] != 0xEF || m.Flushes != 1 {
		t.Fatal("FLUSH CACHE did not write the cache through")
	}
}
