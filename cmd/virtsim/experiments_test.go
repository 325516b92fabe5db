package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"virtsim/experiments"
	"virtsim/guest"
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

// A scripted session is part of what a bench measured: results.json names
// the input file (path, size, SHA-256) and the --until-output text, and
// each run stopped there.
func TestBenchRecordsSession(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "session.txt")
	script := []byte("\nls\n")
	if err := os.WriteFile(in, script, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if st, _, e := run(t, "bench", "--guests", "hello", "--strategies", "native,trap", "--reps", "0", "--input", in, "--until-output", "Hello", "--no-plots", "--quiet", "--out", out); st != 0 {
		t.Fatalf("status %d: %s", st, e)
	}
	res, err := experiments.ReadJSONFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(script)
	if c := res.Config; c.Input == nil || c.Input.Path != in || c.Input.Bytes != len(script) || c.Input.SHA256 != hex.EncodeToString(sum[:]) || c.UntilOutput != "Hello" {
		t.Errorf("config: input %+v, until_output %q", c.Input, c.UntilOutput)
	}
	for _, r := range res.Runs {
		if !strings.Contains(r.StopReason, "--until-output") {
			t.Errorf("%s: stop %s (%s): want the --until-output stop", r.Strategy, r.Stop, r.StopReason)
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
	for _, w := range []string{"Adams & Agesen", "paper BT", "syscall", "2308", "cr8wr", "irq-toggle", "p4-2006", "VT-x (modeled)",
		"n/a: bt: bt did not run", "Breakdown per operation", "prediction", "no hardware-assisted KVM here",
		"macro-benchmarks", "forkwait", "Slowdowns", "Why: "} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "report.txt")); err != nil {
		t.Error(err)
	}
	// Both passes are in results.json, so the report can be recomputed.
	res, err := experiments.ReadJSONFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Passes) != 1 || res.Passes[0].N != experiments.SuiteN[0] || len(res.Passes[0].Runs) != len(res.Runs) || res.Config.SuiteN != experiments.SuiteN[1] {
		t.Fatalf("passes %+v, suite_n %d", res.Passes, res.Config.SuiteN)
	}
	p, err := experiments.LookupProfile("p4-2006")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := experiments.LiteratureReport(res, p)
	if err != nil {
		t.Fatal(err)
	}
	if c := rows[0].Cell(experiments.ColNative); c == nil || !c.OK || c.Cycles <= 0 {
		t.Errorf("syscall native from results.json: %+v", c)
	}
}

