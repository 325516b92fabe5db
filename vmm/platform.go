package vmm

import (
	"fmt"
	"time"

	"virtsim/ata"
	"virtsim/blkring"
	"virtsim/guest"
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
// Time: the PIT, the local APIC timer and the RTC share the platform's one
// clock (Platform's now: on Unicorn guest blocks, irq.go; on KVM exits,
// package hwassist), so every timer is as deterministic as that clock.
//
// The platform does not depend on the CPU substrate: the Unicorn machine
// and the kvm strategy (package hwassist) build the same Platform, so a
// kernel finds the same devices, tables and interrupt routing under every
// strategy.

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

// Platform is the PC's devices, independent of the CPU: the port bus with
// COM1, the debug-exit and POST ports, the PIT, the 8259 pair, port 0x61,
// the CMOS RTC, the CRT controller, the VGA status registers and ACPI's
// power-management ports; the local APIC and the I/O APIC
// (memory-mapped: MMIO, mmio.go); and the interrupt wiring between them.
type Platform struct {
	Bus     PortBus
	Serial  *Serial
	Exit    *DebugExit
	Post    *PostSink
	PIT     *PIT
	PIC     *PIC
	LAPIC   *LAPIC
	IOAPIC  *IOAPIC
	RTC     *RTC
	KBC     *KBC    // the PS/2 controller and port 0x92
	PCI     *PCI    // bus 0's configuration space
	PM      *ACPIPM // ACPI PM1a_CNT (power off)
	sysCtlB *SysCtlB
	until   *untilOutput // Config.UntilOutput, nil without it

	// now is the platform's clock in PIT input ticks.
	now func() uint64
}

// NewPlatform builds the devices as SeaBIOS leaves them, wires their
// interrupt lines, registers their ports and queues cfg's serial input
// (Input, and a goroutine reading InputReader). now is the guest clock in
// PIT input ticks.
func NewPlatform(cfg Config, now func() uint64) (*Platform, error) {
	echo := cfg.Serial
	p := &Platform{Exit: &DebugExit{}, Post: &PostSink{}, PIT: NewPIT(), PIC: NewPIC(),
		LAPIC: NewLAPIC(), IOAPIC: NewIOAPIC(), RTC: NewRTC(cfg.MemSize), KBC: NewKBC(), PCI: NewPCI(), PM: &ACPIPM{Now: now}, now: now}
	if cfg.UntilOutput != "" {
		p.until = &untilOutput{want: []byte(cfg.UntilOutput), next: echo}
		echo = p.until.write
	}
	p.Serial = NewSerial(guest.PortCOM1, echo)
	p.sysCtlB = &SysCtlB{PIT: p.PIT}
	vga := NewVGAStatus()
	p.RTC.Now = now
	p.RTC.SetIRQ = p.SetISAIRQ
	p.KBC.SetIRQ = p.SetISAIRQ
	for _, d := range []struct {
		lo, hi uint16
		dev    Device
	}{
		{guest.PortCOM1, guest.PortCOM1 + 7, p.Serial},
		{guest.PortDebugExit, guest.PortDebugExit + 3, p.Exit},
		{guest.PortPOST, guest.PortPOST, p.Post},
		{0x40, 0x43, p.PIT},
		{0x20, 0x21, p.PIC},
		{0xA0, 0xA1, p.PIC},
		{PortSysCtlB, PortSysCtlB, p.sysCtlB},
		{0x70, 0x71, p.RTC},
		{PortCRTCIndex, PortCRTCData, &CRTC{}},
		{PortVGAStatus1, PortVGAStatus1, vga},
		{PortVGAMiscWrite, PortVGAMiscWrite, vga},
		{PortVGAMiscRead, PortVGAMiscRead, vga},
		{PortELCR, PortELCR + 1, NewELCR()},
		{PortKBCData, PortKBCData, p.KBC},
		{PortKBCStatus, PortKBCStatus, p.KBC},
		{PortA, PortA, p.KBC},
		{PortPCIAddr, PortPCIData + 3, p.PCI},
		{PortPM1aEvt, PortPMTimer + 3, p.PM},
		{PortSMICmd, PortSMICmd, p.PM},
		{PortGPE0, PortGPE0 + 3, p.PM},
	} {
		if err := p.Bus.Register(d.lo, d.hi, d.dev); err != nil {
			return nil, fmt.Errorf("vmm: %w", err)
		}
	}
	for irq, pin := range ISAToIOAPICPin {
		if pin >= 0 {
			p.IOAPIC.PinCause[pin] = CauseIRQ(irq)
		}
	}
	p.IOAPIC.Deliver = func(vec, dest uint8, logical, level bool, cause string) {
		if p.LAPIC.Matches(dest, logical) {
			p.LAPIC.Request(vec, level, cause)
		}
	}
	p.LAPIC.OnEOI = p.IOAPIC.EOI
	p.PIT.OnOut0(func(level bool) { p.SetISAIRQ(0, level) })
	p.Serial.OnIRQ = func(level bool) { p.SetISAIRQ(4, level) }
	if cfg.Input != nil {
		p.Serial.Feed(cfg.Input)
	}
	p.Serial.SetLive(cfg.LiveInput || cfg.InputReader != nil)
	if r := cfg.InputReader; r != nil {
		go func() {
			buf := make([]byte, 256)
			for {
				n, err := r.Read(buf)
				p.Serial.Feed(buf[:n])
				if err != nil {
					p.Serial.SetLive(false)
					return
				}
			}
		}()
	}
	p.Serial.Poll()
	return p, nil
}

// AttachDisks attaches the IDE disk and the block ring (AttachDisks), the
// disk's interrupt on ISA IRQ 14 (the 8259 and the I/O APIC).
func (p *Platform) AttachDisks(cfg Config, img *guest.Image, mem blkring.Memory) (*Disks, error) {
	d, err := AttachDisks(&p.Bus, cfg, img, p.PIC, mem)
	if err != nil {
		return nil, err
	}
	d.ATA.SetIRQ = func(level bool) { p.SetISAIRQ(ata.IRQ, level) }
	return d, nil
}

// FirmwareFor is what the firmware leaves in guest RAM of memSize bytes
// for img: the BIOS data area, the MP tables and the ACPI tables
// (FirmwareTables), except where the image itself is loaded (a flat binary
// low in memory keeps its bytes; its kernel then finds no MP table).
func FirmwareFor(img *guest.Image, memSize uint32) []MemBlock {
	var bs []MemBlock
	for _, b := range FirmwareTables(memSize) {
		if !overlapsImage(img, b.Addr, uint32(len(b.Data))) {
			bs = append(bs, b)
		}
	}
	return bs
}

// writeFirmware places FirmwareFor's blocks in guest RAM.
func (m *Machine) writeFirmware() error {
	for _, b := range FirmwareFor(m.Img, m.Cfg.MemSize) {
		if err := m.write(b.Addr, b.Data); err != nil {
			return fmt.Errorf("vmm: firmware tables: %w", err)
		}
	}
	return nil
}

func overlapsImage(img *guest.Image, addr, n uint32) bool {
	for _, s := range img.Segments {
		if addr < s.Addr+s.MemSize && s.Addr < addr+n {
			return true
		}
	}
	return false
}

// SetISAIRQ drives ISA interrupt line irq: the 8259 input and the I/O
// APIC pin the MP table assigns it.
func (p *Platform) SetISAIRQ(irq int, level bool) {
	p.PIC.SetIRQ(irq, level)
	if irq >= 0 && irq < len(ISAToIOAPICPin) && ISAToIOAPICPin[irq] >= 0 {
		p.IOAPIC.SetPin(ISAToIOAPICPin[irq], level)
	}
}

// PendingVector is the vector the CPU's interrupt acknowledge would
// return now, if an external interrupt waits: the local APIC's, or the
// 8259's through LINT0.
func (p *Platform) PendingVector() (uint8, bool) {
	if vec, ok := p.LAPIC.Pending(); ok {
		return vec, true
	}
	if !p.LAPIC.AcceptsPIC() {
		return 0, false
	}
	return p.PIC.Pending()
}

// PendingIRQ reports whether an external interrupt waits for the CPU: a
// vector the local APIC would deliver, or the 8259's request through LINT0.
func (p *Platform) PendingIRQ() bool {
	_, ok := p.PendingVector()
	return ok
}

// AcknowledgeIRQ is the CPU's interrupt acknowledge: the local APIC's
// vector first, else the 8259's. cause is the event cause ("irq/0").
func (p *Platform) AcknowledgeIRQ() (vec uint8, cause string, ok bool) {
	if vec, cause, ok := p.LAPIC.Acknowledge(); ok {
		return vec, cause, true
	}
	if !p.LAPIC.AcceptsPIC() {
		return 0, "", false
	}
	vec, ok = p.PIC.Acknowledge()
	if !ok {
		return 0, "", false
	}
	return vec, CauseIRQ(p.PIC.IRQOf(vec)), true
}

// lapicNow is the local APIC's time: the platform's clock in APIC ticks.
func (p *Platform) lapicNow() uint64 { return p.now() * LAPICTicksPerPITTick }

// Sync brings the timers up to the platform's clock and moves host input
// into the UART; call it before touching any device, so that counter
// reads are exact.
func (p *Platform) Sync() {
	p.PIT.Advance(p.now())
	p.LAPIC.Advance(p.lapicNow())
	p.RTC.Advance(p.now())
	p.Serial.Poll()
}

// NextTimerEvent is the PIT tick of the next event of any timer (the PIT,
// the local APIC's).
func (p *Platform) NextTimerEvent() (uint64, bool) {
	now := p.now()
	at, ok := p.PIT.NextEvent(now)
	if t, lok := p.LAPIC.NextEvent(p.lapicNow()); lok {
		lt := (t + LAPICTicksPerPITTick - 1) / LAPICTicksPerPITTick
		if !ok || lt < at {
			at, ok = lt, true
		}
	}
	if rt, rok := p.RTC.NextEvent(now); rok && (!ok || rt < at) {
		at, ok = rt, true
	}
	return at, ok
}

// ResetRequested reports whether the guest reset the machine (the
// keyboard controller's pulse, port 0x92, the PCI reset control register
// 0xCF9), and the stop's reason: virtsim stops, as QEMU does with
// -no-reboot.
func (p *Platform) ResetRequested() (string, bool) {
	switch {
	case p.KBC.ResetRequested:
		return fmt.Sprintf("%s: the guest reset the machine (%s); virtsim stops, as QEMU does with -no-reboot", CauseSystemReset, p.KBC.Why), true
	case p.PCI.ResetRequested:
		return CauseSystemReset + ": the guest reset the machine (the reset control register, port 0xCF9); virtsim stops, as QEMU does with -no-reboot", true
	}
	return "", false
}

// ExitReason reports whether the run ends with status 0 for a reason
// other than the debug-exit port — the guest powered the machine off
// (ACPI, acpi.go), or its serial output has ended with Config.UntilOutput —
// and the stop's reason.
func (p *Platform) ExitReason() (string, bool) {
	switch {
	case p.PM.Off:
		return fmt.Sprintf("the guest powered the machine off (ACPI PM1a_CNT, port %#x: SLP_EN, sleep type 0), as QEMU exits", PortPM1aCnt), true
	case p.until != nil && p.until.hit:
		return fmt.Sprintf("the guest printed %q (--until-output)", p.until.want), true
	}
	return "", false
}

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

// InputFeeder is an instance whose guest UART takes input while it runs
// (every Unicorn strategy: the Machine's FeedInput; kvm); the terminal UI
// types into the guest through it. Configure the run with LiveInput so
// that a guest waiting for input waits in real time.
type InputFeeder interface{ FeedInput(b []byte) }

// FeedInput queues bytes for the guest's UART; safe from any goroutine
// (the terminal UI types into the guest with it).
func (p *Platform) FeedInput(b []byte) { p.Serial.Feed(b) }

// WaitForInput blocks (in real time) until a live input source sends a
// byte, the deadline passes or stop says so; it reports whether input
// arrived.
func (p *Platform) WaitForInput(deadline time.Time, stop func() bool) bool {
	if !p.Serial.ReceiveInterrupts() {
		return false // the guest is not waiting for input
	}
	for p.Serial.Live() && !stop() && time.Now().Before(deadline) {
		if p.Serial.HostPending() {
			p.Serial.Poll()
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// waitForInput is WaitForInput within the run's time budget, until the
// run is interrupted.
func (m *Machine) waitForInput() bool {
	return m.WaitForInput(time.Now().Add(m.Cfg.TimeBudget-m.wall), m.interrupt.Load)
}
