package hypercall

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"virtsim/guest"
	_ "virtsim/trap"
	"virtsim/vmm"
	"virtsim/vmm/vmmtest"
)

// exitsPerIteration is the documented law of the pv strategy for each
// workload: exits(2N) - exits(N) = N × exits, and why. Compare trap's
// (trap/strategy_test.go): hello 56, syscall 1, irq-toggle 2, divzero 2,
// pgprobe 5, timer 6.
var exitsPerIteration = map[string]struct {
	exits int
	why   string
}{
	"hello":      {1, "each greeting line is one console_io write: one exit per string, not two per byte"},
	"compute":    {0, "pure ALU: no exits"},
	"disk":       {0, "the ring: one event_channel_op per batch of up to 256 sectors, so read, write, flush and read back cost 4 exits at any n <= 64"},
	"streaming":  {2, "per boot: the program's 10 sectors are one batch on the ring (one event_channel_op), its line one console_io"},
	"io":         {1, "one io_out hypercall to port 0x80"},
	"io-in":      {1, "one io_in hypercall from port 0x80"},
	"syscall":    {0, "int $0x80 goes through the real IDT's direct gate to the guest handler (machine delivery), and its iret to ring 3 is a real iret"},
	"irq-toggle": {0, "cli and sti are stores to the shared-info page"},
	"cpuid":      {0, "cpuid does not trap at CPL 1: the machine's CPU model answers"},
	"divzero":    {1, "the #DE reaches the VMM and bounces into the guest's handler; its iret is a real iret (no exit)"},
	"call-ret":   {0, "call and ret do not trap"},
	"pgprobe":    {2, "per round: the two CR0 writes are set_cr0 hypercalls; CR0 reads, pushf/popf, sgdt, sidt, str, smsw are shared-info reads"},
	"smc":        {0, "self-modifying code: no privileged instruction, nothing to ask the hypervisor"},
	"timer":      {2, "per periodic tick: sched_op block (the tick's upcall is delivered on its way out) and the handler's EOI (io_out to 0x20); cli, sti and iret are shared-info writes"},
}

func loadBoth(t testing.TB, name string) (native, pv *guest.Image) {
	t.Helper()
	return vmmtest.Load(t, name, false), vmmtest.Load(t, name, true)
}

func run(t testing.TB, strategy string, img *guest.Image, args string, cfg vmm.Config) *vmm.Result {
	t.Helper()
	cfg.TimeBudget = 60 * time.Second
	return vmmtest.Run(t, strategy, img, args, cfg)
}

// Every workload's PV image prints under pv exactly what its native image
// prints under native (which the foundation checks against QEMU) — pgprobe
// and timer included — at two values of N, with its counts pinned in the
// golden file. Only exceptions, software interrupts and interrupts reach the
// VMM by trap (bounces); everything privileged is a hypercall or a
// shared-info access, never a trapped instruction.
func TestPVMatchesNative(t *testing.T) {
	golden := filepath.Join("testdata", "pv.golden")
	for _, w := range guest.Catalog() {
		for _, n := range []int{3, 17} {
			args := fmt.Sprintf("n=%d", n)
			t.Run(w.Name+"/"+args, func(t *testing.T) {
				if why, refused := w.Refused["pv"]; refused {
					t.Skip("pv refuses it: " + why)
				}
				nimg, pimg := loadBoth(t, w.Name)
				native := run(t, "native", nimg, args, vmm.Config{})
				got := run(t, "pv", pimg, args, vmm.Config{})
				if got.Stop.Kind != vmm.StopExit || got.Stop.Status != 0 {
					t.Fatalf("pv: %s\n%s", got.Stop, got.Serial)
				}
				if got.Serial != native.Serial {
					t.Errorf("serial differs from native\npv:\n%s\nnative:\n%s", got.Serial, native.Serial)
				}
				checkMechanisms(t, got)
				vmmtest.CheckGolden(t, golden, got)
			})
		}
	}
}

