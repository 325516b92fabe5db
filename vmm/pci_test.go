package vmm

import "testing"

// Configuration writes as a kernel makes them: what reads back.
func TestPCIConfigWrites(t *testing.T) {
	addr := func(dev, fn, reg uint32) uint32 { return 0x80000000 | dev<<11 | fn<<8 | reg }
	for _, c := range []struct {
		name      string
		at        uint32 // the configuration address of the write and the read
		port      uint16 // the data port written (0xCFC-0xCFF)
		size      int
		v         uint32
		want      uint32 // the dword read back at at
		wantReset bool
	}{
		{"vendor and device are read-only", addr(0, 0, 0), PortPCIData, 4, 0xFFFFFFFF, 0x12378086, false},
		{"sizing a memory BAR", addr(2, 0, 0x10), PortPCIData, 4, 0xFFFFFFFF, 0xFF000008, false},
		{"moving a memory BAR keeps its type bits", addr(2, 0, 0x10), PortPCIData, 4, 0xE0000000, 0xE0000008, false},
		{"sizing an I/O BAR", addr(3, 0, 0x14), PortPCIData, 4, 0xFFFFFFFF, 0xFFFFFFC1, false},
		{"an unimplemented BAR stays 0", addr(3, 0, 0x18), PortPCIData, 4, 0xFFFFFFFF, 0, false},
		{"sizing the expansion ROM", addr(2, 0, 0x30), PortPCIData, 4, 0xFFFFFFFE, 0xFFFF0000, false},
		{"the interrupt line by a byte write", addr(3, 0, 0x3C), PortPCIData, 1, 0x05, 0x00000105, false},
		{"the interrupt pin is read-only", addr(3, 0, 0x3C), PortPCIData + 1, 1, 0x04, 0x0000010B, false},
		{"the command register", addr(3, 0, 0x04), PortPCIData, 2, 0x0007, 0x00000007, false},
		{"an absent function", addr(5, 0, 0), PortPCIData, 4, 0, 0xFFFFFFFF, false},
		{"bus 1 is empty", 0x80010000, PortPCIData, 4, 0, 0xFFFFFFFF, false},
		{"the enable bit off reads nothing", 0x00000000, PortPCIData, 4, 0, 0xFFFFFFFF, false},
		{"registers past the header read 0", addr(3, 0, 0x40), PortPCIData, 4, 0xFFFFFFFF, 0, false},
		{"port 0xCF9 bit 2 resets", addr(0, 0, 0), PortPCIReset, 1, 0x06, 0x12378086, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := NewPCI()
			if c.port == PortPCIReset {
				p.Out(c.port, c.size, c.v)
			} else {
				p.Out(PortPCIAddr, 4, c.at)
				p.Out(c.port, c.size, c.v)
			}
			p.Out(PortPCIAddr, 4, c.at)
			if got := p.In(PortPCIData, 4); got != c.want || p.ResetRequested != c.wantReset {
				t.Errorf("read %#x (reset %v), want %#x (reset %v)", got, p.ResetRequested, c.want, c.wantReset)
			}
		})
	}
}
