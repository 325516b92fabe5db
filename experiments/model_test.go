package experiments

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"virtsim/vmm"
)

func testProfile() *Profile {
	return &Profile{
		Name: "test", CPI: 2,
		Events: []EventCost{
			{Mechanism: "trap", Cause: "*", Cycles: 1000},
			{Mechanism: "trap", Cause: "io/*", Cycles: 500},
			{Mechanism: "trap", Cause: "io/out:0x80", Cycles: 300},
			{Mechanism: "trap", Cause: "i*", Cycles: 777}, // shorter prefix than io/*
			{Mechanism: "in-tc", Cause: "priv/*", Cycles: 10},
			{Mechanism: "machine", Cause: "int/*", Cycles: 200},
		},
		Counters: []CounterCost{{Name: CounterTranslatedInsns, Cycles: 50}, {Name: CounterLookupHits, Cycles: 4}},
	}
}

func TestModelTable(t *testing.T) {
	p := testProfile()
	k := func(cause string, m vmm.Mechanism) vmm.Key { return vmm.Key{Cause: cause, Mech: m} }
	tests := []struct {
		name        string
		insns       uint64
		counts      vmm.Counts
		counters    map[string]uint64
		cycles      float64
		insn, ev, t float64
		unpriced    []string
	}{
		{name: "instructions only", insns: 1000, cycles: 2000, insn: 2000},
		{name: "exact cause wins", counts: vmm.Counts{k("io/out:0x80", vmm.MechTrap): 10}, cycles: 3000, ev: 3000},
		{name: "longest prefix", counts: vmm.Counts{k("io/in:0x3fd", vmm.MechTrap): 2}, cycles: 1000, ev: 1000},
		{name: "short prefix", counts: vmm.Counts{k("int/0x80", vmm.MechTrap): 1}, cycles: 777, ev: 777},
		{name: "mechanism default", counts: vmm.Counts{k("priv/cli", vmm.MechTrap): 3}, cycles: 3000, ev: 3000},
		{name: "in-place mechanisms are priced", counts: vmm.Counts{k("priv/cli", vmm.MechInTC): 100}, cycles: 1000, ev: 1000},
		{name: "machine delivery", insns: 10, counts: vmm.Counts{k("int/0x80", vmm.MechMachine): 4}, cycles: 820, insn: 20, ev: 800},
		{name: "unpriced row costs 0", counts: vmm.Counts{k("cpuid", vmm.MechMachine): 5, k("io/out:0x80", vmm.MechHypercall): 1},
			unpriced: []string{"event cpuid machine", "event io/out:0x80 hypercall"}},
		{name: "translation counters", counters: map[string]uint64{CounterTranslatedInsns: 10, CounterLookupHits: 25}, cycles: 600, t: 600},
		{name: "known counter without price is reported", counters: map[string]uint64{CounterTCFlushes: 2}, unpriced: []string{"counter bt/flushes"}},
		{name: "other counters are never priced", counters: map[string]uint64{"kvm/exits": 99, "io-imprecise": 3}},
		{name: "all three terms", insns: 100, counts: vmm.Counts{k("io/out:0x80", vmm.MechTrap): 1, k("priv/sti", vmm.MechInTC): 2},
			counters: map[string]uint64{CounterTranslatedInsns: 1}, cycles: 200 + 320 + 50, insn: 200, ev: 320, t: 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.counts == nil {
				tt.counts = vmm.Counts{}
			}
			m := p.Model(tt.insns, tt.counts, tt.counters)
			if m.Cycles != tt.cycles || m.Instructions != tt.insn || m.Events != tt.ev || m.Translation != tt.t {
				t.Errorf("cycles %g (insns %g, events %g, translation %g), want %g (%g, %g, %g)",
					m.Cycles, m.Instructions, m.Events, m.Translation, tt.cycles, tt.insn, tt.ev, tt.t)
			}
			if strings.Join(m.Unpriced, "; ") != strings.Join(tt.unpriced, "; ") {
				t.Errorf("unpriced %q, want %q", m.Unpriced, tt.unpriced)
			}
			events := 0
			for _, r := range m.Rows {
				if r.Term == TermEvent {
					events++
				}
			}
			if events != len(tt.counts) {
				t.Errorf("%d event rows for %d counts", events, len(tt.counts))
			}
		})
	}
}

