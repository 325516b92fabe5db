package vmm

// The Intel 8254 Programmable Interval Timer.
//
// # What the chip does on a PC
//
// The 8254 holds three 16-bit down-counters clocked at 1,193,182 Hz (a
// third of the 3.58 MHz NTSC colour-burst crystal). Channel 0's output (OUT)
// is wired to IRQ 0 of the master 8259 PIC: it is the system timer. Channel
// 1 once refreshed DRAM; channel 2 drives the PC speaker, its gate being
// bit 0 of port 0x61. Software programs a channel by writing a control word
// to port 0x43 (which counter, how its count is accessed, which of six
// modes, binary or BCD) and then the initial count to the counter's port
// (0x40, 0x41, 0x42), and reads the count back from the same port — live,
// after a counter-latch command, or after a read-back command, which can
// also latch a status byte.
//
// # Time
//
// This model has no clock of its own. Time is a tick number: tick t is the
// t-th pulse of the input clock (CLK), and the machine moves time forward
// with Advance(now), which applies every pulse numbered <= now. The machine
// decides what a tick is (on Unicorn it is a deterministic amount of guest
// execution; on a PC it would be 1/1,193,182 s). In and Out act at the time
// of the last Advance, so the machine advances the timer to the current
// time before each access to ports 0x40-0x43, and asks NextEvent again
// after each one, since a write may reschedule channel 0.
//
// Nothing is simulated pulse by pulse: every counter is a formula of the
// ticks elapsed since its count was loaded, so Advance, NextEvent, In and
// Out cost the same whether one tick or a billion went by.
//
// # Exact conventions (the 8254 data sheet's, with CLK pulse = tick)
//
// A count N (a written 0 means 65536, or 10000 in BCD) written at tick w —
// the last Advance was to w — enters the counting element (CE) on the next
// pulse, tick w+1, where the CE reads N; each later tick decrements it.
// Until then the status byte's null-count bit is set. Then:
//
//   - Mode 0, interrupt on terminal count: OUT goes low when the control
//     word is written and when a count is written (with a two-byte count,
//     already at the first byte, which also stops the counting). The CE
//     reads N-k at tick w+1+k and wraps past 0 to 0xFFFF; OUT rises at tick
//     w+1+N — N ticks after the load, N+1 after the write, as the data sheet
//     says — and stays high. A count written mid-count restarts the one-shot.
//   - Mode 2, rate generator: OUT is high. The CE reads N, N-1, ..., 1; on
//     the tick it reads 1 OUT is low, and on the next tick the CE reloads N
//     and OUT rises again. So OUT rises at ticks w+1+N·j, j >= 1: a period
//     of N ticks with a one-tick low pulse before each rising edge. A count
//     written while counting takes effect at the next reload. N = 1 is
//     illegal on the 8254; here the CE reads 1 and OUT stays high.
//   - Mode 3, square wave: OUT is high for ceil(N/2) ticks and low for
//     floor(N/2), period N, rising at ticks w+1+N·j, j >= 1. The CE counts
//     down by two: from N for an even N, from N-1 for an odd N (and an odd
//     count's high half shows a 0 on its last tick), as the data sheet
//     describes. A count written while counting takes effect at the end of
//     the current half-cycle, which then starts with the new count. N = 1
//     leaves OUT high.
//   - Mode 4, software-triggered strobe: OUT is high, low for the single
//     tick w+1+N, high again from w+2+N (a rising edge). A new count
//     rewrites the strobe and is loaded on the next tick.
//   - Modes 1 and 5 are started by a rising edge on the channel's GATE
//     input. Every GATE is held high here (true of channels 0 and 1 on a
//     PC), so those modes accept a count, keep OUT high and never start:
//     the count stays null and the CE keeps its value.
//
// Control-word modes 6 and 7 are aliases of 2 and 3 (the status byte shows
// the bits as written). Writing a control word stops the channel: the CE
// holds its value until the next count is loaded, latches are discarded,
// OUT goes to the mode's initial level (low in mode 0, high otherwise) —
// and if that is a rise on channel 0, it is an IRQ 0 edge, as on the chip.
//
// BCD counting is modelled: counts are written, counted and read back in
// four BCD digits, with 0 meaning 10000. A nibble above 9 is taken at face
// value and the count reduced modulo 10000.
//
// Reading: in LSB-only and MSB-only access a read returns that byte of the
// CE; in LSB-then-MSB access reads alternate, and an unlatched pair may
// straddle a tick, as on the chip. A counter-latch command (or read-back
// with COUNT=0) freezes the CE value in the output latch until it has been
// read out (one or two reads, starting with the LSB); a second latch before
// that is ignored. A read-back with STATUS=0 latches the status byte
// (bit 7 OUT, bit 6 null count, bits 5-4 access, 3-1 mode, 0 BCD), which
// the next read returns before any latched count. Reads and writes keep
// separate byte flip-flops, so they may interleave. Port 0x43 reads as 0x00
// (the control register is write-only; QEMU answers 0 too). Wider accesses
// are split into byte accesses at consecutive ports, as the ISA bus does.
//
// # Power-on state
//
// The data sheet leaves mode, count and OUT undefined until programmed.
// Here every channel is as if it had been programmed for mode 0, binary,
// LSB-then-MSB access, and its count had run out long ago: OUT high, the CE
// reads 0, nothing is scheduled. A PC BIOS leaves channel 0 running (SeaBIOS
// under QEMU: mode 2, count 65536, IRQ 0 every 55 ms); this model leaves it
// idle so that a run is free of timer events until the guest programs the
// timer, which every workload that uses it does. OUT high at power-on means
// a first control word for mode 2 or 3 makes no spurious IRQ 0 edge.
//
// Not modelled: the GATE inputs (see modes 1 and 5) and port 0x61, so
// channel 2 cannot be gated or heard; the undefined power-on state; the
// electrical detail of when within a CLK period a write lands.

