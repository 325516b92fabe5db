package blkring_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"virtsim/disk"
	"virtsim/guest"
	"virtsim/internal/qemu"
	"virtsim/vmm"
	"virtsim/vmm/vmmtest"
)

// The streaming workload (a loader that reads its program from the disk)
// under each strategy and disk path, on a disk made by guest.StreamImage.

// streamRun boots the streaming loader with disk img (nil: no disk).
func streamRun(t *testing.T, strategy, args string, img []byte) *vmm.Result {
	t.Helper()
	im := vmmtest.Load(t, "streaming", strategy == "pv")
	im.Disk = nil
	cfg := vmm.Config{TimeBudget: 60 * time.Second}
	if img != nil {
		cfg.Disk = disk.NewMem(img)
	}
	return vmmtest.Run(t, strategy, im, args, cfg)
}

func streamImage(t *testing.T, pad int) []byte {
	t.Helper()
	img, err := guest.StreamImage(pad)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// notifications counts the ring's doorbells: a port write natively, an
// event-channel hypercall in the PV build.
func notifications(r *vmm.Result) uint64 {
	var n uint64
	for k, c := range r.Counts {
		if k.Cause == "io/out:0xe8" || k.Cause == "hypercall/event_channel_op:send" {
			n += c
		}
	}
	return n
}

// The per-sector laws of streaming a program: the same boot with pad more
// sectors in the program costs pad × the path's exits per sector. The
// emulated disk pays per sector what the ATA driver does (6 task-file
// outs, 1 status in, the 256 words of rep insw: each an exit under trap,
// the rep one callout under bt); the ring pays nothing per sector and one
// notification per batch of up to 256 sectors.
func TestStreamingPerSectorLaw(t *testing.T) {
	const pad = 20
	base, padded := streamImage(t, 0), streamImage(t, pad)
	for _, c := range []struct {
		strategy, args string
		perSector      int
		why            string
	}{
		{"native", "", 0, "the machine performs PIO: no VMM"},
		{"trap", "", 263, "6 outs + 1 status in + 256 insw elements, each a trap"},
		{"bt", "", 8, "6 outs + 1 status in + the rep insw as one callout"},
		{"native", "ring=1", 0, "the ring: one doorbell per batch, none per sector"},
		{"trap", "ring=1", 0, "the ring: one doorbell per batch, none per sector"},
		{"pv", "", 0, "the ring: one event_channel_op per batch, none per sector"},
	} {
		t.Run(c.strategy+"/"+strings.TrimSpace("ide "+c.args), func(t *testing.T) {
			a := streamRun(t, c.strategy, "n=1 "+c.args, base)
			b := streamRun(t, c.strategy, "n=1 "+c.args, padded)
			for _, r := range []*vmm.Result{a, b} {
				if r.Stop.Kind != vmm.StopExit || r.Stop.Status != 0 {
					t.Fatalf("%s\n%s", r.Stop, r.Serial)
				}
			}
			if d := int(b.Exits) - int(a.Exits); d != pad*c.perSector {
				t.Errorf("%d more sectors cost %d more exits, want %d×%d (%s)\n%s", pad, d, pad, c.perSector, c.why, b.Counts.Format())
			}
			if !strings.Contains(b.Serial, fmt.Sprintf("sectors=%d", 10+pad)) {
				t.Errorf("the padded program is not %d sectors:\n%s", 10+pad, b.Serial)
			}
		})
	}
}

// One notification per batch: a program of up to 256 sectors streams with
// one doorbell, 257 need two (pv, and the native build's ring under trap).
func TestStreamingOneNotificationPerBatch(t *testing.T) {
	for _, c := range []struct{ strategy, args string }{{"pv", ""}, {"trap", "ring=1"}} {
		t.Run(c.strategy, func(t *testing.T) {
			h, err := guest.ParseStreamHeader(streamImage(t, 0))
			if err != nil {
				t.Fatal(err)
			}
			k := int(h.Sectors)
			one := streamRun(t, c.strategy, "n=1 "+c.args, streamImage(t, 256-k))
			two := streamRun(t, c.strategy, "n=1 "+c.args, streamImage(t, 257-k))
			// the header sector is a batch of its own
			if n := notifications(one); n != 2 {
				t.Errorf("256 sectors: %d notifications, want 2 (header, program)\n%s", n, one.Counts.Format())
			}
			if n := notifications(two); n != 3 {
				t.Errorf("257 sectors: %d notifications, want 3 (header, 256, 1)\n%s", n, two.Counts.Format())
			}
			if d := int(two.Exits) - int(one.Exits); d != 1 {
				t.Errorf("one more sector across a batch boundary: %d more exits, want 1", d)
			}
		})
	}
}

// malformedStreams: disks the loader must refuse, with what it says.
func malformedStreams(t *testing.T) []struct {
	name, want string
	img        []byte
} {
	good := streamImage(t, 0)
	h, err := guest.ParseStreamHeader(good)
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(h *guest.StreamHeader, img []byte)) []byte {
		img := append([]byte(nil), good...)
		hh := h
		f(&hh, img)
		hh.Put(img)
		return img
	}
	return []struct {
		name, want string
		img        []byte
	}{
		{"no-disk", "streaming: error no disk", nil},
		{"magic", "streaming: error no program on the disk: sector 0 has magic 0x00000000, not 0x4d525453",
			with(func(h *guest.StreamHeader, _ []byte) { h.Magic = 0 })},
		{"empty", "streaming: error bad program size: 0 sectors (1 to 2048)",
			with(func(h *guest.StreamHeader, _ []byte) { h.Sectors = 0 })},
		{"huge", "streaming: error bad program size: 4096 sectors (1 to 2048)",
			with(func(h *guest.StreamHeader, _ []byte) { h.Sectors = 4096 })},
		{"past-end", "streaming: error the program (200 sectors after the header) runs past the end of the disk (128 sectors)",
			with(func(h *guest.StreamHeader, _ []byte) { h.Sectors = 200 })},
		{"over-loader", "streaming: error load address 0x00100000 is not page-aligned at or above the loader's end",
			with(func(h *guest.StreamHeader, _ []byte) { h.Load, h.Entry = 0x100000, 0x100000 })},
		{"unaligned", "streaming: error load address 0x00200200 is not page-aligned",
			with(func(h *guest.StreamHeader, _ []byte) { h.Load = 0x200200 })},
		{"beyond-ram", "streaming: error the program (10 sectors at 0x00fff000) does not fit in RAM (which ends at 0x00fe0000)",
			with(func(h *guest.StreamHeader, _ []byte) { h.Load, h.Entry = 0xFFF000, 0xFFF000 })},
		{"entry", "streaming: error entry 0x00201400 is outside the program",
			with(func(h *guest.StreamHeader, _ []byte) { h.Entry = h.Load + 10*512 })},
		{"corrupt", "streaming: error boot 1: checksum 0x",
			with(func(_ *guest.StreamHeader, img []byte) { img[3*512+7] ^= 0x40 })},
	}
}

