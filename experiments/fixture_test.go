package experiments

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"virtsim/vmm"
)

var update = flag.Bool("update", false, "rewrite testdata fixtures and golden SVGs instead of comparing")

// fixtureResults is a fixed, made-up results set: three workloads under
// native, trap, a binary translator, a PV strategy (own image, one workload
// without a PV build) and KVM (flavour pvm), with a trace. It exercises
// every label and plot without running anything.
func fixtureResults(t testing.TB) *Results {
	t.Helper()
	p, err := LookupProfile("p4-2006")
	if err != nil {
		t.Fatal(err)
	}
	type cell struct {
		guest, strategy, flavour, substrate, image string
		insns                                      uint64
		counts                                     vmm.Counts
		counters                                   map[string]uint64
		walls                                      []time.Duration
	}
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	io := func(m vmm.Mechanism, n uint64) vmm.Counts {
		return vmm.Counts{{Cause: "io/out:0x80", Mech: m}: n, {Cause: "io/out:0x3f8", Mech: m}: 17, {Cause: "io/in:0x3fd", Mech: m}: 17, {Cause: "io/out:0xf4", Mech: m}: 1}
	}
	sys := func(intm, iom vmm.Mechanism) vmm.Counts {
		return vmm.Counts{{Cause: "int/0x80", Mech: intm}: 1001, {Cause: "io/out:0x3f8", Mech: iom}: 23, {Cause: "io/in:0x3fd", Mech: iom}: 23, {Cause: "io/out:0xf4", Mech: iom}: 1,
			{Cause: "priv/lgdt", Mech: iom}: 1, {Cause: "priv/lidt", Mech: iom}: 1}
	}
	irq := func(cli vmm.Mechanism, iom vmm.Mechanism) vmm.Counts {
		c := vmm.Counts{{Cause: "io/out:0x3f8", Mech: iom}: 26, {Cause: "io/in:0x3fd", Mech: iom}: 26, {Cause: "io/out:0xf4", Mech: iom}: 1}
		if cli != vmm.MechMachine {
			c[vmm.Key{Cause: "priv/cli", Mech: cli}] = 1001
			c[vmm.Key{Cause: "priv/sti", Mech: cli}] = 1000
		}
		return c
	}
	cells := []cell{
		{"io", "native", "", "unicorn", "native", 5688, io(vmm.MechMachine, 1000), nil, []time.Duration{ms(1.1), ms(1.0), ms(1.2)}},
		{"io", "trap", "", "unicorn", "native", 5688, io(vmm.MechTrap, 1000), nil, []time.Duration{ms(4.1), ms(4.0), ms(4.4)}},
		{"io", "bt", "", "unicorn", "native", 5688, io(vmm.MechCallout, 1000), map[string]uint64{CounterTranslatedInsns: 120, CounterLookupHits: 3}, []time.Duration{ms(3.0), ms(3.2), ms(2.9)}},
		{"io", "pv", "", "unicorn", "pv", 5100, io(vmm.MechHypercall, 1000), nil, []time.Duration{ms(2.0), ms(2.1), ms(2.2)}},
		{"io", "kvm", "pvm", "kvm", "native", 5688, io(vmm.MechVMExit, 1000), map[string]uint64{"kvm/exits": 1040}, []time.Duration{ms(9.0), ms(9.5), ms(8.8)}},
		{"syscall", "native", "", "unicorn", "native", 53000, sys(vmm.MechMachine, vmm.MechMachine), nil, []time.Duration{ms(2.0), ms(2.1), ms(2.0)}},
		{"syscall", "trap", "", "unicorn", "native", 53000, sys(vmm.MechTrap, vmm.MechTrap), nil, []time.Duration{ms(14), ms(13.5), ms(14.2)}},
		{"syscall", "bt", "", "unicorn", "native", 53000, sys(vmm.MechTrap, vmm.MechCallout), map[string]uint64{CounterTranslatedInsns: 300}, []time.Duration{ms(12), ms(12.5), ms(12.2)}},
		{"syscall", "pv", "", "unicorn", "pv", 52000, sys(vmm.MechMachine, vmm.MechHypercall), nil, []time.Duration{ms(3.0), ms(3.1), ms(3.0)}},
		{"syscall", "kvm", "pvm", "kvm", "native", 53000, sys(vmm.MechEmulation, vmm.MechVMExit), nil, []time.Duration{ms(30), ms(31), ms(29)}},
		{"irq-toggle", "native", "", "unicorn", "native", 9000, irq(vmm.MechMachine, vmm.MechMachine), nil, []time.Duration{ms(0.5), ms(0.55), ms(0.5)}},
		{"irq-toggle", "trap", "", "unicorn", "native", 9000, irq(vmm.MechTrap, vmm.MechTrap), nil, []time.Duration{ms(8), ms(8.2), ms(7.9)}},
		{"irq-toggle", "bt", "", "unicorn", "native", 9000, irq(vmm.MechInTC, vmm.MechCallout), map[string]uint64{CounterTranslatedInsns: 90}, []time.Duration{ms(0.9), ms(1.0), ms(0.95)}},
		{"irq-toggle", "kvm", "pvm", "kvm", "native", 9000, irq(vmm.MechKernel, vmm.MechVMExit), nil, []time.Duration{ms(6), ms(6.1), ms(6.3)}},
	}
	res := &Results{
		SchemaVersion: SchemaVersion,
		Provenance: Provenance{Commit: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.26.8", UnicornVersion: "2.0.1",
			HostCPU: "Fixture CPU", HostCPUs: 2, Kernel: "Linux 6.0 x86_64", KVMFlavour: "pvm", Date: "2025-01-01T00:00:00Z", Command: "virtsim bench (fixture)"},
		Config: BenchConfig{Guests: []string{"io", "syscall", "irq-toggle"}, Strategies: []string{"native", "trap", "bt", "pv", "kvm"}, Reps: 3, Workers: 2,
			MemBytes: vmm.DefaultMemSize, InsnBudget: vmm.DefaultInsnBudget, TimeBudgetNS: int64(vmm.DefaultTimeBudget), Profile: p.Name, TraceGuest: "io"},
		Profile: p,
		Skipped: []Skip{{Guest: "irq-toggle", Args: "n=1000", Strategy: "pv", Reason: "no paravirtual image of irq-toggle"}},
	}
	for _, c := range cells {
		r := Run{Guest: c.guest, Args: "n=1000", Strategy: c.strategy, Flavour: c.flavour, Substrate: c.substrate, Image: c.image,
			Stop: "exit", Instructions: c.insns, Exits: c.counts.Exits(), Events: c.counts.Total(), Counters: c.counters}
		for _, k := range c.counts.Sorted() {
			r.Counts = append(r.Counts, CountRow{k.Cause, k.Mech.String(), k.Mech.IsExit(), c.counts[k]})
		}
		for _, w := range c.walls {
			r.WallNS = append(r.WallNS, w.Nanoseconds())
		}
		r.Wall = Summarize(r.WallNS)
		m := p.Model(c.insns, c.counts, c.counters)
		r.Modeled = &m
		res.Runs = append(res.Runs, r)
	}
	res.Ratios()
	for _, s := range []string{"native", "trap", "bt", "kvm"} {
		var tr []vmm.Event
		mech := map[string]vmm.Mechanism{"native": vmm.MechMachine, "trap": vmm.MechTrap, "bt": vmm.MechCallout, "kvm": vmm.MechVMExit}[s]
		for i := uint64(0); i < 1035; i++ {
			ic := 40 + i*5
			if i >= 1000 {
				ic = 5040 + (i-1000)*18
			}
			tr = append(tr, vmm.Event{Cause: "io/out:0x80", Mech: mech, Icount: ic})
		}
		res.Traces = append(res.Traces, CumulativeExits("io", s, tr, 5688, 200))
	}
	return res
}

const fixturePath = "testdata/results.json"

// The committed fixture is what fixtureResults builds (go test -update
// rewrites it); the plot tests read the file, as a user's re-plot would.
func TestFixtureFile(t *testing.T) {
	var b bytes.Buffer
	if err := fixtureResults(t).WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(fixturePath, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Errorf("%s is stale: run go test ./experiments -update and review the diff", fixturePath)
	}
}

func loadFixture(t *testing.T) *Results {
	t.Helper()
	res, err := ReadJSONFile(filepath.FromSlash(fixturePath))
	if err != nil {
		t.Fatal(err)
	}
	return res
}
