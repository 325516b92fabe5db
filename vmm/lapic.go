package vmm

import "fmt"

// The local APIC (xAPIC, memory-mapped at LAPICBase), as QEMU 7.2 presents
// it to a 32-bit kernel on its i440FX PC with one CPU.
//
// # What the local APIC does
//
// Every CPU of a multiprocessor PC has its own interrupt controller. It
// takes interrupts from the I/O APIC (messages naming a vector), from its
// own timer and from its two local pins LINT0 and LINT1, keeps the vectors
// that asked in a 256-bit Interrupt Request Register (IRR) and those being
// serviced in the In-Service Register (ISR), and offers the CPU the highest
// requested vector whose priority class (vector >> 4) is above the
// processor priority: the higher of the Task Priority Register (TPR, set
// by software) and the class of the highest vector in service. The
// handler ends with a write to EOI, which retires the highest in-service
// vector. LINT0 is where the 8259 PIC's output arrives ("virtual wire"
// mode, delivery mode ExtINT): while it is unmasked the PIC's interrupts
// still reach the CPU, with the PIC supplying the vector.
//
// # What is modelled
//
//   - Registers: ID (read/write), version 0x00050014 (version 0x14, six
//     LVT entries), TPR, APR (0), PPR, EOI, LDR, DFR, SVR (bit 8 enables the
//     APIC in software; clearing it masks every LVT, as the SDM and QEMU
//     do), ISR, TMR, IRR, ESR, ICR, the six LVT entries (timer, thermal,
//     performance, LINT0, LINT1, error; no CMCI, as in QEMU), the timer's initial count,
//     current count and divide configuration. A reserved offset (and the
//     remote-read register, which QEMU does not implement) reads 0 and
//     sets the ESR's illegal-register bit (0x80), as QEMU does; as in QEMU
//     the ESR only accumulates (a write neither latches nor clears it).
//   - Priority: fixed-mode vectors through IRR/ISR/TPR/PPR; EOI retires
//     the highest in-service vector and, if it was level-triggered (TMR),
//     tells the I/O APIC (its remote IRR clears).
//   - The timer: one-shot and periodic modes, the divide configuration
//     (1, 2, 4, ... 128), current-count reads, masking (a masked timer
//     keeps counting). Its input clock runs at LAPICTicksPerPITTick times
//     the PIT's, which is QEMU's 1 GHz on the PIT's time scale; on Unicorn
//     the PIT's ticks are guest blocks (irq.go), so the timer is as
//     deterministic as the PIT. TSC-deadline mode is not offered (the CPU
//     model does not advertise it); selecting it stops the timer.
//   - The ICR: a fixed IPI to this CPU (shorthand self or all-including-self,
//     or its own ID) sets the vector in IRR. INIT, SIPI and anything else
//     sent to other CPUs find no one — a one-CPU PC — and are dropped, as on
//     an xAPIC: the delivery-status bit reads idle at once and the ESR
//     stays 0 (the P6's "send accept error" does not exist on the xAPIC).
//   - LINT0 in ExtINT mode: the PIC's requests pass while LINT0 is unmasked
//     (QEMU's rule: whatever its delivery mode).
//
// Not modelled: NMI, SMI and INIT delivered to this CPU, LINT1 (NMI), the
// thermal and performance monitors, the error interrupt, logical
// destinations other than the flat model, the x2APIC, the APIC base MSR
// (the APIC is always at LAPICBase and enabled in hardware).
//
// # Power-on state
//
// As SeaBIOS leaves it when a multiboot kernel starts under QEMU (read back
// from the probe in guest/platform): ID 0, SVR 0x1FF (enabled, spurious
// vector 0xFF), LINT0 0x8700 (ExtINT, unmasked), LINT1 0x8400 (NMI), the
// other LVTs masked, DFR 0xFFFFFFFF (flat), TPR 0, the timer stopped.

// LAPICBase is the local APIC's physical address.
const (
	LAPICBase = 0xFEE00000
	LAPICSize = 0x1000
)

// LAPICTicksPerPITTick is the local APIC timer's input clock in PIT input
// ticks: QEMU clocks the APIC timer at 1 GHz, and a PIT tick is
// 1/1,193,182 s, about 838 ns.
const LAPICTicksPerPITTick = 838

