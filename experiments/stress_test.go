package experiments

import (
	"flag"
	"runtime"
	"sync/atomic"
	"testing"

	"virtsim/vmm"
)

var stress = flag.Int("stress", 0, "TestStressCheck: how many full checks to run under load (0: skip)")

// TestStressCheck is the determinism stress test: the project golden
// checked -stress times in a row, with two workers, while busy goroutines
// keep every core loaded (Go's preemption signals, a starved engine, the
// time budget's clock all get their chance). Every run must match its
// record exactly; a run that stops otherwise is reported with its reason
// and PC. go test ./experiments -run StressCheck -stress 10 (slow: minutes).
func TestStressCheck(t *testing.T) {
	if *stress <= 0 {
		t.Skip("a stress run: go test ./experiments -run StressCheck -stress N")
	}
	var stop atomic.Bool
	defer stop.Store(true)
	for i := 0; i < runtime.NumCPU(); i++ {
		go func() {
			x := 0
			for !stop.Load() {
				x++
			}
			_ = x
		}()
	}
	for i := 0; i < *stress; i++ {
		rep, err := Check(CheckOptions{Golden: projectGolden, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range rep.Stops {
			t.Errorf("check %d: stopped %s", i, s)
		}
		for _, e := range rep.Errors {
			t.Errorf("check %d: run failed: %s", i, e)
		}
		if len(rep.Diffs) > 0 {
			t.Errorf("check %d: counts differ:\n%s", i, vmm.FormatDiffs(rep.Diffs))
		}
		t.Logf("check %d: %d runs", i, rep.Checked)
	}
}
