package trap_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"virtsim/guest"
	"virtsim/trap"
	"virtsim/vmm"
	"virtsim/vmm/vmmtest"
)

// exitsPerIteration is the documented law of trap-and-emulate for each
// workload: exits(2N) - exits(N) = N × this, and the causes behind it.
var exitsPerIteration = map[string]struct {
	exits int
	why   string
}{
	"hello":   {56, "each greeting line: 28 LSR reads + 28 THR writes, each an I/O trap"},
	"compute": {0, "pure ALU: nothing traps"},
	"disk": {790, "per sector: read 263 (6 task-file outs, 1 status in, 256 insw elements, each a trap), " +
		"written 264 (the same with outsw, and 1 completion status in), read back 263"},
	"streaming": {2726, "per boot: the program's 10 sectors at 263 each (6 task-file outs, 1 status in, 256 insw elements, each a trap) " +
		"and its 48-byte console line at 2 a byte (an LSR read and a THR write)"},
	"io":         {1, "one out to port 0x80"},
	"io-in":      {1, "one in from port 0x80"},
	"syscall":    {1, "one int $0x80 from ring 3 reaches the VMM, which reflects it; the handler's iret to ring 3 runs natively"},
	"sysenter":   {2, "sysenter from ring 3 reaches the VMM (it would enter the VMM's own SYSENTER_EIP), which enters the guest kernel; the kernel's sysexit faults at CPL 1 and the VMM performs it"},
	"irq-toggle": {2, "cli and sti each trap"},
	"cpuid":      {0, "cpuid does not trap at CPL 1: the machine's CPU model answers"},
	"divzero":    {2, "the #DE reaches the VMM, which reflects it; the handler's iret to its RPL-0 CS traps"},
	"call-ret":   {0, "call and ret do not trap"},
	"pgprobe":    {5, "per round: 2 cli, 2 mov to CR0, 1 mov from CR0"},
	"smc":        {0, "self-modifying code: no privileged instruction; the patched code runs natively, where Unicorn handles the stores into it"},
	"timer":      {6, "per periodic tick (N is the tick count): the irq/0 reflected, the handler's EOI (out 0x20) and iret, and the wait loop's cli, sti and hlt"},
}

func load(t testing.TB, name string) *guest.Image { return vmmtest.Load(t, name, false) }

func run(t testing.TB, strategy string, img *guest.Image, args string, cfg vmm.Config) *vmm.Result {
	t.Helper()
	cfg.TimeBudget = 30 * time.Second
	return vmmtest.Run(t, strategy, img, args, cfg)
}

// Every workload except pgprobe prints under trap exactly what it prints
// under native (which the foundation checks against QEMU), with every exit
// a trap, at two values of N, pinned in the golden file.
func TestTrapMatchesNative(t *testing.T) {
	golden := filepath.Join("testdata", "trap.golden")
	for _, w := range guest.Catalog() {
		for _, n := range []int{3, 17} {
			args := fmt.Sprintf("n=%d", n)
			t.Run(w.Name+"/"+args, func(t *testing.T) {
				img := load(t, w.Name)
				native := run(t, "native", img, args, vmm.Config{})
				got := run(t, "trap", img, args, vmm.Config{})
				if got.Stop.Kind != vmm.StopExit || got.Stop.Status != 0 {
					t.Fatalf("trap: %s\n%s", got.Stop, got.Serial)
				}
				if w.Name != "pgprobe" && got.Serial != native.Serial {
					t.Errorf("serial differs from native\ntrap:\n%s\nnative:\n%s", got.Serial, native.Serial)
				}
				for k := range got.Counts {
					if k.Mech != vmm.MechTrap && k.Mech != vmm.MechMachine {
						t.Errorf("event %s has mechanism %s under trap", k.Cause, k.Mech)
					}
				}
				vmmtest.CheckGolden(t, golden, got)
			})
		}
	}
}

func TestTrapPerIteration(t *testing.T) {
	for _, w := range guest.Catalog() {
		law, ok := exitsPerIteration[w.Name]
		if !ok {
			t.Errorf("workload %s has no documented per-iteration exit law", w.Name)
			continue
		}
		t.Run(w.Name, func(t *testing.T) {
			img := load(t, w.Name)
			a := run(t, "trap", img, "n=10", vmm.Config{})
			b := run(t, "trap", img, "n=20", vmm.Config{})
			if d := int(b.Exits) - int(a.Exits); d != 10*law.exits {
				t.Errorf("exits(20)-exits(10) = %d, want 10×%d (%s)\nn=10:\n%s\nn=20:\n%s", d, law.exits, law.why, a.Counts.Format(), b.Counts.Format())
			}
		})
	}
}

