package hypercall

import (
	"testing"
	"time"

	"virtsim/vmm"
)

// The POST-port hypercalls C performs (fast.go) record what the Go path
// records: a counting run (which never arms a site: every call goes
// through Go) and a timing run of the same guest agree on every count and
// the serial output, and the timing run performs nearly all of its POST
// calls in C. Workloads that make other calls, run a timer or page keep
// C out, and still agree.
func TestFastHypercalls(t *testing.T) {
	for _, c := range []struct {
		workload, args string
		minFast        uint64
	}{
		{"io", "n=500", 500 - 1}, // the first call arms its stub
		{"io-in", "n=500", 500 - 1},
		{"timer", "n=5", 0},
		{"pgprobe", "n=2", 0},
		{"pgfault", "n=20", 0},
	} {
		_, img := loadBoth(t, c.workload)
		var fast, post [2]uint64
		var res [2]*vmm.Result
		for i, count := range []bool{true, false} {
			p, err := NewVMM(img, vmm.Config{Args: c.args, Count: count, TimeBudget: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Run(); err != nil {
				t.Fatalf("%s: %v", c.workload, err)
			}
			res[i] = p.Result()
			fast[i] = p.E.FastEmulated()
			post[i] = p.Post.Writes
			p.Close()
		}
		t.Logf("%s: %d of the timing run's hypercalls performed in C", c.workload, fast[1])
		if !vmm.SameOutcome(res[0], res[1]) || res[0].Serial != res[1].Serial {
			t.Errorf("%s: counting run %v %v, timing run %v %v", c.workload, res[0].Stop, res[0].Counts, res[1].Stop, res[1].Counts)
		}
		if post[0] != post[1] {
			t.Errorf("%s: the POST port saw %d writes in the counting run, %d in the timing run", c.workload, post[0], post[1])
		}
		if fast[0] != 0 || fast[1] < c.minFast {
			t.Errorf("%s: %d hypercalls performed in C in the counting run (want 0), %d in the timing run (want >= %d)", c.workload, fast[0], fast[1], c.minFast)
		}
	}
}
