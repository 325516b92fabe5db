package vmm

import "testing"

// The CRT controller holds what was written, per index; the cursor
// registers (14, 15) start at zero, not the all-ones of an absent device.
func TestCRTC(t *testing.T) {
	var bus PortBus
	if err := bus.Register(PortCRTCIndex, PortCRTCData, &CRTC{}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		out      bool
		port     uint16
		size     int
		v        uint32
		want     uint32
		scenario string
	}{
		{false, PortCRTCData, 1, 0, 0, "power-on: register 0 reads 0"},
		{true, PortCRTCIndex, 1, 14, 0, "select cursor high"},
		{false, PortCRTCData, 1, 0, 0, "cursor high is 0 (xv6: pos < 25*80)"},
		{true, PortCRTCData, 1, 0x07, 0, "write cursor high"},
		{true, PortCRTCIndex, 1, 15, 0, "select cursor low"},
		{true, PortCRTCData, 1, 0xD0, 0, "write cursor low"},
		{false, PortCRTCIndex, 1, 0, 15, "the index reads back"},
		{true, PortCRTCIndex, 1, 14, 0, "select cursor high again"},
		{false, PortCRTCData, 1, 0, 0x07, "cursor high kept"},
		{true, PortCRTCIndex, 2, 0x550F, 0, "16-bit out: index 15, then data 0x55"},
		{false, PortCRTCData, 1, 0, 0x55, "cursor low written by the 16-bit out"},
		{true, PortCRTCIndex, 1, 0x2E, 0, "index beyond the registers wraps to 14"},
		{false, PortCRTCData, 1, 0, 0x07, "register 14 through the wrapped index"},
	}
	for _, s := range steps {
		if s.out {
			bus.Out(s.port, s.size, s.v)
			continue
		}
		if got := bus.In(s.port, s.size); got != s.want {
			t.Errorf("%s: in %#x = %#x, want %#x", s.scenario, s.port, got, s.want)
		}
	}
}
