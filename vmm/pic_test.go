package vmm

import "testing"

func picWrite(p *PIC, port uint16, bytes ...uint8) {
	for _, b := range bytes {
		p.Out(port, 1, uint32(b))
	}
}

func picRead(p *PIC, port uint16) uint8 { return uint8(p.In(port, 1)) }

// newRemappedPIC initialises the pair as a protected-mode kernel does:
// master at 0x20, slave at 0x28, cascade on IR2, 8086 mode, icw4 as
// given, everything unmasked.
func newRemappedPIC(icw4 uint8) *PIC {
	p := NewPIC()
	picWrite(p, 0x20, 0x11)
	picWrite(p, 0x21, 0x20, 0x04, icw4)
	picWrite(p, 0xA0, 0x11)
	picWrite(p, 0xA1, 0x28, 0x02, icw4)
	picWrite(p, 0x21, 0x00)
	picWrite(p, 0xA1, 0x00)
	return p
}

// raise gives line irq a rising edge.
func raise(p *PIC, irq int) {
	p.SetIRQ(irq, false)
	p.SetIRQ(irq, true)
}

func wantPending(t *testing.T, p *PIC, vector uint8, ok bool) {
	t.Helper()
	v, k := p.Pending()
	if k != ok || (ok && v != vector) {
		t.Fatalf("Pending = %#02x, %v; want %#02x, %v", v, k, vector, ok)
	}
}

func wantAck(t *testing.T, p *PIC, vector uint8) {
	t.Helper()
	if v, ok := p.Acknowledge(); !ok || v != vector {
		t.Fatalf("Acknowledge = %#02x, %v; want %#02x", v, ok, vector)
	}
}

func wantRegs(t *testing.T, p *PIC, mIRR, mISR, sIRR, sISR uint8) {
	t.Helper()
	m, s := p.State()
	if m.IRR != mIRR || m.ISR != mISR || s.IRR != sIRR || s.ISR != sISR {
		t.Fatalf("IRR/ISR master %#02x/%#02x slave %#02x/%#02x; want %#02x/%#02x %#02x/%#02x",
			m.IRR, m.ISR, s.IRR, s.ISR, mIRR, mISR, sIRR, sISR)
	}
}

func TestPICPowerOn(t *testing.T) {
	p := NewPIC()
	m, s := p.State()
	if m.Base != 0x08 || s.Base != 0x70 || m.IMR != 0xB8 || s.IMR != 0x8E || !m.Initialised || !s.Initialised {
		t.Fatalf("power-on state %+v %+v; want SeaBIOS's", m, s)
	}
	if a, b := picRead(p, 0x21), picRead(p, 0xA1); a != 0xB8 || b != 0x8E {
		t.Errorf("IMRs read %#02x %#02x, want 0xB8 0x8E", a, b)
	}
	wantPending(t, p, 0, false)
	raise(p, 3) // masked
	wantPending(t, p, 0, false)
	raise(p, 0)
	wantPending(t, p, 0x08, true)
	raise(p, 8)
	wantAck(t, p, 0x08)
	picWrite(p, 0x20, 0x20)
	wantAck(t, p, 0x70)
}

func TestPICRemap(t *testing.T) {
	p := newRemappedPIC(0x01)
	for _, tc := range []struct {
		irq    int
		vector uint8
	}{{0, 0x20}, {1, 0x21}, {7, 0x27}, {8, 0x28}, {12, 0x2C}, {15, 0x2F}} {
		raise(p, tc.irq)
		wantAck(t, p, tc.vector)
		if tc.irq >= 8 {
			picWrite(p, 0xA0, 0x20)
		}
		picWrite(p, 0x20, 0x20)
		wantRegs(t, p, 0, 0, 0, 0)
	}
	// ICW2's low three bits are not part of the base.
	p = NewPIC()
	picWrite(p, 0x20, 0x11)
	picWrite(p, 0x21, 0x47, 0x04, 0x01, 0x00)
	raise(p, 1)
	wantPending(t, p, 0x41, true)
}

func TestPICMaskKeepsRequest(t *testing.T) {
	p := newRemappedPIC(0x01)
	picWrite(p, 0x21, 0x01)
	raise(p, 0)
	wantPending(t, p, 0, false)
	wantRegs(t, p, 0x01, 0, 0, 0)
	if v, ok := p.Acknowledge(); ok || v != 0x27 {
		t.Errorf("Acknowledge with nothing deliverable = %#02x, %v; want the spurious 0x27, false", v, ok)
	}
	wantRegs(t, p, 0x01, 0, 0, 0)
	picWrite(p, 0x21, 0x00)
	wantPending(t, p, 0x20, true)

	// The same through the slave's mask.
	picWrite(p, 0xA1, 0x10)
	raise(p, 12)
	wantAck(t, p, 0x20) // IRQ 0 first; IRQ 12 is masked
	picWrite(p, 0x20, 0x20)
	wantPending(t, p, 0, false)
	picWrite(p, 0xA1, 0x00)
	wantPending(t, p, 0x2C, true)
}

