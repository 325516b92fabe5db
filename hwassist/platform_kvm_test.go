package hwassist

import (
	"fmt"
	"strings"
	"testing"

	"virtsim/guest"
	"virtsim/vmm"
)

// platformInput is the serial input the apic guest reads with uart=1 (as
// in guest/platform's tests).
const platformInput = "hello, platform\n"

func loadPlatform(t testing.TB, name string, mem uint32) *guest.Image {
	t.Helper()
	img, err := guest.LoadPlatformGuest(name, mem)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestPlatformGuestsUnderKVM: the platform guests (guest/platform: the MP
// tables and BIOS data area read back, the CMOS clock, the local APIC's
// timer in one-shot and periodic mode, TPR, a self-IPI and INIT/SIPI to an
// absent CPU, the I/O APIC routing the PIT and the UART's receive
// interrupt, paging with the device window mapped over the top of the
// address space, user code at 0) print under kvm, with the APICs in user
// space, exactly what they print under native — which guest/platform's
// tests check against QEMU — at 16 MiB and 1 GiB. Every device access is a
// vmexit with its register's cause, and the APIC traffic is the guest's
// own, as under every other strategy.
func TestPlatformGuestsUnderKVM(t *testing.T) {
	requireKVM(t)
	for _, c := range []struct {
		name, args string
		mem        uint32
	}{
		{"apic", "n=5 uart=1", 16 << 20},
		{"apic", "n=5 uart=1 paging=1", 16 << 20},
		{"apic", "n=5 uart=1 paging=1", 1 << 30},
		{"userzero", "", 16 << 20},
	} {
		t.Run(fmt.Sprintf("%s/%s/%dM", c.name, c.args, c.mem>>20), func(t *testing.T) {
			img := loadPlatform(t, c.name, c.mem)
			cfg := vmm.Config{MemSize: c.mem, Input: []byte(platformInput)}
			native := runNative(t, img, c.args, cfg)
			got := runKVM(t, img, c.args, cfg)
			if got.Stop.Kind != vmm.StopExit || got.Stop.Status != 0 {
				t.Fatalf("kvm: %s (counters %v)\n%s", got.Stop, got.Counters, got.Serial)
			}
			if n := got.Counters["kvm-sti-shadow-windows"]; n > 0 {
				t.Logf("%d interrupt windows stepped for after an sti KVM reported no shadow for", n)
			}
			if got.Serial != native.Serial {
				t.Errorf("serial differs from native\nkvm:\n%s\nnative:\n%s", got.Serial, native.Serial)
			}
			for k := range got.Counts {
				if strings.HasPrefix(k.Cause, "mmio/") && k.Mech != vmm.MechVMExit {
					t.Errorf("%s handled by %s, want vmexit", k.Cause, k.Mech)
				}
			}
			if c.name != "apic" {
				return
			}
			// The guest's own APIC traffic (guest/platform TestAPICEvents).
			by := map[string]uint64{}
			for k, n := range got.Counts {
				by[k.Cause] += n
			}
			for cause, n := range map[string]uint64{"mmio/lapic:EOI": 10, "irq/lapic-timer": 6, "irq/ipi": 1, "irq/0": 1} {
				if by[cause] != n {
					t.Errorf("%d %s, want %d", by[cause], cause, n)
				}
			}
			for _, k := range []string{"mmio/lapic:EOI", "mmio/lapic:ICR-LO", "mmio/ioapic:IOWIN", "mmio/lapic:TIMER-INIT"} {
				if native.Counts[vmm.Key{Cause: k, Mech: vmm.MechMachine}] != got.Counts[vmm.Key{Cause: k, Mech: vmm.MechVMExit}] {
					t.Errorf("%s: %d under kvm, %d under native", k, got.Counts[vmm.Key{Cause: k, Mech: vmm.MechVMExit}], native.Counts[vmm.Key{Cause: k, Mech: vmm.MechMachine}])
				}
			}
			again := runKVM(t, img, c.args, cfg)
			if again.Stop.Kind != vmm.StopExit || again.Serial != got.Serial {
				t.Errorf("a second run ended %s (clock kicks %d), printing\n%s", again.Stop, again.Counters["kvm-clock-kicks"], again.Serial)
			}
			// Guest time counts exits, so a second run counts the same
			// events — except interrupt windows the CPU opened right after
			// an sti (kvm-sti-shadow-windows: one window exit more each,
			// seen only in the nested rig), and a clock kick (wall time).
			a, b := windowless(got), windowless(again)
			stiWins := int64(again.Counters["kvm-sti-shadow-windows"]) - int64(got.Counters["kvm-sti-shadow-windows"])
			win := vmm.Key{Cause: CauseIRQWindow, Mech: vmm.MechVMExit}
			if !a.Equal(b) || int64(again.Counts[win])-int64(got.Counts[win]) != stiWins {
				t.Errorf("a second run counted different events (clock kicks %d, %d; sti-shadow windows %d, %d):\n%s\nvs\n%s",
					got.Counters["kvm-clock-kicks"], again.Counters["kvm-clock-kicks"], got.Counters["kvm-sti-shadow-windows"],
					again.Counters["kvm-sti-shadow-windows"], got.Counts.Format(), again.Counts.Format())
			}
		})
	}
}

// TestFeedInputUnderKVM: the kvm instance takes UART input through the
// API the terminal UI uses (vmm.InputFeeder), and the guest receives it
// through the UART's receive interrupt.
func TestFeedInputUnderKVM(t *testing.T) {
	requireKVM(t)
	img := loadPlatform(t, "apic", vmm.DefaultMemSize)
	v := boot(t, img, vmm.Config{Args: "n=1 uart=1", LiveInput: true})
	var f vmm.InputFeeder = v
	f.FeedInput([]byte("typed\n"))
	disarm := watch(t, v, testWatchdog)
	st, err := v.Run()
	disarm()
	if err != nil {
		t.Fatal(err)
	}
	failIfWatchdog(t, st)
	res := v.Result()
	if st.Kind != vmm.StopExit || st.Status != 0 {
		t.Fatalf("%s\n%s", st, res.Serial)
	}
	if !strings.Contains(res.Serial, "uart: line \"typed\" bytes=6\n") {
		t.Errorf("the fed line did not arrive:\n%s", res.Serial)
	}
}

// windowless is a run's events without its interrupt-window exits.
func windowless(r *vmm.Result) vmm.Counts {
	c := r.Counts.Clone()
	delete(c, vmm.Key{Cause: CauseIRQWindow, Mech: vmm.MechVMExit})
	return c
}