// checkMechanisms: no privileged instruction or port access was trapped.
func checkMechanisms(t *testing.T, res *vmm.Result) {
	t.Helper()
	for k := range res.Counts {
		switch k.Mech {
		case vmm.MechHypercall, vmm.MechSharedInfo, vmm.MechMachine:
		case vmm.MechTrap:
			if !strings.HasPrefix(k.Cause, "exc/") && !strings.HasPrefix(k.Cause, "int/") && !strings.HasPrefix(k.Cause, "irq/") {
				t.Errorf("%s was trapped: the PV build should ask by hypercall", k.Cause)
			}
		default:
			t.Errorf("event %s has mechanism %s under pv", k.Cause, k.Mech)
		}
	}
	if len(res.Notes) > 0 {
		t.Errorf("notes: %q", res.Notes)
	}
}

func TestPVPerIteration(t *testing.T) {
	for _, w := range guest.Catalog() {
		if _, refused := w.Refused["pv"]; refused {
			continue
		}
		law, ok := exitsPerIteration[w.Name]
		if !ok {
			t.Errorf("workload %s has no documented per-iteration exit law under pv", w.Name)
			continue
		}
		t.Run(w.Name, func(t *testing.T) {
			_, img := loadBoth(t, w.Name)
			a := run(t, "pv", img, "n=10", vmm.Config{})
			b := run(t, "pv", img, "n=20", vmm.Config{})
			if d := int(b.Exits) - int(a.Exits); d != 10*law.exits {
				t.Errorf("exits(20)-exits(10) = %d, want 10×%d (%s)\nn=10:\n%s\nn=20:\n%s", d, law.exits, law.why, a.Counts.Format(), b.Counts.Format())
			}
		})
	}
}

// hello: one console exit per string (the greeting lines and the result
// line), not two port accesses per byte.
func TestHelloOneConsoleExitPerString(t *testing.T) {
	_, img := loadBoth(t, "hello")
	for _, n := range []int{1, 7} {
		res := run(t, "pv", img, fmt.Sprintf("n=%d", n), vmm.Config{})
		if got := res.Counts[vmm.Key{Cause: causeConsole, Mech: vmm.MechHypercall}]; got != uint64(n+1) {
			t.Errorf("n=%d: %d console_io writes, want %d (one per line)\n%s", n, got, n+1, res.Counts.Format())
		}
		for k := range res.Counts {
			if strings.HasPrefix(k.Cause, "io/") {
				t.Errorf("n=%d: port access %s under pv", n, k.Cause)
			}
		}
		if res.Exits != uint64(n+2) { // the lines and the shutdown
			t.Errorf("n=%d: %d exits, want %d", n, res.Exits, n+2)
		}
	}
}

// syscall: every system call but the first goes through the real IDT
// straight to the guest kernel (machine delivery, no exit); the first one
// reaches the VMM, which installs the gate the guest filled in after
// registering its trap table.
func TestSyscallNoExitPerCall(t *testing.T) {
	_, img := loadBoth(t, "syscall")
	const n = 500
	res := run(t, "pv", img, fmt.Sprintf("n=%d", n), vmm.Config{})
	direct := res.Counts[vmm.Key{Cause: "int/0x80", Mech: vmm.MechMachine}]
	bounced := res.Counts[vmm.Key{Cause: "int/0x80", Mech: vmm.MechTrap}]
	if bounced != 1 || direct != n { // n calls + SYS_DONE
		t.Errorf("int/0x80: %d direct, %d through the VMM; want %d and 1\n%s", direct, bounced, n, res.Counts.Format())
	}
	if iret := res.Counts[vmm.Key{Cause: "priv/iret", Mech: vmm.MechSharedInfo}]; iret != n+1-1+1 {
		// every SYS_COUNT returns with PV_IRET, and main's first entry to ring 3
		t.Errorf("priv/iret shared-info = %d, want %d", iret, n+1)
	}
}