// irq-toggle: exactly two trap exits per loop iteration, one cli, one sti.
func TestIrqToggleTwoTrapsPerIteration(t *testing.T) {
	img := load(t, "irq-toggle")
	a := run(t, "trap", img, "n=100", vmm.Config{})
	b := run(t, "trap", img, "n=200", vmm.Config{})
	for _, cause := range []string{"priv/cli", "priv/sti"} {
		k := vmm.Key{Cause: cause, Mech: vmm.MechTrap}
		if d := b.Counts[k] - a.Counts[k]; d != 100 {
			t.Errorf("%s: %d more traps for 100 more iterations, want 100", cause, d)
		}
	}
}

// pgprobe under trap shows the x86 hole, the summary names it, and the
// audit counts each offending instruction by mnemonic.
func TestPgprobeDivergence(t *testing.T) {
	img := load(t, "pgprobe")
	native := run(t, "native", img, "n=1", vmm.Config{})
	got := run(t, "trap", img, "n=1", vmm.Config{Audit: true})
	if got.Serial == native.Serial {
		t.Fatal("pgprobe prints the same under trap as on bare metal: the hole is hidden")
	}
	nf, tf := probeFields(native.Serial), probeFields(got.Serial)
	// What a deprivileged kernel observes differs where Robin & Irvine say.
	// With the real IF lent to the guest (the default), pushf after cli
	// tells the truth and popf's ignored IF shows instead.
	for _, key := range []string{"popf-if", "cs-rpl", "ss-rpl", "sgdt-match", "sidt-match", "str", "lar-cs"} {
		if nf[key] == tf[key] {
			t.Errorf("%s: %q under both native and trap", key, nf[key])
		}
	}
	// smsw reads the real CR0's low bits, but the VMM mirrors the guest's
	// FPU controls (MP, EM, TS, NE) there, so what it shows is the guest's.
	if nf["smsw"] != tf["smsw"] {
		t.Errorf("smsw: %q under native, %q under trap (the real CR0's FPU bits should mirror the virtual ones)", nf["smsw"], tf["smsw"])
	}
	if nf["cli-if"] != tf["cli-if"] {
		t.Errorf("cli-if differs: %q vs %q (the real IF should mirror the virtual one)", nf["cli-if"], tf["cli-if"])
	}
	// A classic VMM keeps the real IF set: pushf after cli shows IF=1,
	// while popf's IF=1 goes unnoticed.
	classic := probeFields(run(t, "trap", img, "n=1", vmm.Config{ClassicIF: true}).Serial)
	if nf["cli-if"] == classic["cli-if"] {
		t.Errorf("--classic-if: cli-if %q under both native and trap", nf["cli-if"])
	}
	if nf["popf-if"] != classic["popf-if"] {
		t.Errorf("--classic-if: popf-if differs: %q vs %q", nf["popf-if"], classic["popf-if"])
	}
	if !strings.Contains(strings.Join(got.Notes, "\n"), "Popek-Goldberg") {
		t.Errorf("the summary does not name the divergence: %q", got.Notes)
	}
	for _, cause := range []string{"sens/pushf", "sens/popf", "sens/sgdt", "sens/sidt", "sens/str", "sens/smsw", "sens/lar", "sens/mov-from-cs"} {
		if got.Counters["audit/"+cause] == 0 {
			t.Errorf("audit does not name %s (counters %v)", cause, got.Counters)
		}
	}
}

// BenchmarkTrapRoundTrip reports the cost of one trap-and-emulate exit —
// cli or sti in irq-toggle: #GP into the VMM, decode, emulate against the
// virtual CPU, resume — from the wall times of runs at two n (boot and
// translation cancel), beside a bare C->Go hook round trip (an OUT hook
// that does nothing) measured in the same run. Goal (issue 16):
// trap-exit/hook <= 2. Timing runs take cli and sti in C at a code hook
// on their site, before they trap, once the Go emulator has emulated and
// armed the site (fast.go), so this is the C emulation's round trip;
// trap-exit/int-hook-cpu compares it with a bare interrupt hook, the floor
// of the exception path every exit took before.
func BenchmarkTrapRoundTrip(b *testing.B) {
	// Two exits per iteration: cli and sti.
	vmmtest.ExitVsHook(b, "trap", load(b, "irq-toggle"), 20000, 40000, 2, vmmtest.HookOut, "trap-exit")
}

