package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"virtsim/guest"
	"virtsim/labs"
)

func run(t *testing.T, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	status = realMain(args, &o, &e)
	return status, o.String(), e.String()
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunHello(t *testing.T) {
	status, out, errOut := run(t, "run", "--guest", "hello")
	if status != 0 {
		t.Fatalf("status %d, stderr:\n%s", status, errOut)
	}
	if !strings.Contains(out, "Hello") || !strings.Contains(out, "hello: n=1") {
		t.Errorf("stdout %q lacks the greeting", out)
	}
	if !strings.Contains(errOut, "guest exited with status 0") || !strings.Contains(errOut, "io/out:0xf4") {
		t.Errorf("summary on stderr lacks the stop or the events:\n%s", errOut)
	}
}

func TestRunJSON(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.json")
	status, _, errOut := run(t, "run", "--guest", "io", "--args", "n=40", "--json", p, "--quiet", "--no-timing")
	if status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Guest, Strategy, Args string
		Instructions          uint64
		Stop                  struct{ Kind string }
		Events                []struct {
			Cause, Mechanism string
			Count            uint64
		}
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	var outs uint64
	for _, e := range r.Events {
		if e.Cause == "io/out:0x80" && e.Mechanism == "machine" {
			outs = e.Count
		}
	}
	if r.Guest != "io" || r.Strategy != "native" || r.Args != "n=40" || r.Stop.Kind != "exit" || outs != 40 || r.Instructions == 0 {
		t.Errorf("json result: %+v", r)
	}
}

// Bad input gets a clear error and a distinct status, never a hang or a panic.
func TestRunBadInput(t *testing.T) {
	hello, err := guest.Lookup("hello")
	if err != nil {
		t.Fatal(err)
	}
	corrupt := append([]byte(nil), hello.Image...)
	for i := 0x1000; i < len(corrupt) && i < 0x3000; i++ {
		corrupt[i] = 0 // wipe the multiboot header area
	}
	truncated := hello.Image[:40]
	tests := []struct {
		name   string
		args   []string
		status int
		msg    string
	}{
		{"no target", []string{"run"}, exitUsage, "--guest"},
		{"unknown guest", []string{"run", "--guest", "nosuch"}, exitUsage, "hello"},
		{"unknown strategy", []string{"run", "--guest", "hello", "--strategy", "warp"}, exitUsage, "native"},
		{"unknown flag", []string{"run", "--frobnicate"}, exitUsage, "frobnicate"},
		{"missing file", []string{"run", "--image", "/nonexistent/k.elf"}, exitNoInput, "no such file"},
		{"not an ELF", []string{"run", "--image", writeFile(t, "junk.elf", []byte("hello, not a kernel"))}, exitBadImage, "ELF"},
		{"truncated ELF", []string{"run", "--image", writeFile(t, "trunc.elf", truncated)}, exitBadImage, "trunc.elf"},
		{"no multiboot header", []string{"run", "--image", writeFile(t, "nomb.elf", corrupt)}, exitBadImage, "multiboot"},
		{"triple fault", []string{"run", "--image", writeFile(t, "ud.bin", []byte{0x0F, 0x0B}), "--load", "0x100000"}, exitCrash, "triple fault"},
		{"runaway: instruction budget", []string{"run", "--image", writeFile(t, "loop.bin", []byte{0xEB, 0xFE}), "--load", "0x100000", "--max-insns", "100000"}, exitBudget, "instruction budget"},
		{"runaway: time budget", []string{"run", "--image", writeFile(t, "loop2.bin", []byte{0xEB, 0xFE}), "--load", "0x100000", "--timeout", "100ms"}, exitBudget, "time budget"},
		{"hlt forever", []string{"run", "--image", writeFile(t, "hlt.bin", []byte{0xFA, 0xF4}), "--load", "0x100000"}, exitHalted, "hlt"},
		{"too little RAM", []string{"run", "--guest", "hello", "--mem", "1M"}, exitUsage, "outside 2M..4080M"},
		{"RAM not a size", []string{"run", "--guest", "hello", "--mem", "lots"}, exitUsage, "between 2M and 4080M"},
		{"RAM not whole pages", []string{"run", "--guest", "hello", "--mem", "3001K"}, exitUsage, "multiple of 4K"},
		{"TC too small", []string{"run", "--guest", "hello", "--strategy", "bt", "--tc-size", "16"}, exitUsage, "--tc-size"},
		{"native image under pv", []string{"run", "--image", writeFile(t, "hello.elf", hello.Image), "--strategy", "pv"}, exitBadImage, "not a paravirtual build"},
		{"command line too long", []string{"run", "--guest", "hello", "--args", strings.Repeat("x", guest.MaxCmdlineLen+1)}, exitUsage, "at most"},
		{"tui: missing image", []string{"tui", "--image", "/nonexistent/k.elf"}, exitNoInput, "no such file"},
		{"tui: not an image", []string{"tui", "--image", writeFile(t, "junk2.elf", []byte("not a kernel"))}, exitBadImage, "ELF"},
		{"guest status passes through", []string{"run", "--image", writeFile(t, "st.bin", []byte{0xB0, 0x07, 0xE6, 0xF4}), "--load", "0x100000"}, 7, "status 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, errOut := run(t, tt.args...)
			if status != tt.status || !strings.Contains(errOut, tt.msg) {
				t.Errorf("status %d (want %d), stderr:\n%s\n(want it to mention %q)", status, tt.status, errOut, tt.msg)
			}
		})
	}
}

