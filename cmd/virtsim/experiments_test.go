package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"virtsim/experiments"
	"virtsim/vmm"
)

func TestCompareOutput(t *testing.T) {
	status, out, errOut := run(t, "compare", "--guest", "irq-toggle", "--args", "n=20", "--reps", "1", "--strategies", "native,trap", "--quiet")
	if status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	for _, w := range []string{"native", "trap", "priv/cli", "20 trap", "priv/sti", "io/out:0x3f8", "machine",
		"exits (to the VMM)", "guest instructions", "measured: wall (median)", "measured: / native", "modeled: cycles", "modeled: / native", "profile modern"} {
		if !strings.Contains(out, w) {
			t.Errorf("compare output lacks %q:\n%s", w, out)
		}
	}
	if errOut != "" {
		t.Errorf("--quiet printed progress: %q", errOut)
	}
}

func TestCompareUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"compare"}, "--guest"},
		{[]string{"compare", "--guest", "nosuch"}, "nosuch"},
		{[]string{"compare", "--guest", "io", "--profile", "p9"}, "unknown cost profile"},
		{[]string{"compare", "--guest", "io", "--cost", "/nonexistent/c.json"}, "cost file"},
		{[]string{"compare", "--guest", "io", "--strategies", "warp"}, "unknown strategy"},
		{[]string{"bench", "--suite", "nosuch"}, "unknown suite"},
		{[]string{"bench", "--guests", "nosuch"}, "nosuch"},
		{[]string{"calibrate", "--probes", "io:5"}, "NAME:N1:N2"},
	} {
		status, _, errOut := run(t, tc.args...)
		if status != exitUsage || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: status %d, stderr %q (want %d mentioning %q)", tc.args, status, errOut, exitUsage, tc.msg)
		}
	}
}

// bench on a tiny matrix writes every file and a summary.
func TestBenchTiny(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	status, out, errOut := run(t, "bench", "--guests", "io", "--strategies", "native,trap", "--reps", "1", "--args", "n=20", "--out", dir)
	if status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	for _, f := range []string{"results.json", "results.csv", "exits.svg", "exits.png", "overhead.svg", "overhead.png",
		"breakdown.svg", "breakdown.png", "cumulative.svg", "cumulative.png"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	if !strings.Contains(out, "trap exits") || !strings.Contains(out, "io") {
		t.Errorf("summary:\n%s", out)
	}
	// Not a terminal: plain progress lines.
	if !strings.Contains(errOut, "virtsim bench: [1/4] counting") || strings.Contains(errOut, "\r") {
		t.Errorf("progress lines:\n%q", errOut)
	}
	res, err := experiments.ReadJSONFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	p := res.Provenance
	if p.Commit == "" || p.GoVersion == "" || p.UnicornVersion == "" || p.HostCPU == "" || p.Kernel == "" || p.Date == "" || !strings.Contains(p.Command, "bench") {
		t.Errorf("provenance: %+v", p)
	}
	if res.Config.Reps != 1 || res.Config.Profile != "modern" || len(res.Runs) != 2 || res.Config.TraceGuest != "io" {
		t.Errorf("config %+v, %d runs", res.Config, len(res.Runs))
	}
	f, err := os.Open(filepath.Join(dir, "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := experiments.ReadCSV(f)
	if err != nil || len(back.Runs) != 2 {
		t.Errorf("results.csv: %v", err)
	}
}

// The literature preset prints both tables side by side (counting only).
func TestBenchSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite's workloads")
	}
	dir := t.TempDir()
	status, out, errOut := run(t, "bench", "--suite", "adams-agesen", "--strategies", "native,trap", "--reps", "0", "--no-plots", "--out", dir, "--quiet")
	if status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	for _, w := range []string{"Adams & Agesen", "paper BT", "syscall", "2308", "cr8wr", "irq-toggle", "same winner?", "p4-2006", "kvm did not run here"} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "report.txt")); err != nil {
		t.Error(err)
	}
}

func TestCheckExitStatus(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ci.golden")
	if status, _, errOut := run(t, "check", "--golden", path, "--quiet"); status != exitUsage || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: status %d %s", status, errOut)
	}
	status, out, errOut := run(t, "check", "--update", "--golden", path, "--guests", "divzero", "--strategies", "native,trap", "--args", "n=15", "--quiet")
	if status != 0 || !strings.Contains(out, "added divzero") {
		t.Fatalf("update: status %d\n%s%s", status, out, errOut)
	}
	status, out, _ = run(t, "check", "--golden", path, "--quiet")
	if status != 0 || !strings.Contains(out, "ok: 2 runs match") {
		t.Fatalf("match: status %d\n%s", status, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(b), "event exc/#DE trap 15", "event exc/#DE trap 14", 1)
	if bad == string(b) {
		t.Fatalf("golden lacks the #DE trap row:\n%s", b)
	}
	bad += "run divzero \"n=15\" kvm/vmx\n  stop exit 0\n"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	status, out, _ = run(t, "check", "--golden", path, "--quiet")
	if status != exitRegression {
		t.Errorf("mismatch: status %d, want %d", status, exitRegression)
	}
	for _, w := range []string{"divzero", "trap", "event exc/#DE trap", "14", "15", "FAIL", "skipped divzero \"n=15\" under kvm/vmx"} {
		if !strings.Contains(out, w) {
			t.Errorf("mismatch output lacks %q:\n%s", w, out)
		}
	}
	if _, err := vmm.ReadGoldenFile(path); err != nil {
		t.Error(err)
	}
}

// calibrate writes a cost file that compare --costs uses.
func TestCalibrateThenCompare(t *testing.T) {
	cost := filepath.Join(t.TempDir(), "host.json")
	status, out, errOut := run(t, "calibrate", "--strategies", "native,trap", "--probes", "compute:2000:6000,io:20:120", "--reps", "1", "--out", cost)
	if status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	for _, w := range []string{"compute", "io/out:0x80 trap", "ns/insn", "wrote " + cost} {
		if !strings.Contains(out, w) {
			t.Errorf("calibrate output lacks %q:\n%s", w, out)
		}
	}
	if !strings.Contains(errOut, "virtsim calibrate: [") {
		t.Errorf("no progress lines: %q", errOut)
	}
	p, err := experiments.LoadProfile("", cost)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := vmm.ParseMechanism("trap")
	if _, ok := p.EventCycles(m, "io/out:0x80"); !ok || p.Name != "host" {
		t.Errorf("cost file: %+v", p)
	}
	status, out, errOut = run(t, "compare", "--guest", "io", "--args", "n=10", "--reps", "1", "--strategies", "native,trap", "--costs", cost, "--quiet")
	if status != 0 || !strings.Contains(out, "cost profile host") {
		t.Errorf("compare --costs: status %d\n%s%s", status, out, errOut)
	}
}

func TestExperimentsHelp(t *testing.T) {
	for _, c := range []string{"compare", "bench", "check", "calibrate"} {
		status, out, _ := run(t, c, "--help")
		if status != 0 || !strings.Contains(out, "Usage: virtsim "+c) {
			t.Errorf("%s --help: status %d\n%s", c, status, out)
		}
	}
	_, out, _ := run(t, "--help")
	for _, c := range []string{"compare", "bench", "check", "calibrate"} {
		if !strings.Contains(out, c) {
			t.Errorf("usage lacks %s", c)
		}
	}
}
