package vmm

import "testing"

// The periodic interrupt on guest time: periods of register A's rate,
// register C's flags, IRQ 8 raised once per unacknowledged run of ticks.
func TestRTCPeriodicInterrupt(t *testing.T) {
	for _, c := range []struct {
		name    string
		rateA   byte
		firstAt uint64 // PIT tick of the first period's end
	}{
		{"rate 6: 1024 Hz", 0x26, 1166},            // 1193182/1024 = 1165.2
		{"rate 15: 2 Hz", 0x2F, 596591},            // 1193182/2
		{"rate 1 counts as 8: 256 Hz", 0x21, 4661}, // 1193182/256 = 4660.9
	} {
		t.Run(c.name, func(t *testing.T) {
			var now uint64
			edges, line := 0, false
			r := NewRTC(16 << 20)
			r.Now = func() uint64 { return now }
			r.SetIRQ = func(irq int, level bool) {
				if irq != RTCIRQ {
					return
				}
				if level {
					edges++
				}
				line = level
			}
			r.Out(0x70, 1, 0x0A)
			r.Out(0x71, 1, uint32(c.rateA))
			r.Out(0x70, 1, 0x0B)
			r.Out(0x71, 1, 0x02|0x40) // 24-hour, PIE
			if at, ok := r.NextEvent(now); !ok || at != c.firstAt {
				t.Fatalf("first period ends at %d (%v), want %d", at, ok, c.firstAt)
			}
			now = c.firstAt - 1
			r.Advance(now)
			if edges != 0 {
				t.Fatalf("IRQ 8 before the period ended")
			}
			now = c.firstAt
			r.Advance(now)
			now = 3 * c.firstAt // two more periods, unacknowledged: no new edge
			r.Advance(now)
			if edges != 1 {
				t.Fatalf("%d edges, want 1 until register C is read", edges)
			}
			r.Out(0x70, 1, 0x0C)
			if f := r.In(0x71, 1); f != 0xC0 || line {
				t.Fatalf("register C = %#x (IRQ %v), want 0xc0 and the line low", f, line)
			}
			if f := r.In(0x71, 1); f != 0 {
				t.Fatalf("register C read twice = %#x, want 0", f)
			}
			now += c.firstAt + 1
			r.Advance(now)
			if edges != 2 {
				t.Fatalf("%d edges after the next period, want 2", edges)
			}
			r.Out(0x70, 1, 0x0B)
			r.Out(0x71, 1, 0x02) // PIE off
			if _, ok := r.NextEvent(now); ok {
				t.Fatal("a next event with PIE off")
			}
		})
	}
}