// pitMod returns the counting modulus: 10000 in BCD, 65536 in binary.
func pitMod(bcd bool) uint32 {
	if bcd {
		return 10000
	}
	return 65536
}

// pitDecode turns a written 16-bit count into the number of ticks it
// counts: 0 means the full modulus.
func pitDecode(raw uint16, bcd bool) uint32 {
	v := uint32(raw)
	if bcd {
		v = uint32(raw>>12&0xF)*1000 + uint32(raw>>8&0xF)*100 + uint32(raw>>4&0xF)*10 + uint32(raw&0xF)
		v %= 10000
	}
	if v == 0 {
		return pitMod(bcd)
	}
	return v
}

// pitEncode turns a CE value into the 16 bits a read returns.
func pitEncode(v uint32, bcd bool) uint16 {
	v %= pitMod(bcd)
	if !bcd {
		return uint16(v)
	}
	return uint16(v/1000)<<12 | uint16(v/100%10)<<8 | uint16(v/10%10)<<4 | uint16(v%10)
}

// pitSeg is one stretch of counting: the count n entered the CE on tick
// start and has been counted ever since.
type pitSeg struct {
	n     uint32 // ticks per count: 1..65536 (binary) or 1..10000 (BCD)
	start uint64 // the tick on which n entered the CE
	phase uint32 // mode 3: the position in the square-wave cycle at start
}

// pitChannel is one of the 8254's three counters.
type pitChannel struct {
	// From the control word.
	rw       uint8 // access: 1 LSB only, 2 MSB only, 3 LSB then MSB
	modeBits uint8 // M2-M0 as written (6 and 7 alias 2 and 3)
	mode     uint8 // the effective mode, 0-5
	bcd      bool

	// Write side.
	writeMSB bool  // LSB-then-MSB: the next write is the MSB
	lsb      uint8 // the LSB written, waiting for its MSB

	// Read side.
	readMSB       bool   // LSB-then-MSB live reads: the next read is the MSB
	countLatched  bool   // the output latch holds a latched count
	latchMSB      bool   // the next read of the latched count is its MSB
	latch         uint16 // the latched count, as read
	statusLatched bool
	status        uint8

	nullCount bool // a written count has not entered the CE yet

	// The counting element: counting seg, or holding hold with OUT at outHold.
	run     bool
	seg     pitSeg
	hold    uint32
	outHold bool

	// A written count waiting to enter the CE, at tick pendAt (or never,
	// in the gate-triggered modes 1 and 5).
	pend      bool
	pendNever bool
	pendAt    uint64
	pendSeg   pitSeg
}