// BenchmarkTrapIORoundTrip is BenchmarkTrapRoundTrip for port I/O: io's
// write to the POST port, one per iteration, which timing runs also take
// in C (fast.go) once the site is armed. No goal of its own (issue 16's
// bound is stated for cli/sti); it shows the same path for an I/O exit.
func BenchmarkTrapIORoundTrip(b *testing.B) {
	vmmtest.ExitVsHook(b, "trap", load(b, "io"), 20000, 40000, 1, vmmtest.HookOut, "trap-io-exit")
}

var _ = trap.New

// probeFields collects the key=value fields of every "pgprobe:" line.
func probeFields(serial string) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(serial, "\n") {
		rest, ok := strings.CutPrefix(line, "pgprobe: ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(rest) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				f[k] = v
			}
		}
	}
	return f
}

// An exit allocates nothing: cli/sti (irq-toggle) and port I/O (io) trap
// into the VMM thousands of times, and the heap allocations of a run do
// not grow with them.
func TestExitAllocatesNothing(t *testing.T) {
	for _, w := range []string{"irq-toggle", "io"} {
		per, exits := vmmtest.AllocsPerExit(t, "trap", load(t, w), 1000, 3000)
		// A stray allocation of the runtime (the race detector, a timer)
		// shows as a small fraction; one allocation per exit shows as >= 1.
		if per >= 0.05 {
			t.Errorf("%s under trap: %.3f allocations per exit (over %d extra exits)", w, per, exits)
		}
	}
}

// An exit reads the CPU's state in batches: the interrupt hook takes the
// fault and a register snapshot in C before it enters Go, and the exit
// path reads registers from that snapshot, so each exit makes only a few
// Go->C calls (each ~50 ns of runtime bookkeeping, more than the work it
// does). Counted with runtime.NumCgoCall, per exit, timing passes; the
// bounds are today's counts (11, 12, 45 and 8 before issue 16's work).
func TestExitCgoCalls(t *testing.T) {
	for _, c := range []struct {
		strategy, workload string
		max                float64
	}{
		{"trap", "irq-toggle", 0}, // fault, snapshot and writes in the eager hooks' C side
		{"trap", "io", 0},
		{"native", "syscall", 2}, // GDTR to the call gate's copy and back
		{"native", "io", 0},
	} {
		per, exits := vmmtest.CgoCallsPerExit(t, c.strategy, load(t, c.workload), 1000, 3000)
		if per > c.max+0.05 {
			t.Errorf("%s under %s: %.2f Go->C calls per event (over %d events), want <= %v", c.workload, c.strategy, per, exits, c.max)
		}
	}
}

// cli, sti and the POST write emulated in C (trap/fast.go): a timing run
// (no instruction counter) takes nearly every cli/sti of irq-toggle and
// every POST write of io in C, and records the same events as a counting
// run, in which the Go emulator takes them all; guests with interrupts
// (timer) and paging (pgprobe) agree too.
func TestFastCliSti(t *testing.T) {
	for _, c := range []struct {
		workload, args string
		classicIF      bool // the real IF stays set (else it follows the virtual IF)
		minFast        uint64
	}{
		{"irq-toggle", "n=500", false, 2*500 - 4}, // the first cli and sti arm their sites
		{"irq-toggle", "n=500", true, 2*500 - 4},
		{"io", "n=500", false, 500 - 2},
		{"timer", "n=5", false, 0},
		{"pgprobe", "n=2", false, 0},
		{"pgprobe", "n=2", true, 0},
	} {
		img := load(t, c.workload)
		var fast [2]uint64
		var res [2]*vmm.Result
		for i, count := range []bool{true, false} {
			inst, err := trap.New(img, vmm.Config{Args: c.args, Count: count, ClassicIF: c.classicIF, TimeBudget: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := inst.Run(); err != nil {
				t.Fatalf("%s: %v", c.workload, err)
			}
			res[i] = inst.Result()
			fast[i] = inst.(*trap.VMM).E.FastEmulated()
			inst.Close()
		}
		if !vmm.SameOutcome(res[0], res[1]) || res[0].Serial != res[1].Serial {
			t.Errorf("%s: counting run %v %v, timing run %v %v", c.workload, res[0].Stop, res[0].Counts, res[1].Stop, res[1].Counts)
		}
		if fast[0] != 0 || fast[1] < c.minFast {
			t.Errorf("%s: %d cli/sti emulated in C in the counting run (want 0), %d in the timing run (want >= %d)", c.workload, fast[0], fast[1], c.minFast)
		}
	}
}
