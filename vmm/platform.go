package vmm

import (
	"fmt"
	"time"
)

// The PC platform around the CPU, wired as on QEMU's i440FX PC:
//
//	PIT OUT0 ─── ISA IRQ 0 ──┬── 8259 pair ── INTR ── LAPIC LINT0 (ExtINT) ─┐
//	UART ─────── ISA IRQ 4 ──┤                                              ├── CPU
//	                         └── I/O APIC pin (MP table) ── LAPIC IRR ──────┘
//	LAPIC timer, self-IPIs ────────────────────────────────  LAPIC IRR
//
// An ISA interrupt line drives both the 8259s and the I/O APIC pin the MP
// table names. The CPU takes the local APIC's best vector first and the
// 8259's (through LINT0, while it is unmasked) otherwise, as QEMU's
// cpu_get_pic_interrupt does. A kernel that uses the APICs masks the 8259s
// (or LINT0) and programs the I/O APIC's redirection entries; one that
// does not sees the 8259s alone, as before.
//
// Time: the PIT, the local APIC timer and the RTC share the machine's one
// clock (irq.go), so every timer is deterministic on Unicorn.

// MaxMemSize is the most guest RAM a machine has: 3.5 GiB, all of it below
// 4 GiB, as on QEMU's i440FX PC, whose PCI hole begins at 0xE0000000 —
// below the I/O APIC, the local APIC and the VMM region.
const MaxMemSize = 0xE0000000

// CheckMemSize says what is wrong with a guest RAM size, if anything.
func CheckMemSize(n uint32) error {
	if n%4096 != 0 || n < 2<<20 || uint64(n) > MaxMemSize {
		return fmt.Errorf("vmm: memory size %d: must be a multiple of 4 KiB between 2 MiB and %d MiB", n, MaxMemSize>>20)
	}
	return nil
}

// setupPlatform creates the APICs, the RTC and the UART's interrupt, and
// wires the interrupt lines.
func (m *Machine) setupPlatform() error {
	m.LAPIC = NewLAPIC()
	m.IOAPIC = NewIOAPIC()
	m.RTC = NewRTC(m.Cfg.MemSize)
	m.RTC.Now = m.Now
	for irq, pin := range ISAToIOAPICPin {
		if pin >= 0 {
			m.IOAPIC.PinCause[pin] = CauseIRQ(irq)
		}
	}
	m.IOAPIC.Deliver = func(vec, dest uint8, logical, level bool, cause string) {
		if m.LAPIC.Matches(dest, logical) {
			m.LAPIC.Request(vec, level, cause)
		}
	}
	m.LAPIC.OnEOI = m.IOAPIC.EOI
	m.PIT.OnOut0(func(level bool) { m.SetISAIRQ(0, level) })
	m.Serial.OnIRQ = func(level bool) { m.SetISAIRQ(4, level) }
	if m.Cfg.Input != nil {
		m.Serial.Feed(m.Cfg.Input)
	}
	m.Serial.SetLive(m.Cfg.LiveInput || m.Cfg.InputReader != nil)
	if r := m.Cfg.InputReader; r != nil {
		go func() {
			buf := make([]byte, 256)
			for {
				n, err := r.Read(buf)
				m.Serial.Feed(buf[:n])
				if err != nil {
					m.Serial.SetLive(false)
					return
				}
			}
		}()
	}
	m.Serial.Poll()
	if err := m.Bus.Register(0x70, 0x71, m.RTC); err != nil {
		return fmt.Errorf("vmm: %w", err)
	}
	if err := m.Bus.Register(PortCRTCIndex, PortCRTCData, &CRTC{}); err != nil {
		return fmt.Errorf("vmm: %w", err)
	}
	m.KBC = NewKBC()
	m.KBC.SetIRQ = m.SetISAIRQ
	for _, port := range []uint16{PortKBCData, PortKBCStatus, PortA} {
		if err := m.Bus.Register(port, port, m.KBC); err != nil {
			return fmt.Errorf("vmm: %w", err)
		}
	}
	m.PCI = NewPCI()
	if err := m.Bus.Register(PortPCIAddr, PortPCIData+3, m.PCI); err != nil {
		return fmt.Errorf("vmm: %w", err)
	}
	return nil
}

