package tui

import (
	"strings"
	"testing"

	"virtsim/vmm"
)

// Events bt counts in place (in-tc) are logged from the counts: one row
// per cause, at the stepped instruction's PC after a single step, ×N with
// no PC after a run; reported events are not counted twice.
func TestFromCounts(t *testing.T) {
	cli := vmm.Key{Cause: "priv/cli", Mech: vmm.MechInTC}
	sti := vmm.Key{Cause: "priv/sti", Mech: vmm.MechInTC}
	io := vmm.Key{Cause: "io/out:0x80", Mech: vmm.MechCallout}
	before := vmm.Counts{cli: 1}
	after := vmm.Counts{cli: 2, io: 1}
	got := fromCounts(before, after, []vmm.Event{{Cause: "io/out:0x80", Mech: vmm.MechCallout}}, true, 0x1234)
	if len(got) != 1 || got[0].Cause != "priv/cli" || got[0].PC != 0x1234 || got[0].NoPC || got[0].Count != 1 {
		t.Errorf("after a step: %+v", got)
	}
	after = vmm.Counts{cli: 4001, sti: 4000, io: 1}
	got = fromCounts(before, after, nil, false, 0x1234)
	if len(got) != 2 || !got[0].NoPC || got[0].Count != 4000 || got[1].Count != 4000 {
		t.Errorf("after a run: %+v", got)
	}
	var log eventLog
	log.addCounted(got)
	if log.total != 8000 {
		t.Errorf("the log's sequence counts %d events, want 8000", log.total)
	}
	view := strings.Join(log.view(80, 6, ""), "\n")
	flat := strings.Join(strings.Fields(view), " ")
	if !strings.Contains(view, "   ×4000 priv/cli") || !strings.Contains(flat, "4000 of them since the last stop") {
		t.Errorf("the log does not show the counted events:\n%s", view)
	}
	// a pv event reported as it happened is not in-tc: nothing to add
	if got := fromCounts(vmm.Counts{}, vmm.Counts{{Cause: "priv/cli", Mech: vmm.MechSharedInfo}: 3}, nil, false, 0); len(got) != 0 {
		t.Errorf("shared-info events taken from the counts: %+v", got)
	}
}

// A long console line wraps in the serial pane; the last line stays in view.
func TestSerialWraps(t *testing.T) {
	p := serialPane{text: strings.Repeat("a", 25) + "END\n"}
	got := p.view(10, 3)
	if !strings.Contains(got[2], "END") || strings.TrimSpace(got[0]) != "aaaaaaaaaa" {
		t.Errorf("serial pane: %q", got)
	}
}
