package vmmtest

import (
	"sort"
	"strconv"
	"testing"
	"time"

	"virtsim/guest"
	"virtsim/vmm"
)

// TimedRun runs img once under strategy as an uninstrumented timing pass
// (no counting) with command line args and returns its result; a guest
// that does not exit with status 0 fails the benchmark.
func TimedRun(tb testing.TB, strategy string, img *guest.Image, args string) *vmm.Result {
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
	if st, err := inst.Run(); err != nil || st.Kind != vmm.StopExit || st.Status != 0 {
		tb.Fatalf("%s under %s: %v %v", img.Name, strategy, st, err)
	}
	return inst.Result()
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
// It reports LABEL-ns/iter (the median) for each run, and LABEL/native for
// every run after the first, which must be native.
func PerIterationVsNative(b *testing.B, runs []IterRun, n1, n2 int) {
	b.Helper()
	per := make([][]time.Duration, len(runs))
	for i := 0; i < b.N; i++ {
		for j, r := range runs {
			if r.Before != nil {
				r.Before()
			}
			lo := TimedRun(b, r.Strategy, r.Img, "n="+strconv.Itoa(n1)).Wall
			hi := TimedRun(b, r.Strategy, r.Img, "n="+strconv.Itoa(n2)).Wall
			per[j] = append(per[j], (hi-lo)/time.Duration(n2-n1))
		}
	}
	native := Median(per[0])
	for j, r := range runs {
		m := Median(per[j])
		b.ReportMetric(float64(m.Nanoseconds()), r.Label+"-ns/iter")
		if j > 0 && native > 0 {
			b.ReportMetric(float64(m)/float64(native), r.Label+"/native")
		}
	}
}