// writeFirmware places the BIOS data area and the MP tables in guest
// RAM, except where the image itself was loaded (a flat binary low in
// memory keeps its bytes; its kernel then finds no MP table).
func (m *Machine) writeFirmware() error {
	for _, b := range FirmwareTables() {
		if m.overlapsImage(b.Addr, uint32(len(b.Data))) {
			continue
		}
		if err := m.write(b.Addr, b.Data); err != nil {
			return fmt.Errorf("vmm: firmware tables: %w", err)
		}
	}
	return nil
}

func (m *Machine) overlapsImage(addr, n uint32) bool {
	for _, s := range m.Img.Segments {
		if addr < s.Addr+s.MemSize && s.Addr < addr+n {
			return true
		}
	}
	return false
}

// SetISAIRQ drives ISA interrupt line irq: the 8259 input and the I/O
// APIC pin the MP table assigns it.
func (m *Machine) SetISAIRQ(irq int, level bool) {
	m.PIC.SetIRQ(irq, level)
	if irq >= 0 && irq < len(ISAToIOAPICPin) && ISAToIOAPICPin[irq] >= 0 {
		m.IOAPIC.SetPin(ISAToIOAPICPin[irq], level)
	}
}

// PendingIRQ reports whether an external interrupt waits for the CPU: a
// vector the local APIC would deliver, or the 8259's request through LINT0.
func (m *Machine) PendingIRQ() bool {
	if _, ok := m.LAPIC.Pending(); ok {
		return true
	}
	if !m.LAPIC.AcceptsPIC() {
		return false
	}
	_, ok := m.PIC.Pending()
	return ok
}

// acknowledgeIRQ is the CPU's interrupt acknowledge: the local APIC's
// vector first, else the 8259's. cause is the event cause ("irq/0").
func (m *Machine) acknowledgeIRQ() (vec uint8, cause string, ok bool) {
	if vec, cause, ok := m.LAPIC.Acknowledge(); ok {
		return vec, cause, true
	}
	if !m.LAPIC.AcceptsPIC() {
		return 0, "", false
	}
	vec, ok = m.PIC.Acknowledge()
	if !ok {
		return 0, "", false
	}
	return vec, CauseIRQ(m.PIC.IRQOf(vec)), true
}

// lapicNow is the local APIC's time: the machine's clock in APIC ticks.
func (m *Machine) lapicNow() uint64 { return m.Now() * LAPICTicksPerPITTick }

// armAPICTimer notes a change of the APIC timer: the clock starts (if the
// PIT has not started it) at the end of this instruction, and the next
// deadline is recomputed.
func (m *Machine) armAPICTimer() {
	if m.clock == nil {
		m.wantClock = true
		return
	}
	m.schedule()
}

// nextTimerEvent is the PIT tick of the next event of any timer.
func (m *Machine) nextTimerEvent() (uint64, bool) {
	now := m.Now()
	at, ok := m.PIT.NextEvent(now)
	if t, lok := m.LAPIC.NextEvent(m.lapicNow()); lok {
		lt := (t + LAPICTicksPerPITTick - 1) / LAPICTicksPerPITTick
		if !ok || lt < at {
			at, ok = lt, true
		}
	}
	return at, ok
}

// InputFeeder is an instance whose guest UART takes input while it runs
// (every Unicorn strategy: the Machine's FeedInput); the terminal UI types
// into the guest through it. Configure the run with LiveInput so that a
// guest waiting for input waits in real time.
type InputFeeder interface{ FeedInput(b []byte) }

// FeedInput queues bytes for the guest's UART; safe from any goroutine
// (the terminal UI types into the guest with it).
func (m *Machine) FeedInput(b []byte) { m.Serial.Feed(b) }

// waitForInput blocks (in real time) until a live input source sends a
// byte or the run is interrupted; it reports whether input arrived.
func (m *Machine) waitForInput() bool {
	if !m.Serial.ReceiveInterrupts() {
		return false // the guest is not waiting for input
	}
	deadline := time.Now().Add(m.Cfg.TimeBudget - m.wall)
	for m.Serial.Live() && !m.interrupt.Load() && time.Now().Before(deadline) {
		if m.Serial.HostPending() {
			m.Serial.Poll()
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}
