package experiments

import (
	"strings"
	"testing"

	"virtsim/vmm"
)

// suiteRun fakes a counting result: guest instructions and counts at n.
func suiteRun(guestName, strategy, flavour string, insns uint64, counts ...CountRow) Run {
	return Run{Guest: guestName, Strategy: strategy, Flavour: flavour, Instructions: insns, GuestInstructions: insns, Counts: counts}
}

// suiteProfile: one cycle per instruction, a trap 1000, int delivery 100
// taken from the syscall row (held out: 300 from divzero), exception
// delivery 300 from divzero with no held-out figure, a user exit 5000,
// device work 2000 per port access.
func suiteProfile() *Profile {
	return &Profile{Name: "test", CPI: 1, Events: []EventCost{
		{Mechanism: "machine", Cause: "*"},
		{Mechanism: "machine", Cause: "int/*", Cycles: 100, DerivedFrom: []string{"syscall"}, HeldOut: &HeldOut{Cycles: 300, Source: "exc", DerivedFrom: []string{"divzero"}}},
		{Mechanism: "machine", Cause: "exc/*", Cycles: 300, DerivedFrom: []string{"divzero"}},
		{Mechanism: "trap", Cause: "*", Cycles: 1000},
		{Mechanism: "callout", Cause: "*", Cycles: 700},
		{Mechanism: "vmexit", Cause: "*", Cycles: 5000},
	}, Devices: []DeviceCost{{Cause: "io/*", Cycles: 2000}}}
}

