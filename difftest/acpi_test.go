package difftest

import (
	"strings"
	"testing"
	"time"

	"virtsim/internal/qemu"
)

// TestACPIPowerOff: a kernel that powers QEMU's PC off through ACPI
// (outw $0x2000 to port 0x604) stops with status 0 under every strategy,
// both passes, after the output it wrote before; QEMU prints the same
// output (its exit code cannot tell a power-off from a triple fault under
// -no-reboot, so only its output is compared).
func TestACPIPowerOff(t *testing.T) {
	if err := ToolsAvailable(); err != nil {
		t.Skip(err)
	}
	s := Generate(FamALU, 1, 1)
	// QEMU takes the power-off request asynchronously: the guest spins
	// after it, so that what QEMU prints does not race its exit.
	s.Insns = []string{"mov $0x2000, %ax", "mov $0x604, %dx", "out %ax, %dx", "7: jmp 7b"}
	next := Generate(FamALU, 2, 4) // never reached
	elf, err := Assemble(Render([]Stream{s, next}), "")
	if err != nil {
		t.Fatal(err)
	}
	var out string
	for _, name := range Strategies {
		got, err := RunVMTwoPass(name, elf, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.End != "exit 0" || strings.Contains(got.Serial, "S0000") {
			t.Errorf("%s: ended %q after\n%s\nwant exit 0 before the stream's report", name, got.End, got.Serial)
		}
		out = got.Serial
	}
	if qemu.Available() == nil {
		q, err := RunQEMU(elf, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if q.Serial != out {
			t.Errorf("QEMU printed\n%s\nvirtsim\n%s", q.Serial, out)
		}
	}
}