func TestCrashReportNamesPCAndInstruction(t *testing.T) {
	img := writeFile(t, "ud.bin", []byte{0x90, 0x90, 0x0F, 0x0B})
	status, _, errOut := run(t, "run", "--image", img, "--load", "0x100000")
	if status != exitCrash || !strings.Contains(errOut, "pc=0x00100002") || !strings.Contains(errOut, "ud2") {
		t.Errorf("status %d, stderr:\n%s", status, errOut)
	}
}

func TestHelpEverywhere(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"list", "--help"}, {"run", "--help"}, {"table", "--help"}} {
		status, out, _ := run(t, args...)
		if status != 0 || !strings.Contains(out, "Usage: virtsim") {
			t.Errorf("%v: status %d, stdout:\n%s", args, status, out)
		}
	}
	if status, _, errOut := run(t); status != exitUsage || !strings.Contains(errOut, "Commands:") {
		t.Errorf("no args: status %d", status)
	}
}

func TestList(t *testing.T) {
	status, out, _ := run(t, "list")
	if status != 0 {
		t.Fatal(status)
	}
	for _, w := range guest.Catalog() {
		if !strings.Contains(out, w.Name) {
			t.Errorf("list lacks %s", w.Name)
		}
	}
	if !strings.Contains(out, "native") {
		t.Error("list lacks the native strategy")
	}
}

// Sizes take K, M and G; the longest command line that fits runs whole.
func TestSizesAndLongestCommandLine(t *testing.T) {
	for _, mem := range []string{"1G", "2M", "16MiB", "4096K"} {
		if status, _, errOut := run(t, "run", "--guest", "hello", "--mem", mem, "--quiet", "--no-timing"); status != 0 {
			t.Errorf("--mem %s: status %d: %s", mem, status, errOut)
		}
	}
	args := "n=1 " + strings.Repeat("x", guest.MaxCmdlineLen-4)
	if status, out, errOut := run(t, "run", "--guest", "hello", "--args", args, "--quiet", "--no-timing"); status != 0 || !strings.Contains(out, "hello: n=1") {
		t.Errorf("a command line of exactly %d bytes: status %d: %s", len(args), status, errOut)
	}
}

// Help texts: every flag line starts "  --name", descriptions in one column.
func TestHelpAligned(t *testing.T) {
	_, out, _ := run(t, "run", "--help")
	col := -1
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "  --") {
			continue
		}
		i := strings.Index(line[4:], "  ") + 4 // the gap after "--name TYPE"
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if col == -1 {
			col = i
		} else if i != col {
			t.Errorf("flag line %q: description at column %d, others at %d", line, i, col)
		}
	}
	if col == -1 {
		t.Fatalf("no flag lines in:\n%s", out)
	}
}

