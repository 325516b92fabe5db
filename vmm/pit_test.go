package vmm

import (
	"fmt"
	"math/rand"
	"testing"
)

// pitEdge is one report from OnOut0.
type pitEdge struct {
	at    uint64
	level bool
}

// newTestPIT returns a PIT whose channel 0 OUT reports are recorded.
func newTestPIT() (*PIT, *[]pitEdge) {
	p := NewPIT()
	var edges []pitEdge
	p.OnOut0(func(level bool) { edges = append(edges, pitEdge{p.Now(), level}) })
	return p, &edges
}

func pitWrite(p *PIT, port uint16, bytes ...uint8) {
	for _, b := range bytes {
		p.Out(port, 1, uint32(b))
	}
}

func pitRead(p *PIT, port uint16) uint8 { return uint8(p.In(port, 1)) }

// pitProgram writes a control word for channel 0 and, in LSB-then-MSB
// access, the count.
func pitProgram(p *PIT, mode uint8, count uint16) {
	pitWrite(p, 0x43, 0x30|mode<<1)
	pitWrite(p, 0x40, uint8(count), uint8(count>>8))
}

// pitReadback latches channel ch's status with a read-back command and
// reads it.
func pitStatus(p *PIT, ch int) uint8 {
	pitWrite(p, 0x43, 0xE0|2<<ch)
	return pitRead(p, 0x40+uint16(ch))
}

func TestPITNothingProgrammed(t *testing.T) {
	p := NewPIT()
	for _, now := range []uint64{0, 1, 1 << 40} {
		p.Advance(now)
		if at, ok := p.NextEvent(now); ok {
			t.Errorf("NextEvent(%d) = %d, true; want nothing scheduled", now, at)
		}
		if !p.Out0() {
			t.Errorf("Out0 at %d = low; power-on OUT is high", now)
		}
	}
	for ch := range 3 {
		if s := pitStatus(p, ch); s != 0xB0 {
			t.Errorf("channel %d power-on status = %#02x, want 0xB0 (OUT high, LSB/MSB, mode 0)", ch, s)
		}
	}
	if v := pitRead(p, 0x43); v != 0 {
		t.Errorf("read of 0x43 = %#x, want 0", v)
	}
}

func TestPITMode0OneShot(t *testing.T) {
	for _, tc := range []struct {
		count uint16
		n     uint64 // ticks it counts
	}{{1, 1}, {2, 2}, {100, 100}, {0xFFFF, 0xFFFF}, {0, 65536}} {
		t.Run(fmt.Sprint(tc.count), func(t *testing.T) {
			p, edges := newTestPIT()
			const w = 1000
			p.Advance(w)
			pitProgram(p, 0, tc.count)
			if p.Out0() {
				t.Fatal("OUT high right after programming mode 0")
			}
			rise := uint64(w + 1 + tc.n) // loaded on tick w+1, then n ticks
			if at, ok := p.NextEvent(w); !ok || at != rise {
				t.Fatalf("NextEvent = %d, %v; want %d", at, ok, rise)
			}
			p.Advance(w + 1)
			if got := p.Count(0); got != tc.count {
				t.Errorf("count on the load tick = %d, want %d", got, tc.count)
			}
			p.Advance(rise - 1)
			if p.Out0() {
				t.Fatalf("OUT high at %d, one tick before terminal count", rise-1)
			}
			if got := p.Count(0); got != 1 {
				t.Errorf("count one tick before terminal count = %d, want 1", got)
			}
			if at, ok := p.NextEvent(rise - 1); !ok || at != rise {
				t.Errorf("NextEvent one tick before = %d, %v; want %d", at, ok, rise)
			}
			p.Advance(rise)
			if !p.Out0() || p.Count(0) != 0 {
				t.Fatalf("at terminal count: OUT %v count %d, want high and 0", p.Out0(), p.Count(0))
			}
			if at, ok := p.NextEvent(rise); ok {
				t.Errorf("NextEvent after terminal count = %d; a one-shot fires once", at)
			}
			p.Advance(rise + 1)
			if got := p.Count(0); got != 0xFFFF {
				t.Errorf("count after terminal count = %#x, want the wrap to 0xFFFF", got)
			}
			p.Advance(rise + 1_000_000)
			if !p.Out0() {
				t.Error("OUT fell after terminal count; mode 0 stays high")
			}
			want := []pitEdge{{w, false}, {rise, true}}
			if fmt.Sprint(*edges) != fmt.Sprint(want) {
				t.Errorf("OUT reports = %v, want %v", *edges, want)
			}
		})
	}
}

