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
		// the last request: a read of 8 sectors from sector 120 (the
		// read back of 112..127); exits per sector: trap's 155 exits (the
		// console, connect, doorbells) over 48 sectors
		{"n=16 ring=1", []string{"ring req=7 cons=7 rsp=7", "ring notify=4 err=0", "ring last read 8@120 ok", "exits/sector 3.2"}},
		{"n=16", []string{"ata st=50 r32 w16", "exits/sector 271."}},
	} {
		_, img := workloadImage(t, "disk")
		inst, err := strategy(t, "trap").New(img, vmm.Config{Args: tc.args, TimeBudget: time.Minute})
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

// Mid-transfer, the cpu pane names the request being served: under trap
// each word of a sector's rep insw is an exit, so after the streaming
// loader's IDENTIFY (256 words) and header sector (256 words) and 100
// words of the program's first sector, the drive is reading sector 1
// (the driver asks for one sector per command: none after it), 200 bytes
// of it moved.
func TestDiskLinesMidTransfer(t *testing.T) {
	_, img := workloadImage(t, "streaming")
	inst, err := strategy(t, "trap").New(img, vmm.Config{TimeBudget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	for words := 0; words < 2*256+100; {
		st, err := inst.RunToExit()
		if err != nil || st.Kind != vmm.StopNone {
			t.Fatalf("%v %v", st, err)
		}
		if inst.Result().Counts[vmm.Key{Cause: "io/in:0x1f0", Mech: vmm.MechTrap}] > uint64(words) {
			words++
		}
	}
	p := &cpuPane{}
	p.set(takeSnapshot(inst, false))
	view := strings.Join(p.view(80, 16), "\n")
	if !strings.Contains(view, "ata read lba=1 +0 @200") {
		t.Errorf("cpu pane lacks the transfer in progress:\n%s", view)
	}
}

// The UI boots a workload's PV build with its disk, as the native one.
func TestTargetPVHasDisk(t *testing.T) {
	w, err := guest.Lookup("streaming")
	if err != nil {
		t.Fatal(err)
	}
	for _, pv := range []bool{false, true} {
		img, err := (&target{w: w}).image(&vmm.Strategy{Name: "x", PV: pv}, 0)
		if err != nil || img.Disk == nil {
			t.Errorf("pv %v: %v, disk attached: %v", pv, err, err == nil && img.Disk != nil)
		}
	}
}
