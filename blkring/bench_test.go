package blkring_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"virtsim/vmm"
	"virtsim/vmm/vmmtest"

	_ "virtsim/hypercall" // pv
	_ "virtsim/translate" // bt
	_ "virtsim/trap"      // trap
)

// diskCases are the disk paths side by side: the emulated ATA disk (PIO,
// an exit per register access) and the paravirtual ring (an exit per
// batch), under the strategies that run each.
var diskCases = []struct{ strategy, dev, args string }{
	{"native", "ide", ""},
	{"trap", "ide", ""},
	{"bt", "ide", ""},
	{"native", "ring", " ring=1"},
	{"trap", "ring", " ring=1"},
	{"pv", "ring", ""},
}

// benchN: the disk workload moves 3n sectors (read n, write n, read n
// back).
const benchN = 64

// BenchmarkDiskEmulatedVsPV — what: one run of the disk workload at n=64
// per op (192 sectors moved: 64 read, 64 written, 64 read back), for each
// disk path and strategy. Metrics: exits/sector (exact: the difference of
// counting runs at n=32 and n=64 over the 96 extra sectors, the per-sector
// law), notify-exits/run (the ring's notifications: one per batch, 4
// batches per run), µs/sector (the engine's run time, setup excluded but
// the guest's boot and console included, over 192: median over ops, with
// min and max as the spread). Goal: the paravirtual ring moves a sector for no exit of its
// own and one exit per batch; the emulated disk pays 263-264 exits per
// sector under trap (one per rep element), 8-9 under bt (a rep is one
// callout); compare rows side by side, not absolute times
// (go test ./blkring -run '^$' -bench Disk -benchtime 5x).
func BenchmarkDiskEmulatedVsPV(b *testing.B) {
	for _, c := range diskCases {
		b.Run(c.strategy+"/"+c.dev, func(b *testing.B) {
			img := vmmtest.Load(b, "disk", c.strategy == "pv")
			cfg := vmm.Config{TimeBudget: 60 * time.Second}
			small := vmmtest.Run(b, c.strategy, img, fmt.Sprintf("n=%d%s", benchN/2, c.args), cfg)
			big := vmmtest.Run(b, c.strategy, img, fmt.Sprintf("n=%d%s", benchN, c.args), cfg)
			sectors := float64(3 * (benchN - benchN/2))
			perSector := float64(big.Exits-small.Exits) / sectors
			var notify uint64
			for k, n := range big.Counts {
				if k.Cause == "io/out:0xe8" || k.Cause == "hypercall/event_channel_op:send" {
					notify += n
				}
			}
			s, err := vmm.LookupStrategy(c.strategy)
			if err != nil {
				b.Fatal(err)
			}
			run := func(n int) time.Duration {
				inst, err := s.New(img, vmm.Config{Args: fmt.Sprintf("n=%d%s", n, c.args), TimeBudget: 60 * time.Second})
				if err != nil {
					b.Fatal(err)
				}
				defer inst.Close()
				t0 := time.Now()
				st, err := inst.Run()
				d := time.Since(t0)
				if err != nil || st.Kind != vmm.StopExit || st.Status != 0 {
					b.Fatalf("%s: %v %v", c.strategy, st, err)
				}
				return d
			}
			var per []float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				per = append(per, float64(run(benchN).Microseconds())/(3*benchN))
			}
			b.StopTimer()
			sort.Float64s(per)
			b.ReportMetric(perSector, "exits/sector")
			b.ReportMetric(float64(notify), "notify-exits/run")
			b.ReportMetric(per[len(per)/2], "µs/sector")
			b.ReportMetric(per[0], "µs/sector-min")
			b.ReportMetric(per[len(per)-1], "µs/sector-max")
		})
	}
}