// powerOn is the state documented in the file comment: mode 0 whose count
// ran out long ago.
func (c *pitChannel) powerOn() {
	*c = pitChannel{rw: 3, outHold: true}
}

// pitHigh is the length of mode 3's high half-cycle: ceil(n/2).
func pitHigh(n uint32) uint32 { return (n + 1) / 2 }

// segOut is OUT at tick u >= s.start.
func (c *pitChannel) segOut(s pitSeg, u uint64) bool {
	k := u - s.start
	switch c.mode {
	case 0:
		return k >= uint64(s.n)
	case 2:
		if s.n == 1 {
			return true
		}
		return k%uint64(s.n) != uint64(s.n-1)
	case 3:
		return uint32((k+uint64(s.phase))%uint64(s.n)) < pitHigh(s.n)
	case 4:
		return k != uint64(s.n)
	}
	return true
}

// segCE is the CE value at tick u >= s.start.
func (c *pitChannel) segCE(s pitSeg, u uint64) uint32 {
	k := u - s.start
	m := pitMod(c.bcd)
	switch c.mode {
	case 2:
		return s.n - uint32(k%uint64(s.n))
	case 3:
		pos := uint32((k + uint64(s.phase)) % uint64(s.n))
		if h := pitHigh(s.n); pos >= h {
			pos -= h
		}
		return s.n&^1 - 2*pos
	}
	// Modes 0 and 4 count down once and wrap.
	return (s.n + m - uint32(k%uint64(m))) % m
}

// segRise is the first tick u > t (t >= s.start) at which OUT rises
// within segment s.
func (c *pitChannel) segRise(s pitSeg, t uint64) (uint64, bool) {
	switch c.mode {
	case 0:
		if u := s.start + uint64(s.n); u > t {
			return u, true
		}
	case 4:
		if u := s.start + uint64(s.n) + 1; u > t {
			return u, true
		}
	case 2, 3:
		if s.n == 1 {
			return 0, false
		}
		n := uint64(s.n)
		q := (t - s.start + uint64(s.phase)) % n
		return t + n - q, true
	}
	return 0, false
}

// ce is the CE value now (the channel settled at now).
func (c *pitChannel) ce(now uint64) uint32 {
	if !c.run {
		return c.hold
	}
	return c.segCE(c.seg, now)
}

// out is OUT now (the channel settled at now).
func (c *pitChannel) out(now uint64) bool {
	if !c.run {
		return c.outHold
	}
	return c.segOut(c.seg, now)
}

// settle applies a pending load whose tick has come.
func (c *pitChannel) settle(now uint64) {
	if c.pend && !c.pendNever && c.pendAt <= now {
		c.run, c.seg = true, c.pendSeg
		c.pend, c.nullCount = false, false
	}
}

// freeze stops counting, holding the CE's value.
func (c *pitChannel) freeze(now uint64) {
	if c.run {
		c.hold, c.run = c.segCE(c.seg, now), false
	}
}

// nextRise is the first tick > now at which OUT rises (the channel
// settled at now).
func (c *pitChannel) nextRise(now uint64) (uint64, bool) {
	pending := c.pend && !c.pendNever
	if c.run {
		if u, ok := c.segRise(c.seg, now); ok && (!pending || u < c.pendAt) {
			return u, true
		}
	}
	if !pending {
		return 0, false
	}
	if !c.out(c.pendAt-1) && c.segOut(c.pendSeg, c.pendAt) {
		return c.pendAt, true
	}
	return c.segRise(c.pendSeg, c.pendAt)
}

// control applies a control word selecting this channel (access != 0).
func (c *pitChannel) control(now uint64, v uint8) {
	c.freeze(now)
	c.rw = v >> 4 & 3
	c.modeBits = v >> 1 & 7
	c.mode = c.modeBits
	if c.mode >= 6 {
		c.mode -= 4
	}
	c.bcd = v&1 != 0
	c.outHold = c.mode != 0
	c.nullCount = true
	c.pend, c.pendNever = false, false
	c.writeMSB, c.readMSB = false, false
	c.countLatched, c.latchMSB, c.statusLatched = false, false, false
}