// A malformed streaming disk gets the loader's clear error and status 1
// (EXIT_CHECK_FAILED) under every strategy, and nothing of it runs.
func TestStreamingMalformedDisks(t *testing.T) {
	for _, m := range malformedStreams(t) {
		for _, s := range []string{"native", "trap", "bt", "pv"} {
			t.Run(m.name+"/"+s, func(t *testing.T) {
				r := streamRun(t, s, "n=2", m.img)
				if r.Stop.Kind != vmm.StopExit || r.Stop.Status != 1 {
					t.Errorf("stopped %s, want exit status 1\n%s", r.Stop, r.Serial)
				}
				if !strings.Contains(r.Serial, m.want) {
					t.Errorf("output lacks %q:\n%s", m.want, r.Serial)
				}
				if strings.Contains(r.Serial, "boot=") {
					t.Errorf("the program ran:\n%s", r.Serial)
				}
			})
		}
	}
}

// QEMU, the oracle, prints what native prints with the same disks: the
// padded program and every malformed one.
func TestStreamingMatchesQEMU(t *testing.T) {
	if err := qemu.Available(); err != nil {
		t.Skip(err)
	}
	w, err := guest.Lookup("streaming")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		img  []byte
	}{{"padded", streamImage(t, 30)}}
	for _, m := range malformedStreams(t) {
		cases = append(cases, struct {
			name string
			img  []byte
		}{m.name, m.img})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			q, err := qemu.RunWithDisk(w.Image, "n=2", c.img, 60*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			r := streamRun(t, "native", "n=2", c.img)
			if r.Serial != q.Serial {
				t.Errorf("serial differs\nnative:\n%s\nqemu:\n%s", r.Serial, q.Serial)
			}
			if v, ok := q.GuestStatus(); !ok || r.Stop.Kind != vmm.StopExit || int(r.Stop.Status) != v {
				t.Errorf("QEMU status %d, native %s", q.Status, r.Stop)
			}
		})
	}
}

