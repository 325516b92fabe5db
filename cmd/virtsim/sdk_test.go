package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"virtsim/guest"
	"virtsim/vmm"
)

// TestNewGuestSDK writes a guest with the SDK, builds it with its own
// Makefile (gcc -m32 -ffreestanding, GNU as/ld), and runs NAME.elf under
// native, trap, bt and kvm (where there is one) and NAME.pv.elf under pv:
// every run prints what QEMU prints for NAME.elf and exits 0, and the
// exits per iteration are the strategies' documented laws (trap: cli and
// sti 2, the out 1, the #DE and its iret 2; pv: the out's hypercall 1 and
// the #DE's bounce 1).
func TestNewGuestSDK(t *testing.T) {
	for _, tool := range []string{"make", "gcc", "as", "ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (scripts/deps.sh installs it): the SDK builds guests with make, gcc -m32, GNU as and ld", tool)
		}
	}
	dir := filepath.Join(t.TempDir(), "demo")
	if status, out, errOut := run(t, "new-guest", "demo", "--dir", dir); status != 0 || !strings.Contains(out, "make") {
		t.Fatalf("new-guest: status %d: %s%s", status, out, errOut)
	}
	// a second time: refused, nothing overwritten
	if status, _, errOut := run(t, "new-guest", "demo", "--dir", dir); status != exitUsage || !strings.Contains(errOut, "not empty") {
		t.Errorf("new-guest into a full folder: status %d: %s", status, errOut)
	}
	if status, _, _ := run(t, "new-guest", "Bad-Name", "--dir", t.TempDir()); status != exitUsage {
		t.Errorf("a bad name: status %d", status)
	}
	mk := exec.Command("make", "-s")
	mk.Dir = dir
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make in the new guest's folder: %v\n%s", err, out)
	}
	load := func(file string) *guest.Image {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		img, err := guest.Load(b, vmm.DefaultMemSize)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		img.Name = file
		return img
	}
	native, pv := load("demo.elf"), load("demo.pv.elf")
	runs := map[string]*vmm.Result{}
	for _, name := range []string{"native", "trap", "bt", "pv", "kvm"} {
		s, err := vmm.LookupStrategy(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Available(); err != nil {
			t.Logf("%s not run: %v", name, err)
			continue
		}
		img := native
		if s.PV {
			img = pv
		}
		for _, n := range []string{"10", "20"} {
			res, err := vmm.RunGuest(s, img, vmm.Config{Name: "demo", Args: "n=" + n}, false)
			if err != nil {
				t.Fatalf("%s n=%s: %v", name, n, err)
			}
			if res.Stop.Kind != vmm.StopExit || res.Stop.Status != 0 {
				t.Fatalf("%s n=%s: %s\n%s", name, n, res.Stop, res.Serial)
			}
			runs[name+" "+n] = res
		}
	}
	want := "demo: hello from C, n=10\ndemo: pairs=10 outs=10 faults=10\n"
	for k, r := range runs {
		if strings.HasSuffix(k, " 10") && r.Serial != want {
			t.Errorf("%s prints\n%q, want\n%q", k, r.Serial, want)
		}
	}
	perIter := func(s string) uint64 { return (runs[s+" 20"].Exits - runs[s+" 10"].Exits) / 10 }
	if runs["native 10"].Exits != 0 || perIter("trap") != 5 || perIter("pv") != 2 {
		t.Errorf("exits per iteration: native total %d, trap %d (want 5), pv %d (want 2)", runs["native 10"].Exits, perIter("trap"), perIter("pv"))
	}
	if bt := runs["bt 10"]; bt.Counts[vmm.Key{Cause: "priv/cli", Mech: vmm.MechInTC}] != 10 || bt.Counts[vmm.Key{Cause: "priv/cli", Mech: vmm.MechCallout}] != 0 {
		t.Errorf("bt: cli not translated in place: %v", bt.Counts)
	}

	// QEMU, the bare-metal oracle, prints the same
	if _, err := exec.LookPath("qemu-system-i386"); err != nil {
		t.Skip("qemu-system-i386 is not installed (scripts/deps.sh installs qemu-system-x86): no oracle run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q := exec.CommandContext(ctx, "qemu-system-i386", "-accel", "tcg", "-cpu", "qemu32", "-m", "16M",
		"-kernel", filepath.Join(dir, "demo.elf"), "-append", "n=10",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-serial", "stdio", "-display", "none", "-no-reboot")
	var qout bytes.Buffer
	q.Stdout = &qout
	err := q.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 { // (status 0 << 1) | 1
		t.Fatalf("qemu: %v (want exit 1: guest status 0)\n%s", err, qout.String())
	}
	if got := strings.ReplaceAll(qout.String(), "\r", ""); got != want {
		t.Errorf("QEMU prints\n%q, want\n%q", got, want)
	}
}