// Local APIC register offsets.
const (
	lapicID      = 0x020
	lapicVersion = 0x030
	lapicTPR     = 0x080
	lapicAPR     = 0x090
	lapicPPR     = 0x0A0
	lapicEOI     = 0x0B0
	lapicRRD     = 0x0C0
	lapicLDR     = 0x0D0
	lapicDFR     = 0x0E0
	lapicSVR     = 0x0F0
	lapicISR     = 0x100
	lapicTMR     = 0x180
	lapicIRR     = 0x200
	lapicESR     = 0x280
	lapicICRLo   = 0x300
	lapicICRHi   = 0x310
	lapicTimer   = 0x320
	lapicThermal = 0x330
	lapicPerf    = 0x340
	lapicLINT0   = 0x350
	lapicLINT1   = 0x360
	lapicError   = 0x370
	lapicInitCnt = 0x380
	lapicCurCnt  = 0x390
	lapicDivide  = 0x3E0

	lapicVersionValue = 0x00050014
	lvtMasked         = 1 << 16
	svrEnable         = 1 << 8
	icrDeliveryStatus = 1 << 12
)

// lapicRegNames names each register for event causes (mmio/lapic:NAME).
var lapicRegNames = map[uint32]string{
	lapicID: "ID", lapicVersion: "VER", lapicTPR: "TPR", lapicAPR: "APR", lapicPPR: "PPR",
	lapicEOI: "EOI", lapicRRD: "RRD", lapicLDR: "LDR", lapicDFR: "DFR", lapicSVR: "SVR",
	lapicESR: "ESR", lapicICRLo: "ICR-LO", lapicICRHi: "ICR-HI",
	lapicTimer: "LVT-TIMER", lapicThermal: "LVT-THERMAL", lapicPerf: "LVT-PERF",
	lapicLINT0: "LVT-LINT0", lapicLINT1: "LVT-LINT1", lapicError: "LVT-ERROR",
	lapicInitCnt: "TIMER-INIT", lapicCurCnt: "TIMER-CUR", lapicDivide: "TIMER-DIV",
}

// LAPICRegName is the name of the register at offset off ("EOI", "ISR",
// "reserved:0x400").
func LAPICRegName(off uint32) string {
	off &^= 0xF
	if n, ok := lapicRegNames[off]; ok {
		return n
	}
	switch {
	case off >= lapicISR && off < lapicTMR:
		return "ISR"
	case off >= lapicTMR && off < lapicIRR:
		return "TMR"
	case off >= lapicIRR && off < lapicIRR+0x80:
		return "IRR"
	}
	return fmt.Sprintf("reserved:%#x", off)
}

// lvtIndex maps an LVT register to its slot in LAPIC.lvt.
var lvtIndex = map[uint32]int{
	lapicTimer: 0, lapicThermal: 1, lapicPerf: 2, lapicLINT0: 3, lapicLINT1: 4, lapicError: 5,
}

// vecSet is a 256-bit register (IRR, ISR, TMR).
type vecSet [8]uint32

func (s *vecSet) set(v uint8)          { s[v>>5] |= 1 << (v & 31) }
func (s *vecSet) clear(v uint8)        { s[v>>5] &^= 1 << (v & 31) }
func (s *vecSet) has(v uint8) bool     { return s[v>>5]&(1<<(v&31)) != 0 }
func (s *vecSet) word(i uint32) uint32 { return s[i] }

// highest is the highest vector in the set.
func (s *vecSet) highest() (uint8, bool) {
	for i := 7; i >= 0; i-- {
		if w := s[i]; w != 0 {
			for b := 31; b >= 0; b-- {
				if w&(1<<b) != 0 {
					return uint8(i*32 + b), true
				}
			}
		}
	}
	return 0, false
}

// LAPIC is one CPU's local APIC. Time is in LAPIC ticks (the timer's
// input clock before the divider), given by the caller.
type LAPIC struct {
	id, tpr, ldr, dfr, svr, esr uint32
	icrLo, icrHi                uint32
	lvt                         [6]uint32
	irr, isr, tmr               vecSet
	// source names what set each IRR vector (the event cause when it is
	// delivered): "irq/4", "irq/lapic-timer", "irq/ipi".
	source [256]string

	initCount, divide uint32
	timerStart        uint64 // LAPIC time at which the current period began
	timerOn           bool

	// OnEOI, if set, hears a level-triggered vector's EOI (the I/O APIC's
	// remote IRR).
	OnEOI func(vec uint8)
}

// NewLAPIC returns the APIC in the state SeaBIOS leaves it.
func NewLAPIC() *LAPIC {
	a := &LAPIC{dfr: 0xFFFFFFFF, svr: svrEnable | 0xFF}
	for i := range a.lvt {
		a.lvt[i] = lvtMasked
	}
	a.lvt[lvtIndex[lapicLINT0]] = 0x8700 // ExtINT, level, unmasked: the PIC's virtual wire
	a.lvt[lvtIndex[lapicLINT1]] = 0x8400 // NMI, level, unmasked
	a.icrLo = 0x000C4610                 // SeaBIOS's last IPI: the INIT-SIPI that looked for other CPUs
	return a
}