func TestLab(t *testing.T) {
	status, out, _ := run(t, "lab")
	if status != 0 || !strings.Contains(out, "1  popek-goldberg") {
		t.Fatalf("lab: status %d:\n%s", status, out)
	}
	status, out, _ = run(t, "lab", "1")
	if status != 0 || !strings.Contains(out, "Lab 1: The Popek") || !strings.Contains(out, "[step 1]  $ virtsim run --guest pgprobe --strategy native") {
		t.Errorf("lab 1: status %d:\n%s", status, out)
	}
	if status, _, errOut := run(t, "lab", "9"); status != exitUsage || !strings.Contains(errOut, "no lab") {
		t.Errorf("lab 9: status %d: %s", status, errOut)
	}
	// every step of every lab is a command virtsim accepts (flags and all)
	all, err := labs.All("")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range all {
		for _, s := range l.Steps {
			if status, _, errOut := run(t, append(append([]string(nil), s.Args...), "--help")...); status != 0 {
				t.Errorf("lab %s step %d (%s): status %d: %s", l.Name, s.N, s.Command(), status, errOut)
			}
		}
	}
	// answers checked against runs: right ones pass, a wrong one fails
	good := writeFile(t, "a.txt", []byte("native-cli-if: 0\ntrap-cli-if: 1\ncli-exits: 2\ntrap-popf-if: 0\ncs-rpl: 1\nmost: sens/pushf\nbt-cli-if: 0\n"))
	if status, out, errOut := run(t, "lab", "popek-goldberg", "--answers", good); status != 0 || !strings.Contains(out, "7 right, 0 to look at again") {
		t.Errorf("right answers: status %d:\n%s%s", status, out, errOut)
	}
	bad := writeFile(t, "b.txt", []byte("trap-cli-if: 0\n"))
	if status, out, _ := run(t, "lab", "1", "--answers", bad); status != exitRegression || !strings.Contains(out, `you said "0"`) {
		t.Errorf("a wrong answer: status %d:\n%s", status, out)
	}
	// --check asks on stdin, one answer a line
	labInput = strings.NewReader("0\n1\n2\n0\n1\npushf\n0\n")
	defer func() { labInput = os.Stdin }()
	if status, out, _ := run(t, "lab", "1", "--check"); status != 0 || !strings.Contains(out, "[trap-cli-if] Under trap") || !strings.Contains(out, "7 right") {
		t.Errorf("--check: status %d:\n%s", status, out)
	}
	// a teacher's own lab from a directory, no Go change
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "io.md"), []byte("# Port I/O\n$ virtsim run --guest io --strategy trap --args n=10\n? outs: How many io/out:0x80 traps?\n= count trap io n=10 io/out:0x80 trap\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ans := writeFile(t, "c.txt", []byte("outs: 10\n"))
	if status, out, errOut := run(t, "lab", "io", "--dir", dir, "--answers", ans); status != 0 || !strings.Contains(out, "1 right") {
		t.Errorf("a lab from --dir: status %d:\n%s%s", status, out, errOut)
	}
}

// TestDifftestTwoPass: --two-pass runs every batch's timing pass too; a
// short run of two families is deterministic and reports every stream.
func TestDifftestTwoPass(t *testing.T) {
	status, out, errOut := run(t, "difftest", "--streams", "5", "--family", "alu,fault", "--two-pass", "--quiet", "--seed", "7")
	if status == exitUnavailable {
		t.Skipf("difftest unavailable here: %s", errOut)
	}
	if status != 0 {
		t.Fatalf("status %d, stderr:\n%s", status, errOut)
	}
	i := strings.LastIndex(out, "\nall ")
	if f := strings.Fields(out[max(i, 0):]); i < 0 || len(f) < 2 || f[1] != "10" {
		t.Errorf("summary lacks the 10 streams:\n%s", out)
	}
}
