package vmm

import "testing"

// TestSerialLoopback: in loopback mode a THR byte arrives in the
// receiver, not on the line; host input waits; MSR shows MCR's outputs
// (QEMU's 16550A: 0xD0 for MCR 0x1E); out of loopback, input flows again
// and MSR reads 0xB0.
func TestSerialLoopback(t *testing.T) {
	s := NewSerial(0x3F8, nil)
	s.Feed([]byte("x"))
	s.Out(0x3FC, 1, 0x1E)
	s.In(0x3F8, 1) // drop what came in before loopback, if anything
	s.Out(0x3F8, 1, 0xAE)
	if lsr := s.In(0x3FD, 1); lsr&lsrDR == 0 {
		t.Errorf("LSR %#x: the looped-back byte is not ready", lsr)
	}
	if msr := s.In(0x3FE, 1); msr != 0xD0 {
		t.Errorf("MSR %#x in loopback with MCR 0x1E, want 0xd0", msr)
	}
	if b := s.In(0x3F8, 1); b != 0xAE {
		t.Errorf("RBR %#x, want 0xae back", b)
	}
	if s.Output.Len() != 0 {
		t.Errorf("loopback sent %q to the line", s.Output.String())
	}
	s.Out(0x3FC, 1, 0x0F)
	if msr := s.In(0x3FE, 1); msr != 0xB0 {
		t.Errorf("MSR %#x after loopback, want 0xb0", msr)
	}
}

// TestVGAStatus: Input Status 1 flips retrace and display-disabled at
// every read, starting as QEMU's first read (0x09); the Miscellaneous
// Output register reads 0x67 and then what was written.
func TestVGAStatus(t *testing.T) {
	v := NewVGAStatus()
	for i, want := range []uint32{0x09, 0x00, 0x09} {
		if got := v.In(PortVGAStatus1, 1); got != want {
			t.Errorf("read %d of 0x3DA = %#x, want %#x", i, got, want)
		}
	}
	if got := v.In(PortVGAMiscRead, 1); got != 0x67 {
		t.Errorf("misc output %#x, want 0x67", got)
	}
	v.Out(PortVGAMiscWrite, 1, 0x63)
	if got := v.In(PortVGAMiscRead, 1); got != 0x63 {
		t.Errorf("misc output %#x after writing 0x63", got)
	}
}

// TestELCR: the edge/level pair reads as SeaBIOS leaves it (IRQs 10 and
// 11 level), holds writes, and keeps IRQs 0-2, 8 and 13 edge-triggered.
func TestELCR(t *testing.T) {
	e := NewELCR()
	if lo, hi := e.In(PortELCR, 1), e.In(PortELCR+1, 1); lo != 0 || hi != 0x0C {
		t.Errorf("ELCR %#x %#x, want 0 0xc", lo, hi)
	}
	e.Out(PortELCR, 2, 0xFFFF)
	if v := e.In(PortELCR, 2); v != 0xDEF8 {
		t.Errorf("ELCR after writing ones %#x, want 0xdef8", v)
	}
}
