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

// VGAStatus is the two VGA status registers kernels poll: Input Status 1
// (0x3DA), whose bits 0 (display disabled) and 3 (vertical retrace) a
// kernel waits on to draw without tearing, and the Miscellaneous Output
// register (written at 0x3C2, read at 0x3CC: 0x67 as SeaBIOS leaves the
// colour text mode). With no display modelled, Input Status 1 flips both
// bits at every read, as QEMU's VGA does without a precise retrace (first
// read 0x09): a wait for retrace to begin or end ends at the next read.
type VGAStatus struct {
	misc uint8
	st01 uint8
}

// VGA status ports.
const (
	PortVGAMiscWrite = 0x3C2
	PortVGAMiscRead  = 0x3CC
	PortVGAStatus1   = 0x3DA
)

// NewVGAStatus returns the registers as SeaBIOS leaves them.
func NewVGAStatus() *VGAStatus { return &VGAStatus{misc: 0x67} }

// Name implements Device.
func (v *VGAStatus) Name() string { return "vga-status" }

// In implements Device.
func (v *VGAStatus) In(port uint16, size int) uint32 {
	switch port {
	case PortVGAStatus1:
		v.st01 ^= 0x09
		return uint32(v.st01)
	case PortVGAMiscRead:
		return uint32(v.misc)
	}
	return 0xFF
}

// Out implements Device.
func (v *VGAStatus) Out(port uint16, size int, val uint32) {
	if port == PortVGAMiscWrite {
		v.misc = uint8(val)
	}
}
