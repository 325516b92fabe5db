package vmm

import (
	"testing"
	"time"

	"virtsim/guest"
)

// TestLAPICPriority: a vector is delivered only above the processor
// priority (TPR and the highest in-service class); EOI retires the
// highest in-service vector.
func TestLAPICPriority(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tpr       uint32
		requests  []uint8
		inService []uint8 // acknowledged first, in order
		want      uint8
		ok        bool
	}{
		{"one request", 0, []uint8{0x30}, nil, 0x30, true},
		{"highest first", 0, []uint8{0x30, 0x51, 0x41}, nil, 0x51, true},
		{"TPR blocks its class", 0x40, []uint8{0x41}, nil, 0, false},
		{"TPR lets a higher class through", 0x40, []uint8{0x51}, nil, 0x51, true},
		{"in service blocks its class", 0, []uint8{0x52, 0x51}, []uint8{0x52}, 0, false},
		{"in service, a lower class waits", 0, []uint8{0x61, 0x42}, []uint8{0x61}, 0, false},
		{"vectors 0-15 are illegal", 0, []uint8{0x05}, nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewLAPIC()
			for _, v := range tc.requests {
				a.Request(v, false, "test")
			}
			for range tc.inService {
				if _, _, ok := a.Acknowledge(); !ok {
					t.Fatal("nothing to acknowledge")
				}
			}
			a.Write(lapicTPR, tc.tpr, 0)
			v, ok := a.Pending()
			if ok != tc.ok || (ok && v != tc.want) {
				t.Errorf("Pending = %#x, %v; want %#x, %v", v, ok, tc.want, tc.ok)
			}
		})
	}
	a := NewLAPIC()
	a.Request(0x30, false, "a")
	a.Request(0x40, false, "b")
	a.Acknowledge() // 0x40 in service
	a.Write(lapicEOI, 0, 0)
	if v, cause, ok := a.Acknowledge(); !ok || v != 0x30 || cause != "a" {
		t.Errorf("after EOI: %#x %q %v, want 0x30 \"a\"", v, cause, ok)
	}
}

// TestLAPICTimer: one-shot fires once, periodic reloads, the divider
// scales, a masked timer counts without requesting.
func TestLAPICTimer(t *testing.T) {
	a := NewLAPIC()
	a.Write(lapicDivide, 0x3, 0) // divide by 16
	a.Write(lapicTimer, 0x30, 0) // one-shot, vector 0x30
	a.Write(lapicInitCnt, 100, 0)
	if at, ok := a.NextEvent(0); !ok || at != 1600 {
		t.Fatalf("one-shot next event %d, %v; want 1600", at, ok)
	}
	if c := a.Read(lapicCurCnt, 800); c != 50 {
		t.Errorf("current count halfway = %d, want 50", c)
	}
	a.Advance(1600)
	if v, ok := a.Pending(); !ok || v != 0x30 {
		t.Errorf("one-shot did not request 0x30")
	}
	if _, ok := a.NextEvent(1600); ok || a.Read(lapicCurCnt, 1700) != 0 {
		t.Errorf("one-shot still running")
	}
	b := NewLAPIC()
	b.Write(lapicDivide, 0xB, 0)                 // divide by 1
	b.Write(lapicTimer, 1<<17|lvtMasked|0x31, 0) // periodic, masked
	b.Write(lapicInitCnt, 10, 5)
	b.Advance(37)
	if _, ok := b.Pending(); ok {
		t.Error("a masked timer requested an interrupt")
	}
	if at, _ := b.NextEvent(37); at != 45 {
		t.Errorf("periodic next event %d, want 45", at)
	}
	if c := b.Read(lapicCurCnt, 37); c != 8 {
		t.Errorf("periodic current count %d, want 8", c)
	}
}