func TestPICPriorityAndInService(t *testing.T) {
	p := newRemappedPIC(0x01)
	raise(p, 3)
	raise(p, 1)
	wantAck(t, p, 0x21) // IRQ 1 outranks IRQ 3
	wantRegs(t, p, 0x08, 0x02, 0, 0)
	wantPending(t, p, 0, false) // IRQ 3 waits for IRQ 1's EOI
	raise(p, 0)
	wantAck(t, p, 0x20) // but IRQ 0 outranks IRQ 1 and nests
	wantRegs(t, p, 0x08, 0x03, 0, 0)
	picWrite(p, 0x20, 0x20) // non-specific EOI: the highest in service, IRQ 0
	wantRegs(t, p, 0x08, 0x02, 0, 0)
	wantPending(t, p, 0, false)
	picWrite(p, 0x20, 0x20)
	wantPending(t, p, 0x23, true)
	wantAck(t, p, 0x23)

	// Specific EOI clears the named level even if it is not the highest.
	raise(p, 1)
	wantAck(t, p, 0x21)
	wantRegs(t, p, 0, 0x0A, 0, 0)
	picWrite(p, 0x20, 0x63) // specific EOI, level 3
	wantRegs(t, p, 0, 0x02, 0, 0)
	picWrite(p, 0x20, 0x61)
	wantRegs(t, p, 0, 0, 0, 0)
}

func TestPICCascade(t *testing.T) {
	p := newRemappedPIC(0x01)
	raise(p, 12)
	wantPending(t, p, 0x2C, true)
	wantAck(t, p, 0x2C)
	wantRegs(t, p, 0, 0x04, 0, 0x10)

	raise(p, 13) // lower on the slave: blocked
	raise(p, 3)  // lower than IR2 on the master: blocked
	wantPending(t, p, 0, false)
	raise(p, 1) // higher than IR2: nests
	wantAck(t, p, 0x21)
	picWrite(p, 0x20, 0x20)

	picWrite(p, 0xA0, 0x20) // EOI to the slave: IRQ 13 reaches the master...
	wantRegs(t, p, 0x0C, 0x04, 0x20, 0)
	wantPending(t, p, 0, false) // ...whose ISR bit 2 still blocks it
	picWrite(p, 0x20, 0x20)
	wantAck(t, p, 0x2D)
	wantRegs(t, p, 0x08, 0x04, 0, 0x20)
	picWrite(p, 0x20, 0x20) // EOIs in the other order work too: once the
	wantAck(t, p, 0x23)     // master's EOI is in, IRQ 3 gets through
	picWrite(p, 0x20, 0x20)
	wantRegs(t, p, 0, 0, 0, 0x20)
	picWrite(p, 0xA0, 0x20)
	wantRegs(t, p, 0, 0, 0, 0)

	// A higher slave request preempts a lower one only in special fully
	// nested mode.
	p = newRemappedPIC(0x01 | 0x10)
	raise(p, 13)
	wantAck(t, p, 0x2D)
	raise(p, 9)
	wantAck(t, p, 0x29)
	wantRegs(t, p, 0, 0x04, 0, 0x22)
}

func TestPICSpuriousSlave(t *testing.T) {
	p := newRemappedPIC(0x01)
	raise(p, 12)
	picWrite(p, 0xA1, 0x10) // masked after it reached the master
	wantPending(t, p, 0x2F, true)
	wantAck(t, p, 0x2F)
	wantRegs(t, p, 0, 0x04, 0x10, 0) // master in service, slave not
}

func TestPICReadRegisters(t *testing.T) {
	p := newRemappedPIC(0x01)
	raise(p, 1)
	raise(p, 4)
	wantAck(t, p, 0x21)
	if v := picRead(p, 0x20); v != 0x10 {
		t.Errorf("default read = %#02x, want IRR 0x10", v)
	}
	picWrite(p, 0x20, 0x0B)
	if v := picRead(p, 0x20); v != 0x02 {
		t.Errorf("after OCW3 0x0B read = %#02x, want ISR 0x02", v)
	}
	if v := picRead(p, 0x20); v != 0x02 {
		t.Errorf("the selection persists: read = %#02x, want 0x02", v)
	}
	picWrite(p, 0x20, 0x08) // OCW3 without RR: no change
	if v := picRead(p, 0x20); v != 0x02 {
		t.Errorf("OCW3 0x08 read = %#02x, want ISR 0x02 still", v)
	}
	picWrite(p, 0x20, 0x0A)
	if v := picRead(p, 0x20); v != 0x10 {
		t.Errorf("after OCW3 0x0A read = %#02x, want IRR 0x10", v)
	}
	picWrite(p, 0x21, 0x5A)
	if v := picRead(p, 0x21); v != 0x5A {
		t.Errorf("IMR read = %#02x, want 0x5A", v)
	}
	// ICW1 selects IRR again and clears the rest.
	picWrite(p, 0x20, 0x0B)
	picWrite(p, 0x20, 0x11)
	picWrite(p, 0x21, 0x20, 0x04, 0x01)
	if v, m := picRead(p, 0x20), picRead(p, 0x21); v != 0 || m != 0 {
		t.Errorf("after ICW1: port 0x20 %#02x IMR %#02x, want 0 0", v, m)
	}
	// The poll command: read the best request, acknowledged.
	raise(p, 5)
	picWrite(p, 0x20, 0x0C)
	if v := picRead(p, 0x20); v != 0x85 {
		t.Errorf("poll = %#02x, want 0x85", v)
	}
	wantRegs(t, p, 0, 0x20, 0, 0)
	picWrite(p, 0x20, 0x0C)
	if v := picRead(p, 0x21); v != 0 {
		t.Errorf("poll with nothing = %#02x, want 0", v)
	}
	// A 16-bit read of 0x20 is port 0x20 then 0x21.
	picWrite(p, 0x21, 0xC3)
	if v := p.In(0x20, 2); v != 0xC300 {
		t.Errorf("In(0x20, 2) = %#x, want 0xC300", v)
	}
}

