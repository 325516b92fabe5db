package vmmtest

import (
	"runtime"
	"sort"
	"strconv"
	"testing"
	"time"

	"virtsim/guest"
	"virtsim/vmm"

	"golang.org/x/sys/unix"
)

// TimedRun runs img once under strategy as an uninstrumented timing pass
// (no counting) with command line args and returns its result; a guest
// that does not exit with status 0 fails the benchmark.
func TimedRun(tb testing.TB, strategy string, img *guest.Image, args string) *vmm.Result {
	tb.Helper()
	res, _ := TimedRunCPU(tb, strategy, img, args)
	return res
}

// TimedRunCPU is TimedRun that also returns the CPU time the run's thread
// spent in Run (CLOCK_THREAD_CPUTIME_ID, the goroutine locked to its
// thread: the guest, the hooks and the VMM all run there). On a shared
// machine a wall time also holds the time the thread waited for a core;
// the CPU time does not, so ratios of CPU times stay readable under load.
func TimedRunCPU(tb testing.TB, strategy string, img *guest.Image, args string) (*vmm.Result, time.Duration) {
	tb.Helper()
	s, err := vmm.LookupStrategy(strategy)
	if err != nil {
		tb.Fatal(err)
	}
	inst, err := s.New(img, vmm.Config{Args: args, TimeBudget: time.Minute})
	if err != nil {
		tb.Fatal(err)
	}
	defer inst.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c0 := ThreadCPU()
	st, err := inst.Run()
	cpu := ThreadCPU() - c0
	if err != nil || st.Kind != vmm.StopExit || st.Status != 0 {
		tb.Fatalf("%s under %s: %v %v", img.Name, strategy, st, err)
	}
	return inst.Result(), cpu
}

// ThreadCPU is the calling thread's CPU time (lock the goroutine to its
// thread around the span it measures).
func ThreadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// Median is the median of ds (ds is not changed).
func Median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// IterRun is one column of PerIterationVsNative: a label, the strategy and
// image it runs, and what to set before each of its runs (nil: nothing).
type IterRun struct {
	Label, Strategy string
	Img             *guest.Image
	Before          func()
}

// PerIterationVsNative measures the cost of one iteration of a workload
// under each run, side by side in one benchmark: b.N times, the wall-time
// difference between n=n1 and n=n2 divided by n2-n1 (start-up cancels).
// It reports LABEL-ns/iter (the median) for each run, and for every run
// after the first, which must be native, the time ratio LABEL/native+suffix
// with its spread (one ratio per round, measured side by side).
func PerIterationVsNative(b *testing.B, runs []IterRun, n1, n2 int, suffix string) {
	b.Helper()
	per := make([][]time.Duration, len(runs))
	ratios := make([][]float64, len(runs))
	for i := 0; i < b.N; i++ {
		for j, r := range runs {
			if r.Before != nil {
				r.Before()
			}
			lo := TimedRun(b, r.Strategy, r.Img, "n="+strconv.Itoa(n1)).Wall
			hi := TimedRun(b, r.Strategy, r.Img, "n="+strconv.Itoa(n2)).Wall
			per[j] = append(per[j], (hi-lo)/time.Duration(n2-n1))
			if j > 0 && per[0][i] > 0 {
				ratios[j] = append(ratios[j], float64(per[j][i])/float64(per[0][i]))
			}
		}
	}
	for j, r := range runs {
		b.ReportMetric(float64(Median(per[j]).Nanoseconds()), r.Label+"-ns/iter")
		if j > 0 && len(ratios[j]) > 0 {
			ReportSpread(b, r.Label+"/native"+suffix, ratios[j])
		}
	}
}

// Spread is a sample's median and range: what every measured figure of
// the benchmarks carries (issue 16: medians of >= 5 runs, spread shown).
type Spread struct {
	Median, Min, Max float64
	N                int
}

// SpreadOf summarises xs (not changed); the zero Spread for none.
func SpreadOf(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return Spread{Median: s[len(s)/2], Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// ReportSpread reports the median of xs under unit and its range under
// unit-min and unit-max (benchstat reads each as its own metric).
func ReportSpread(b *testing.B, unit string, xs []float64) {
	b.Helper()
	s := SpreadOf(xs)
	b.ReportMetric(s.Median, unit)
	b.ReportMetric(s.Min, unit+"-min")
	b.ReportMetric(s.Max, unit+"-max")
}

// Durations converts ds to float nanoseconds for ReportSpread.
func Durations(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d.Nanoseconds())
	}
	return out
}