func TestPITMode2Periodic(t *testing.T) {
	for _, tc := range []struct {
		count uint16
		n     uint64
	}{{2, 2}, {3, 3}, {1000, 1000}, {0, 65536}} {
		t.Run(fmt.Sprint(tc.count), func(t *testing.T) {
			p, edges := newTestPIT()
			const w = 77
			p.Advance(w)
			pitProgram(p, 2, tc.count)
			if !p.Out0() {
				t.Fatal("OUT low after programming mode 2")
			}
			now := uint64(w)
			for j := uint64(1); j <= 5; j++ {
				at, ok := p.NextEvent(now)
				if want := w + 1 + tc.n*j; !ok || at != want {
					t.Fatalf("edge %d: NextEvent = %d, %v; want %d", j, at, ok, want)
				}
				p.Advance(at - 1)
				if p.Out0() || p.Count(0) != 1 {
					t.Fatalf("tick before reload: OUT %v count %d, want low and 1", p.Out0(), p.Count(0))
				}
				p.Advance(at)
				if !p.Out0() || p.Count(0) != tc.count {
					t.Fatalf("reload tick: OUT %v count %d, want high and %d", p.Out0(), p.Count(0), tc.count)
				}
				now = at
			}
			// Five rising edges, each preceded by its one-tick low pulse.
			rises := 0
			for _, e := range *edges {
				if e.level {
					rises++
				}
			}
			if rises != 5 || len(*edges) != 10 {
				t.Errorf("OUT reports = %v, want 5 low-high pulses", *edges)
			}
			// A coarse Advance over many periods reports one low-high pair
			// and lands on the exact count.
			*edges = nil
			target := now + tc.n*1000 + 1
			p.Advance(target)
			want := []pitEdge{{target, false}, {target, true}}
			if tc.n == 2 {
				want = append(want, pitEdge{target, false}) // landed on the low tick
			}
			if fmt.Sprint(*edges) != fmt.Sprint(want) {
				t.Errorf("coarse Advance reports %v, want %v", *edges, want)
			}
			if want := uint16(tc.n - 1); p.Count(0) != want {
				t.Errorf("count after coarse Advance = %d, want %d", p.Count(0), want)
			}
		})
	}
}

func TestPITMode3SquareWave(t *testing.T) {
	type tick struct {
		out   bool
		count uint16
	}
	H, L := true, false
	for _, tc := range []struct {
		count uint16
		cycle []tick // from the load tick, one period
	}{
		{4, []tick{{H, 4}, {H, 2}, {L, 4}, {L, 2}}},
		{5, []tick{{H, 4}, {H, 2}, {H, 0}, {L, 4}, {L, 2}}},
		{6, []tick{{H, 6}, {H, 4}, {H, 2}, {L, 6}, {L, 4}, {L, 2}}},
		{7, []tick{{H, 6}, {H, 4}, {H, 2}, {H, 0}, {L, 6}, {L, 4}, {L, 2}}},
	} {
		t.Run(fmt.Sprint(tc.count), func(t *testing.T) {
			p := NewPIT()
			const w = 10
			p.Advance(w)
			pitProgram(p, 3, tc.count)
			n := uint64(tc.count)
			for k := range 3 * n {
				p.Advance(w + 1 + k)
				want := tc.cycle[k%n]
				if got := (tick{p.Out0(), p.Count(0)}); got != want {
					t.Fatalf("load+%d: OUT, count = %v, want %v", k, got, want)
				}
				at, ok := p.NextEvent(w + 1 + k)
				if wantAt := w + 1 + (k/n+1)*n; !ok || at != wantAt {
					t.Fatalf("load+%d: NextEvent = %d, %v; want %d", k, at, ok, wantAt)
				}
			}
		})
	}
	// Count 0 is 65536: 32768 ticks high, 32768 low.
	p := NewPIT()
	pitProgram(p, 3, 0)
	p.Advance(1 + 32767)
	if !p.Out0() || p.Count(0) != 2 {
		t.Errorf("65536, last high tick: OUT %v count %d", p.Out0(), p.Count(0))
	}
	p.Advance(1 + 32768)
	if p.Out0() || p.Count(0) != 0 {
		t.Errorf("65536, first low tick: OUT %v count %d, want low and 0 (65536)", p.Out0(), p.Count(0))
	}
	if at, ok := p.NextEvent(p.Now()); !ok || at != 1+65536 {
		t.Errorf("65536: NextEvent = %d, %v; want %d", at, ok, 1+65536)
	}
}