// The built-in profiles hold the published figures the issue names.
func TestBuiltinProfiles(t *testing.T) {
	p4, err := LookupProfile("p4-2006")
	if err != nil {
		t.Fatal(err)
	}
	modern, err := LookupProfile("modern")
	if err != nil {
		t.Fatal(err)
	}
	ev := func(p *Profile, m vmm.Mechanism, cause string) float64 {
		v, ok := p.EventCycles(m, cause)
		if !ok {
			t.Errorf("%s prices no %s %s", p.Name, m, cause)
		}
		return v
	}
	ref := func(p *Profile, name string) float64 {
		for _, f := range p.Reference {
			if f.Name == name {
				return f.Cycles
			}
		}
		t.Errorf("%s has no reference figure %s", p.Name, name)
		return 0
	}
	checks := []struct {
		what      string
		got, want float64
	}{
		{"p4 trap (rdtsc by trap-and-emulate)", ev(p4, vmm.MechTrap, "priv/cli"), 2030},
		{"p4 callout", ev(p4, vmm.MechCallout, "io/out:0x80"), 1254},
		{"p4 in-TC (its instructions are counted instead)", ev(p4, vmm.MechInTC, "cpuid"), 0},
		{"p4 rdtsc in the TC, for reference", ref(p4, "rdtsc-in-tc"), 216},
		// The VMM's handling of an exit: a trap-and-emulate less the
		// fault and return it contains (the P4's exception round trip).
		{"p4 kernel exit = entry + pf exit + handling", ev(p4, vmm.MechKernel, "pf/true"),
			2409 + 1931 + ev(p4, vmm.MechTrap, "priv/cli") - ev(p4, vmm.MechMachine, "exc/#PF")},
		{"p4 vm-entry", ref(p4, "vm-entry"), 2409},
		{"p4 pf exit", ref(p4, "vm-exit-pagefault"), 1931},
		{"p4 native cli", ref(p4, "native-cli"), 60},
		{"modern vm-entry", ref(modern, "vm-entry"), 937},
		{"modern pf exit", ref(modern, "vm-exit-pagefault"), 1186},
		{"modern kernel exit = entry + pf exit + p4's handling x 0.49", ev(modern, vmm.MechKernel, "hlt"),
			937 + 1186 + math.Round((ev(p4, vmm.MechTrap, "priv/cli")-ev(p4, vmm.MechMachine, "exc/#PF"))*0.49)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %g, want %g", c.what, c.got, c.want)
		}
	}
	if v, _ := p4.CounterCycles(CounterTranslatedInsns); v != 2300 {
		t.Errorf("p4 translator cycles per instruction %g, want 2300", v)
	}
	for _, p := range []*Profile{p4, modern} {
		if p.CPI <= 0 || len(p.Sources) == 0 || p.Description == "" {
			t.Errorf("%s: cpi %g, %d sources", p.Name, p.CPI, len(p.Sources))
		}
		for _, e := range p.Events {
			if e.Source == "" {
				t.Errorf("%s: %s %s has no source", p.Name, e.Mechanism, e.Cause)
			}
		}
		for _, d := range p.Devices {
			if d.Source == "" {
				t.Errorf("%s: device work of %s has no source", p.Name, d.Cause)
			}
		}
		for _, c := range p.Counters {
			if c.Source == "" {
				t.Errorf("%s: counter %s has no source", p.Name, c.Name)
			}
		}
		for _, r := range p.Reference {
			if r.Source == "" {
				t.Errorf("%s: reference figure %s has no source", p.Name, r.Name)
			}
		}
		// Every mechanism is priced, so no strategy's events go unpriced.
		for _, mi := range vmm.Mechanisms {
			if _, ok := p.EventCycles(mi.Mech, "some/new-cause"); !ok {
				t.Errorf("%s: no default (*) price for mechanism %s", p.Name, mi.Name)
			}
		}
		for _, c := range TranslationCounters {
			if _, ok := p.CounterCycles(c); !ok {
				t.Errorf("%s: translation counter %s unpriced", p.Name, c)
			}
		}
	}
	if _, err := LookupProfile("nosuch"); err == nil || !strings.Contains(err.Error(), "p4-2006") {
		t.Errorf("unknown profile: %v", err)
	}
}

func TestOverrideFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f := write("o.json", `{"name": "mine", "cpi": 3, "events": [
		{"mechanism": "trap", "cause": "*", "cycles": 5},
		{"mechanism": "trap", "cause": "io/out:0x80", "cycles": 7}],
		"counters": [{"name": "bt/insns", "cycles": 1}]}`)
	p, err := LoadProfile("p4-2006", f)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "mine" || p.CPI != 3 {
		t.Errorf("name %q cpi %g", p.Name, p.CPI)
	}
	if v, _ := p.EventCycles(vmm.MechTrap, "priv/cli"); v != 5 {
		t.Errorf("overridden trap * = %g", v)
	}
	if v, _ := p.EventCycles(vmm.MechTrap, "io/out:0x80"); v != 7 {
		t.Errorf("added entry = %g", v)
	}
	if v, _ := p.EventCycles(vmm.MechCallout, "x"); v != 1254 {
		t.Errorf("untouched entry = %g", v)
	}
	if v, _ := p.CounterCycles(CounterTranslatedInsns); v != 1 {
		t.Errorf("counter = %g", v)
	}
	// A file naming its base starts from it, whatever the flag says.
	g := write("b.json", `{"base": "modern", "events": [{"mechanism": "vmexit", "cause": "*", "cycles": 1}]}`)
	q, err := LoadProfile("p4-2006", g)
	if err != nil {
		t.Fatal(err)
	}
	if q.CPI != 0.5 || q.Name != "modern" {
		t.Errorf("base modern: cpi %g name %q", q.CPI, q.Name)
	}
	// The built-in profile itself is untouched.
	if v, _ := mustProfile(t, "p4-2006").EventCycles(vmm.MechTrap, "priv/cli"); v != 2030 {
		t.Errorf("override leaked into the built-in profile: %g", v)
	}
	bad := []struct{ json, msg string }{
		{`{"cpi": 1, "evnts": []}`, "unknown field"},
		{`{"events": [{"mechanism": "warp", "cause": "*", "cycles": 1}]}`, "unknown mechanism"},
		{`{"events": [{"mechanism": "trap", "cause": "io/*/x", "cycles": 1}]}`, "only at the end"},
		{`{"events": [{"mechanism": "trap", "cause": "*", "cycles": -1}]}`, "negative"},
		{`{"events": [{"mechanism": "trap", "cause": "", "cycles": 1}]}`, "without a cause"},
		{`{"base": "p5-2099"}`, "unknown cost profile"},
		{`{"events": [{"mechanism": "trap", "cause": "*", "cycles": 1, "derived_from": ["syscal"]}]}`, `derived_from "syscal" is no row`},
		{`{"counters": [{"name": "bt/insns", "cycles": 1, "held_out": {"cycles": 2, "source": "x", "derived_from": ["pgfalt"]}}]}`, `"pgfalt" is no row`},
		{`{} {}`, "trailing"},
	}
	for _, b := range bad {
		if _, err := LoadProfile("modern", write("bad.json", b.json)); err == nil || !strings.Contains(err.Error(), b.msg) {
			t.Errorf("%s: error %v, want %q", b.json, err, b.msg)
		}
	}
	if _, err := LoadProfile("modern", filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing cost file: no error")
	}
}

func mustProfile(t *testing.T, name string) *Profile {
	t.Helper()
	p, err := LookupProfile(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A profile written by MarshalIndent (as calibrate does) reads back equal.
func TestProfileRoundTrip(t *testing.T) {
	for _, name := range []string{"p4-2006", "modern"} {
		p := mustProfile(t, name)
		b, err := p.MarshalIndent()
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParseProfile(b)
		if err != nil {
			t.Fatal(err)
		}
		r1 := p.Model(1000, vmm.Counts{{Cause: "io/out:0x80", Mech: vmm.MechTrap}: 3}, nil)
		r2 := q.Model(1000, vmm.Counts{{Cause: "io/out:0x80", Mech: vmm.MechTrap}: 3}, nil)
		if math.Abs(r1.Cycles-r2.Cycles) > 1e-9 || len(q.Events) != len(p.Events) {
			t.Errorf("%s: round trip changed the model", name)
		}
	}
}

// Device work is charged to every access a device model sees, whatever
// the mechanism, and to none the translation cache answers in place.
func TestModelDeviceWork(t *testing.T) {
	p := &Profile{Name: "dev", CPI: 1, Events: []EventCost{
		{Mechanism: "machine", Cause: "*"}, {Mechanism: "trap", Cause: "*", Cycles: 100},
		{Mechanism: "callout", Cause: "*", Cycles: 50}, {Mechanism: "in-tc", Cause: "*"},
	}, Devices: []DeviceCost{{Cause: "io/*", Cycles: 1000}}}
	for _, c := range []struct {
		mech vmm.Mechanism
		want float64
	}{{vmm.MechMachine, 2000}, {vmm.MechTrap, 2200}, {vmm.MechCallout, 2100}, {vmm.MechInTC, 0}} {
		m := p.ModelCounts(ModelInput{Counts: vmm.Counts{{Cause: "io/in:0x80", Mech: c.mech}: 2}})
		if got := m.Events + m.Device; got != c.want {
			t.Errorf("%s: events %g + device %g, want %g in all", c.mech, m.Events, m.Device, c.want)
		}
	}
}
