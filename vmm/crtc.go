package vmm

// CRTC is the 6845-style CRT controller of a colour text display (CGA, and
// VGA in its colour mode): an index port (0x3D4) selects one of its
// registers, the data port (0x3D5) reads or writes it. Kernels that print
// on the text screen keep its cursor there: xv6's console reads the cursor
// position (registers 14 and 15) before every character it draws and
// panics when it is off the 80x25 screen — as it is with the all-ones an
// absent device reads as. The display itself is not modelled: the text
// buffer at 0xB8000 is plain RAM, and the registers hold what was written
// (all zero at power-on: the cursor at the top left).
type CRTC struct {
	index uint8
	regs  [32]uint8
}

// CRTC ports: the colour adapter's index and data registers.
const (
	PortCRTCIndex = 0x3D4
	PortCRTCData  = 0x3D5
)

// Name implements Device.
func (c *CRTC) Name() string { return "crtc" }

// In implements Device: the index register, or the selected register.
func (c *CRTC) In(port uint16, size int) uint32 {
	if port == PortCRTCIndex {
		return uint32(c.index)
	}
	return uint32(c.regs[c.index&31])
}

// Out implements Device. A 16-bit write to the index port writes the index
// (low byte) and then the data register (high byte), as on the hardware's
// 8-bit bus.
func (c *CRTC) Out(port uint16, size int, v uint32) {
	if port == PortCRTCIndex {
		c.index = uint8(v)
		if size > 1 {
			c.regs[c.index&31] = uint8(v >> 8)
		}
		return
	}
	c.regs[c.index&31] = uint8(v)
}