// ID is the APIC ID (bits 24-31 of the ID register).
func (a *LAPIC) ID() uint8 { return uint8(a.id >> 24) }

func (a *LAPIC) enabled() bool { return a.svr&svrEnable != 0 }

// ppr is the processor priority: TPR or the class of the highest
// in-service vector, whichever is higher.
func (a *LAPIC) ppr() uint32 {
	isrv, _ := a.isr.highest()
	if a.tpr>>4 >= uint32(isrv)>>4 {
		return a.tpr & 0xFF
	}
	return uint32(isrv) & 0xF0
}

// Pending is the vector the APIC would deliver now, if any.
func (a *LAPIC) Pending() (uint8, bool) {
	if !a.enabled() {
		return 0, false
	}
	v, ok := a.irr.highest()
	if !ok || uint32(v)&0xF0 <= a.ppr()&0xF0 {
		return 0, false
	}
	return v, true
}

// Acknowledge moves the pending vector from IRR to ISR (the CPU's INTA)
// and returns it with the cause of its request.
func (a *LAPIC) Acknowledge() (vec uint8, cause string, ok bool) {
	v, ok := a.Pending()
	if !ok {
		return 0, "", false
	}
	a.irr.clear(v)
	a.isr.set(v)
	return v, a.source[v], true
}

// AcceptsPIC reports whether the PIC's output reaches the CPU through
// LINT0: while LINT0 is unmasked (QEMU's apic_accept_pic_intr).
func (a *LAPIC) AcceptsPIC() bool { return a.lvt[lvtIndex[lapicLINT0]]&lvtMasked == 0 }

// Request sets vec in IRR (an interrupt message from the I/O APIC, the
// timer or an IPI); level marks it level-triggered (TMR). cause names the
// request. Vectors 0-15 are illegal and dropped (the ESR's receive-illegal
// bit is not modelled).
func (a *LAPIC) Request(vec uint8, level bool, cause string) {
	if vec < 16 || !a.enabled() {
		return
	}
	a.irr.set(vec)
	if level {
		a.tmr.set(vec)
	} else {
		a.tmr.clear(vec)
	}
	a.source[vec] = cause
}

// Matches reports whether an interrupt message's destination includes
// this APIC: physical mode names its ID (or 0xFF, broadcast); logical
// mode (flat model) shares a bit with the LDR.
func (a *LAPIC) Matches(dest uint8, logical bool) bool {
	if !logical {
		return dest == 0xFF || dest == a.ID()
	}
	return dest&uint8(a.ldr>>24) != 0
}

// divisor is the timer's divide configuration as a factor.
func (a *LAPIC) divisor() uint64 {
	d := a.divide&3 | (a.divide>>1)&4
	return 1 << ((d + 1) & 7)
}

func (a *LAPIC) period() uint64 { return uint64(a.initCount) * a.divisor() }

func (a *LAPIC) timerMode() uint32 { return a.lvt[lvtIndex[lapicTimer]] >> 17 & 3 }

// Advance brings the timer up to LAPIC time now: an expiry sets the
// timer's vector in IRR (unless the LVT is masked); periodic mode
// reloads, one-shot stops.
func (a *LAPIC) Advance(now uint64) {
	if !a.timerOn {
		return
	}
	p := a.period()
	if now < a.timerStart+p {
		return
	}
	lvt := a.lvt[lvtIndex[lapicTimer]]
	if lvt&lvtMasked == 0 {
		a.Request(uint8(lvt), false, "irq/lapic-timer")
	}
	if a.timerMode() == 1 {
		n := (now - a.timerStart) / p
		a.timerStart += n * p
		return
	}
	a.timerOn = false
}

// NextEvent is the LAPIC time of the timer's next expiry.
func (a *LAPIC) NextEvent(now uint64) (uint64, bool) {
	if !a.timerOn {
		return 0, false
	}
	return a.timerStart + a.period(), true
}

// currentCount is the timer's current count at time now.
func (a *LAPIC) currentCount(now uint64) uint32 {
	if !a.timerOn {
		return 0
	}
	el := (now - a.timerStart) / a.divisor()
	if el >= uint64(a.initCount) {
		return 0
	}
	return a.initCount - uint32(el)
}