// load takes a complete count written at tick now.
func (c *pitChannel) load(now uint64, raw uint16) {
	n := pitDecode(raw, c.bcd)
	c.nullCount = true
	c.pend, c.pendNever = true, false
	c.pendSeg = pitSeg{n: n}
	c.pendAt = now + 1
	switch c.mode {
	case 0:
		c.freeze(now)
		c.outHold = false
	case 1, 5:
		c.pendNever = true
		return
	case 2:
		if c.run {
			// At the end of the current period: the next reload.
			old := uint64(c.seg.n)
			c.pendAt = now + old - (now-c.seg.start)%old
		}
	case 3:
		if c.run {
			// At the end of the current half-cycle; the new count
			// starts with the other half.
			old := c.seg.n
			pos := uint32((now - c.seg.start + uint64(c.seg.phase)) % uint64(old))
			if h := pitHigh(old); pos < h {
				c.pendAt = now + uint64(h-pos)
				c.pendSeg.phase = pitHigh(n) % n
			} else {
				c.pendAt = now + uint64(old-pos)
			}
		}
	}
	c.pendSeg.start = c.pendAt
}

// write is a write to the channel's port.
func (c *pitChannel) write(now uint64, b uint8) {
	switch c.rw {
	case 1:
		c.load(now, uint16(b))
	case 2:
		c.load(now, uint16(b)<<8)
	default:
		if !c.writeMSB {
			c.lsb, c.writeMSB = b, true
			if c.mode == 0 {
				// The first byte stops the count and drops OUT.
				c.freeze(now)
				c.pend = false
				c.outHold = false
			}
			return
		}
		c.writeMSB = false
		c.load(now, uint16(c.lsb)|uint16(b)<<8)
	}
}

// read is a read of the channel's port.
func (c *pitChannel) read(now uint64) uint8 {
	if c.statusLatched {
		c.statusLatched = false
		return c.status
	}
	if c.countLatched {
		v := c.latch
		switch {
		case c.rw == 1:
			c.countLatched = false
			return uint8(v)
		case c.rw == 2:
			c.countLatched = false
			return uint8(v >> 8)
		case !c.latchMSB:
			c.latchMSB = true
			return uint8(v)
		}
		c.countLatched, c.latchMSB = false, false
		return uint8(v >> 8)
	}
	v := pitEncode(c.ce(now), c.bcd)
	switch c.rw {
	case 1:
		return uint8(v)
	case 2:
		return uint8(v >> 8)
	}
	c.readMSB = !c.readMSB
	if c.readMSB {
		return uint8(v)
	}
	return uint8(v >> 8)
}

func (c *pitChannel) latchCount(now uint64) {
	if !c.countLatched {
		c.countLatched, c.latchMSB = true, false
		c.latch = pitEncode(c.ce(now), c.bcd)
	}
}

func (c *pitChannel) statusByte(now uint64) uint8 {
	s := c.rw<<4 | c.modeBits<<1
	if c.out(now) {
		s |= 0x80
	}
	if c.nullCount {
		s |= 0x40
	}
	if c.bcd {
		s |= 1
	}
	return s
}

func (c *pitChannel) latchStatus(now uint64) {
	if !c.statusLatched {
		c.statusLatched, c.status = true, c.statusByte(now)
	}
}

// PIT is an Intel 8254 at ports 0x40-0x43; see the comment at the top of
// pit.go for the timing conventions.
type PIT struct {
	ch     [3]pitChannel
	now    uint64
	out0   bool // channel 0's OUT as last reported to onOut0
	onOut0 func(level bool)
}

// NewPIT returns a PIT in the power-on state: all channels idle, OUT high.
func NewPIT() *PIT {
	p := &PIT{out0: true}
	for i := range p.ch {
		p.ch[i].powerOn()
	}
	return p
}

// Name implements Device.
func (p *PIT) Name() string { return "pit" }

// Now is the tick of the last Advance.
func (p *PIT) Now() uint64 { return p.now }

// OnOut0 sets the function called whenever channel 0's OUT changes level
// (on a PC, the IRQ 0 line: a rising edge is an interrupt request). It is
// called from Advance and Out, after the PIT's state is consistent. If an
// Advance skips over several rising edges, they arrive as one low-high
// pair, as an edge-triggered PIC would latch them anyway; the machine
// advances to NextEvent to see each one. OUT starts high (see power-on in
// the file comment), so the first report is always a fall: a PIC whose
// line starts low needs no initial synchronisation.
func (p *PIT) OnOut0(fn func(level bool)) { p.onOut0 = fn }

