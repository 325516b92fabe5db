package vmm

// PCI is the configuration space of QEMU's i440FX PC as a kernel that
// enumerates bus 0 finds it after SeaBIOS (mechanism #1: an address
// written to port 0xCF8, the data at 0xCFC-0xCFF): the host bridge, the
// PIIX3's ISA bridge and IDE function, the PIIX4 power-management
// function, the standard VGA and an e1000 network card, with the BARs,
// interrupt lines and subsystem IDs SeaBIOS left. Only the configuration
// space is modelled: the devices behind the VGA's and the e1000's BARs
// are not there (their memory reads as nothing), and no PCI interrupt is
// ever raised. The IDE function's legacy ports are the machine's ATA disk.
//
// A kernel may size a BAR (write all ones, read the mask back) and move
// it, change the command register, the cache-line size, the latency timer
// and the interrupt line; everything else is read-only. A byte write of
// bit 2 to port 0xCF9 (the PIIX3's reset control register) resets the
// machine, which stops the run as QEMU does with -no-reboot.
//
// The headers were read from QEMU 7.2 (`qemu-system-i386`, its default
// devices) by the corpus guest difftest/corpus/pci.S, which TestCorpus
// runs against QEMU under every strategy.
type PCI struct {
	// Addr is the configuration address register (port 0xCF8).
	Addr uint32
	// Space holds each function's 64-byte header, as dwords.
	Space [][16]uint32
	// ResetRequested: the guest wrote the reset bit of port 0xCF9.
	ResetRequested bool
}

// Ports of configuration mechanism #1 and the PIIX3 reset control register.
const (
	PortPCIAddr  = 0xCF8
	PortPCIReset = 0xCF9
	PortPCIData  = 0xCFC
)

// pciFunction is one function of bus 0: where it is, its header after
// SeaBIOS, and the size masks of its BARs (0: no BAR there).
type pciFunction struct {
	dev, fn int
	header  [16]uint32
	bars    [6]uint32
	rom     uint32 // the expansion ROM BAR's mask (offset 0x30)
}

// pciFunctions is bus 0 of QEMU's default i440FX PC (read by
// difftest/corpus/pci.S). Subsystem 1af4:1100 is QEMU's.
var pciFunctions = []pciFunction{
	{0, 0, [16]uint32{0x12378086, 0x00000103, 0x06000002, 0x00000000, 0, 0, 0, 0, 0, 0, 0, 0x11001af4, 0, 0, 0, 0}, // 440FX host bridge
		[6]uint32{}, 0},
	{1, 0, [16]uint32{0x70008086, 0x02000103, 0x06010000, 0x00800000, 0, 0, 0, 0, 0, 0, 0, 0x11001af4, 0, 0, 0, 0}, // PIIX3 ISA bridge (multi-function)
		[6]uint32{}, 0},
	{1, 1, [16]uint32{0x70108086, 0x02800103, 0x01018000, 0x00000000, 0, 0, 0, 0, 0x0000c041, 0, 0, 0x11001af4, 0, 0, 0, 0}, // PIIX3 IDE: BAR4 bus-master I/O
		[6]uint32{0, 0, 0, 0, 0xfffffff1, 0}, 0},
	{1, 3, [16]uint32{0x71138086, 0x02800103, 0x06800003, 0x00000000, 0, 0, 0, 0, 0, 0, 0, 0x11001af4, 0, 0, 0, 0x00000109}, // PIIX4 power management, IRQ 9
		[6]uint32{}, 0},
	{2, 0, [16]uint32{0x11111234, 0x00000103, 0x03000002, 0x00000000, 0xfd000008, 0, 0xfebf0000, 0, 0, 0, 0, 0x11001af4, 0xfebe0000, 0, 0, 0}, // standard VGA: framebuffer, MMIO, ROM
		[6]uint32{0xff000008, 0, 0xfffff000, 0, 0, 0}, 0xffff0000},
	{3, 0, [16]uint32{0x100e8086, 0x00000103, 0x02000003, 0x00000000, 0xfebc0000, 0x0000c001, 0, 0, 0, 0, 0, 0x11001af4, 0xfeb80000, 0, 0, 0x0000010b}, // e1000, IRQ 11
		[6]uint32{0xfffe0000, 0xffffffc1, 0, 0, 0, 0}, 0xfffc0000},
}

// NewPCI is bus 0 as SeaBIOS leaves it.
func NewPCI() *PCI {
	p := &PCI{}
	for _, f := range pciFunctions {
		p.Space = append(p.Space, f.header)
	}
	return p
}

func (p *PCI) Name() string { return "pci-config" }

// function finds the header the address register selects (nil: no
// device, or a bus other than 0).
func (p *PCI) function() (*[16]uint32, *pciFunction) {
	if p.Addr&0x80000000 == 0 || p.Addr>>16&0xFF != 0 {
		return nil, nil
	}
	dev, fn := int(p.Addr>>11&0x1F), int(p.Addr>>8&7)
	for i := range pciFunctions {
		if pciFunctions[i].dev == dev && pciFunctions[i].fn == fn {
			return &p.Space[i], &pciFunctions[i]
		}
	}
	return nil, nil
}

func (p *PCI) In(port uint16, size int) uint32 {
	switch {
	case port == PortPCIAddr && size == 4:
		return p.Addr
	case port >= PortPCIData && port <= PortPCIData+3:
		h, _ := p.function()
		if h == nil {
			return sizeMask(size)
		}
		v := h[p.Addr>>2&0xF] // offsets 0x40-0xFF (device-specific) are not modelled
		if p.Addr&0xC0 != 0 {
			v = 0
		}
		return v >> (8 * uint32(port-PortPCIData)) & sizeMask(size)
	}
	return sizeMask(size)
}

func (p *PCI) Out(port uint16, size int, v uint32) {
	switch {
	case port == PortPCIAddr && size == 4:
		p.Addr = v &^ 3
	case port == PortPCIReset && size == 1:
		if v&4 != 0 {
			p.ResetRequested = true
		}
	case port >= PortPCIData && port <= PortPCIData+3:
		h, f := p.function()
		if h == nil || p.Addr&0xC0 != 0 {
			return
		}
		shift := 8 * uint32(port-PortPCIData)
		reg := p.Addr >> 2 & 0xF
		old := h[reg]
		mask := sizeMask(size) << shift
		nv := old&^mask | v<<shift&mask
		h[reg] = pciWritable(f, reg, old, nv)
	}
}

// pciWritable applies a write of nv over old to register reg (a dword
// index) of function f: only the writable bits change.
func pciWritable(f *pciFunction, reg, old, nv uint32) uint32 {
	keep := func(writable uint32) uint32 { return old&^writable | nv&writable }
	switch {
	case reg == 1: // command (status is read-only here: no error bits to clear)
		return keep(0x0000FFFF)
	case reg == 3: // cache-line size, latency timer
		return keep(0x0000FFFF)
	case reg >= 4 && reg <= 9: // BARs: the address bits their size allows
		m := f.bars[reg-4]
		if m == 0 {
			return old
		}
		if m&1 != 0 { // I/O: bit 0 is the type
			return keep(m &^ 1)
		}
		return keep(m &^ 0xF)
	case reg == 12: // expansion ROM: address and enable
		if f.rom == 0 {
			return old
		}
		return keep(f.rom | 1)
	case reg == 15: // interrupt line
		return keep(0x000000FF)
	}
	return old
}