func TestLiteratureReport(t *testing.T) {
	// Per iteration: sysenter (the syscall row's workload; a fake run with
	// int/0x80 as its event) 10 instructions and one int/0x80; io 5 and
	// one out; divzero 10 and one #DE.
	at := func(n uint64) []Run {
		c := func(cause, mech string) CountRow { return CountRow{Cause: cause, Mechanism: mech, Count: n} }
		return []Run{
			suiteRun("sysenter", "native", "", 10*n, c("int/0x80", "machine")),
			suiteRun("sysenter", "bt", "", 10*n, c("int/0x80", "trap")),
			suiteRun("sysenter", "kvm", "pvm", 10*n, c("int/0x80", "emulation")),
			suiteRun("io-in", "native", "", 5*n, c("io/in:0x80", "machine")),
			suiteRun("io-in", "bt", "", 5*n, c("io/in:0x80", "callout")),
			suiteRun("divzero", "native", "", 10*n, c("exc/#DE", "machine")),
			suiteRun("divzero", "bt", "", 10*n, c("exc/#DE", "trap")),
		}
	}
	res := &Results{Runs: at(5000), Config: BenchConfig{SuiteN: 5000}, Passes: []Pass{{N: 1000, Runs: at(1000)}}}
	rows, err := LiteratureReport(res, suiteProfile())
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(AdamsAgesen) {
		t.Fatalf("%d rows", len(rows))
	}
	byName := map[string]*LiteratureRow{}
	for i := range rows {
		byName[rows[i].Paper.Name] = &rows[i]
	}
	cell := func(row, col string) LitCell {
		c := byName[row].Cell(col)
		if c == nil {
			t.Fatalf("%s: no %s column", row, col)
		}
		return *c
	}
	// The syscall row holds its own int figure out: 10 + 300, a figure
	// borrowed from the divzero row (not an echo, not independent).
	if c := cell("syscall", ColNative); !c.OK || c.Cycles != 310 || c.Label != LabelBorrowed || len(c.BorrowedFrom) != 1 {
		t.Errorf("syscall native %+v", c)
	}
	if c := cell("syscall", ColBT); c.Cycles != 1010 || c.Label != LabelPrediction {
		t.Errorf("syscall bt %+v", c)
	}
	// Modeled VT-x: int does not exit; priced as native.
	if c := cell("syscall", ColVTxModel); c.Cycles != 310 {
		t.Errorf("syscall VT-x modeled %+v", c)
	}
	// PVM is not VT-x: its own column, and the VT-x column says why.
	if c := cell("syscall", ColVTx); c.OK || !strings.Contains(c.Why, "pvm") {
		t.Errorf("syscall VT-x %+v", c)
	}
	if c := cell("syscall", ColPVM); !c.OK {
		t.Errorf("syscall PVM %+v", c)
	}
	if r := byName["syscall"]; r.OurWinner != "VT-x" || r.HWColumn != ColVTxModel || r.Verdict != LabelBorrowed || r.SameWinner() != "yes" {
		t.Errorf("syscall row %+v", r)
	}
	// io: device work alike everywhere; the modeled VT-x exits to user space.
	// No table figure prices it: predictions.
	if r := byName["in"]; r.Verdict != LabelPrediction {
		t.Errorf("in verdict %q", r.Verdict)
	}
	if c := cell("in", ColNative); c.Cycles != 2005 {
		t.Errorf("io native %+v", c)
	}
	if c := cell("in", ColBT); c.Cycles != 2705 {
		t.Errorf("io bt %+v", c)
	}
	if c := cell("in", ColVTxModel); c.Cycles != 7005 {
		t.Errorf("io VT-x modeled %+v", c)
	}
	// divzero's exception figure comes from its own row and has no
	// held-out figure: its native cell is an echo and says of what.
	if c := cell("divzero", ColNative); c.Label != LabelEcho || c.Cycles != 310 || len(c.EchoOf) != 1 {
		t.Errorf("divzero native %+v", c)
	}
	if r := byName["divzero"]; r.Verdict != LabelEcho {
		t.Errorf("divzero verdict %q", r.Verdict)
	}
	if r := byName["pgfault"]; r.Verdict != "n/a: bt: bt did not run" || r.Cell(ColNative).OK {
		t.Errorf("pgfault (not run): %q", r.Verdict)
	}
	out := FormatLiterature(rows, suiteProfile(), 1000, 5000)
	for _, w := range []string{"2308", "15826", "VT-x (modeled)", "PVM (kvm)", "310 B", "310 E", "B = borrowed", "Breakdown", "Why: ",
		"1 int/0x80 trap × 1000", "cr8 exists only in 64-bit mode", "ptemod", "Summary:"} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
	if _, err := LiteratureReport(&Results{}, suiteProfile()); err == nil {
		t.Error("a report without the suite's lower pass")
	}
	if _, err := SuiteWorkloads("nosuch"); err == nil {
		t.Error("unknown suite accepted")
	}
}

