package vmm_test

import (
	"testing"
	"time"

	"virtsim/guest"
	"virtsim/vmm"
	"virtsim/vmm/unicorn"
)

const benchArgs = "n=300000"

// bareRun runs an image on a bare libunicorn engine: the same boot state,
// and only the two hooks the guest needs to finish (serial status reads
// and the debug-exit write, through Unicorn's own imprecise I/O hooks).
func bareRun(b *testing.B, img *guest.Image) time.Duration {
	e, err := unicorn.New()
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	if err := vmm.Boot(e, img, vmm.DefaultMemSize, benchArgs); err != nil {
		b.Fatal(err)
	}
	done := false
	if _, err := e.HookIn(func(port uint32, size int) uint32 { return 0x60 }); err != nil {
		b.Fatal(err)
	}
	if _, err := e.HookOut(func(port uint32, size int, v uint32) {
		if port == guest.PortDebugExit {
			done = true
			e.Stop()
		}
	}); err != nil {
		b.Fatal(err)
	}
	entry, err := e.Reg(unicorn.EIP)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	err = e.Start(uint64(entry), 0, 30*time.Second, 0)
	d := time.Since(t0)
	if err != nil || !done {
		b.Fatalf("bare run did not reach the debug exit: %v", err)
	}
	return d
}

func nativeRun(b *testing.B, s *vmm.Strategy, img *guest.Image) time.Duration {
	inst, err := s.New(img, vmm.Config{Args: benchArgs})
	if err != nil {
		b.Fatal(err)
	}
	defer inst.Close()
	st, err := inst.Run()
	if err != nil || st.Kind != vmm.StopExit {
		b.Fatalf("native: %v %v", st, err)
	}
	return inst.Result().Wall
}

// BenchmarkComputeNativeVsBare reports native's guest-instruction
// throughput on `compute` next to a bare libunicorn run of the same image
// in the same process, alternating the two in every iteration. The figure
// is native/bare: the cost of the machine model on a workload with no exits.
func BenchmarkComputeNativeVsBare(b *testing.B) {
	w, err := guest.Lookup("compute")
	if err != nil {
		b.Fatal(err)
	}
	img, err := guest.LoadELF(w.Image, vmm.DefaultMemSize)
	if err != nil {
		b.Fatal(err)
	}
	s, _ := vmm.LookupStrategy("native")
	// The instruction count comes from a separate counting pass.
	counted, err := vmm.RunGuest(s, img, vmm.Config{Args: benchArgs}, false)
	if err != nil {
		b.Fatal(err)
	}
	insns := float64(counted.Instructions)
	var native, bare time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		native += nativeRun(b, s, img)
		bare += bareRun(b, img)
	}
	b.ReportMetric(insns*float64(b.N)/native.Seconds()/1e6, "native-Minsn/s")
	b.ReportMetric(insns*float64(b.N)/bare.Seconds()/1e6, "bare-Minsn/s")
	b.ReportMetric(native.Seconds()/bare.Seconds(), "native/bare")
}
