package vmm

// The Intel 8259A Programmable Interrupt Controller, as the PC's pair.
//
// # What the chips do on a PC
//
// An 8259A takes eight interrupt request lines (IR0-IR7), remembers which
// have asked (the Interrupt Request Register, IRR), hides the ones software
// masked (the Interrupt Mask Register, IMR), and when the best remaining
// request outranks everything being serviced (the In-Service Register,
// ISR) it raises INT to the CPU. The CPU answers with an interrupt
// acknowledge (INTA) cycle; the chip moves the request from IRR to ISR and
// puts a vector on the bus, the IDT index the CPU then uses. The handler
// ends with an End Of Interrupt command (EOI), which clears the ISR bit and
// lets lower priorities through again.
//
// A PC has two: the master at ports 0x20-0x21 (IRQ 0-7) and a slave at
// 0xA0-0xA1 (IRQ 8-15) whose INT output drives the master's IR2. When the
// master acknowledges IR2 it lets the slave supply the vector, so IRQ 8-15
// rank, as a group, where IRQ 2 would. A slave interrupt is in service on
// both chips and its handler must send EOI to both. The PIT is on IRQ 0.
//
// Software initialises each chip with a sequence of Initialisation Command
// Words: ICW1 (written to port+0 with bit 4 set) starts it; ICW2, the
// vector base, ICW3, the cascade wiring, and ICW4, the mode, follow on
// port+1 (ICW3 only in cascade mode, ICW4 only if ICW1 asked for it). After
// that, port+1 is the mask (OCW1) and port+0 takes commands: OCW2 (EOI and
// priority rotation) and OCW3 (which register a read of port+0 returns,
// the poll command, special mask mode).
//
// # What is modelled
//
//   - The ICW sequence: ICW1 clears IMR, IRR and ISR (the data sheet resets
//     the edge-sense circuit; clearing IRR is what QEMU does), selects IRR
//     for reads and sets fixed priority; ICW2's bits 7-3 are the vector
//     base; ICW3 is recorded (a master whose ICW3 has bit 2 set has the
//     slave on IR2); ICW4's auto-EOI and special-fully-nested bits are
//     honoured. Single mode (ICW1 bit 1) works: ICW3 is skipped and the
//     master then treats IR2 as an ordinary input, answering its vector
//     itself, while the slave's request stays in the slave's IRR.
//   - Vectors: base | IR, the 8086 format. An ICW4 asking for 8080/8085
//     mode, or no ICW4 at all, still gets 8086 vectors.
//   - Edge triggering: a rising edge on an input (SetIRQ low then high) sets
//     its IRR bit; a line that stays high does not ask again. IRR stays set
//     when the line falls before the acknowledge (QEMU's behaviour; on the
//     chip the request would be lost). The level-triggered mode (ICW1 bit 3)
//     is accepted and treated as edge-triggered, as QEMU does.
//   - Priority: fixed by default, IR0 highest; rotation is modelled too
//     (OCW2 rotate on non-specific or specific EOI, set priority, rotate in
//     auto-EOI mode). A request is delivered only if it outranks every
//     in-service level; in special mask mode (OCW3) masked in-service levels
//     do not count, and in special fully nested mode the master's cascade
//     level does not block further slave requests.
//   - OCW1 mask, read back on port+1. OCW2 non-specific and specific EOI.
//     OCW3 IRR/ISR select for reads of port+0, and the poll command: the
//     next read of either port returns 0x80|level of the chip's best
//     request and acknowledges it on that chip alone (0 if none).
//   - Cascade: the slave's INT output (any deliverable slave request) is the
//     master's IR2 input, edge-detected like any other. Acknowledging it
//     sets ISR bit 2 on the master and the request's bit on the slave
//     (unless that chip is in auto-EOI mode).
//   - Spurious interrupts: Acknowledge with no request pending returns the
//     master's IR7 vector and changes nothing, as the chip answers an INTA
//     that finds no request. If the master acknowledges IR2 but the slave has
//     nothing deliverable (its request was masked after it reached the
//     master), the slave answers with its IR7 vector — IRQ 15's — without
//     setting its ISR; the master's ISR bit 2 is set, so that handler must
//     send EOI to the master only, as on a PC.
//
// # Not modelled
//
// Buffered mode, the 8080/8085 call format, the ADI interval bit, level
// triggering and the ELCR registers, and INT timing (Pending reflects the
// state at once). Only IR2 can have a slave: ICW3 bits for other inputs
// are recorded and otherwise ignored, and the slave answers whatever ID its
// ICW3 holds. ICW1 leaves the input lines alone: a slave request still
// asserted across the master's ICW1 reaches the master again only after
// the slave's INT output falls and rises. SetIRQ(2, ...) is ignored: IR2 is the cascade, driven by the
// slave (on a PC, the ISA bus's IRQ 2 pin arrives at IRQ 9).
//
// # Power-on state
//
// As QEMU 7.2's SeaBIOS leaves the pair when a -kernel image starts
// (measured by reading the registers back from a multiboot kernel): both
// chips initialised, edge-triggered, cascaded on IR2, 8086 mode, normal EOI;
// master vector base 0x08, slave base 0x70; master IMR 0xB8 (IRQ 0, 1, 2
// and 6 unmasked), slave IMR 0x8E (IRQ 8, 12, 13 and 14 unmasked); IRR and
// ISR empty; reads of port+0 return IRR. Note that vector 0x08 is the
// double-fault vector in protected mode: like any PC kernel, a workload
// that takes interrupts reprograms the pair first.

