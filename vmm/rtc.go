package vmm

import "time"

// The CMOS real-time clock and its NVRAM (Motorola MC146818, ports 0x70
// and 0x71): write a register index to 0x70 (bit 7 is the NMI mask, kept
// but without effect here), read or write the register at 0x71.
//
// # Time is fixed, then guest time
//
// A clock that shows the host's date would make every run different. The
// RTC starts at RTCEpoch — 2006-10-21 12:00:00, a Saturday, the first day
// of ASPLOS XII, where Adams and Agesen compared software and hardware
// techniques for x86 virtualization — and advances with guest time: the
// PIT's clock (one tick per guest block on Unicorn, irq.go), 1,193,182
// ticks per second. On QEMU the same date is `-rtc base=2006-10-21T12:00:00`.
//
// # What is modelled
//
//   - Time registers 0 (seconds), 2 (minutes), 4 (hours), 6 (day of week,
//     Sunday = 1), 7 (day of month), 8 (month), 9 (year in the century)
//     and 0x32 (century), in BCD or binary (register B bit 2) and 24- or
//     12-hour format (register B bit 1; 12-hour sets bit 7 for PM). Writing
//     a time register sets the clock. The alarm registers 1, 3, 5 read and
//     write as plain memory.
//   - Register A: 0x26 (32.768 kHz time base, 1024 Hz rate), the
//     update-in-progress bit always clear (updates are instantaneous);
//     B: 0x02 at power-on (24-hour, BCD), writable; C: interrupt flags,
//     always 0; D: 0x80 (the battery is good).
//   - The NVRAM bytes SeaBIOS and QEMU set and that kernels read: the
//     memory sizes (0x15-0x18 base and extended memory in KiB, 0x30-0x31
//     extended memory again, 0x34-0x35 memory above 16 MiB in 64 KiB
//     units), the floppy and equipment bytes, the boot order, as QEMU 7.2
//     shows them (read back by guest/platform's probe); the rest is 0.
//
//   - The periodic interrupt (IRQ 8): with register B's PIE set, every
//     period of register A's rate (rate 6: 1024 Hz; rates 1 and 2 count as
//     8 and 9, as on QEMU) sets register C's PF and IRQF and raises IRQ 8,
//     which stays raised until the guest reads register C (so ticks the
//     guest did not acknowledge merge, as on the chip). The periods run on
//     guest time from the write that set the rate or PIE.
//
// Not modelled: the alarm and update-ended interrupts (register C's AF and
// UF stay clear); the SET bit of register B does not stop the clock.

// RTCEpoch is the RTC's time when the guest's clock starts.
var RTCEpoch = time.Date(2006, time.October, 21, 12, 0, 0, 0, time.UTC)

// PITHz is the PIT's input clock: guest time's unit.
const PITHz = 1_193_182

// RTC register indexes.
const (
	rtcSec, rtcMin, rtcHour, rtcWeekday, rtcDay, rtcMonth, rtcYear = 0, 2, 4, 6, 7, 8, 9
	rtcA, rtcB, rtcC, rtcD                                         = 0x0A, 0x0B, 0x0C, 0x0D
	rtcCentury                                                     = 0x32
	rtcBinary                                                      = 1 << 2
	rtc24h                                                         = 1 << 1
)

// RTC is the CMOS clock and NVRAM.
type RTC struct {
	index uint8
	nmi   bool
	ram   [128]byte
	// offset is added to RTCEpoch plus guest time (a guest that sets the clock).
	offset time.Duration
	// The periodic interrupt: Base is the PIT tick its periods count from,
	// Periods how many have passed, Flags register C's bits (IRQF set is
	// IRQ 8 raised).
	Base, Periods uint64
	Flags         byte

	// Now is the guest time in PIT ticks (the machine's clock).
	Now func() uint64
	// SetIRQ drives an ISA interrupt line (wiring).
	SetIRQ func(irq int, level bool)
}

// Register B's and C's interrupt bits.
const (
	rtcPIE  = 1 << 6 // B: periodic interrupt enable
	rtcIRQF = 1 << 7 // C: an enabled interrupt is pending
	rtcPF   = 1 << 6 // C: a period ended
)

// RTCIRQ is the RTC's ISA interrupt line.
const RTCIRQ = 8

// period is the periodic interrupt's period in 32.768 kHz cycles, 0 when
// register A selects none.
func (r *RTC) period() uint64 {
	rate := uint64(r.ram[rtcA] & 0x0F)
	if rate == 0 {
		return 0
	}
	if rate <= 2 {
		rate += 7
	}
	return 1 << (rate - 1)
}

// periodic reports whether the periodic interrupt runs.
func (r *RTC) periodic() bool { return r.ram[rtcB]&rtcPIE != 0 && r.period() != 0 }

// periodEnd is the PIT tick at which period k ends.
func (r *RTC) periodEnd(k uint64) uint64 {
	n := k * r.period() * PITHz
	return r.Base + (n+32767)/32768
}

// Advance sets the periodic interrupt's flags for the periods that ended
// by now (PIT ticks).
func (r *RTC) Advance(now uint64) {
	if !r.periodic() || now < r.Base {
		return
	}
	k := (now - r.Base) * 32768 / (r.period() * PITHz)
	if k <= r.Periods {
		return
	}
	r.Periods = k
	raise := r.Flags&rtcIRQF == 0
	r.Flags |= rtcPF | rtcIRQF
	if raise {
		r.setIRQ(true)
	}
}

// NextEvent is the PIT tick at which the next period ends.
func (r *RTC) NextEvent(now uint64) (uint64, bool) {
	if !r.periodic() {
		return 0, false
	}
	return r.periodEnd(r.Periods + 1), true
}