// TestLAPICICR: a fixed self-IPI is delivered; INIT and SIPI to an absent
// CPU vanish, the delivery status reads idle and no error is latched.
func TestLAPICICR(t *testing.T) {
	a := NewLAPIC()
	a.Write(lapicICRLo, 1<<18|0x40, 0) // self, fixed 0x40
	if v, ok := a.Pending(); !ok || v != 0x40 {
		t.Errorf("self-IPI not pending")
	}
	a.Acknowledge()
	a.Write(lapicICRHi, 1<<24, 0)
	a.Write(lapicICRLo, 0x4500, 0) // INIT to APIC 1
	a.Write(lapicICRLo, 0x4610, 0) // SIPI to APIC 1
	if _, ok := a.Pending(); ok {
		t.Error("an IPI to APIC 1 arrived here")
	}
	if a.Read(lapicICRLo, 0)&icrDeliveryStatus != 0 || a.Read(lapicESR, 0) != 0 {
		t.Error("delivery status busy or ESR set")
	}
}

// TestIOAPICRouting: edge pins latch while masked and deliver on unmask;
// level pins hold remote IRR until EOI and resend while asserted.
func TestIOAPICRouting(t *testing.T) {
	var got []uint8
	a := NewIOAPIC()
	a.Deliver = func(vec, dest uint8, logical, level bool, cause string) { got = append(got, vec) }
	a.SetPin(4, true) // masked: latched
	a.SetPin(4, false)
	if len(got) != 0 {
		t.Fatalf("a masked pin delivered %v", got)
	}
	a.Write(ioregsel, 0x10+8)
	a.Write(iowin, 0x31) // pin 4: vector 0x31, edge, unmasked
	if len(got) != 1 || got[0] != 0x31 {
		t.Fatalf("unmasking a latched edge delivered %v, want [0x31]", got)
	}
	a.SetPin(4, true)
	a.SetPin(4, true) // no new edge
	if len(got) != 2 {
		t.Errorf("edges delivered %d, want 2", len(got))
	}
	got = nil
	a.Write(ioregsel, 0x10+2*9)
	a.Write(iowin, redirLevel|0x41)
	a.SetPin(9, true)
	a.SetPin(9, true)
	if len(got) != 1 || a.Entry(9)&redirRemoteIRR == 0 {
		t.Fatalf("level pin: %v, remote IRR %v", got, a.Entry(9)&redirRemoteIRR != 0)
	}
	a.EOI(0x41) // still asserted: sends again
	if len(got) != 2 {
		t.Errorf("level pin after EOI: %v", got)
	}
	a.Write(ioregsel, 1)
	if v := a.Read(iowin); v != ioapicVersionValue {
		t.Errorf("version %#x", v)
	}
}

// TestRTC: the epoch in BCD and binary, guest time advancing it, a write
// setting it.
func TestRTC(t *testing.T) {
	var ticks uint64
	r := NewRTC(16 << 20)
	r.Now = func() uint64 { return ticks }
	read := func(i uint8) byte { r.Out(0x70, 1, uint32(i)); return byte(r.In(0x71, 1)) }
	for _, c := range []struct {
		reg  uint8
		want byte
	}{{rtcYear, 0x06}, {rtcMonth, 0x10}, {rtcDay, 0x21}, {rtcHour, 0x12}, {rtcMin, 0}, {rtcWeekday, 7}, {rtcCentury, 0x20}, {0x18, 0x3C}} {
		if got := read(c.reg); got != c.want {
			t.Errorf("register %#x = %#x, want %#x", c.reg, got, c.want)
		}
	}
	ticks = 61 * PITHz
	if read(rtcMin) != 0x01 || read(rtcSec) != 0x01 {
		t.Errorf("61 s later: %02x:%02x", read(rtcMin), read(rtcSec))
	}
	r.Out(0x70, 1, rtcB)
	r.Out(0x71, 1, rtc24h|rtcBinary)
	if read(rtcDay) != 21 {
		t.Errorf("binary day = %d", read(rtcDay))
	}
	r.Out(0x70, 1, rtcHour)
	r.Out(0x71, 1, 15)
	if got := r.Time(); !got.Equal(RTCEpoch.Add(3*time.Hour + 61*time.Second)) {
		t.Errorf("after setting the hour: %v", got)
	}
}

