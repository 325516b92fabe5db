package trap_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"virtsim/guest"
	"virtsim/vmm"
)

// assemble builds ../vmm/testdata/irq/NAME.S (the machine's interrupt-window
// guests) into a flat binary at 0x100000.
func assemble(t *testing.T, name string) *guest.Image {
	t.Helper()
	for _, tool := range []string{"as", "ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("GNU %s not found (Debian package binutils; `make test` installs it)", tool)
		}
	}
	dir := t.TempDir()
	src, _ := filepath.Abs(filepath.Join("..", "vmm", "testdata", "irq", name+".S"))
	obj, bin := filepath.Join(dir, "g.o"), filepath.Join(dir, "g.bin")
	for _, c := range [][]string{
		{"as", "--32", "-I", filepath.Dir(src), "-o", obj, src},
		{"ld", "-m", "elf_i386", "-Ttext=0x100000", "--oformat", "binary", "-o", bin, obj},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	code, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	img, err := guest.LoadFlat(code, guest.DefaultLoadAddr, vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	img.Name = name
	return img
}

// Virtual interrupts: injected where the guest's virtual IF and the sti
// shadow allow, through the guest's IDT — except after popf, which cannot
// change the virtual IF at CPL 1 (the x86 hole): the queued interrupt is
// not injected there, the guest's check fails, and the audit names popf.
func TestVirtualInterrupts(t *testing.T) {
	tests := []struct {
		name   string
		kind   vmm.StopKind
		status uint32
	}{
		{"shadow", vmm.StopExit, 0},
		{"unmask", vmm.StopExit, 0},
		{"hlt", vmm.StopExit, 0},
		{"cli", vmm.StopHalted, 0},
		{"popf", vmm.StopExit, 1}, // the hole: bare metal exits 0
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := assemble(t, tt.name)
			res := run(t, "trap", img, "", vmm.Config{Audit: tt.name == "popf"})
			if res.Stop.Kind != tt.kind || res.Stop.Status != tt.status {
				t.Fatalf("stop %v, want %v status %d\n%s", res.Stop, tt.kind, tt.status, res.Counts.Format())
			}
			if tt.kind == vmm.StopExit && tt.status == 0 && res.Counts[vmm.Key{Cause: "irq/0", Mech: vmm.MechTrap}] == 0 {
				t.Errorf("no irq/0 trap recorded:\n%s", res.Counts.Format())
			}
			if tt.name == "popf" && res.Counters["audit/sens/popf"] == 0 {
				t.Errorf("the audit does not name popf: %v", res.Counters)
			}
		})
	}
}
