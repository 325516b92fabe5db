package experiments

import (
	"strings"
	"testing"

	"virtsim/vmm"
)

// suiteResults fakes counting results with a given modeled cycle count per
// (guest, strategy) at one n.
func suiteResults(cycles map[[2]string]float64) *Results {
	res := &Results{}
	for k, c := range cycles {
		res.Runs = append(res.Runs, Run{Guest: k[0], Strategy: k[1], Modeled: &Modeled{Cycles: c}})
	}
	return res
}

func TestLiteratureReport(t *testing.T) {
	lo := suiteResults(map[[2]string]float64{
		{"syscall", "native"}: 1000, {"syscall", "trap"}: 5000, {"syscall", "kvm"}: 2000,
		{"call-ret", "native"}: 100, {"call-ret", "trap"}: 100, {"call-ret", "kvm"}: 100,
	})
	hi := suiteResults(map[[2]string]float64{
		// per iteration (n 1000 → 5000): native 250, trap 2000, kvm 500
		{"syscall", "native"}: 1000 + 4000*250, {"syscall", "trap"}: 5000 + 4000*2000, {"syscall", "kvm"}: 2000 + 4000*500,
		// per iteration 22 everywhere (2 call/ret pairs: 11 per op)
		{"call-ret", "native"}: 100 + 4000*22, {"call-ret", "trap"}: 100 + 4000*22, {"call-ret", "kvm"}: 100 + 4000*20,
	})
	rows := LiteratureReport(lo, hi, 1000, 5000)
	if len(rows) != len(AdamsAgesen) {
		t.Fatalf("%d rows", len(rows))
	}
	byName := map[string]LiteratureRow{}
	for _, r := range rows {
		byName[r.Paper.Name] = r
	}
	sc := byName["syscall"]
	if !sc.Native.OK || sc.Native.Cycles != 250 || sc.Software.Strategy != "trap" || sc.Software.Cycles != 2000 || sc.HW.Cycles != 500 {
		t.Errorf("syscall row %+v", sc)
	}
	if sc.PaperWinner != "VT-x" || sc.OurWinner != "VT-x" || sc.Same != "yes" {
		t.Errorf("syscall winners %s/%s %s", sc.PaperWinner, sc.OurWinner, sc.Same)
	}
	cr := byName["call/ret"]
	if cr.Native.Cycles != 11 || cr.HW.Cycles != 10 || cr.PaperWinner != "VT-x" || cr.Same != "yes" {
		t.Errorf("call/ret %+v", cr)
	}
	if r := byName["in"]; r.Same != "n/a: no software VMM ran" {
		t.Errorf("in (not run): %q", r.Same)
	}
	if r := byName["pgfault"]; !strings.HasPrefix(r.Same, "n/a: needs paging") {
		t.Errorf("pgfault: %q", r.Same)
	}
	out := FormatLiterature(rows, "p4-2006", 1000, 5000)
	for _, w := range []string{"syscall", "cr8wr", "irq-toggle", "2308", "15826", "paper VT-x", "same winner?", "MODELED", "p4-2006",
		"no cr8 in 32-bit mode", "The software-VMM column is trap-and-emulate", "ptemod"} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
	// Without kvm, winners cannot be compared, and the report says why.
	hiNoKVM := suiteResults(map[[2]string]float64{{"syscall", "native"}: 2, {"syscall", "trap"}: 3})
	for _, r := range LiteratureReport(lo, hiNoKVM, 1000, 5000) {
		if r.Paper.Name == "syscall" && r.Same != "n/a: kvm did not run here" {
			t.Errorf("no kvm: %q", r.Same)
		}
	}
	if _, err := SuiteWorkloads("nosuch"); err == nil {
		t.Error("unknown suite accepted")
	}
}

func TestCalibrationProfile(t *testing.T) {
	base := mustProfile(t, "modern")
	cal := &Calibration{MHz: 2000, Measurements: []Measurement{
		{Strategy: "native", Probe: Probe{"compute", 1, 2}, NsPerInsn: 0.5},
		{Strategy: "trap", Probe: Probe{"compute", 1, 2}, NsPerInsn: 0.6},
		{Strategy: "trap", Probe: Probe{"io", 1, 2}, NsPerEvent: 1000, Rows: []CountRow{{"io/out:0x80", "trap", true, 100}}},
		{Strategy: "trap", Probe: Probe{"irq-toggle", 1, 2}, NsPerEvent: 300, Rows: []CountRow{{"priv/cli", "trap", true, 100}, {"priv/sti", "trap", true, 100}}},
		{Strategy: "trap", Probe: Probe{"syscall", 1, 2}, NsPerEvent: 2000, Noisy: "repetitions spread 40%", Rows: []CountRow{{"int/0x80", "trap", true, 100}}},
		{Strategy: "native", Probe: Probe{"io", 1, 2}, NsPerEvent: 50, Rows: []CountRow{{"io/out:0x80", "machine", false, 100}}},
	}}
	p := cal.profile(base, 3)
	if p.Name != "host" || p.ClockGHz != 2 || p.CPI != 1 {
		t.Errorf("name %q clock %g cpi %g (0.5 ns × 2 GHz)", p.Name, p.ClockGHz, p.CPI)
	}
	for _, c := range []struct {
		m     string
		cause string
		want  float64
	}{
		{"trap", "io/out:0x80", 2000}, {"trap", "priv/cli", 600}, {"trap", "priv/sti", 600}, {"trap", "int/0x80", 4000},
		{"trap", "priv/lgdt", 2000}, // median of the measured trap exits
		{"machine", "io/out:0x80", 100},
		{"callout", "x", 613}, // unmeasured: from the base
	} {
		m, _ := parseMech(c.m)
		if got, _ := p.EventCycles(m, c.cause); got != c.want {
			t.Errorf("%s %s = %g, want %g", c.m, c.cause, got, c.want)
		}
	}
	var noisy bool
	for _, e := range p.Events {
		if e.Cause == "int/0x80" && strings.Contains(e.Source, "noisy") {
			noisy = true
		}
	}
	if !noisy {
		t.Error("a noisy measurement is not marked in its source")
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}
	if s := cal.Format(); !strings.Contains(s, "io/out:0x80 trap") || !strings.Contains(s, "repetitions spread 40%") {
		t.Errorf("format:\n%s", s)
	}
}

func parseMech(s string) (vmm.Mechanism, error) { return vmm.ParseMechanism(s) }