// irq-toggle: the loop makes no exit at all; its cli and sti are counted
// as shared-info events, one each per iteration.
func TestIrqToggleNoExits(t *testing.T) {
	_, img := loadBoth(t, "irq-toggle")
	a := run(t, "pv", img, "n=100", vmm.Config{})
	b := run(t, "pv", img, "n=200", vmm.Config{})
	if a.Exits != b.Exits {
		t.Errorf("exits: %d at n=100, %d at n=200: the loop exits", a.Exits, b.Exits)
	}
	for _, cause := range []string{"priv/cli", "priv/sti"} {
		k := vmm.Key{Cause: cause, Mech: vmm.MechSharedInfo}
		if d := b.Counts[k] - a.Counts[k]; d != 100 {
			t.Errorf("%s: %d more shared-info events for 100 more iterations, want 100", cause, d)
		}
	}
}

// timer: every IRQ 0 arrives as an event upcall, all K+2 of them, and the
// output is native's.
func TestTimerUpcalls(t *testing.T) {
	_, img := loadBoth(t, "timer")
	for _, k := range []int{1, 5, 9} {
		res := run(t, "pv", img, fmt.Sprintf("k=%d", k), vmm.Config{})
		if res.Stop.Kind != vmm.StopExit || res.Stop.Status != 0 {
			t.Fatalf("k=%d: %s\n%s", k, res.Stop, res.Serial)
		}
		var irqs uint64
		for key, v := range res.Counts {
			if key.Cause == "irq/0" {
				irqs += v
			}
		}
		if irqs != uint64(k+2) || res.Counters["upcalls"] != uint64(k+2) {
			t.Errorf("k=%d: %d irq/0 events, %d upcalls; want %d", k, irqs, res.Counters["upcalls"], k+2)
		}
		if !strings.Contains(res.Serial, fmt.Sprintf("timer: n=%d ticks=%d irqs=%d\n", k, k, k+2)) {
			t.Errorf("k=%d: output\n%s", k, res.Serial)
		}
	}
}

// pgprobe under pv prints bare metal's answers: the PV macros ask the
// shared-info page and fix up what the hardware shows at CPL 1.
func TestPgprobeBareMetalAnswers(t *testing.T) {
	nimg, pimg := loadBoth(t, "pgprobe")
	native := run(t, "native", nimg, "n=2", vmm.Config{})
	got := run(t, "pv", pimg, "n=2", vmm.Config{})
	if got.Serial != native.Serial {
		t.Fatalf("pgprobe under pv:\n%s\nnative:\n%s", got.Serial, native.Serial)
	}
	for _, want := range []string{"cli-if=0", "popf-if=1", "cs=0x0008 cs-rpl=0", "ss=0x0010 ss-rpl=0", "sgdt-match=1", "sidt-match=1", "str=0x0028", "mov-cr0=0xb smsw=0xb", "lar-cs=0x00c09b00 lar-ok=1"} {
		if !strings.Contains(got.Serial, want) {
			t.Errorf("pv output lacks %q", want)
		}
	}
}

