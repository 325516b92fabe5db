// Package vmmtest is the test helper every strategy pins its exit counts
// with: a run's stop, guest instruction count and events by cause and
// mechanism are compared with a record in a golden file (vmm's golden
// format). `go test -update` rewrites the records the tests produce; review
// the diff before committing it.
package vmmtest

import (
	"errors"
	"flag"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"virtsim/guest"
	"virtsim/vmm"
)

var update = flag.Bool("update", false, "rewrite golden exit-count records instead of comparing")

var mu sync.Mutex // serialises read-modify-write of golden files under -update

// Updating reports whether the test binary runs with -update.
func Updating() bool { return *update }

// CheckGolden compares res with its record in the golden file at path, or
// with -update writes res's record into the file (keeping the others).
func CheckGolden(t testing.TB, path string, res *vmm.Result) {
	t.Helper()
	got := vmm.RecordOf(res)
	mu.Lock()
	defer mu.Unlock()
	g, err := vmm.ReadGoldenFile(path)
	if errors.Is(err, os.ErrNotExist) {
		g, err = vmm.NewGolden(), nil
	}
	if err != nil {
		t.Fatalf("golden: %v", err)
	}
	if *update {
		g.Put(got)
		if err := g.WriteFile(path); err != nil {
			t.Fatalf("golden: %v", err)
		}
		return
	}
	want, ok := g.Records[got.Key]
	if !ok {
		t.Fatalf("golden %s has no record for run %s; run `go test -update` and review the diff", path, got.Key)
	}
	if d := vmm.Compare(want, got); len(d) > 0 {
		t.Errorf("exit counts differ from %s (run `go test -update` if the change is intended):\n%s", path, vmm.FormatDiffs(d))
	}
}

// Load loads a catalogue workload's native image (the PV build with pv
// set) into the default guest RAM, failing the test if it cannot.
func Load(t testing.TB, name string, pv bool) *guest.Image {
	t.Helper()
	w, err := guest.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	img, err := w.LoadFor(pv, vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Run runs img to the end under the named strategy the way `virtsim run`
// does (vmm.RunGuest, counting pass only) with args as its command line,
// failing the test if the run cannot be made. A zero cfg.TimeBudget is 60 s.
func Run(t testing.TB, strategy string, img *guest.Image, args string, cfg vmm.Config) *vmm.Result {
	t.Helper()
	s, err := vmm.LookupStrategy(strategy)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Args = args
	if cfg.TimeBudget == 0 {
		cfg.TimeBudget = 60 * time.Second
	}
	res, err := vmm.RunGuest(s, img, cfg, false)
	if err != nil {
		t.Fatalf("%s %q under %s: %v", img.Name, args, strategy, err)
	}
	return res
}

// RunAllocs boots img under strategy with "n=N" and runs it to its exit
// (a timing pass: no counting) inside testing.AllocsPerRun: the heap
// allocations of one whole run, and the run's result.
func RunAllocs(t testing.TB, strategy string, img *guest.Image, n int) (allocs float64, res *vmm.Result) {
	t.Helper()
	s, err := vmm.LookupStrategy(strategy)
	if err != nil {
		t.Fatal(err)
	}
	cfg := vmm.Config{Args: "n=" + strconv.Itoa(n), TimeBudget: time.Minute}
	allocs = testing.AllocsPerRun(3, func() {
		inst, err := s.New(img, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer inst.Close()
		if st, err := inst.Run(); err != nil || st.Kind != vmm.StopExit {
			t.Fatalf("%s under %s: %v %v", img.Name, strategy, st, err)
		}
		res = inst.Result()
	})
	return allocs, res
}

// AllocsPerExit measures heap allocations per exit of a workload under a
// strategy: runs at n1 and n2 iterations (RunAllocs); the difference divided
// by the difference in exits is what one exit allocates (boot and set-up
// cancel).
func AllocsPerExit(t testing.TB, strategy string, img *guest.Image, n1, n2 int) (perExit float64, extraExits uint64) {
	t.Helper()
	a1, r1 := RunAllocs(t, strategy, img, n1)
	a2, r2 := RunAllocs(t, strategy, img, n2)
	extra := r2.Exits - r1.Exits
	if extra == 0 {
		t.Fatalf("%s under %s: n=%d and n=%d make the same number of exits", img.Name, strategy, n1, n2)
	}
	return (a2 - a1) / float64(extra), extra
}

// CgoCallsPerExit measures the Go-to-C calls (runtime.NumCgoCall) one exit
// of a workload makes under a strategy: timing passes at n1 and n2
// iterations, the difference in calls divided by the difference in exits
// (boot and set-up cancel). Deterministic, unlike a time: each call costs
// ~50 ns of runtime bookkeeping on this substrate, so the exit path reads
// state in batches and it is pinned by tests.
func CgoCallsPerExit(t testing.TB, strategy string, img *guest.Image, n1, n2 int) (perExit float64, extraExits uint64) {
	t.Helper()
	calls := func(n int) (int64, *vmm.Result) {
		c0 := runtime.NumCgoCall()
		res := TimedRun(t, strategy, img, "n="+strconv.Itoa(n))
		return runtime.NumCgoCall() - c0, res
	}
	c1, r1 := calls(n1)
	c2, r2 := calls(n2)
	extra := r2.Exits - r1.Exits
	if extra == 0 {
		extra = r2.Counts.Total() - r1.Counts.Total()
	}
	if extra == 0 {
		t.Fatalf("%s under %s: n=%d and n=%d make the same number of exits", img.Name, strategy, n1, n2)
	}
	return float64(c2-c1) / float64(extra), extra
}