// Out0 is channel 0's OUT level now.
func (p *PIT) Out0() bool { return p.ch[0].out(p.now) }

// Output is channel ch's OUT level now (false for a channel that does not
// exist).
func (p *PIT) Output(ch int) bool {
	if ch < 0 || ch > 2 {
		return false
	}
	return p.ch[ch].out(p.now)
}

// Count is channel ch's counting element now, as a live read would see it,
// without touching latches or byte flip-flops (for debuggers and tests).
func (p *PIT) Count(ch int) uint16 {
	if ch < 0 || ch > 2 {
		return 0
	}
	c := &p.ch[ch]
	return pitEncode(c.ce(p.now), c.bcd)
}

// Advance moves time to tick now, applying every CLK pulse up to and
// including now, and reports channel 0's OUT changes. Time only moves
// forward: an earlier now is ignored.
func (p *PIT) Advance(now uint64) {
	if now <= p.now {
		return
	}
	rise, ok := p.ch[0].nextRise(p.now)
	for i := range p.ch {
		p.ch[i].settle(now)
	}
	p.now = now
	if ok && rise <= now {
		if p.out0 {
			p.report(false)
		}
		p.report(true)
	}
	p.sync0()
}

// NextEvent is the earliest tick after now at which channel 0's OUT rises
// — the next IRQ 0 edge — if one is scheduled. now is normally the time of
// the last Advance; an earlier now is taken as that time. It changes
// nothing.
func (p *PIT) NextEvent(now uint64) (at uint64, ok bool) {
	now = max(now, p.now)
	c := p.ch[0]
	c.settle(now)
	return c.nextRise(now)
}

// In implements Device.
func (p *PIT) In(port uint16, size int) uint32 {
	return isa8In(port, size, 0x40, 0x43, p.in)
}

// Out implements Device.
func (p *PIT) Out(port uint16, size int, v uint32) {
	isa8Out(port, size, v, 0x40, 0x43, p.out)
}

func (p *PIT) in(port uint16) uint8 {
	if port == 0x43 {
		return 0
	}
	return p.ch[port-0x40].read(p.now)
}

func (p *PIT) out(port uint16, v uint8) {
	if port != 0x43 {
		p.ch[port-0x40].write(p.now, v)
		p.sync0()
		return
	}
	sc := v >> 6
	if sc == 3 { // read-back
		for i := range p.ch {
			if v&(2<<i) == 0 {
				continue
			}
			if v&0x20 == 0 {
				p.ch[i].latchCount(p.now)
			}
			if v&0x10 == 0 {
				p.ch[i].latchStatus(p.now)
			}
		}
		return
	}
	c := &p.ch[sc]
	if v>>4&3 == 0 {
		c.latchCount(p.now)
		return
	}
	c.control(p.now, v)
	p.sync0()
}

// sync0 reports channel 0's OUT if it differs from what was last reported.
func (p *PIT) sync0() {
	if l := p.ch[0].out(p.now); l != p.out0 {
		p.report(l)
	}
}

func (p *PIT) report(level bool) {
	p.out0 = level
	if p.onOut0 != nil {
		p.onOut0(level)
	}
}

// isa8In performs a size-byte read from an 8-bit device owning ports
// lo..hi as the ISA bus does: one byte access per port from port upwards,
// least significant byte first; a port the device does not own reads 0xFF.
func isa8In(port uint16, size int, lo, hi uint16, in func(uint16) uint8) uint32 {
	var v uint32
	for i := range max(size, 1) {
		b := uint8(0xFF)
		if q := port + uint16(i); q >= lo && q <= hi {
			b = in(q)
		}
		v |= uint32(b) << (8 * i)
	}
	return v
}

// isa8Out is isa8In's write counterpart; bytes for ports the device does
// not own are dropped.
func isa8Out(port uint16, size int, v uint32, lo, hi uint16, out func(uint16, uint8)) {
	for i := range max(size, 1) {
		if q := port + uint16(i); q >= lo && q <= hi {
			out(q, uint8(v>>(8*i)))
		}
	}
}