// --json - writes the results to stdout and the table to stderr; --image
// runs an image file, and bad files get their documented statuses.
func TestJSONStdoutAndImage(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "mykernel.elf")
	w, err := guest.Lookup("divzero")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, w.Image, 0o644); err != nil {
		t.Fatal(err)
	}
	status, out, errOut := run(t, "compare", "--image", img, "--args", "n=7", "--strategies", "native,trap", "--reps", "0", "--json", "-", "--quiet")
	if status != 0 {
		t.Fatalf("compare --image: status %d: %s", status, errOut)
	}
	res, err := experiments.ReadJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("stdout is not results.json: %v\n%s", err, out)
	}
	if r := res.Find("mykernel.elf", "trap"); r == nil || r.GuestInstructions == 0 {
		t.Errorf("runs %+v", res.Runs)
	}
	sum := sha256.Sum256(w.Image)
	if ims := res.Config.Images; len(ims) != 1 || ims[0].Path != img || ims[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("config.images = %+v: want %s with its SHA-256", ims, img)
	}
	if !strings.Contains(errOut, "mykernel.elf (n=7) under 2 strategies") {
		t.Errorf("table not on stderr: %q", errOut)
	}
	if _, err := os.Stat("-"); err == nil {
		t.Error("a file named - was written")
	}
	golden := filepath.Join(dir, "img.golden")
	if st, o, e := run(t, "check", "--update", "--image", img, "--golden", golden, "--strategies", "native,trap", "--args", "n=3", "--quiet"); st != 0 || !strings.Contains(o, "added mykernel.elf") {
		t.Fatalf("check --update --image: %d %s %s", st, o, e)
	}
	if st, o, _ := run(t, "check", "--image", img, "--golden", golden, "--quiet"); st != 0 || !strings.Contains(o, "ok: 2 runs match") {
		t.Errorf("check --image: %d %s", st, o)
	}
	if st, _, e := run(t, "check", "--golden", golden, "--quiet"); st != exitUsage || !strings.Contains(e, "--image") {
		t.Errorf("check of an image's records without --image: %d %s", st, e)
	}
	for _, c := range []struct {
		cmd  string
		path string
		want int
	}{
		{"compare", filepath.Join(dir, "missing.elf"), exitNoInput},
		{"bench", golden, exitBadImage},
		{"check", filepath.Join(dir, "missing.elf"), exitNoInput},
		{"tui", golden, exitBadImage},
	} {
		if st, _, e := run(t, c.cmd, "--image", c.path); st != c.want {
			t.Errorf("%s --image %s: status %d, want %d (%s)", c.cmd, c.path, st, c.want, e)
		}
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

// calibrate finds an unwritable cost file before it runs anything, and
// --out - writes the cost file to stdout (its table to stderr).
func TestCalibrateOut(t *testing.T) {
	dir := t.TempDir()
	for _, out := range []string{filepath.Join(dir, "no", "such", "dir", "host.json"), dir} {
		status, stdout, errOut := run(t, "calibrate", "--strategies", "native", "--probes", "compute:2000:6000", "--reps", "1", "--out", out)
		if status != exitUsage || !strings.Contains(errOut, "--out") || strings.Contains(errOut, "virtsim calibrate: [") || stdout != "" {
			t.Errorf("--out %s: status %d, stdout %q, stderr %q (want 64 before any run)", out, status, stdout, errOut)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("the check left %v behind", ents)
	}
	status, stdout, errOut := run(t, "calibrate", "--strategies", "native", "--probes", "compute:2000:6000", "--reps", "1", "--out", "-", "--quiet")
	if status != 0 {
		t.Fatalf("--out -: status %d: %s", status, errOut)
	}
	p, err := experiments.ParseProfile([]byte(stdout))
	if err != nil || p.Name != "host" {
		t.Errorf("stdout is not the cost file: %v\n%s", err, stdout)
	}
	if !strings.Contains(errOut, "ns/insn") || !strings.Contains(errOut, "wrote the cost file to stdout") {
		t.Errorf("the table is not on stderr: %q", errOut)
	}
	if _, err := os.Stat("-"); err == nil {
		t.Error("a file named - was written")
	}
}

// run and compare find an unwritable --json before they run the guest.
func TestJSONOutUnwritable(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "no", "such", "r.json")
	file := writeFile(t, "a-file", []byte("x"))
	if status, _, errOut := run(t, "bench", "--guests", "hello", "--reps", "1", "--out", file); status != exitUsage || !strings.Contains(errOut, "--out:") || strings.Contains(errOut, "virtsim bench: [") {
		t.Errorf("bench --out a file: status %d, stderr %q (want 64 before any run)", status, errOut)
	}
	for _, args := range [][]string{
		{"run", "--guest", "hello", "--json", bad},
		{"compare", "--guest", "hello", "--reps", "1", "--json", bad},
	} {
		status, stdout, errOut := run(t, args...)
		if status != exitUsage || !strings.Contains(errOut, "--json: cannot write "+bad) || strings.Contains(stdout+errOut, "Hello") {
			t.Errorf("%s: status %d, stdout %q, stderr %q (want 64 before the guest runs)", args[0], status, stdout, errOut)
		}
	}
}

// A matrix of bt alone still takes its guest instructions from native's
// counting pass (made for them, not a run of the results): bt's own count
// includes the translation cache's code.
func TestMatrixBTWithoutNative(t *testing.T) {
	res, err := experiments.Matrix(experiments.Options{Guests: []string{"call-ret"}, Strategies: []string{"bt"}, Args: "n=50"})
	if err != nil {
		t.Fatal(err)
	}
	bt := res.Find("call-ret", "bt")
	if len(res.Runs) != 1 || bt == nil || bt.Error != "" {
		t.Fatalf("runs %+v", res.Runs)
	}
	w, err := guest.Lookup("call-ret")
	if err != nil {
		t.Fatal(err)
	}
	nat, err := vmm.LookupStrategy("native")
	if err != nil {
		t.Fatal(err)
	}
	n, err := experiments.CountCell(experiments.Options{}, experiments.Cell{Workload: w, Args: "n=50", Strategy: nat, Image: "native"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if bt.GuestInstructions != n.Instructions || bt.GuestInstructionsFrom != "native" || bt.TCInstructions == 0 ||
		bt.OverheadInstructions != bt.Instructions-n.Instructions || bt.OverheadInstructions == 0 {
		t.Errorf("bt: instructions %d, guest %d from %q (native counts %d), tc %d, overhead %d",
			bt.Instructions, bt.GuestInstructions, bt.GuestInstructionsFrom, n.Instructions, bt.TCInstructions, bt.OverheadInstructions)
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

// run --json - writes the result to stdout and the guest's serial output
// to stderr, and no file named "-".
func TestRunJSONStdout(t *testing.T) {
	status, out, errOut := run(t, "run", "--guest", "hello", "--json", "-", "--quiet")
	if status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	var r struct {
		Guest        string `json:"guest"`
		Instructions uint64 `json:"instructions"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Guest != "hello" || r.Instructions == 0 {
		t.Errorf("stdout is not the result: %v %+v\n%s", err, r, out)
	}
	if !strings.Contains(errOut, "hello") {
		t.Errorf("serial output not on stderr: %q", errOut)
	}
	if _, err := os.Stat("-"); err == nil {
		t.Error("a file named - was written")
	}
}