func TestPITMode4Strobe(t *testing.T) {
	p, edges := newTestPIT()
	pitProgram(p, 4, 10)
	if at, ok := p.NextEvent(0); !ok || at != 12 {
		t.Fatalf("NextEvent = %d, %v; want 12 (low on tick 11, high on 12)", at, ok)
	}
	p.Advance(100)
	if _, ok := p.NextEvent(100); ok {
		t.Error("mode 4 strobes once per count")
	}
	want := []pitEdge{{100, false}, {100, true}}
	if fmt.Sprint(*edges) != fmt.Sprint(want) {
		t.Errorf("reports %v, want %v", *edges, want)
	}
}

func TestPITGateModesNeverStart(t *testing.T) {
	for _, mode := range []uint8{1, 5} {
		p := NewPIT()
		pitProgram(p, mode, 10)
		p.Advance(1000)
		if _, ok := p.NextEvent(1000); ok || !p.Out0() {
			t.Errorf("mode %d: an edge is scheduled or OUT is low without a gate trigger", mode)
		}
		if s := pitStatus(p, 0); s != 0xC0|0x30|mode<<1 {
			t.Errorf("mode %d: status %#02x, want OUT high and null count", mode, s)
		}
	}
}

func TestPITLatch(t *testing.T) {
	p := NewPIT()
	pitProgram(p, 2, 1000)
	p.Advance(101) // loaded on tick 1: count 1000 - 100
	pitWrite(p, 0x43, 0x00)
	p.Advance(150)
	pitWrite(p, 0x43, 0x00) // ignored: the first latch has not been read
	p.Advance(200)
	if lo, hi := pitRead(p, 0x40), pitRead(p, 0x40); uint16(hi)<<8|uint16(lo) != 900 {
		t.Errorf("latched count = %d, want 900", uint16(hi)<<8|uint16(lo))
	}
	if lo, hi := pitRead(p, 0x40), pitRead(p, 0x40); uint16(hi)<<8|uint16(lo) != 801 {
		t.Errorf("live count after the latch was read = %d, want 801", uint16(hi)<<8|uint16(lo))
	}
	// A control word discards a latch.
	pitWrite(p, 0x43, 0x00)
	pitProgram(p, 2, 50)
	p.Advance(201)
	if lo, hi := pitRead(p, 0x40), pitRead(p, 0x40); uint16(hi)<<8|uint16(lo) != 50 {
		t.Errorf("count after reprogramming = %d, want 50 (the old latch gone)", uint16(hi)<<8|uint16(lo))
	}
}