// picChip is one 8259A.
type picChip struct {
	base          uint8 // vector of IR0 (ICW2 bits 7-3)
	irr, isr, imr uint8
	lines         uint8 // input line levels, for edge detection
	initStep      uint8 // 0: initialised; 2, 3, 4: the ICW expected next on port+1
	needICW4      bool
	single        bool
	icw3          uint8 // master: which inputs have slaves; slave: its ID
	autoEOI       bool
	rotateAEOI    bool
	sfnm          bool  // special fully nested mode
	lowest        uint8 // the lowest-priority input (7: fixed priority)
	readISR       bool  // a read of port+0 returns ISR, not IRR
	poll          bool  // the next read is a poll
	specialMask   bool
}

// highest is the highest-priority input set in mask.
func (c *picChip) highest(mask uint8) (irq int, ok bool) {
	for i := range 8 {
		irq := int(c.lowest+1+uint8(i)) & 7
		if mask&(1<<irq) != 0 {
			return irq, true
		}
	}
	return 0, false
}

// priority ranks an input: 0 is the highest.
func (c *picChip) priority(irq int) int { return (irq - int(c.lowest) - 1) & 7 }

// best is the request this chip would deliver now: the highest-priority
// unmasked request that outranks every in-service level.
func (c *picChip) best(master bool) (irq int, ok bool) {
	irq, ok = c.highest(c.irr &^ c.imr)
	if !ok {
		return 0, false
	}
	inService := c.isr
	if c.specialMask {
		inService &^= c.imr
	}
	if master && c.sfnm {
		inService &^= 1 << 2
	}
	if cur, busy := c.highest(inService); busy && c.priority(cur) <= c.priority(irq) {
		return 0, false
	}
	return irq, true
}

// ack is the chip's part of INTA for input irq.
func (c *picChip) ack(irq int) {
	c.irr &^= 1 << irq
	if !c.autoEOI {
		c.isr |= 1 << irq
	} else if c.rotateAEOI {
		c.lowest = uint8(irq)
	}
}

// setLine drives input irq; a rising edge requests.
func (c *picChip) setLine(irq int, level bool) {
	bit := uint8(1) << irq
	if level {
		if c.lines&bit == 0 {
			c.irr |= bit
		}
		c.lines |= bit
	} else {
		c.lines &^= bit
	}
}

// pollRead is the poll command's read: acknowledge the best request on
// this chip and report it.
func (c *picChip) pollRead(master bool) uint8 {
	c.poll = false
	irq, ok := c.best(master)
	if !ok {
		return 0
	}
	c.ack(irq)
	return 0x80 | uint8(irq)
}

func (c *picChip) writeCommand(v uint8) {
	switch {
	case v&0x10 != 0: // ICW1
		lines := c.lines
		*c = picChip{
			lines:    lines,
			base:     c.base,
			icw3:     c.icw3,
			initStep: 2,
			needICW4: v&1 != 0,
			single:   v&2 != 0,
			lowest:   7,
		}
	case v&0x08 == 0: // OCW2
		level := int(v & 7)
		switch v >> 5 {
		case 0: // clear rotate in auto-EOI mode
			c.rotateAEOI = false
		case 1, 5: // non-specific EOI (5: and rotate)
			if irq, ok := c.highest(c.isr); ok {
				c.isr &^= 1 << irq
				if v>>5 == 5 {
					c.lowest = uint8(irq)
				}
			}
		case 3: // specific EOI
			c.isr &^= 1 << level
		case 4: // set rotate in auto-EOI mode
			c.rotateAEOI = true
		case 6: // set priority
			c.lowest = uint8(level)
		case 7: // specific EOI and rotate
			c.isr &^= 1 << level
			c.lowest = uint8(level)
		}
	default: // OCW3
		if v&0x04 != 0 {
			c.poll = true
		}
		if v&0x02 != 0 {
			c.readISR = v&0x01 != 0
		}
		if v&0x40 != 0 {
			c.specialMask = v&0x20 != 0
		}
	}
}

func (c *picChip) writeData(v uint8) {
	switch c.initStep {
	case 0: // OCW1
		c.imr = v
	case 2: // ICW2
		c.base = v & 0xF8
		switch {
		case !c.single:
			c.initStep = 3
		case c.needICW4:
			c.initStep = 4
		default:
			c.initStep = 0
		}
	case 3: // ICW3
		c.icw3 = v
		c.initStep = 0
		if c.needICW4 {
			c.initStep = 4
		}
	case 4: // ICW4
		c.autoEOI = v&0x02 != 0
		c.sfnm = v&0x10 != 0
		c.initStep = 0
	}
}

