package vmm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/guest"
)

// assemble builds testdata/irq/NAME.S into a flat binary at 0x100000.
func assemble(t *testing.T, name string) []byte {
	t.Helper()
	for _, tool := range []string{"as", "ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("GNU %s not found (Debian package binutils; `make test` installs it)", tool)
		}
	}
	dir := t.TempDir()
	obj, bin := filepath.Join(dir, name+".o"), filepath.Join(dir, name+".bin")
	src, _ := filepath.Abs(filepath.Join("testdata", "irq", name+".S"))
	cmds := [][]string{
		{"as", "--32", "-I", filepath.Dir(src), "-o", obj, src},
		{"ld", "-m", "elf_i386", "-Ttext=0x100000", "--oformat", "binary", "-o", bin, obj},
	}
	for _, c := range cmds {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, out)
		}
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The interrupt arrives exactly where IF and the interrupt shadow allow it.
// Each guest checks where its handler interrupted it and exits 0 if right.
func TestInterruptWindow(t *testing.T) {
	tests := []struct {
		name   string
		kind   StopKind
		status uint32
		irqs   uint64
	}{
		{"shadow", StopExit, 0, 1}, // after sti, one more instruction runs first
		{"popf", StopExit, 0, 1},   // popf opens the window at once
		{"unmask", StopExit, 0, 1}, // a masked request waits in IRR, arrives right after the unmask
		{"hlt", StopExit, 0, 5},    // hlt skips time to each periodic tick
		{"cli", StopHalted, 0, 0},  // IF clear: never delivered; hlt sleeps forever
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := assemble(t, tt.name)
			for _, count := range []bool{false, true} {
				res := flat(t, code, Config{Count: count})
				if res.Stop.Kind != tt.kind || res.Stop.Status != tt.status {
					t.Fatalf("count=%v: stop %v, want %v status %d", count, res.Stop, tt.kind, tt.status)
				}
				if got := res.Counts[Key{"irq/0", MechMachine}]; got != tt.irqs {
					t.Errorf("count=%v: %d irq/0 events, want %d", count, got, tt.irqs)
				}
			}
		})
	}
}

// Single-stepping delivers the interrupt at the same boundary.
func TestInterruptWindowStepping(t *testing.T) {
	code := assemble(t, "shadow")
	img, _ := guest.LoadFlat(code, guest.DefaultLoadAddr, DefaultMemSize)
	s, _ := LookupStrategy("native")
	inst, err := s.New(img, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	for i := 0; i < 100000; i++ {
		st, err := inst.Step()
		if err != nil {
			t.Fatal(err)
		}
		if st.Kind != StopNone {
			if st.Kind != StopExit || st.Status != 0 {
				t.Fatalf("stepping: %v", st)
			}
			return
		}
	}
	t.Fatal("guest did not finish within 100000 steps")
}

// BenchmarkComputeClock measures the block clock on compute, side by side
// in one run: the machine as it runs compute (the guest never programs the
// PIT, so no clock is installed) against the same machine with the clock
// forced on (what a guest with a running timer pays).
func BenchmarkComputeClock(b *testing.B) {
	w, err := guest.Lookup("compute")
	if err != nil {
		b.Fatal(err)
	}
	img, err := w.Load(DefaultMemSize)
	if err != nil {
		b.Fatal(err)
	}
	run := func(force bool) time.Duration {
		m, err := NewMachine(img, Config{Args: "n=300000"}, "native")
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		if force {
			if err := m.startClock(); err != nil {
				b.Fatal(err)
			}
		}
		if st, err := m.Run(); err != nil || st.Kind != StopExit {
			b.Fatalf("%v %v", st, err)
		}
		if (m.clock != nil) != force {
			b.Fatalf("clock installed=%v, want %v", m.clock != nil, force)
		}
		return m.Result().Wall
	}
	var none, clock time.Duration
	for i := 0; i < b.N; i++ {
		none += run(false)
		clock += run(true)
	}
	b.ReportMetric(clock.Seconds()/none.Seconds(), "clock/none")
}

// opensShadow: the instructions after which interrupts wait one more
// instruction (Intel SDM vol. 3, 6.8.3).
func TestOpensShadow(t *testing.T) {
	tests := []struct {
		code   []byte
		shadow bool
	}{
		{[]byte{0xFB}, true},        // sti
		{[]byte{0x8E, 0xD0}, true},  // mov %eax,%ss
		{[]byte{0x17}, true},        // pop %ss
		{[]byte{0x8E, 0xD8}, false}, // mov %eax,%ds
		{[]byte{0x9D}, false},       // popf: IF opens at once
		{[]byte{0xCF}, false},       // iret
		{[]byte{0xFA}, false},       // cli
		{[]byte{0x90}, false},       // nop
	}
	for _, tt := range tests {
		inst, err := x86asm.Decode(tt.code, 32)
		if err != nil {
			t.Fatal(err)
		}
		if got := opensShadow(inst); got != tt.shadow {
			t.Errorf("% x (%v): opensShadow = %v, want %v", tt.code, inst, got, tt.shadow)
		}
	}
}