// BenchmarkStreamingBoot — what: one boot of the streaming loader per op,
// streaming a program padded to 228 sectors (114 KiB, one ring batch) from
// the disk and running it, for each disk path and strategy. Metrics:
// exits/sector (exact: counting runs with programs of 100 and 228 sectors,
// the same number of digits in the console lines, the difference over
// 128), exits/boot (the padded run's total), µs/boot
// (the engine's run time, setup excluded: median over ops, with min and
// max as the spread) and MB/s (the program's bytes over the median boot,
// boot and console included). Goal: the ring streams a sector for no exit
// of its own (one per 256-sector batch), the emulated disk pays 263 exits
// a sector under trap and 8 under bt; compare rows side by side, not
// absolute times (go test ./blkring -run '^$' -bench Streaming -benchtime 5x).
func BenchmarkStreamingBoot(b *testing.B) {
	const pad = 128
	small, err := guest.StreamImage(90)
	if err != nil {
		b.Fatal(err)
	}
	big, err := guest.StreamImage(90 + pad)
	if err != nil {
		b.Fatal(err)
	}
	h, _ := guest.ParseStreamHeader(big)
	for _, c := range diskCases {
		b.Run(c.strategy+"/"+c.dev, func(b *testing.B) {
			img := vmmtest.Load(b, "streaming", c.strategy == "pv")
			args := "n=1" + c.args
			count := func(d []byte) *vmm.Result {
				return vmmtest.Run(b, c.strategy, img, args, vmm.Config{Disk: disk.NewMem(d), TimeBudget: time.Minute})
			}
			a, z := count(small), count(big)
			perSector := float64(z.Exits-a.Exits) / pad
			s, err := vmm.LookupStrategy(c.strategy)
			if err != nil {
				b.Fatal(err)
			}
			var per []float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				inst, err := s.New(img, vmm.Config{Args: args, Disk: disk.NewMem(big), TimeBudget: time.Minute})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				t0 := time.Now()
				st, err := inst.Run()
				per = append(per, float64(time.Since(t0).Microseconds()))
				inst.Close()
				if err != nil || st.Kind != vmm.StopExit || st.Status != 0 {
					b.Fatalf("%s: %v %v", c.strategy, st, err)
				}
			}
			b.StopTimer()
			sort.Float64s(per)
			med := per[len(per)/2]
			b.ReportMetric(perSector, "exits/sector")
			b.ReportMetric(float64(z.Exits), "exits/boot")
			b.ReportMetric(med, "µs/boot")
			b.ReportMetric(per[0], "µs/boot-min")
			b.ReportMetric(per[len(per)-1], "µs/boot-max")
			b.ReportMetric(float64(h.Sectors)*512/med, "MB/s")
		})
	}
}