func TestPICAutoEOI(t *testing.T) {
	p := newRemappedPIC(0x03)
	raise(p, 3)
	wantAck(t, p, 0x23)
	wantRegs(t, p, 0, 0, 0, 0)
	raise(p, 5) // nothing in service blocks it
	wantAck(t, p, 0x25)
	raise(p, 10)
	wantAck(t, p, 0x2A)
	wantRegs(t, p, 0, 0, 0, 0)
}

func TestPICEdgeTriggered(t *testing.T) {
	p := newRemappedPIC(0x01)
	p.SetIRQ(0, true)
	wantAck(t, p, 0x20)
	picWrite(p, 0x20, 0x20)
	p.SetIRQ(0, true) // still high: no new request
	wantPending(t, p, 0, false)
	p.SetIRQ(0, false)
	wantPending(t, p, 0, false)
	p.SetIRQ(0, true)
	wantPending(t, p, 0x20, true)
	// A request stays latched when the line falls before INTA.
	p.SetIRQ(0, false)
	wantPending(t, p, 0x20, true)
	// ICW1 clears IRR but not the memory of the line: a line held high
	// across initialisation must fall and rise again.
	p.SetIRQ(0, true)
	picWrite(p, 0x20, 0x11)
	picWrite(p, 0x21, 0x20, 0x04, 0x01)
	p.SetIRQ(0, true)
	wantPending(t, p, 0, false)
	raise(p, 0)
	wantPending(t, p, 0x20, true)
	// Out-of-range lines and the cascade line are ignored.
	p = newRemappedPIC(0x01)
	for _, irq := range []int{-1, 2, 16} {
		raise(p, irq)
	}
	wantPending(t, p, 0, false)
}

func TestPICRotation(t *testing.T) {
	p := newRemappedPIC(0x01)
	raise(p, 1)
	wantAck(t, p, 0x21)
	picWrite(p, 0x20, 0xA0) // rotate on non-specific EOI: IRQ 1 becomes lowest
	raise(p, 1)
	raise(p, 5)
	wantAck(t, p, 0x25)     // order is now 2, 3, ..., 7, 0, 1
	picWrite(p, 0x20, 0xC7) // set priority: 7 lowest, fixed order again
	picWrite(p, 0x20, 0x20)
	wantAck(t, p, 0x21)
}

func TestPICSpecialMask(t *testing.T) {
	p := newRemappedPIC(0x01)
	raise(p, 3)
	wantAck(t, p, 0x23)
	raise(p, 5)
	wantPending(t, p, 0, false)
	picWrite(p, 0x20, 0x68) // special mask mode on
	picWrite(p, 0x21, 0x08) // mask the level in service
	wantPending(t, p, 0x25, true)
	picWrite(p, 0x20, 0x48) // off again
	wantPending(t, p, 0, false)
}

func TestPICSingleMode(t *testing.T) {
	p := NewPIC()
	picWrite(p, 0x20, 0x13)             // single, ICW4 needed
	picWrite(p, 0x21, 0x40, 0x01, 0xF0) // ICW2, ICW4 (no ICW3), OCW1
	if m, _ := p.State(); !m.Initialised || m.IMR != 0xF0 {
		t.Fatalf("single mode: %+v, want initialised with IMR 0xF0", m)
	}
	raise(p, 1)
	wantAck(t, p, 0x41)
	picWrite(p, 0x20, 0x20)
	picWrite(p, 0xA1, 0x00)
	raise(p, 12) // the master answers IR2 itself; the slave keeps its request
	wantAck(t, p, 0x42)
	_, s := p.State()
	if s.IRR != 0x10 || s.ISR != 0 {
		t.Errorf("slave %+v, want IRR 0x10, ISR 0", s)
	}
}

func TestPICIRQOf(t *testing.T) {
	p := NewPIC() // BIOS layout: master 0x08, slave 0x70
	for _, tt := range []struct {
		vec uint8
		irq int
	}{{0x08, 0}, {0x0F, 7}, {0x70, 8}, {0x77, 15}, {0x20, -1}, {0x80, -1}} {
		if got := p.IRQOf(tt.vec); got != tt.irq {
			t.Errorf("IRQOf(%#x) = %d, want %d", tt.vec, got, tt.irq)
		}
	}
}