// Read returns the 32-bit register at offset off at time now.
func (a *LAPIC) Read(off uint32, now uint64) uint32 {
	off &^= 0xF
	if i, ok := lvtIndex[off]; ok {
		return a.lvt[i]
	}
	switch {
	case off >= lapicISR && off < lapicTMR:
		return a.isr.word((off - lapicISR) >> 4)
	case off >= lapicTMR && off < lapicIRR:
		return a.tmr.word((off - lapicTMR) >> 4)
	case off >= lapicIRR && off < lapicIRR+0x80:
		return a.irr.word((off - lapicIRR) >> 4)
	}
	switch off {
	case lapicID:
		return a.id
	case lapicVersion:
		return lapicVersionValue
	case lapicTPR:
		return a.tpr
	case lapicAPR, lapicEOI:
		return 0
	case lapicPPR:
		return a.ppr()
	case lapicLDR:
		return a.ldr
	case lapicDFR:
		return a.dfr
	case lapicSVR:
		return a.svr
	case lapicESR:
		return a.esr
	case lapicICRLo:
		return a.icrLo &^ icrDeliveryStatus // idle at once: there is no bus to wait for
	case lapicICRHi:
		return a.icrHi
	case lapicInitCnt:
		return a.initCount
	case lapicCurCnt:
		return a.currentCount(now)
	case lapicDivide:
		return a.divide
	}
	a.esr |= 0x80
	return 0
}

// Write stores v into the register at offset off at time now. It reports
// whether the timer changed (the caller reschedules its clock).
func (a *LAPIC) Write(off uint32, v uint32, now uint64) (timerChanged bool) {
	off &^= 0xF
	if i, ok := lvtIndex[off]; ok {
		if !a.enabled() {
			v |= lvtMasked
		}
		if off == lapicTimer {
			a.Advance(now)
			a.lvt[i] = v & 0x710FF
			if a.timerMode() > 1 {
				a.timerOn = false // TSC-deadline (not offered) or reserved
			}
			return true
		}
		a.lvt[i] = v & 0x1F7FF
		return false
	}
	switch off {
	case lapicID:
		a.id = v & 0xFF000000
	case lapicTPR:
		a.tpr = v & 0xFF
	case lapicEOI:
		a.eoi()
	case lapicLDR:
		a.ldr = v & 0xFF000000
	case lapicDFR:
		a.dfr = v | 0x0FFFFFFF
	case lapicSVR:
		a.svr = v & 0x3FF
		if !a.enabled() {
			for i := range a.lvt {
				a.lvt[i] |= lvtMasked
			}
		}
	case lapicESR:
		// QEMU 7.2 ignores the write: its ESR only accumulates (the SDM's
		// write that latches and clears the errors is not there).
	case lapicICRLo:
		a.icrLo = v &^ icrDeliveryStatus
		a.sendIPI()
	case lapicICRHi:
		a.icrHi = v & 0xFF000000
	case lapicInitCnt:
		a.Advance(now)
		a.initCount = v
		a.timerStart = now
		a.timerOn = v != 0 && a.timerMode() <= 1
		return true
	case lapicDivide:
		a.Advance(now)
		// The count continues from where it is, at the new rate.
		cur := a.currentCount(now)
		a.divide = v & 0xB
		if a.timerOn {
			a.timerStart = now - uint64(a.initCount-cur)*a.divisor()
		}
		return true
	case lapicVersion, lapicAPR, lapicPPR, lapicCurCnt:
		// read-only
	default:
		if off >= lapicISR && off < lapicIRR+0x80 {
			return false // read-only bitmaps
		}
		a.esr |= 0x80
	}
	return false
}

// eoi retires the highest in-service vector.
func (a *LAPIC) eoi() {
	v, ok := a.isr.highest()
	if !ok {
		return
	}
	a.isr.clear(v)
	if a.tmr.has(v) {
		a.tmr.clear(v)
		if a.OnEOI != nil {
			a.OnEOI(v)
		}
	}
}

// sendIPI acts on an ICR write. Only a fixed interrupt that includes this
// CPU has an effect; everything sent to other CPUs finds none.
func (a *LAPIC) sendIPI() {
	mode := a.icrLo >> 8 & 7
	vec := uint8(a.icrLo)
	var self bool
	switch a.icrLo >> 18 & 3 {
	case 0: // no shorthand: the destination field
		self = a.Matches(uint8(a.icrHi>>24), a.icrLo&(1<<11) != 0)
	case 1, 2: // self, all including self
		self = true
	}
	if self && mode == 0 {
		a.Request(vec, a.icrLo&(1<<15) != 0, "irq/ipi")
	}
}
