package vmm

import "fmt"

// The I/O APIC (Intel 82093AA style, memory-mapped at IOAPICBase), as QEMU's
// i440FX PC has it: 24 input pins, each with a 64-bit redirection entry
// that says which vector, which CPU and which trigger mode its interrupt
// gets.
//
// # What it does
//
// Two registers are visible in memory: IOREGSEL (base+0x00) selects an
// internal register, IOWIN (base+0x10) reads or writes it. Register 0 is
// the ID, 1 the version (0x00170020: 24 entries, version 0x20), 2 the
// arbitration ID; 0x10+2n and 0x11+2n are the low and high halves of pin
// n's redirection entry: vector (bits 0-7), delivery mode (8-10: fixed,
// lowest priority, ...), destination mode (11: logical), delivery status
// (12, read-only), polarity (13: active low), remote IRR (14, read-only),
// trigger mode (15: level), mask (16), destination (bits 56-63).
//
// On a PC the ISA interrupt lines reach the I/O APIC as well as the 8259s.
// The MP table (firmware.go) says how: ISA IRQ n on pin n, except the
// PIT's IRQ 0, which is on pin 2 (pin 0 carries the 8259's output).
//
// # What is modelled
//
// Edge-triggered pins: a rising edge latches a request (QEMU's IRR); an
// unmasked entry sends it to the local APIC at once, a masked one keeps it
// until unmasked. Level-triggered pins: while the input is asserted and
// remote IRR is clear the entry sends its vector and sets remote IRR; the
// local APIC's EOI for that vector clears it, and a line still asserted
// sends again. Polarity inverts the input. Fixed and lowest-priority
// delivery to the one local APIC when the destination includes it;
// other delivery modes (SMI, NMI, INIT, ExtINT) are not modelled and
// dropped. Power-on state (as under QEMU): every entry masked, ID 0.

// IOAPICBase is the I/O APIC's physical address.
const (
	IOAPICBase = 0xFEC00000
	IOAPICSize = 0x1000
	ioapicPins = 24
)

const (
	ioapicVersionValue = 0x00170020
	redirMask          = 1 << 16
	redirLevel         = 1 << 15
	redirRemoteIRR     = 1 << 14
	redirActiveLow     = 1 << 13
	redirLogical       = 1 << 11
)

// IOAPIC is the I/O APIC.
type IOAPIC struct {
	sel   uint8
	id    uint32
	redir [ioapicPins]uint64
	input uint32 // pin levels as driven (before polarity)
	irr   uint32 // latched requests

	// Deliver sends an interrupt message to the local APIC: vector,
	// destination, logical mode, level-triggered, and the pin's cause.
	Deliver func(vec, dest uint8, logical, level bool, cause string)
	// PinCause names what drives each pin ("irq/4"), for event causes.
	PinCause [ioapicPins]string
}

// NewIOAPIC returns the I/O APIC at power-on: every entry masked.
func NewIOAPIC() *IOAPIC {
	a := &IOAPIC{}
	for i := range a.redir {
		a.redir[i] = redirMask
		a.PinCause[i] = fmt.Sprintf("irq/ioapic-%d", i)
	}
	return a
}

// IOAPIC memory registers.
const (
	ioregsel = 0x00
	iowin    = 0x10
)

// IOAPICRegName names the memory register at offset off for event causes.
func IOAPICRegName(off uint32) string {
	switch off &^ 3 {
	case ioregsel:
		return "IOREGSEL"
	case iowin:
		return "IOWIN"
	}
	return fmt.Sprintf("reserved:%#x", off&^3)
}

// Read reads the memory register at offset off.
func (a *IOAPIC) Read(off uint32) uint32 {
	switch off &^ 3 {
	case ioregsel:
		return uint32(a.sel)
	case iowin:
		return a.readReg(a.sel)
	}
	return 0
}

// Write writes the memory register at offset off.
func (a *IOAPIC) Write(off, v uint32) {
	switch off &^ 3 {
	case ioregsel:
		a.sel = uint8(v)
	case iowin:
		a.writeReg(a.sel, v)
	}
}

func (a *IOAPIC) readReg(r uint8) uint32 {
	switch {
	case r == 0:
		return a.id
	case r == 1:
		return ioapicVersionValue
	case r == 2:
		return a.id
	case r >= 0x10 && r < 0x10+2*ioapicPins:
		e := a.redir[(r-0x10)/2]
		if r&1 == 1 {
			return uint32(e >> 32)
		}
		return uint32(e)
	}
	return 0
}

func (a *IOAPIC) writeReg(r uint8, v uint32) {
	switch {
	case r == 0:
		a.id = v & 0x0F000000
	case r >= 0x10 && r < 0x10+2*ioapicPins:
		pin := int(r-0x10) / 2
		e := a.redir[pin]
		if r&1 == 1 {
			e = e&0xFFFFFFFF | uint64(v&0xFF000000)<<32
		} else {
			ro := uint64(redirRemoteIRR | 1<<12)
			e = e&^0xFFFFFFFF | uint64(v)&^ro | e&ro
		}
		a.redir[pin] = e
		a.service(pin)
	}
}

// Entry returns pin's redirection entry.
func (a *IOAPIC) Entry(pin int) uint64 { return a.redir[pin] }

// SetPin drives input pin to level.
func (a *IOAPIC) SetPin(pin int, level bool) {
	if pin < 0 || pin >= ioapicPins {
		return
	}
	bit := uint32(1) << pin
	old := a.input&bit != 0
	if level {
		a.input |= bit
	} else {
		a.input &^= bit
	}
	low := a.redir[pin]&redirActiveLow != 0
	was, asserted := old != low, level != low
	switch {
	case a.redir[pin]&redirLevel != 0 && asserted:
		a.irr |= bit
	case a.redir[pin]&redirLevel != 0:
		a.irr &^= bit
	case asserted && !was: // an edge latches a request
		a.irr |= bit
	}
	a.service(pin)
}

// service sends pin's request if its entry allows.
func (a *IOAPIC) service(pin int) {
	bit := uint32(1) << pin
	e := a.redir[pin]
	if a.irr&bit == 0 || e&redirMask != 0 {
		return
	}
	level := e&redirLevel != 0
	if level {
		if e&redirRemoteIRR != 0 {
			return
		}
		a.redir[pin] |= redirRemoteIRR
	} else {
		a.irr &^= bit
	}
	switch e >> 8 & 7 {
	case 0, 1: // fixed, lowest priority
		if a.Deliver != nil {
			a.Deliver(uint8(e), uint8(e>>56), e&redirLogical != 0, level, a.PinCause[pin])
		}
	}
}

// EOI is the local APIC's end of interrupt for a level-triggered vector:
// remote IRR clears on every entry with that vector, and a line still
// asserted sends again.
func (a *IOAPIC) EOI(vec uint8) {
	for pin := range a.redir {
		e := a.redir[pin]
		if e&redirLevel != 0 && uint8(e) == vec && e&redirRemoteIRR != 0 {
			a.redir[pin] &^= redirRemoteIRR
			a.service(pin)
		}
	}
}
