package platform_test

import (
	"strings"
	"testing"
	"time"

	"virtsim/guest"
	"virtsim/internal/qemu"
	_ "virtsim/translate" // registers bt
	_ "virtsim/trap"      // registers trap
	"virtsim/vmm"
	"virtsim/vmm/vmmtest"
)

// input is the serial input the apic guest reads with uart=1.
const input = "hello, platform\n"

var strategies = []string{"native", "trap", "bt"}

func load(t *testing.T, name string, mem uint32) *guest.Image {
	t.Helper()
	img, err := guest.LoadPlatformGuest(name, mem)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func qemuRun(t *testing.T, name, args, mem string) qemu.Result {
	t.Helper()
	b, err := guest.PlatformGuest(name)
	if err != nil {
		t.Fatal(err)
	}
	q, err := qemu.RunWith(b, qemu.Options{
		Cmdline: args, Timeout: 60 * time.Second, Mem: mem, Input: []byte(input),
		Extra: []string{"-rtc", "base=" + vmm.RTCEpoch.Format("2006-01-02T15:04:05")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := q.GuestStatus(); !ok || v != 0 {
		t.Fatalf("QEMU: guest did not succeed (status %d):\n%s", q.Status, q.Serial)
	}
	return q
}

// TestAPICMatchesQEMU: the apic guest's output (MP tables, BIOS data area,
// RTC, APIC state, timer/IPI/I/O APIC/UART interrupt counts) is QEMU's under
// every Unicorn strategy, at 16 MiB and at 1 GiB of RAM, with paging off
// and with paging on as xv6 pages (4 MiB pages, the device window over the
// top of the address space, where trap's and bt's VMM region lies).
func TestAPICMatchesQEMU(t *testing.T) {
	if err := qemu.Available(); err != nil {
		t.Skip(err)
	}
	for _, mem := range []struct {
		flag string
		size uint32
		args string
	}{{"16M", 16 << 20, "n=5 uart=1"}, {"1G", 1 << 30, "n=5 uart=1"},
		{"16M-paging", 16 << 20, "n=5 uart=1 paging=1"}, {"1G-paging", 1 << 30, "n=5 uart=1 paging=1"}} {
		args := mem.args
		t.Run(mem.flag, func(t *testing.T) {
			q := qemuRun(t, "apic", args, strings.TrimSuffix(mem.flag, "-paging"))
			img := load(t, "apic", mem.size)
			for _, s := range strategies {
				t.Run(s, func(t *testing.T) {
					res := vmmtest.Run(t, s, img, args, vmm.Config{MemSize: mem.size, Input: []byte(input), TimeBudget: 30 * time.Second})
					if res.Stop.Kind != vmm.StopExit || res.Stop.Status != 0 {
						t.Fatalf("%s: %s\n%s", s, res.Stop, res.Serial)
					}
					if res.Serial != q.Serial {
						t.Errorf("serial output differs from QEMU's\n%s:\n%s\nqemu:\n%s", s, res.Serial, q.Serial)
					}
				})
			}
		})
	}
}

// TestAPICEvents: the APIC accesses are events with causes of their own,
// handled by the machine under native and trapped into the VMM under trap
// and bt; the counts are the same under every strategy and a pure
// function of the run.
func TestAPICEvents(t *testing.T) {
	img := load(t, "apic", vmm.DefaultMemSize)
	want := map[string]vmm.Mechanism{"native": vmm.MechMachine, "trap": vmm.MechTrap, "bt": vmm.MechTrap}
	var first vmm.Counts
	for _, s := range strategies {
		res := vmmtest.Run(t, s, img, "n=5 uart=1", vmm.Config{Input: []byte(input), TimeBudget: 30 * time.Second})
		if res.Stop.Kind != vmm.StopExit || res.Stop.Status != 0 {
			t.Fatalf("%s: %s\n%s", s, res.Stop, res.Serial)
		}
		mmio := vmm.Counts{}
		for k, n := range res.Counts {
			if !strings.HasPrefix(k.Cause, "mmio/") && !strings.HasPrefix(k.Cause, "irq/") {
				continue
			}
			if strings.HasPrefix(k.Cause, "mmio/") && k.Mech != want[s] {
				t.Errorf("%s: %s handled by %s, want %s", s, k.Cause, k.Mech, want[s])
			}
			mmio[vmm.Key{Cause: k.Cause}] += n
		}
		// The guest's own: 10 EOIs (1 one-shot + 5 periodic + 1 IPI + 1 PIT
		// + 2 UART), 5 timer interrupts + 1 one-shot, one of each other kind.
		for cause, n := range map[string]uint64{
			"mmio/lapic:EOI": 10, "irq/lapic-timer": 6, "irq/ipi": 1, "irq/0": 1,
		} {
			if got := mmio[vmm.Key{Cause: cause}]; got != n {
				t.Errorf("%s: %d %s, want %d", s, got, cause, n)
			}
		}
		if first == nil {
			first = mmio
		} else if !first.Equal(mmio) {
			t.Errorf("%s: device events differ from native's:\n%s\nnative:\n%s", s, mmio.Format(), first.Format())
		}
		// A timing pass (no per-instruction counter: device accesses are
		// found from the block start) must make the same events.
		st, err := vmm.LookupStrategy(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := vmm.RunGuest(st, img, vmm.Config{Args: "n=5 uart=1", Input: []byte(input), TimeBudget: 30 * time.Second}, true); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
}

// TestFeedInput: every Unicorn strategy's instance takes UART input through
// the API the terminal UI uses (vmm.InputFeeder), and the guest receives it.
func TestFeedInput(t *testing.T) {
	img := load(t, "apic", vmm.DefaultMemSize)
	for _, s := range strategies {
		st, err := vmm.LookupStrategy(s)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := st.New(img, vmm.Config{Args: "n=1 uart=1", LiveInput: true, TimeBudget: 30 * time.Second}.WithDefaults())
		if err != nil {
			t.Fatal(err)
		}
		f, ok := inst.(vmm.InputFeeder)
		if !ok {
			inst.Close()
			t.Fatalf("%s: instance %T takes no input", s, inst)
		}
		f.FeedInput([]byte("typed\n"))
		stop, err := inst.Run()
		res := inst.Result()
		inst.Close()
		if err != nil || stop.Kind != vmm.StopExit || stop.Status != 0 {
			t.Fatalf("%s: %v %s\n%s", s, err, stop, res.Serial)
		}
		if !strings.Contains(res.Serial, "uart: line \"typed\" bytes=6\n") {
			t.Errorf("%s: the fed line did not arrive:\n%s", s, res.Serial)
		}
	}
}

// TestUserZeroMatchesQEMU: what xv6 needed beyond the APICs — the CRT
// controller's cursor registers read back, user code at linear address 0,
// and a system call and a page fault taken at CPL 3 through descriptor
// tables in supervisor-only pages — prints what QEMU prints under every
// Unicorn strategy.
func TestUserZeroMatchesQEMU(t *testing.T) {
	if err := qemu.Available(); err != nil {
		t.Skip(err)
	}
	q := qemuRun(t, "userzero", "", "16M")
	img := load(t, "userzero", 16<<20)
	for _, s := range strategies {
		t.Run(s, func(t *testing.T) {
			res := vmmtest.Run(t, s, img, "", vmm.Config{TimeBudget: 30 * time.Second})
			if res.Stop.Kind != vmm.StopExit || res.Stop.Status != 0 {
				t.Fatalf("%s: %s\n%s", s, res.Stop, res.Serial)
			}
			if res.Serial != q.Serial {
				t.Errorf("serial output differs from QEMU's\n%s:\n%s\nqemu:\n%s", s, res.Serial, q.Serial)
			}
		})
	}
}