// PIC is the PC's master/slave 8259A pair at ports 0x20-0x21 and
// 0xA0-0xA1; see the comment at the top of pic.go.
type PIC struct {
	master, slave picChip
}

// NewPIC returns the pair as SeaBIOS leaves it (see the file comment).
func NewPIC() *PIC {
	return &PIC{
		master: picChip{base: 0x08, icw3: 0x04, imr: 0xB8, lowest: 7},
		slave:  picChip{base: 0x70, icw3: 0x02, imr: 0x8E, lowest: 7},
	}
}

// Name implements Device.
func (p *PIC) Name() string { return "pic" }

// cascaded reports whether the master treats IR2 as its slave.
func (p *PIC) cascaded() bool { return !p.master.single && p.master.icw3&0x04 != 0 }

// update drives the master's IR2 from the slave's INT output.
func (p *PIC) update() {
	_, ok := p.slave.best(false)
	p.master.setLine(2, ok)
}

// SetIRQ drives interrupt line irq (0-15); a rising edge is a request.
// Lines out of range, and line 2 (the cascade), are ignored.
func (p *PIC) SetIRQ(irq int, level bool) {
	switch {
	case irq < 0 || irq > 15 || irq == 2:
		return
	case irq < 8:
		p.master.setLine(irq, level)
	default:
		p.slave.setLine(irq-8, level)
	}
	p.update()
}

// Pending is the vector the CPU would receive if it acknowledged now, and
// whether the master's INT output is asserted at all. It changes nothing.
func (p *PIC) Pending() (vector uint8, ok bool) {
	m, ok := p.master.best(true)
	if !ok {
		return 0, false
	}
	if m == 2 && p.cascaded() {
		if s, ok := p.slave.best(false); ok {
			return p.slave.base | uint8(s), true
		}
		return p.slave.base | 7, true // the slave's spurious IR7
	}
	return p.master.base | uint8(m), true
}

// Acknowledge is the CPU's INTA cycle: the best request moves from IRR to
// ISR (on both chips for a slave request; not at all in auto-EOI mode) and
// its vector is returned with ok = true. With no request pending, it
// returns the master's spurious IR7 vector with ok = false and changes
// nothing. A machine that acknowledges only after Pending said ok never
// sees ok = false.
func (p *PIC) Acknowledge() (vector uint8, ok bool) {
	m, ok := p.master.best(true)
	if !ok {
		return p.master.base | 7, false
	}
	p.master.ack(m)
	vector = p.master.base | uint8(m)
	if m == 2 && p.cascaded() {
		vector = p.slave.base | 7 // the slave's spurious IR7
		if s, ok := p.slave.best(false); ok {
			p.slave.ack(s)
			vector = p.slave.base | uint8(s)
		}
	}
	p.update()
	return vector, true
}

// In implements Device.
func (p *PIC) In(port uint16, size int) uint32 {
	if port >= 0xA0 {
		return isa8In(port, size, 0xA0, 0xA1, p.in)
	}
	return isa8In(port, size, 0x20, 0x21, p.in)
}

// Out implements Device.
func (p *PIC) Out(port uint16, size int, v uint32) {
	if port >= 0xA0 {
		isa8Out(port, size, v, 0xA0, 0xA1, p.out)
		return
	}
	isa8Out(port, size, v, 0x20, 0x21, p.out)
}

func (p *PIC) chip(port uint16) (c *picChip, master bool) {
	if port >= 0xA0 {
		return &p.slave, false
	}
	return &p.master, true
}

func (p *PIC) in(port uint16) uint8 {
	c, master := p.chip(port)
	if c.poll {
		v := c.pollRead(master)
		p.update()
		return v
	}
	switch {
	case port&1 != 0:
		return c.imr
	case c.readISR:
		return c.isr
	}
	return c.irr
}

func (p *PIC) out(port uint16, v uint8) {
	c, _ := p.chip(port)
	if port&1 != 0 {
		c.writeData(v)
	} else {
		c.writeCommand(v)
	}
	p.update()
}

// PICChipState is one 8259A's registers, for debuggers and tests.
type PICChipState struct {
	Base          uint8 // the vector of IR0
	IRR, ISR, IMR uint8
	Lines         uint8 // input line levels
	Initialised   bool  // false while an ICW sequence is incomplete
	AutoEOI       bool
}

func (c *picChip) state() PICChipState {
	return PICChipState{
		Base: c.base, IRR: c.irr, ISR: c.isr, IMR: c.imr, Lines: c.lines,
		Initialised: c.initStep == 0, AutoEOI: c.autoEOI,
	}
}

// IRQOf names the interrupt line (0–15) a vector of this PIC pair stands
// for under its current programming, or -1.
func (p *PIC) IRQOf(vec uint8) int {
	master, slave := p.State()
	switch {
	case vec >= master.Base && vec < master.Base+8:
		return int(vec - master.Base)
	case vec >= slave.Base && vec < slave.Base+8:
		return 8 + int(vec-slave.Base)
	}
	return -1
}

// State returns both chips' registers.
func (p *PIC) State() (master, slave PICChipState) {
	return p.master.state(), p.slave.state()
}
