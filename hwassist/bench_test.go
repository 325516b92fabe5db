package hwassist

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"virtsim/guest"
	"virtsim/hwassist/internal/kvmc"
	"virtsim/vmm"
)

// The exit round trip: what one `out` to port 0x80 costs, guest to VMM and
// back, measured two ways in the same run on the same guest (the io
// workload's loop):
//
//   - Go: hwassist's whole exit loop — KVM_RUN through x/sys/unix, decode
//     and decide, the event record and the clock tick, the device bus, the
//     interrupt check, and back into KVM_RUN;
//   - C: the least a VMM can do (internal/kvmc): KVM_RUN, check the exit
//     reason, direction and port, KVM_RUN again.
//
// Both time the loop from the first out's exit to the last, on VMs set up
// identically by New (the same kvm_run options), each on a thread locked
// to the vCPU. The figure is the ratio go/c: what Go and virtsim's
// bookkeeping add to the kernel's round trip.

// goOutLoop runs io with n outs through hwassist and returns the time per
// out exit (between the first and the last one's records).
func goOutLoop(t testing.TB, img *guest.Image, n int) time.Duration {
	var first, last time.Time
	count := 0
	cfg := vmm.Config{Args: fmt.Sprintf("n=%d", n), OnEvent: func(e vmm.Event) {
		if e.Cause == "io/out:0x80" {
			now := time.Now()
			if count == 0 {
				first = now
			}
			last, count = now, count+1
		}
	}}
	r := runKVM(t, img, cfg.Args, cfg)
	if r.Stop.Kind != vmm.StopExit || count != n {
		t.Fatalf("go loop: %s, %d outs of %d", r.Stop, count, n)
	}
	return last.Sub(first) / time.Duration(n-1)
}

// cOutLoop runs the same guest's loop from C.
func cOutLoop(t testing.TB, img *guest.Image, n int) time.Duration {
	v := boot(t, img, vmm.Config{Args: fmt.Sprintf("n=%d", n)})
	disarm := watch(t, v, testWatchdog)
	defer disarm()
	var (
		outs int
		d    time.Duration
		why  int
		err  error
	)
	v.thread.do(func() {
		v.inRun.Store(true)
		outs, d, why, err = kvmc.RunOuts(v.vcpuFD, v.run, guest.PortPOST, n+1)
		v.inRun.Store(false)
	})
	if err != nil || outs != n || why != exitIO {
		t.Fatalf("c loop: %d outs of %d, ended by exit %d: %v", outs, n, why, err)
	}
	return d / time.Duration(n-1)
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// BenchmarkIOExitRoundTrip reports go-ns/exit, c-ns/exit and their ratio
// (go/c): medians of five alternating runs of b.N outs each (at least
// 500), so that drift in the host's exit cost hits both alike. ns/op is
// the Go loop's time per exit (the framework's own figure would include
// booting the VMs).
func BenchmarkIOExitRoundTrip(b *testing.B) {
	requireKVM(b)
	img := load(b, "io")
	n := max(b.N, 500)
	var g, c []time.Duration
	b.StopTimer()
	for range 5 {
		g = append(g, goOutLoop(b, img, n))
		c = append(c, cOutLoop(b, img, n))
	}
	gm, cm := median(g), median(c)
	b.ReportMetric(float64(gm.Nanoseconds()), "ns/op")
	b.ReportMetric(float64(gm.Nanoseconds()), "go-ns/exit")
	b.ReportMetric(float64(cm.Nanoseconds()), "c-ns/exit")
	b.ReportMetric(float64(gm)/float64(cm), "go/c")
	b.Logf("%s: n=%d go %v/exit, c %v/exit, ratio %.2f", HostFlavour().Name, n, gm, cm, float64(gm)/float64(cm))
}

// The C reference loop runs the io workload's outs and stops at the first
// other exit (the console's LSR read), and the Go loop counts the same.
func TestCReferenceLoop(t *testing.T) {
	requireKVM(t)
	img := load(t, "io")
	gd := goOutLoop(t, img, 300)
	cd := cOutLoop(t, img, 300)
	t.Logf("%s: go %v/exit, c %v/exit, ratio %.2f", HostFlavour().Name, gd, cd, float64(gd)/float64(cd))
	if gd <= 0 || cd <= 0 {
		t.Errorf("no time measured: go %v, c %v", gd, cd)
	}
}