// TestUARTReceive: input waits for room in the receiver, data ready and
// the receive interrupt follow it, and each byte taken is an edge.
func TestUARTReceive(t *testing.T) {
	var edges int
	var line bool
	s := NewSerial(0x3F8, nil)
	s.OnIRQ = func(l bool) {
		if l && !line {
			edges++
		}
		line = l
	}
	s.Feed([]byte("ab"))
	s.Poll()
	if s.In(0x3FD, 1)&lsrDR == 0 {
		t.Fatal("no data ready")
	}
	if line {
		t.Error("interrupt without IER")
	}
	s.Out(0x3F9, 1, 1) // IER: receive
	if !line || s.In(0x3FA, 1)&0x0F != 0x04 {
		t.Fatalf("receive interrupt: line %v IIR %#x", line, s.In(0x3FA, 1))
	}
	if b := s.In(0x3F8, 1); b != 'a' {
		t.Errorf("RBR = %#x", b)
	}
	if b := s.In(0x3F8, 1); b != 'b' {
		t.Errorf("RBR = %#x", b)
	}
	if edges != 2 || line || s.In(0x3FD, 1)&lsrDR != 0 {
		t.Errorf("edges %d, line %v after draining", edges, line)
	}
}

// TestMMIOSiteFromChainedBlock: without the counting pass's
// per-instruction counter, Unicorn leaves EIP at the start of a block it
// entered long ago when it has chained on through direct jumps since. The
// loop's load reads RAM twice (its blocks get chained) and the local APIC
// the third time; the machine still finds the instruction, gives it the
// value and records the event at its address.
func TestMMIOSiteFromChainedBlock(t *testing.T) {
	code := []byte{
		0xBE, 0x00, 0x20, 0x00, 0x00, // 0x00 mov $0x2000,%esi (RAM)
		0xB9, 0x03, 0x00, 0x00, 0x00, // 0x05 mov $3,%ecx
		0x31, 0xC0, // 0x0a loop: xor %eax,%eax
		0xEB, 0x00, // 0x0c jmp 0x0e (a new block, chained after the first pass)
		0x83, 0xC2, 0x01, // 0x0e add $1,%edx
		0x8B, 0x46, 0x30, // 0x11 mov 0x30(%esi),%eax (RAM, RAM, then the APIC's VER)
		0x83, 0xF9, 0x02, // 0x14 cmp $2,%ecx
		0x75, 0x05, // 0x17 jne 0x1e
		0xBE, 0x00, 0x00, 0xE0, 0xFE, // 0x19 mov $LAPICBase,%esi
		0x49,       // 0x1e dec %ecx
		0x75, 0xE9, // 0x1f jnz loop
		0xE6, 0xF4, // 0x21 out %al,$0xf4: exit with the version's low byte
	}
	for _, count := range []bool{false, true} {
		res := flat(t, code, Config{Count: count, Trace: true})
		if res.Stop.Kind != StopExit || res.Stop.Status != lapicVersionValue&0xFF {
			t.Fatalf("count=%v: %s, want exit %#x", count, res.Stop, lapicVersionValue&0xFF)
		}
		n := 0
		for _, ev := range res.Trace {
			if ev.Cause == MMIOCause("lapic", "VER") {
				n++
				if ev.PC != guest.DefaultLoadAddr+0x11 {
					t.Errorf("count=%v: event at %#x, want %#x", count, ev.PC, guest.DefaultLoadAddr+0x11)
				}
			}
		}
		if n != 1 {
			t.Errorf("count=%v: %d VER reads, want 1", count, n)
		}
	}
}