func (r *RTC) setIRQ(level bool) {
	if r.SetIRQ != nil {
		r.SetIRQ(RTCIRQ, level)
	}
}

// restart counts the periods from now: the rate or PIE changed.
func (r *RTC) restart() {
	if r.Now != nil {
		r.Base = r.Now()
	}
	r.Periods = 0
}

// NewRTC returns the RTC of a PC with memSize bytes of RAM.
func NewRTC(memSize uint32) *RTC {
	r := &RTC{}
	r.ram[rtcA] = 0x26
	r.ram[rtcB] = rtc24h
	r.ram[rtcD] = 0x80
	// NVRAM as QEMU 7.2 and SeaBIOS leave it.
	r.ram[0x10] = 0x50 // floppy drive types
	r.ram[0x14] = 0x07 // equipment (QEMU's value)
	r.ram[0x15], r.ram[0x16] = 0x80, 0x02
	ext := uint32(0)
	if memSize > 1<<20 {
		ext = min((memSize-1<<20)/1024, 0xFFFF)
	}
	r.ram[0x17], r.ram[0x18] = byte(ext), byte(ext>>8)
	r.ram[0x30], r.ram[0x31] = byte(ext), byte(ext>>8)
	above := uint32(0)
	if memSize > 16<<20 {
		above = (memSize - 16<<20) >> 16
	}
	r.ram[0x34], r.ram[0x35] = byte(above), byte(above>>8)
	r.ram[0x37], r.ram[0x38] = 0x20, 0x30
	r.ram[0x3D] = 0x12 // boot order
	return r
}

func (r *RTC) Name() string { return "rtc" }

// Time is the clock's current time.
func (r *RTC) Time() time.Time {
	var ticks uint64
	if r.Now != nil {
		ticks = r.Now()
	}
	sec := ticks / PITHz
	return RTCEpoch.Add(r.offset + time.Duration(sec)*time.Second)
}

func (r *RTC) encode(v int) byte {
	if r.ram[rtcB]&rtcBinary != 0 {
		return byte(v)
	}
	return byte(v/10<<4 | v%10)
}

func (r *RTC) decode(b byte) int {
	if r.ram[rtcB]&rtcBinary != 0 {
		return int(b)
	}
	return int(b>>4)*10 + int(b&0xF)
}

func (r *RTC) In(port uint16, size int) uint32 {
	if port == 0x70 {
		return 0xFF // the index register is write-only
	}
	return uint32(r.read(r.index))
}

func (r *RTC) Out(port uint16, size int, v uint32) {
	if port == 0x70 {
		r.index, r.nmi = uint8(v)&0x7F, v&0x80 != 0
		return
	}
	r.write(r.index, byte(v))
}

func (r *RTC) read(i uint8) byte {
	t := r.Time()
	switch i {
	case rtcSec:
		return r.encode(t.Second())
	case rtcMin:
		return r.encode(t.Minute())
	case rtcHour:
		h := t.Hour()
		if r.ram[rtcB]&rtc24h != 0 {
			return r.encode(h)
		}
		pm := byte(0)
		if h >= 12 {
			pm = 0x80
		}
		if h = h % 12; h == 0 {
			h = 12
		}
		return r.encode(h) | pm
	case rtcWeekday:
		return r.encode(int(t.Weekday()) + 1)
	case rtcDay:
		return r.encode(t.Day())
	case rtcMonth:
		return r.encode(int(t.Month()))
	case rtcYear:
		return r.encode(t.Year() % 100)
	case rtcCentury:
		return r.encode(t.Year() / 100)
	case rtcA:
		return r.ram[rtcA] &^ 0x80 // never updating
	case rtcC:
		if r.Now != nil {
			r.Advance(r.Now())
		}
		f := r.Flags
		r.Flags = 0
		if f&rtcIRQF != 0 {
			r.setIRQ(false)
		}
		return f
	}
	return r.ram[i]
}

func (r *RTC) write(i uint8, b byte) {
	t := r.Time()
	set := func(nt time.Time) { r.offset += nt.Sub(t) }
	switch i {
	case rtcSec:
		set(t.Add(time.Duration(r.decode(b)-t.Second()) * time.Second))
	case rtcMin:
		set(t.Add(time.Duration(r.decode(b)-t.Minute()) * time.Minute))
	case rtcHour:
		h := r.decode(b &^ 0x80)
		if r.ram[rtcB]&rtc24h == 0 {
			h %= 12
			if b&0x80 != 0 {
				h += 12
			}
		}
		set(t.Add(time.Duration(h-t.Hour()) * time.Hour))
	case rtcDay:
		set(time.Date(t.Year(), t.Month(), r.decode(b), t.Hour(), t.Minute(), t.Second(), 0, time.UTC))
	case rtcMonth:
		set(time.Date(t.Year(), time.Month(r.decode(b)), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC))
	case rtcYear:
		set(time.Date(t.Year()/100*100+r.decode(b), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC))
	case rtcCentury:
		set(time.Date(r.decode(b)*100+t.Year()%100, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC))
	case rtcWeekday, rtcC, rtcD:
		// derived or read-only
	case rtcA:
		if r.ram[rtcA]&0x0F != b&0x0F {
			r.restart()
		}
		r.ram[rtcA] = b & 0x7F
	case rtcB:
		if (r.ram[rtcB]^b)&rtcPIE != 0 {
			r.restart()
		}
		r.ram[rtcB] = b
	default:
		r.ram[i] = b
	}
}