func TestPITReadBack(t *testing.T) {
	p := NewPIT()
	p.Advance(5)
	pitWrite(p, 0x43, 0x30) // channel 0, LSB/MSB, mode 0
	if s := pitStatus(p, 0); s != 0x70 {
		t.Errorf("after control word: status %#02x, want 0x70 (OUT low, null count)", s)
	}
	pitWrite(p, 0x40, 20)
	if s := pitStatus(p, 0); s != 0x70 {
		t.Errorf("after the LSB: status %#02x, want 0x70", s)
	}
	pitWrite(p, 0x40, 0)
	if s := pitStatus(p, 0); s != 0x70 {
		t.Errorf("count written, not loaded: status %#02x, want 0x70", s)
	}
	p.Advance(6)
	if s := pitStatus(p, 0); s != 0x30 {
		t.Errorf("count loaded: status %#02x, want 0x30", s)
	}
	p.Advance(26)
	if s := pitStatus(p, 0); s != 0xB0 {
		t.Errorf("terminal count: status %#02x, want 0xB0", s)
	}

	// Status and count latched together: status first, then the count,
	// which stays frozen.
	pitWrite(p, 0x43, 0x34) // mode 2
	pitWrite(p, 0x40, 0x34, 0x12)
	p.Advance(26 + 1 + 0x10)
	pitWrite(p, 0x43, 0xC2) // read-back: count and status of channel 0
	pitWrite(p, 0x43, 0xC2) // both already latched: ignored
	p.Advance(1000)
	if s := pitRead(p, 0x40); s != 0xB4 {
		t.Errorf("read-back status %#02x, want 0xB4 (OUT high, LSB/MSB, mode 2)", s)
	}
	if lo, hi := pitRead(p, 0x40), pitRead(p, 0x40); lo != 0x24 || hi != 0x12 {
		t.Errorf("read-back count %#02x%02x, want 0x1224", hi, lo)
	}

	// One command for two channels; status only, count only.
	pitWrite(p, 0x43, 0xE0|0x08|0x02)
	if s0, s2 := pitRead(p, 0x40), pitRead(p, 0x42); s0 != 0xB4 || s2 != 0xB0 {
		t.Errorf("statuses of channels 0 and 2 = %#02x %#02x, want 0xB4 0xB0", s0, s2)
	}
	pitWrite(p, 0x43, 0xD2) // count only
	want := p.Count(0)
	p.Advance(1010)
	if lo, hi := pitRead(p, 0x40), pitRead(p, 0x40); uint16(hi)<<8|uint16(lo) != want {
		t.Errorf("read-back count only = %#x, want %#x", uint16(hi)<<8|uint16(lo), want)
	}
	// A status latched and not yet read is not overwritten.
	pitProgram(p, 0, 10) // OUT low, null count
	pitWrite(p, 0x43, 0xE2)
	p.Advance(p.Now() + 20) // loaded, terminal count: the status would be 0xB0
	pitWrite(p, 0x43, 0xE2)
	if s := pitRead(p, 0x40); s != 0x70 {
		t.Errorf("status latched twice = %#02x, want the first, 0x70", s)
	}
	if s := pitStatus(p, 0); s != 0xB0 {
		t.Errorf("status latched after reading = %#02x, want 0xB0", s)
	}
	// Mode bits are reported as written (6 is an alias of 2).
	pitWrite(p, 0x43, 0x1C) // channel 0, LSB only, mode 6
	if s := pitStatus(p, 0); s != 0x80|0x40|0x10|0x0C {
		t.Errorf("mode 6 status %#02x, want %#02x", s, 0x80|0x40|0x10|0x0C)
	}
}

