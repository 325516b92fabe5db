package vmm

// ELCR is the PIIX3's edge/level control register pair (0x4D0: IRQs 0-7,
// 0x4D1: IRQs 8-15), which kernels read to learn which ISA lines the
// firmware made level-triggered for PCI: SeaBIOS sets IRQs 10 and 11
// (0x00, 0x0C). It holds what is written; the 8259 model takes every line
// as it is signalled, so the setting changes nothing else.
type ELCR struct{ regs [2]uint8 }

// PortELCR is the first of the pair.
const PortELCR = 0x4D0

// NewELCR returns the pair as SeaBIOS leaves it.
func NewELCR() *ELCR { return &ELCR{regs: [2]uint8{0x00, 0x0C}} }

// Name implements Device.
func (e *ELCR) Name() string { return "elcr" }

// In implements Device.
func (e *ELCR) In(port uint16, size int) uint32 {
	v := uint32(e.regs[(port-PortELCR)&1])
	if size > 1 && port == PortELCR {
		v |= uint32(e.regs[1]) << 8
	}
	return v
}

// Out implements Device. IRQs 0-2, 8 and 13 are always edge-triggered.
func (e *ELCR) Out(port uint16, size int, v uint32) {
	i := (port - PortELCR) & 1
	e.regs[i] = uint8(v) & [2]uint8{0xF8, 0xDE}[i]
	if size > 1 && port == PortELCR {
		e.regs[1] = uint8(v>>8) & 0xDE
	}
}