// The in-place events are the same whether counted in C at their sites or
// recorded live by Go hooks (trace, TUI), and the live ones carry the PC of
// a marker instruction.
func TestSiteCountsLiveAndCounted(t *testing.T) {
	_, img := loadBoth(t, "pgprobe")
	counted := run(t, "pv", img, "n=3", vmm.Config{})
	traced := run(t, "pv", img, "n=3", vmm.Config{Trace: true})
	if !counted.Counts.Equal(traced.Counts) {
		t.Fatalf("counted:\n%s\ntraced:\n%s", counted.Counts.Format(), traced.Counts.Format())
	}
	inst, err := NewVMM(img, vmm.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	sites := map[uint32]string{}
	for _, s := range inst.Sites() {
		sites[s.PC] = s.Cause
	}
	n := 0
	for _, ev := range traced.Trace {
		if ev.Mech != vmm.MechSharedInfo || strings.HasPrefix(ev.Cause, "irq/") {
			continue
		}
		n++
		if sites[ev.PC] != ev.Cause {
			t.Errorf("event %v: the site at that PC is %q", ev, sites[ev.PC])
		}
	}
	if n == 0 {
		t.Error("the trace has no shared-info events")
	}
}

// Every in-place macro's marker is found, with the cause it stands for.
func TestSitesFound(t *testing.T) {
	want := map[string]int{}
	for _, c := range []string{"priv/cli", "priv/sti", "sens/pushf", "sens/popf", "priv/iret", "priv/mov-from-cr0",
		"sens/smsw", "sens/sgdt", "sens/sidt", "priv/ltr", "sens/str"} {
		want[c] = 0
	}
	for _, name := range []string{"pgprobe", "irq-toggle", "timer", "syscall"} {
		_, img := loadBoth(t, name)
		p, err := NewVMM(img, vmm.Config{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Sites() {
			want[s.Cause]++
			if s.PC < img.Entry&^0xFFFFF {
				t.Errorf("%s: site %#x outside the image", name, s.PC)
			}
		}
		p.Close()
	}
	for c, n := range want {
		if n == 0 {
			t.Errorf("no marker for %s found in the PV images", c)
		}
	}
}

// The pv strategy runs only PV builds.
func TestRefusesNativeImage(t *testing.T) {
	nimg, _ := loadBoth(t, "hello")
	_, err := NewVMM(nimg, vmm.Config{})
	if err == nil || !strings.Contains(err.Error(), "not a paravirtual build") {
		t.Fatalf("NewVMM(native hello) = %v, want a refusal", err)
	}
	s, err := vmm.LookupStrategy("pv")
	if err != nil || !s.PV || s.Substrate != "unicorn" {
		t.Fatalf("strategy pv: %+v, %v", s, err)
	}
}

// The inspector shows the virtual IF from the shared-info page and the TR
// the guest recorded.
func TestVirtualView(t *testing.T) {
	_, img := loadBoth(t, "irq-toggle")
	p, err := NewVMM(img, vmm.Config{Args: "n=1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if s, ok := p.Virtual(); !ok || s.IF() || s.CPL != 0 {
		t.Fatalf("at entry: IF=%v CPL=%d ok=%v; want IF=0 CPL=0", s.IF(), s.CPL, ok)
	}
	if st, err := p.Run(); err != nil || st.Kind != vmm.StopExit {
		t.Fatal(st, err)
	}
	s, _ := p.Virtual()
	if s.TR != guest.TSSSel || s.GDTLimit != 6*8-1 {
		t.Errorf("after the run: TR %#x, GDT limit %#x", s.TR, s.GDTLimit)
	}
}

// A hypercall allocates nothing: io's POST writes are one hypercall each.
func TestHypercallAllocatesNothing(t *testing.T) {
	_, img := loadBoth(t, "io")
	per, exits := vmmtest.AllocsPerExit(t, "pv", img, 1000, 3000)
	// A stray allocation of the runtime shows as a small fraction; one
	// allocation per hypercall shows as >= 1.
	if per >= 0.05 {
		t.Errorf("io under pv: %.3f allocations per hypercall (over %d extra hypercalls)", per, exits)
	}
}

// --until-output stops a pv guest whose console output goes through the
// console_io hypercall, at the hypercall that printed the text's end.
func TestUntilOutputConsoleHypercall(t *testing.T) {
	_, pv := loadBoth(t, "hello")
	full := run(t, "pv", pv, "n=3", vmm.Config{})
	if full.Counts[vmm.Key{Cause: causeConsole, Mech: vmm.MechHypercall}] == 0 {
		t.Fatalf("hello under pv printed without console_io: %v", full.Counts)
	}
	first, _, _ := strings.Cut(full.Serial, "\n")
	got := run(t, "pv", pv, "n=3", vmm.Config{UntilOutput: first + "\n"})
	if got.Stop.Kind != vmm.StopExit || !strings.Contains(got.Stop.Reason, "--until-output") {
		t.Fatalf("stop %v, want a success naming --until-output", got.Stop)
	}
	if !strings.HasPrefix(got.Serial, first+"\n") || len(got.Serial) >= len(full.Serial) {
		t.Errorf("serial %q: want the first line and less than the whole run's %q", got.Serial, full.Serial)
	}
}