func TestPITAccessModes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cw     uint8
		writes []uint8
		n      uint64  // ticks counted
		reads  []uint8 // two ticks after the load
	}{
		{"lsb only", 0x10, []uint8{0x50}, 0x50, []uint8{0x4E, 0x4E}},
		{"msb only", 0x20, []uint8{0x01}, 0x100, []uint8{0x00, 0x00}},
		{"msb only, 0x00 is 65536", 0x20, []uint8{0x00}, 0x10000, []uint8{0xFF, 0xFF}},
		{"lsb then msb", 0x30, []uint8{0x34, 0x12}, 0x1234, []uint8{0x32, 0x12, 0x32, 0x12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPIT()
			pitWrite(p, 0x43, tc.cw)
			pitWrite(p, 0x40, tc.writes...)
			if at, ok := p.NextEvent(0); !ok || at != 1+tc.n {
				t.Errorf("NextEvent = %d, %v; want %d", at, ok, 1+tc.n)
			}
			p.Advance(3)
			for i, want := range tc.reads {
				if got := pitRead(p, 0x40); got != want {
					t.Errorf("read %d = %#02x, want %#02x", i, got, want)
				}
			}
		})
	}
	// Reads and writes keep separate flip-flops: read LSB, write LSB,
	// read MSB, write MSB.
	p := NewPIT()
	pitProgram(p, 0, 0x0302)
	p.Advance(2) // count 0x0301
	lo := pitRead(p, 0x40)
	pitWrite(p, 0x40, 0x00)
	hi := pitRead(p, 0x40)
	pitWrite(p, 0x40, 0x01)
	if lo != 0x01 || hi != 0x03 {
		t.Errorf("interleaved reads = %#02x %#02x, want 0x01 0x03", lo, hi)
	}
	if at, ok := p.NextEvent(2); !ok || at != 2+1+0x100 {
		t.Errorf("interleaved write: NextEvent = %d, %v; want %d", at, ok, 2+1+0x100)
	}
	// An unlatched pair may straddle a tick.
	p = NewPIT()
	pitProgram(p, 2, 0x0100)
	p.Advance(1) // 0x0100
	lo = pitRead(p, 0x40)
	p.Advance(2) // 0x00FF
	hi = pitRead(p, 0x40)
	if lo != 0x00 || hi != 0x00 {
		t.Errorf("straddling read = %#02x %#02x, want 0x00 0x00 (neither 0x0100 nor 0x00FF)", lo, hi)
	}
	// A 16-bit read of port 0x40 is the bytes of 0x40 and 0x41.
	p = NewPIT()
	pitWrite(p, 0x43, 0x10) // channel 0 LSB only
	pitWrite(p, 0x40, 0x42)
	pitWrite(p, 0x43, 0x50) // channel 1 LSB only
	pitWrite(p, 0x41, 0x24)
	p.Advance(1)
	if v := p.In(0x40, 2); v != 0x2442 {
		t.Errorf("In(0x40, 2) = %#x, want 0x2442", v)
	}
}

func TestPITReprogram(t *testing.T) {
	t.Run("mode 0 new count restarts", func(t *testing.T) {
		p, edges := newTestPIT()
		pitProgram(p, 0, 100)
		p.Advance(50)
		pitWrite(p, 0x40, 10)                     // LSB: counting stops
		if c := p.Count(0); c != 51 || p.Out0() { // loaded on 1: 100 - 49
			t.Fatalf("after the LSB: count %d OUT %v, want 51 and low", c, p.Out0())
		}
		p.Advance(80)
		if c := p.Count(0); c != 51 {
			t.Fatalf("half-written count: CE %d, want it held at 51", c)
		}
		if _, ok := p.NextEvent(80); ok {
			t.Fatal("an edge is scheduled while the count is half written")
		}
		pitWrite(p, 0x40, 0) // MSB: count 10, loaded on tick 81
		if at, ok := p.NextEvent(80); !ok || at != 91 {
			t.Fatalf("NextEvent = %d, %v; want 91", at, ok)
		}
		p.Advance(200)
		if fmt.Sprint(*edges) != fmt.Sprint([]pitEdge{{0, false}, {200, true}}) {
			t.Errorf("reports %v", *edges)
		}
	})
	t.Run("mode 0 after terminal count drops OUT", func(t *testing.T) {
		p, edges := newTestPIT()
		pitWrite(p, 0x43, 0x10) // LSB only, mode 0
		pitWrite(p, 0x40, 5)
		p.Advance(6)
		pitWrite(p, 0x40, 5)
		if p.Out0() {
			t.Fatal("new mode 0 count left OUT high")
		}
		if at, ok := p.NextEvent(6); !ok || at != 12 {
			t.Fatalf("NextEvent = %d, %v; want 12", at, ok)
		}
		want := []pitEdge{{0, false}, {6, true}, {6, false}}
		if fmt.Sprint(*edges) != fmt.Sprint(want) {
			t.Errorf("reports %v, want %v", *edges, want)
		}
	})
	t.Run("mode 2 new count at the next reload", func(t *testing.T) {
		p := NewPIT()
		pitProgram(p, 2, 100) // rises at 101, 201, ...
		p.Advance(150)
		pitWrite(p, 0x40, 10, 0)
		if c := p.Count(0); c != 51 {
			t.Errorf("count right after the rewrite = %d, want 51 (unchanged)", c)
		}
		if s := pitStatus(p, 0); s&0x40 == 0 {
			t.Error("null count clear before the new count is loaded")
		}
		for _, want := range []uint64{201, 211, 221} {
			at, ok := p.NextEvent(p.Now())
			if !ok || at != want {
				t.Fatalf("NextEvent = %d, %v; want %d", at, ok, want)
			}
			p.Advance(at)
		}
		if s := pitStatus(p, 0); s&0x40 != 0 {
			t.Error("null count still set after the reload")
		}
	})
	t.Run("mode 3 new count at the half-cycle", func(t *testing.T) {
		p := NewPIT()
		pitProgram(p, 3, 100) // high 1-50, low 51-100, rises at 101
		p.Advance(20)
		pitWrite(p, 0x40, 10, 0) // takes over at 51, in its low half (5 ticks)
		p.Advance(50)
		if !p.Out0() || p.Count(0) != 2 {
			t.Fatalf("tick 50: OUT %v count %d, want high and 2", p.Out0(), p.Count(0))
		}
		p.Advance(51)
		if p.Out0() || p.Count(0) != 10 {
			t.Fatalf("tick 51: OUT %v count %d, want low and 10", p.Out0(), p.Count(0))
		}
		for _, want := range []uint64{56, 66, 76} {
			at, ok := p.NextEvent(p.Now())
			if !ok || at != want {
				t.Fatalf("NextEvent = %d, %v; want %d", at, ok, want)
			}
			p.Advance(at)
		}
	})
	t.Run("control word stops the channel", func(t *testing.T) {
		p, edges := newTestPIT()
		pitProgram(p, 2, 100)
		p.Advance(150)
		pitWrite(p, 0x43, 0x30) // mode 0, no count yet
		if p.Out0() {
			t.Error("OUT high after a mode 0 control word")
		}
		if c := p.Count(0); c != 51 {
			t.Errorf("CE after the control word = %d, want held at 51", c)
		}
		p.Advance(1000)
		if _, ok := p.NextEvent(1000); ok || p.Count(0) != 51 {
			t.Error("the channel kept counting after a control word without a count")
		}
		// The Advance over the edges at 100-101 reports one low-high pair
		// at 150; then the control word drops OUT.
		want := []pitEdge{{150, false}, {150, true}, {150, false}}
		if fmt.Sprint(*edges) != fmt.Sprint(want) {
			t.Errorf("reports %v, want %v", *edges, want)
		}
	})
}

