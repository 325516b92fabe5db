package vmm

import (
	"strings"
	"testing"
	"time"
)

// SameOutcome compares every count but the uncounted mechanisms and the
// causes whose counts are the host's timing.
func TestSameOutcome(t *testing.T) {
	exit := Stop{Kind: StopExit}
	win := Key{Cause: "irq-window", Mech: MechVMExit}
	io := Key{Cause: "io/out:0xf4", Mech: MechVMExit}
	intc := Key{Cause: "priv/cli", Mech: MechInTC}
	for _, c := range []struct {
		name           string
		counted, timed Counts
		uncounted      []Mechanism
		timedCauses    []string
		want           bool
	}{
		{"equal", Counts{io: 1, win: 3}, Counts{io: 1, win: 3}, nil, nil, true},
		{"an exit more", Counts{io: 1, win: 3}, Counts{io: 2, win: 3}, nil, nil, false},
		{"a window more, not timed", Counts{io: 1, win: 3}, Counts{io: 1, win: 4}, nil, nil, false},
		{"a window more, timed", Counts{io: 1, win: 3}, Counts{io: 1, win: 4}, nil, []string{"irq-window"}, true},
		{"timed, an exit more still counts", Counts{io: 1, win: 3}, Counts{io: 2, win: 4}, nil, []string{"irq-window"}, false},
		{"uncounted in-tc", Counts{io: 1, intc: 5}, Counts{io: 1}, []Mechanism{MechInTC}, nil, true},
	} {
		got := SameOutcome(&Result{Stop: exit, Counts: c.counted}, &Result{Stop: exit, Counts: c.timed, Uncounted: c.uncounted, Timed: c.timedCauses})
		if got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// The summary calls a count guest instructions only when it is one: under
// a binary translator it is what the CPU executed, the translation
// cache's share named apart.
func TestSummaryInstructions(t *testing.T) {
	for _, c := range []struct {
		name     string
		counters map[string]uint64
		want     string
		not      string
	}{
		{"trap", nil, "guest instructions: 1200", "translation cache"},
		{"bt", map[string]uint64{CounterTCInstructions: 2900, "bt/insns": 40},
			"instructions executed: 3000 (2900 in the translation cache", "guest instructions:"},
	} {
		r := &Result{Guest: "call-ret", Strategy: c.name, Stop: Stop{Kind: StopExit}, Instructions: map[string]uint64{"trap": 1200, "bt": 3000}[c.name], Counters: c.counters,
			Wall: 1500 * time.Microsecond}
		s := r.Summary()
		if !strings.Contains(s, "wall: 1.5ms (one run)") {
			t.Errorf("a single timing is not called one: %q", s)
		}
		if !strings.Contains(s, c.want) || strings.Contains(s, c.not) {
			t.Errorf("%s: summary\n%s\nwant %q, not %q", c.name, s, c.want, c.not)
		}
	}
}
