package vmm

import "testing"

// TestACPIPowerOff: PM1a_CNT powers off on SLP_EN with sleep type 0 only,
// written as a word or as two bytes, low first.
func TestACPIPowerOff(t *testing.T) {
	for _, c := range []struct {
		name  string
		write func(a *ACPIPM)
		off   bool
	}{
		{"word 0x2000", func(a *ACPIPM) { a.Out(PortPM1aCnt, 2, 0x2000) }, true},
		{"word with SCI_EN", func(a *ACPIPM) { a.Out(PortPM1aCnt, 2, 0x2001) }, true},
		{"bytes low then high", func(a *ACPIPM) { a.Out(PortPM1aCnt, 1, 0x00); a.Out(PortPM1aCnt+1, 1, 0x20) }, true},
		{"sleep type 1 (suspend)", func(a *ACPIPM) { a.Out(PortPM1aCnt, 2, 0x2400) }, false},
		{"sleep type 5 without SLP_EN", func(a *ACPIPM) { a.Out(PortPM1aCnt, 2, 0x1400) }, false},
		{"SCI_EN alone", func(a *ACPIPM) { a.Out(PortPM1aCnt, 2, 0x0001) }, false},
	} {
		a := &ACPIPM{}
		c.write(a)
		if a.Off != c.off {
			t.Errorf("%s: off %v, want %v", c.name, a.Off, c.off)
		}
	}
	a := &ACPIPM{}
	a.Out(PortPM1aCnt, 2, 0x1401)
	if v := a.In(PortPM1aCnt, 2); v != 0x1401 {
		t.Errorf("PM1a_CNT reads %#x, want 0x1401", v)
	}
}