func TestPITModeAliases(t *testing.T) {
	for _, tc := range []struct {
		mode  uint8
		rises []uint64 // count 4 written at 0
	}{{6, []uint64{5, 9, 13}}, {7, []uint64{5, 9, 13}}} {
		p := NewPIT()
		pitProgram(p, tc.mode, 4)
		for _, want := range tc.rises {
			if at, ok := p.NextEvent(p.Now()); !ok || at != want {
				t.Fatalf("mode %d: NextEvent = %d, %v; want %d", tc.mode, at, ok, want)
			}
			p.Advance(want - 1)
			if tc.mode == 6 && p.Out0() {
				t.Fatalf("mode 6 (2): OUT high the tick before reload")
			}
			p.Advance(want)
		}
		p.Advance(p.Now() + 2)
		if tc.mode == 7 && p.Out0() {
			t.Errorf("mode 7 (3): OUT high in the second half-cycle")
		}
	}
}

func TestPITIllegalCountOne(t *testing.T) {
	for _, mode := range []uint8{2, 3} {
		p := NewPIT()
		pitProgram(p, mode, 1)
		p.Advance(100)
		if _, ok := p.NextEvent(100); ok || !p.Out0() {
			t.Errorf("mode %d count 1: edges scheduled or OUT low", mode)
		}
	}
}

