package tui

import (
	"strings"
	"testing"
	"time"

	"virtsim/guest"
	"virtsim/vmm"
)

// TestDiskLines: after the disk workload, the cpu pane shows the ring's
// indices and notifications (ring=1: 7 requests — 2 reads, 2 writes of 8
// sectors, a flush, 2 reads back — in 4 notifications) or the ATA drive's
// status and sectors moved.
func TestDiskLines(t *testing.T) {
	for _, tc := range []struct {
		args string
		want []string
	}{
		{"n=16 ring=1", []string{"ring req=7 cons=7 rsp=7", "ring notify=4 err=0"}},
		{"n=16", []string{"ata st=50 r32 w16"}},
	} {
		w, err := guest.Lookup("disk")
		if err != nil {
			t.Fatal(err)
		}
		img, err := w.Load(vmm.DefaultMemSize)
		if err != nil {
			t.Fatal(err)
		}
		s, err := vmm.LookupStrategy("trap")
		if err != nil {
			t.Fatal(err)
		}
		inst, err := s.New(img, vmm.Config{Args: tc.args, TimeBudget: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if st, err := inst.Run(); err != nil || st.Kind != vmm.StopExit {
			t.Fatalf("%s: %v %v", tc.args, st, err)
		}
		snap := takeSnapshot(inst, false)
		inst.Close()
		if !snap.HasDisk {
			t.Fatalf("%s: no disk state in the snapshot", tc.args)
		}
		p := &cpuPane{}
		p.set(snap)
		view := strings.Join(p.view(80, 16), "\n")
		for _, w := range tc.want {
			if !strings.Contains(view, w) {
				t.Errorf("%s: cpu pane lacks %q:\n%s", tc.args, w, view)
			}
		}
	}
}