// Hardware-assisted KVM fills the VT-x (kvm) column whatever its vendor,
// and the report says what it was: AMD-V here, emulated by QEMU as in the
// nested rig (scripts/kvm-nested.sh), from the run's flavour note.
func TestLiteratureNamesTheHardwareAssist(t *testing.T) {
	note := "AMD-V (kvm_amd: hardware-assisted); this host is a QEMU machine without KVM below it (no kvm-clock): QEMU's TCG emulates the CPU"
	at := func(n uint64) []Run {
		c := func(cause, mech string) CountRow { return CountRow{Cause: cause, Mechanism: mech, Count: n} }
		k := suiteRun("io-in", "kvm", "svm", 5*n, c("io/in:0x80", "vmexit"))
		k.Notes = []string{"KVM flavour svm: " + note}
		// The system call runs in guest mode: the kvm run sees nothing
		// of it (its guest instructions are native's, as the runner
		// fills them in).
		ks := suiteRun("sysenter", "kvm", "svm", 10*n)
		ks.Notes = k.Notes
		return []Run{
			suiteRun("io-in", "native", "", 5*n, c("io/in:0x80", "machine")),
			suiteRun("io-in", "bt", "", 5*n, c("io/in:0x80", "callout")),
			k,
			suiteRun("sysenter", "native", "", 10*n, c("int/0x80", "machine")),
			suiteRun("sysenter", "bt", "", 10*n, c("int/0x80", "trap")),
			ks,
		}
	}
	res := &Results{Runs: at(5000), Config: BenchConfig{SuiteN: 5000}, Passes: []Pass{{N: 1000, Runs: at(1000)}}}
	rows, err := LiteratureReport(res, suiteProfile())
	if err != nil {
		t.Fatal(err)
	}
	var in, sys *LiteratureRow
	for i := range rows {
		switch rows[i].Paper.Name {
		case "in":
			in = &rows[i]
		case "syscall":
			sys = &rows[i]
		}
	}
	// in: the measured exit, its device work, native's instructions.
	if c := in.Cell(ColVTx); c == nil || !c.OK || c.Cycles != 7005 || c.Source != note || in.HWColumn != ColVTx {
		t.Fatalf("in: VT-x (kvm) cell %+v, hw column %q", c, in.HWColumn)
	}
	// syscall: no exit measured, and the int delivery the CPU does in guest
	// mode is priced from native's count (310, as the modeled column).
	if c := sys.Cell(ColVTx); c == nil || !c.OK || c.Cycles != 310 || sys.Cell(ColVTxModel).Cycles != 310 {
		t.Fatalf("syscall: VT-x (kvm) cell %+v", c)
	}
	out := FormatLiterature(rows, suiteProfile(), 1000, 5000)
	if !strings.Contains(out, "The VT-x (kvm) column's counts come from "+note) {
		t.Errorf("the report does not name the hardware assist:\n%s", out)
	}
	// Nested paging, which the paper's VT-x lacked, is named too.
	res.Runs[2].Counters = map[string]uint64{"kvm-nested-paging": 1}
	res.Runs[5].Counters = res.Runs[2].Counters
	rows, _ = LiteratureReport(res, suiteProfile())
	if out := FormatLiterature(rows, suiteProfile(), 1000, 5000); !strings.Contains(out, "with nested paging (EPT/NPT)") {
		t.Errorf("the report does not say the column had nested paging:\n%s", out)
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
	// What the profile takes from its base without a source of its own
	// says so in the description.
	if p.NestedPaging != base.NestedPaging || !strings.Contains(p.Description, "nested_paging (the modeled VT-x column's) and the reference figures from modern, not measured") {
		t.Errorf("nested paging %v, description %q", p.NestedPaging, p.Description)
	}
	for _, c := range []struct {
		m     string
		cause string
		want  float64
	}{
		{"trap", "io/out:0x80", 2000}, {"trap", "priv/cli", 600}, {"trap", "priv/sti", 600}, {"trap", "int/0x80", 4000},
		{"trap", "priv/lgdt", 2000}, // median of the measured trap exits
		{"machine", "io/out:0x80", 100},
		// other ports cost what the measured one did, device work included
		// (the device term is 0), under native as under trap
		{"machine", "io/in:0x3fd", 100}, {"trap", "io/out:0x3f8", 2000},
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
		// What the host did not measure says so; what it measured does not.
		measured := strings.HasPrefix(e.Source, "calibrated:")
		if unmarked := !strings.HasPrefix(e.Source, "NOT MEASURED on this host"); measured == !unmarked {
			t.Errorf("%s %s: source %q", e.Mechanism, e.Cause, e.Source)
		}
	}
	if len(p.Devices) != 1 || p.Devices[0].Cycles != 0 {
		t.Errorf("measured port costs include the device; devices %+v", p.Devices)
	}
	for _, c := range p.Counters {
		if !strings.HasPrefix(c.Source, "NOT MEASURED on this host") {
			t.Errorf("counter %s: source %q", c.Name, c.Source)
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

// Only the designated probe measures instructions: irq-toggle under native
// causes no events, so it measures nothing (it once gave a CPI of 57).
func TestCalibrateDesignatedProbes(t *testing.T) {
	cal, err := Calibrate(CalibrateOptions{Strategies: []string{"native"}, Reps: 1,
		Probes: []Probe{{InstructionProbe, 200, 400}, {"irq-toggle", 20, 40}}})
	if err != nil {
		t.Fatal(err)
	}
	var skipped bool
	for _, s := range cal.Skipped {
		if s.Guest == "irq-toggle" && strings.Contains(s.Reason, "not an instruction probe") {
			skipped = true
		}
	}
	if !skipped {
		t.Errorf("irq-toggle under native not skipped: %+v", cal.Skipped)
	}
	measuredCPI := false
	for _, m := range cal.Measurements {
		if m.Probe.Workload != InstructionProbe && m.NsPerInsn != 0 {
			t.Errorf("%s measured ns per instruction", m.Probe.Workload)
		}
		measuredCPI = measuredCPI || (m.Probe.Workload == InstructionProbe && m.NsPerInsn > 0)
	}
	// On a loaded machine the probe's time may not grow with n: then the
	// CPI is not measured, and says so (timings are not asserted).
	if marked := strings.HasPrefix(cal.Profile.CPISource, "NOT MEASURED"); marked == measuredCPI {
		t.Errorf("CPI measured %v, source %q", measuredCPI, cal.Profile.CPISource)
	}
}

// Native's unrecorded cli/sti are counted from bt's in-TC events (not
// those native records itself).
func TestWithCensus(t *testing.T) {
	native := ModelInput{GuestInstructions: 10, Counts: vmm.Counts{{Cause: "io/out:0x80", Mech: vmm.MechMachine}: 1}}
	bt := &Run{Counts: []CountRow{{Cause: "priv/cli", Mechanism: "in-tc", Count: 4}, {Cause: "io/out:0x80", Mechanism: "callout", Count: 1}}}
	got := WithCensus(native, bt, nil, false)
	if got.Counts[vmm.Key{Cause: "priv/cli", Mech: vmm.MechMachine}] != 4 || got.Counts[vmm.Key{Cause: "io/out:0x80", Mech: vmm.MechMachine}] != 1 || len(got.Counts) != 2 {
		t.Errorf("census %v", got.Counts)
	}
	if len(native.Counts) != 1 {
		t.Error("WithCensus changed its input")
	}
	trap := &Run{Counts: []CountRow{{Cause: "pt/write", Mechanism: "trap", Count: 2}, {Cause: "pf/hidden", Mechanism: "trap", Count: 3}, {Cause: "priv/cli", Mechanism: "trap", Count: 4}}}
	if c := WithCensus(native, nil, trap, false).Counts; c[vmm.Key{Cause: "pt/write", Mech: vmm.MechMachine}] != 2 || len(c) != 2 {
		t.Errorf("paging census %v", c)
	}
	if c := WithCensus(native, nil, trap, true).Counts; c[vmm.Key{Cause: "pf/hidden", Mech: vmm.MechMachine}] != 3 || len(c) != 3 {
		t.Errorf("paging census with shadow faults %v", c)
	}
	if WithCensus(native, nil, nil, false).Counts[vmm.Key{Cause: "io/out:0x80", Mech: vmm.MechMachine}] != 1 {
		t.Error("without bt, native's own counts")
	}
	// bt's in-TC port read is an event native records itself: not added twice.
	in := ModelInput{Counts: vmm.Counts{{Cause: "io/in:0x80", Mech: vmm.MechMachine}: 5}}
	btIn := &Run{Counts: []CountRow{{Cause: "io/in:0x80", Mechanism: "in-tc", Count: 5}}}
	if c := WithCensus(in, btIn, nil, false).Counts; c[vmm.Key{Cause: "io/in:0x80", Mech: vmm.MechMachine}] != 5 || len(c) != 1 {
		t.Errorf("census of an event native records %v", c)
	}
}

// The macro report prices forkwait's rounds as the nanobenchmarks'
// operations, at n = SuiteN / Div, and compares slowdowns.
func TestMacroReport(t *testing.T) {
	m := AdamsAgesenMacro[0]
	at := func(n uint64) []Run {
		c := func(cause, mech string, k uint64) CountRow {
			return CountRow{Cause: cause, Mechanism: mech, Count: k * n}
		}
		return []Run{
			suiteRun(m.Workload, "native", "", 100*n, c("int/0x80", "machine", 3)),
			suiteRun(m.Workload, "bt", "", 100*n, c("int/0x80", "trap", 3), c("exc/#PF", "trap", 2)),
		}
	}
	lo, hi := SuiteN[0]/m.Div, SuiteN[1]/m.Div
	res := &Results{Runs: at(hi), Config: BenchConfig{SuiteN: SuiteN[1]}, Passes: []Pass{{N: SuiteN[0], Runs: at(lo)}}}
	rows, err := MacroReport(res, suiteProfile())
	if err != nil {
		t.Fatal(err)
	}
	r := rows[0]
	// Per round: native 100 + 3×100 (int figure of the syscall row,
	// which forkwait does not hold out); bt 100 + 5×1000.
	if c := r.Cell(ColNative); !c.OK || c.Cycles != 400 {
		t.Errorf("native %+v", c)
	}
	if c := r.Cell(ColBT); !c.OK || c.Cycles != 5100 || c.Paper != m.BT*m.ClockGHz*1e9/m.Iterations {
		t.Errorf("bt %+v", c)
	}
	// The fake native run has nothing that exits under VT-x: the modeled
	// VT-x column wins here, unlike the paper's.
	if r.PaperWinner != "BT" || r.OurWinner != "VT-x" || r.SameWinner() != "no" {
		t.Errorf("winners %s/%s", r.PaperWinner, r.OurWinner)
	}
	out := FormatMacro(rows, AdamsAgesenMacro)
	for _, w := range []string{"forkwait", "paper BT 6.2×", "virtsim bt 13×", "not checked against the paper's text"} {
		if !strings.Contains(out, w) {
			t.Errorf("macro report lacks %q:\n%s", w, out)
		}
	}
	if ws, _ := SuiteWorkloads(SuiteAdamsAgesen); !strings.Contains(strings.Join(ws, ","), "forkwait") {
		t.Errorf("suite workloads %v", ws)
	}
	if a, _ := SuiteArgs(SuiteAdamsAgesen, 5000); a["forkwait"] != "n=500" || a["sysenter"] != "n=5000" {
		t.Errorf("suite args %v", a)
	}
}

// p4-2006, the literature report's profile, takes no figure from a cell
// of the paper's table: every cell it prices can be a prediction.
func TestP4ProfileIndependentOfTable(t *testing.T) {
	p := mustProfile(t, "p4-2006")
	if len(p.CPIDerivedFrom) > 0 {
		t.Errorf("CPI derived from %v", p.CPIDerivedFrom)
	}
	for _, e := range p.Events {
		if len(e.DerivedFrom) > 0 || e.HeldOut != nil {
			t.Errorf("event %s %s derived from %v", e.Mechanism, e.Cause, e.DerivedFrom)
		}
		if e.Source == "" {
			t.Errorf("event %s %s has no source", e.Mechanism, e.Cause)
		}
	}
	for _, d := range p.Devices {
		if len(d.DerivedFrom) > 0 {
			t.Errorf("device %s derived from %v", d.Cause, d.DerivedFrom)
		}
	}
	for _, c := range p.Counters {
		if len(c.DerivedFrom) > 0 {
			t.Errorf("counter %s derived from %v", c.Name, c.DerivedFrom)
		}
	}
}

// The modeled VT-x: each native event classified by the vtx table, and an
// exception or interrupt that exits is also delivered to the guest (a
// machine event beside the exit); a hidden fault is not delivered.
func TestVTxInput(t *testing.T) {
	native := ModelInput{GuestInstructions: 100, Counts: vmm.Counts{
		{Cause: "exc/#PF", Mech: vmm.MechMachine}:     3,
		{Cause: "exc/#DE", Mech: vmm.MechMachine}:     2,
		{Cause: "int/0x80", Mech: vmm.MechMachine}:    5,
		{Cause: "io/out:0x80", Mech: vmm.MechMachine}: 7,
		{Cause: "irq/0", Mech: vmm.MechMachine}:       1,
		{Cause: "pf/hidden", Mech: vmm.MechMachine}:   4,
	}}
	for _, c := range []struct {
		nested bool
		want   vmm.Counts
	}{
		{false, vmm.Counts{
			{Cause: "exc/#PF", Mech: vmm.MechKernel}: 3, {Cause: "exc/#PF", Mech: vmm.MechMachine}: 3,
			{Cause: "exc/#DE", Mech: vmm.MechMachine}: 2, {Cause: "int/0x80", Mech: vmm.MechMachine}: 5,
			{Cause: "io/out:0x80", Mech: vmm.MechVMExit}: 7,
			{Cause: "irq/0", Mech: vmm.MechVMExit}:       1, {Cause: "irq/0", Mech: vmm.MechMachine}: 1,
			{Cause: "pf/hidden", Mech: vmm.MechKernel}: 4,
		}},
		{true, vmm.Counts{
			{Cause: "exc/#PF", Mech: vmm.MechMachine}: 3,
			{Cause: "exc/#DE", Mech: vmm.MechMachine}: 2, {Cause: "int/0x80", Mech: vmm.MechMachine}: 5,
			{Cause: "io/out:0x80", Mech: vmm.MechVMExit}: 7,
			{Cause: "irq/0", Mech: vmm.MechVMExit}:       1, {Cause: "irq/0", Mech: vmm.MechMachine}: 1,
			{Cause: "pf/hidden", Mech: vmm.MechMachine}: 4,
		}},
	} {
		got := VTxInput(native, c.nested)
		if got.GuestInstructions != 100 || len(got.Counts) != len(c.want) {
			t.Errorf("nested=%v: %v", c.nested, got.Counts)
			continue
		}
		for k, n := range c.want {
			if got.Counts[k] != n {
				t.Errorf("nested=%v: %s %s = %d, want %d", c.nested, k.Cause, k.Mech, got.Counts[k], n)
			}
		}
	}
}

// The bench table's modeled column prices hardware-assisted KVM with what
// the CPU did in guest mode (native's count), not only its exits: a
// system call under kvm/svm is not free.
func TestModelHardwareKVM(t *testing.T) {
	p := suiteProfile()
	c := func(cause, mech string) CountRow { return CountRow{Cause: cause, Mechanism: mech, Count: 100} }
	nat := suiteRun("sysenter", "native", "", 1000, c("int/0x80", "machine"), c("io/out:0xf4", "machine"))
	k := suiteRun("sysenter", "kvm", "svm", 1000, c("io/out:0xf4", "vmexit"))
	pvm := suiteRun("sysenter", "kvm", "pvm", 1000, c("io/out:0xf4", "vmexit"))
	runs := []Run{nat, k, pvm}
	for i := range runs {
		m := p.ModelCounts(runs[i].ModelInput())
		runs[i].Modeled = &m
	}
	own := runs[1].Modeled.Cycles
	ModelHardwareKVM(runs, p)
	// 100 int deliveries at 100 cycles each (the profile's int/* price).
	if got := runs[1].Modeled.Cycles; got != own+100*100 {
		t.Errorf("kvm/svm modeled %.0f cycles, want its own %.0f plus 100 int deliveries at 100", got, own)
	}
	if runs[2].Modeled.Cycles != p.ModelCounts(pvm.ModelInput()).Cycles {
		t.Error("a PVM run repriced as hardware assist")
	}
}