func TestPITBCD(t *testing.T) {
	p := NewPIT()
	pitWrite(p, 0x43, 0x31) // mode 0, BCD
	pitWrite(p, 0x40, 0x00, 0x01)
	if at, ok := p.NextEvent(0); !ok || at != 101 {
		t.Errorf("BCD 0100: NextEvent = %d, %v; want 101", at, ok)
	}
	p.Advance(2)
	if c := p.Count(0); c != 0x0099 {
		t.Errorf("BCD count = %#04x, want 0x0099", c)
	}
	p.Advance(102)
	if c := p.Count(0); c != 0x9999 {
		t.Errorf("BCD wrap = %#04x, want 0x9999", c)
	}
	pitWrite(p, 0x40, 0x00, 0x00) // 0 is 10000
	if at, ok := p.NextEvent(102); !ok || at != 102+1+10000 {
		t.Errorf("BCD 0000: NextEvent = %d, %v; want %d", at, ok, 102+1+10000)
	}
	if s := pitStatus(p, 0); s != 0x71 {
		t.Errorf("BCD status %#02x, want 0x71", s)
	}
	pitWrite(p, 0x40, 0x01, 0xA0) // a nibble above 9: 10001, modulo 10000
	if at, ok := p.NextEvent(102); !ok || at != 102+1+1 {
		t.Errorf("BCD A001: NextEvent = %d, %v; want %d", at, ok, 102+1+1)
	}
}

func TestPITNextEventBeforeNow(t *testing.T) {
	p := NewPIT()
	pitProgram(p, 2, 100)
	p.Advance(550)
	for _, now := range []uint64{0, 1, 549, 550} {
		if at, ok := p.NextEvent(now); !ok || at != 601 {
			t.Errorf("NextEvent(%d) after Advance(550) = %d, %v; want 601", now, at, ok)
		}
	}
	if at, ok := p.NextEvent(601); !ok || at != 701 {
		t.Errorf("NextEvent ahead of Advance = %d, %v; want 701", at, ok)
	}
}

func TestPITHugeTimes(t *testing.T) {
	p := NewPIT()
	pitProgram(p, 2, 1000)
	const far = 1 << 60
	p.Advance(far) // O(1): returns at once
	// Loaded on tick 1, so at tick t the count is 1000 - (t-1)%1000.
	if want := uint16(1000 - (far-1)%1000); p.Count(0) != want {
		t.Errorf("count at 2^60 = %d, want %d", p.Count(0), want)
	}
	at, ok := p.NextEvent(far)
	if want := far + uint64(p.Count(0)); !ok || at != want {
		t.Errorf("NextEvent at 2^60 = %d, %v; want %d", at, ok, want)
	}
}

// refPIT is a tick-by-tick model of one 8254 channel in modes 0, 2 and 3,
// written straight from the data sheet's prose, against which the
// closed-form model is checked.
type refPIT struct {
	mode      int
	n         int // count register, 2..
	ce        int
	out       bool
	running   bool
	loadNext  bool // load n on the next tick
	newCount  int  // modes 2, 3: a count waiting for the next reload (0: none)
	nullCount bool
}

func (r *refPIT) control(mode int) {
	r.mode, r.running, r.loadNext, r.newCount, r.nullCount = mode, false, false, 0, true
	r.out = mode != 0
}

func (r *refPIT) write(n int) {
	r.nullCount = true
	switch {
	case r.mode == 0:
		r.n, r.running, r.loadNext, r.out = n, false, true, false
	case r.running:
		r.newCount = n
	default:
		r.n, r.loadNext = n, true
	}
}

// reload takes a waiting count at a reload point.
func (r *refPIT) reload() {
	if r.newCount != 0 {
		r.n, r.newCount, r.nullCount = r.newCount, 0, false
	}
	r.ce = r.n &^ 1
	if r.mode == 2 {
		r.ce = r.n
	}
}

func (r *refPIT) tick() {
	if r.loadNext {
		r.loadNext, r.running, r.nullCount = false, true, false
		r.ce = r.n
		if r.mode == 3 {
			r.ce = r.n &^ 1
		}
		return
	}
	if !r.running {
		return
	}
	switch r.mode {
	case 0:
		r.ce = (r.ce + 65535) % 65536
		if r.ce == 0 {
			r.out = true
		}
	case 2:
		r.ce--
		switch r.ce {
		case 1:
			r.out = false
		case 0:
			r.reload()
			r.out = true
		}
	case 3:
		if r.n%2 == 0 {
			r.ce -= 2
			if r.ce == 0 {
				r.out = !r.out
				r.reload()
			}
		} else if r.out {
			// An odd count's high half lasts one tick past expiry.
			if r.ce == 0 {
				r.out = false
				r.reload()
			} else {
				r.ce -= 2
			}
		} else {
			r.ce -= 2
			if r.ce == 0 {
				r.out = true
				r.reload()
			}
		}
	}
}

// TestPITAgainstTickModel drives random programs through the closed-form
// PIT and the tick-by-tick reference, comparing count, OUT, null count,
// every OUT report and every NextEvent.
func TestPITAgainstTickModel(t *testing.T) {
	rng := rand.New(rand.NewSource(8254))
	for run := range 300 {
		p, edges := newTestPIT()
		// coarse gets the same writes but advances only where p is
		// checked, in one jump.
		coarse, coarseEdges := newTestPIT()
		var r refPIT
		r.out = true
		var refEdges []pitEdge
		now := uint64(0)
		var log []string
		for range 40 {
			switch op := rng.Intn(10); {
			case op < 2:
				mode := []int{0, 2, 3}[rng.Intn(3)]
				pitWrite(p, 0x43, 0x30|uint8(mode)<<1)
				pitWrite(coarse, 0x43, 0x30|uint8(mode)<<1)
				before := r.out
				r.control(mode)
				if r.out != before {
					refEdges = append(refEdges, pitEdge{now, r.out})
				}
				log = append(log, fmt.Sprintf("%d: mode %d", now, mode))
			case op < 5:
				n := 2 + rng.Intn(40)
				pitWrite(p, 0x40, uint8(n), uint8(n>>8))
				pitWrite(coarse, 0x40, uint8(n), uint8(n>>8))
				before := r.out
				r.write(n)
				if r.out != before {
					refEdges = append(refEdges, pitEdge{now, r.out})
				}
				log = append(log, fmt.Sprintf("%d: count %d", now, n))
			default:
				// Where does the reference say OUT next rises?
				c := r
				wantAt, wantOK := uint64(0), false
				for k := uint64(1); k <= 200; k++ {
					before := c.out
					c.tick()
					if !before && c.out {
						wantAt, wantOK = now+k, true
						break
					}
				}
				at, ok := p.NextEvent(now)
				if ok != wantOK || at != wantAt {
					t.Fatalf("run %d: NextEvent(%d) = %d, %v; reference %d, %v\n%v", run, now, at, ok, wantAt, wantOK, log)
				}
				dt := 1 + uint64(rng.Intn(60))
				rose := false
				for range dt {
					before := r.out
					r.tick()
					now++
					if r.out != before {
						refEdges = append(refEdges, pitEdge{now, r.out})
					}
					rose = rose || !before && r.out
					p.Advance(now) // tick by tick: every report must match
				}
				*coarseEdges = nil
				coarse.Advance(now)
				if coarse.Count(0) != p.Count(0) || coarse.Out0() != p.Out0() {
					t.Fatalf("run %d at %d: one Advance gives count %d OUT %v, tick by tick %d %v\n%v",
						run, now, coarse.Count(0), coarse.Out0(), p.Count(0), p.Out0(), log)
				}
				coarseRose := false
				for _, e := range *coarseEdges {
					coarseRose = coarseRose || e.level
				}
				if coarseRose != rose {
					t.Fatalf("run %d at %d: one Advance reports a rise: %v; reference: %v\n%v", run, now, coarseRose, rose, log)
				}
				got, want := p.Count(0), uint16(r.ce)
				if got != want || p.Out0() != r.out {
					t.Fatalf("run %d at %d: count %d OUT %v; reference %d %v\n%v", run, now, got, p.Out0(), want, r.out, log)
				}
				if null := pitStatus(p, 0)&0x40 != 0; null != r.nullCount {
					t.Fatalf("run %d at %d: null count %v; reference %v\n%v", run, now, null, r.nullCount, log)
				}
			}
		}
		if fmt.Sprint(*edges) != fmt.Sprint(refEdges) {
			t.Fatalf("run %d: OUT reports\n %v\nreference\n %v\n%v", run, *edges, refEdges, log)
		}
	}
}
