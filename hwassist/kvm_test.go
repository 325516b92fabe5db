package hwassist

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"virtsim/guest"
	"virtsim/vmm"
	"virtsim/vmm/vmmtest"
	"virtsim/vmm/x86"
)

// Every test that runs KVM skips, with Available's own words (the cause
// and the fix), where KVM cannot run.
func requireKVM(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err.Error())
	}
}

// testWatchdog bounds every KVM_RUN a test makes: it aborts the run from
// another goroutine (the kick of run.go) and the test fails saying so,
// instead of hanging until go test's own timeout.
const testWatchdog = 60 * time.Second

// watch arms the watchdog on v; the returned function disarms it.
func watch(t testing.TB, v *VM, d time.Duration) func() {
	t.Helper()
	timer := time.AfterFunc(d, func() { v.Abort(fmt.Sprintf("test watchdog (%s)", d)) })
	return func() { timer.Stop() }
}

func failIfWatchdog(t testing.TB, s vmm.Stop) {
	t.Helper()
	if strings.Contains(s.Reason, "test watchdog") {
		t.Fatalf("KVM_RUN did not return: the test watchdog aborted it (%s)", s)
	}
}

func load(t testing.TB, name string) *guest.Image { return vmmtest.Load(t, name, false) }

// boot creates a VM for img; the test closes it.
func boot(t testing.TB, img *guest.Image, cfg vmm.Config) *VM {
	t.Helper()
	requireKVM(t)
	if cfg.TimeBudget == 0 {
		cfg.TimeBudget = 30 * time.Second
	}
	v, err := New(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// runKVM runs img under kvm to the end, under the watchdog.
func runKVM(t testing.TB, img *guest.Image, args string, cfg vmm.Config) *vmm.Result {
	t.Helper()
	cfg.Args = args
	v := boot(t, img, cfg)
	disarm := watch(t, v, testWatchdog)
	st, err := v.Run()
	disarm()
	if err != nil {
		t.Fatalf("%s under kvm: %v", img.Name, err)
	}
	failIfWatchdog(t, st)
	return v.Result()
}

func runNative(t testing.TB, img *guest.Image, args string, cfg vmm.Config) *vmm.Result {
	t.Helper()
	cfg.TimeBudget = 30 * time.Second
	return vmmtest.Run(t, "native", img, args, cfg)
}

var goldenPath = filepath.Join("testdata", "kvm.golden")

// checkKVMGolden compares a run with its record in the golden file. A
// flavour the file holds no record of at all (kvm/vmx: no Intel host has
// run these tests yet) is logged, not failed — the other assertions still
// hold — since a flavour's counts can only be pinned by running -update on
// a host that has it.
func checkKVMGolden(t *testing.T, res *vmm.Result) {
	t.Helper()
	strategy := vmm.RecordOf(res).Key.Strategy
	if !vmmtest.Updating() {
		g, err := vmm.ReadGoldenFile(goldenPath)
		if err != nil {
			t.Fatalf("golden: %v", err)
		}
		pinned := false
		for k := range g.Records {
			pinned = pinned || k.Strategy == strategy
		}
		if !pinned {
			t.Logf("%s holds no %s record: counts not pinned on this flavour (run go test -update here and review the diff)", goldenPath, strategy)
			return
		}
	}
	vmmtest.CheckGolden(t, goldenPath, res)
}

// Every workload prints under kvm exactly what it prints under native —
// pgprobe included: KVM runs the guest kernel at its real CPL 0, so it
// sees what bare metal shows — at two values of N. Two runs give the same
// events (guest time counts exits: runs are repeatable), which the golden
// file, keyed by flavour, pins.
func TestKVMMatchesNative(t *testing.T) {
	requireKVM(t)
	for _, w := range guest.Catalog() {
		for _, n := range []int{3, 17} {
			args := fmt.Sprintf("n=%d", n)
			t.Run(w.Name+"/"+args, func(t *testing.T) {
				img := load(t, w.Name)
				native := runNative(t, img, args, vmm.Config{})
				got := runKVM(t, img, args, vmm.Config{Count: true})
				if got.Stop.Kind != vmm.StopExit || got.Stop.Status != 0 {
					t.Fatalf("kvm: %s\n%s", got.Stop, got.Serial)
				}
				if got.Serial != native.Serial {
					t.Errorf("serial differs from native\nkvm:\n%s\nnative:\n%s", got.Serial, native.Serial)
				}
				// Under PVM, KVM's emulator counts every guest instruction:
				// exactly native's count. Two exceptions: timer's polls
				// depend on the rate of guest time; and under native a store
				// that overwrites its own translated block is counted twice
				// (Unicorn abandons it and re-executes it in a fresh block),
				// once per smc iteration.
				if got.Flavour == FlavourPVM && w.Name != "timer" && w.Name != "smc" && got.Instructions != native.Instructions {
					t.Errorf("instructions %d, native %d", got.Instructions, native.Instructions)
				}
				if got.Flavour == "" || got.Strategy != "kvm" {
					t.Errorf("result strategy %q flavour %q", got.Strategy, got.Flavour)
				}
				for k := range got.Counts {
					switch {
					case k.Mech == vmm.MechVMExit, k.Mech == vmm.MechEmulation:
					case k.Mech == vmm.MechMachine && strings.HasPrefix(k.Cause, "irq/"):
					default:
						t.Errorf("event %s has mechanism %s under kvm", k.Cause, k.Mech)
					}
				}
				again := runKVM(t, img, args, vmm.Config{Count: true})
				if !again.Counts.Equal(got.Counts) || again.Instructions != got.Instructions {
					t.Errorf("a second run counted different events:\n%s\nvs\n%s", got.Counts.Format(), again.Counts.Format())
				}
				checkKVMGolden(t, got)
			})
		}
	}
}

// The paging workloads under kvm: the guest's own page tables are used by
// the hardware (EPT/NPT; PVM's shadow MMU in the host kernel), so they
// print what native prints with no user-space exit for paging at all —
// their page faults, CR3 loads, invlpg and PTE writes never reach virtsim —
// and KVM's page-fault statistics are reported beside the exits. Pinned
// on svm in the nested rig (scripts/kvm-nested.sh), with npt=1 and npt=0.
func TestKVMPagingMatchesNative(t *testing.T) {
	requireKVM(t)
	for _, w := range guest.PagingCatalog() {
		for _, n := range []int{3, 17} {
			args := fmt.Sprintf("n=%d", n)
			t.Run(w.Name+"/"+args, func(t *testing.T) {
				img := load(t, w.Name)
				native := runNative(t, img, args, vmm.Config{})
				got := runKVM(t, img, args, vmm.Config{Count: true})
				if got.Stop.Kind != vmm.StopExit || got.Stop.Status != 0 || got.Serial != native.Serial {
					t.Fatalf("kvm: %s\n%s\nnative:\n%s", got.Stop, got.Serial, native.Serial)
				}
				for k := range got.Counts {
					paging := strings.HasPrefix(k.Cause, "exc/#PF") || strings.HasPrefix(k.Cause, "pf/") || strings.HasPrefix(k.Cause, "pt/") ||
						k.Cause == "priv/mov-cr3" || k.Cause == "priv/invlpg" || k.Cause == "priv/mov-from-cr2"
					if paging && k.Mech.IsExit() {
						t.Errorf("%s reached user space (%s): paging must stay in KVM", k.Cause, k.Mech)
					}
				}
				if _, ok := got.Counters["kvm/pf_taken"]; !ok {
					t.Errorf("no kvm/pf_taken beside the exits: %v", got.Counters)
				}
				if _, ok := got.Counters[CounterNestedPaging]; !ok && HostFlavour().Hardware() {
					t.Errorf("no %s on %s: %v", CounterNestedPaging, got.Flavour, got.Counters)
				}
				// Exits to virtsim are the same with or without nested
				// paging (only KVM's counters differ): one record per
				// flavour.
				again := runKVM(t, img, args, vmm.Config{Count: true})
				if !again.Counts.Equal(got.Counts) {
					t.Errorf("a second run counted different events:\n%s\nvs\n%s", got.Counts.Format(), again.Counts.Format())
				}
				checkKVMGolden(t, got)
			})
		}
	}
}

// kvmLaw is exits(2N) - exits(N) = N × law for each workload, by flavour.
var kvmLaw = map[string]struct {
	pvm, hw int
	why     string
}{
	"hello":   {56, 56, "each line: 28 LSR reads + 28 THR writes, port I/O exits to user space"},
	"compute": {0, 0, "pure ALU"},
	"disk": {280, 280, "per sector read 8 (6 outs, 1 status in, and the rep insw as one exit: KVM's emulator reads a string in ahead, " +
		"up to a page), written 264 (6 outs, 2 status ins, and the rep outsw as 256 exits: the emulator's em_out hands user space one " +
		"element at a time), read back 8 (measured on kvm_amd in scripts/kvm-nested.sh; PVM runs the same emulator code, not measured there)"},
	"streaming": {176, 176, "per boot: the program's 10 sectors at 8 each (6 outs, 1 status in, the rep insw as one exit) and its " +
		"48-byte console line at 2 a byte (expected from KVM's string-I/O batching; not yet measured on a host with /dev/kvm)"},
	"io":         {1, 1, "one out to port 0x80"},
	"io-in":      {1, 1, "one in from port 0x80 (expected: port I/O exits to user space; not yet measured on a host with /dev/kvm)"},
	"syscall":    {2, 0, "int $0x80 and the handler's iret: KVM's emulator refuses both under PVM; VT-x/AMD-V run both in guest mode"},
	"sysenter":   {0, 0, "sysenter and sysexit: in guest mode on VT-x/AMD-V, in KVM's emulator (em_sysenter, em_sysexit) under PVM (expected; not yet measured on a host with /dev/kvm)"},
	"irq-toggle": {0, 0, "cli and sti never leave KVM (its emulator under PVM, the CPU otherwise)"},
	"cpuid":      {1, 0, "cpuid: answered by KVM in the kernel on VT-x/AMD-V; under PVM intercepted by the VMM (PVM changes the CPU model)"},
	"divzero":    {1, 0, "the #DE handler's iret, refused by KVM's emulator under PVM (KVM delivers the #DE itself)"},
	"call-ret":   {0, 0, "call and ret"},
	"pgprobe":    {1, 0, "per round: lar, refused by KVM's emulator under PVM; cli, mov to/from CR0 stay in KVM"},
	"timer":      {3, 2, "per periodic tick (N is the tick count): hlt and the handler's EOI (out 0x20) exit to user space; under PVM KVM's emulator also refuses the handler's iret"},
	"smc":        {0, 0, "self-modifying code: stores and jumps stay in KVM"},
}

// lawExits is a run's exits less its interrupt-window exits: when the
// guest opens a window relative to a pending tick is a matter of timing
// (under QEMU's emulated SVM one window more or less now and then in the
// timer workload: 19 where 20 was due), not of the iteration count.
func lawExits(r *vmm.Result) int {
	return int(r.Exits) - int(r.Counts[vmm.Key{Cause: CauseIRQWindow, Mech: vmm.MechVMExit}])
}

func TestKVMPerIteration(t *testing.T) {
	requireKVM(t)
	f := HostFlavour()
	for _, w := range guest.Catalog() {
		law, ok := kvmLaw[w.Name]
		if !ok {
			t.Errorf("workload %s has no documented per-iteration exit law under kvm", w.Name)
			continue
		}
		want := law.hw
		if f.Name == FlavourPVM {
			want = law.pvm
		}
		t.Run(w.Name, func(t *testing.T) {
			img := load(t, w.Name)
			a := runKVM(t, img, "n=10", vmm.Config{})
			b := runKVM(t, img, "n=20", vmm.Config{})
			if d := lawExits(b) - lawExits(a); d != 10*want {
				t.Errorf("exits(20)-exits(10) = %d, want 10×%d on %s (%s)\nn=10:\n%s\nn=20:\n%s", d, want, f.Name, law.why, a.Counts.Format(), b.Counts.Format())
			}
		})
	}
}

// syscall with N calls: N int $0x80 and N iret emulation exits per N (plus
// one of each outside the loop: the iret that enters ring 3 and the final
// SYS_DONE call).
func TestSyscallEmulationExits(t *testing.T) {
	requireKVM(t)
	if HostFlavour().Name != FlavourPVM {
		t.Skip("only PVM's emulator refuses int and iret; hardware assist runs them in guest mode")
	}
	img := load(t, "syscall")
	for _, n := range []uint64{1, 10, 25} {
		r := runKVM(t, img, fmt.Sprintf("n=%d", n), vmm.Config{})
		ints := r.Counts[vmm.Key{Cause: "int/0x80", Mech: vmm.MechEmulation}]
		irets := r.Counts[vmm.Key{Cause: "priv/iret", Mech: vmm.MechEmulation}]
		if ints != n+1 || irets != n+1 {
			t.Errorf("n=%d: %d int/0x80 and %d priv/iret emulation exits, want %d each (n calls + SYS_DONE; n returns + the iret into ring 3)\n%s", n, ints, irets, n+1, r.Counts.Format())
		}
		if !strings.Contains(r.Serial, fmt.Sprintf("syscall: n=%d calls=%d", n, n)) {
			t.Errorf("serial: %s", r.Serial)
		}
	}
}

// Port I/O and hlt events carry the address of the instruction itself, as
// on the Unicorn machine, whatever RIP KVM reports (after an out or a hlt
// under PVM, at the instruction otherwise).
func TestIOEventPCsMatchNative(t *testing.T) {
	for _, name := range []string{"io", "hello", "timer"} {
		t.Run(name, func(t *testing.T) {
			img := load(t, name)
			k := runKVM(t, img, "n=3", vmm.Config{Trace: true})
			nat := runNative(t, img, "n=3", vmm.Config{Trace: true})
			io := func(tr []vmm.Event) []string {
				var out []string
				for _, e := range tr {
					if strings.HasPrefix(e.Cause, "io/") || e.Cause == vmm.CauseHLT {
						out = append(out, fmt.Sprintf("%s@%#x", e.Cause, e.PC))
					}
				}
				return out
			}
			a, b := io(k.Trace), io(nat.Trace)
			if name == "timer" {
				// Polls depend on the rate of guest time; compare the
				// distinct (cause, pc) pairs instead.
				a, b = distinct(a), distinct(b)
			}
			if strings.Join(a, " ") != strings.Join(b, " ") {
				t.Errorf("I/O events differ\nkvm:    %v\nnative: %v", a, b)
			}
		})
	}
}

func distinct(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// Single steps walk the same instructions as the machine model's.
func TestStepMatchesNative(t *testing.T) {
	for _, name := range []string{"hello", "syscall"} {
		t.Run(name, func(t *testing.T) {
			img := load(t, name)
			v := boot(t, img, vmm.Config{Args: "n=2"})
			s, _ := vmm.LookupStrategy("native")
			nat, err := s.New(img, vmm.Config{Args: "n=2", TimeBudget: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer nat.Close()
			disarm := watch(t, v, testWatchdog)
			defer disarm()
			spanned := 0
			for i := 0; i < 400; i++ {
				// mov to SS blocks the single-step trap on hardware
				// assist: one kvm step, two native ones (hwquirks.go).
				span := v.StepSpans(uint32(v.regs.RIP))
				ks, err := v.Step()
				if err != nil {
					t.Fatal(err)
				}
				failIfWatchdog(t, ks)
				var ns vmm.Stop
				for j := 0; j < span && ns.Kind == vmm.StopNone; j++ {
					if ns, err = nat.Step(); err != nil {
						t.Fatal(err)
					}
				}
				if span > 1 {
					spanned++
				}
				if ks.Kind != ns.Kind || ks.PC != ns.PC {
					t.Fatalf("step %d: kvm %s (%s), native %s", i, ks, v.Disasm(ks.PC), ns)
				}
				if ks.Kind != vmm.StopNone {
					break
				}
			}
			if name == "syscall" && v.Flavour.Hardware() && spanned == 0 {
				// syscall reloads SS at its 55th step (hello only after
				// its 400th); that step must have spanned.
				t.Errorf("no step spanned a mov to SS on %s", v.Flavour.Name)
			}
		})
	}
}

// RunToExit returns after each exit: as many calls as exits.
func TestRunToExit(t *testing.T) {
	img := load(t, "io")
	v := boot(t, img, vmm.Config{Args: "n=5"})
	disarm := watch(t, v, testWatchdog)
	defer disarm()
	calls := 0
	for {
		st, err := v.RunToExit()
		if err != nil {
			t.Fatal(err)
		}
		failIfWatchdog(t, st)
		calls++
		if st.Kind != vmm.StopNone {
			break
		}
		if calls > 10000 {
			t.Fatal("no end")
		}
	}
	r := v.Result()
	if r.Stop.Kind != vmm.StopExit || uint64(calls) != r.Exits {
		t.Errorf("%d calls for %d exits; stop %s", calls, r.Exits, r.Stop)
	}
}

// The in-kernel statistics are reported by name, beside the exits and not
// in them; the summary shows them and the flavour.
func TestStatsInResult(t *testing.T) {
	img := load(t, "io")
	r := runKVM(t, img, "n=17", vmm.Config{})
	for _, name := range []string{"kvm/exits", "kvm/io_exits", "kvm/halt_exits", "kvm/insn_emulation"} {
		if _, ok := r.Counters[name]; !ok {
			t.Errorf("counter %s missing: %v", name, r.Counters)
		}
	}
	var sum uint64
	for k, n := range r.Counts {
		if k.Mech.IsExit() {
			sum += n
		}
	}
	if r.Exits != sum {
		t.Errorf("Exits %d, events with exit mechanisms %d: something else was added in", r.Exits, sum)
	}
	if HostFlavour().Name == FlavourPVM && r.Counters["kvm/insn_emulation"] == 0 {
		t.Error("under PVM every guest instruction is emulated, yet kvm/insn_emulation is 0")
	}
	sum2 := r.Summary()
	if !strings.Contains(sum2, "under kvm ("+r.Flavour+")") || !strings.Contains(sum2, "kvm/exits=") {
		t.Errorf("summary lacks the flavour or the statistics:\n%s", sum2)
	}
}

// ---- small hand-assembled guests (flat binaries at 1 MiB) ----

const flatBase = 0x100000

func flat(t testing.TB, code []byte) *guest.Image {
	t.Helper()
	img, err := guest.LoadFlat(code, flatBase, vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	img.Name = "flat"
	return img
}

// timerSpinGuest programs the PIT for a periodic IRQ 0, enables interrupts
// and spins without any exit (`sti; jmp .`); its IRQ 0 handler writes 42
// to the debug-exit port.
func timerSpinGuest() []byte {
	code := make([]byte, 0x308)
	copy(code, []byte{
		0xBC, 0x00, 0x00, 0x09, 0x00, // mov $0x90000,%esp
		0x0F, 0x01, 0x1D, 0x00, 0x01, 0x10, 0x00, // lidt 0x100100
		0xB0, 0x11, 0xE6, 0x20, // ICW1
		0xB0, 0x20, 0xE6, 0x21, // ICW2: master base 0x20
		0xB0, 0x04, 0xE6, 0x21, // ICW3
		0xB0, 0x01, 0xE6, 0x21, // ICW4
		0xB0, 0xFE, 0xE6, 0x21, // OCW1: only IRQ 0
		0xB0, 0x34, 0xE6, 0x43, // PIT channel 0, mode 2
		0xB0, 0x00, 0xE6, 0x40, // count 0x1000
		0xB0, 0x10, 0xE6, 0x40,
		0xFB,       // sti
		0xEB, 0xFE, // jmp .
	})
	copy(code[0x30:], []byte{0xB0, 42, 0xE6, 0xF4, 0xEB, 0xFE}) // mov $42,%al; out %al,$0xf4; jmp .
	binary.LittleEndian.PutUint16(code[0x100:], 0x20*8+7)       // IDTR limit
	binary.LittleEndian.PutUint32(code[0x102:], flatBase+0x200)
	binary.LittleEndian.PutUint64(code[0x300:], x86.EncodeGate(x86.TypeIntGate32, bootCodeSel, flatBase+0x30, 0))
	return code
}

// A guest that waits for a timer interrupt without ever exiting still gets
// it: the clock kick (clock.go).
func TestClockKick(t *testing.T) {
	r := runKVM(t, flat(t, timerSpinGuest()), "", vmm.Config{})
	if r.Stop.Kind != vmm.StopExit || r.Stop.Status != 42 {
		t.Fatalf("stop %s", r.Stop)
	}
	if r.Counters["kvm-clock-kicks"] == 0 || r.Counts[vmm.Key{Cause: "irq/0", Mech: vmm.MechMachine}] != 1 {
		t.Errorf("counters %v\n%s", r.Counters, r.Counts.Format())
	}
}

func TestTimeBudgetStopsARunawayGuest(t *testing.T) {
	t0 := time.Now()
	r := runKVM(t, flat(t, []byte{0xEB, 0xFE}), "", vmm.Config{TimeBudget: 300 * time.Millisecond})
	if r.Stop.Kind != vmm.StopBudget || !strings.Contains(r.Stop.Reason, "time budget of 300ms exhausted") || r.Stop.PC != flatBase {
		t.Errorf("stop %+v", r.Stop)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Errorf("the budget stopped the guest only after %s", d)
	}
}

func TestAbortFromAnotherGoroutine(t *testing.T) {
	v := boot(t, flat(t, []byte{0xEB, 0xFE}), vmm.Config{TimeBudget: time.Minute})
	time.AfterFunc(200*time.Millisecond, func() { v.Abort("user pressed stop") })
	st, err := v.Run()
	if err != nil || st.Kind != vmm.StopBudget || st.Reason != "aborted: user pressed stop" {
		t.Errorf("stop %+v %v", st, err)
	}
}

func TestHaltWithInterruptsOff(t *testing.T) {
	r := runKVM(t, flat(t, []byte{0xFA, 0xF4}), "", vmm.Config{}) // cli; hlt
	if r.Stop.Kind != vmm.StopHalted || r.Stop.PC != flatBase+1 || !strings.Contains(r.Stop.Reason, "interrupts disabled") {
		t.Errorf("stop %+v", r.Stop)
	}
}

// A guest crash is a report: the cause, the registers, the instruction.
func TestCrashReports(t *testing.T) {
	for _, c := range []struct {
		name string
		code []byte
		why  string
		insn string
	}{
		// int $0x80 with the entry IDT (limit 0): #GP, #DF, shutdown.
		{"triple fault", []byte{0xB8, 0x11, 0x22, 0x33, 0x44, 0xCD, 0x80}, "triple fault", "int $0x80"},
		// A load from beyond guest RAM: no MMIO device answers.
		{"mmio", []byte{0xA1, 0x00, 0x00, 0x00, 0x02}, "read of 4 bytes at physical address 0x2000000: no RAM and no device there", "mov 0x2000000,%eax"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runKVM(t, flat(t, c.code), "", vmm.Config{})
			if c.name == "triple fault" && HostFlavour().Name == FlavourSVM {
				// AMD-V loses the state at a shutdown (hwquirks.go): the
				// report gives the entry, the first instruction.
				c.insn = "mov $0x44332211,%eax"
				if !strings.Contains(r.Stop.Reason, "registers at the fault are lost") || r.Stop.PC != flatBase {
					t.Errorf("stop %+v", r.Stop)
				}
			}
			if r.Stop.Kind != vmm.StopCrash || !strings.Contains(r.Stop.Reason, c.why) || !strings.Contains(r.Stop.Reason, "eip=") || !strings.Contains(r.Stop.Insn, c.insn) {
				t.Errorf("stop %+v", r.Stop)
			}
			t.Logf("%s", r.Stop)
		})
	}
}

// The strategy as the CLI runs it: two passes (counting, timing) that must
// agree, which they do because guest time counts exits.
func TestRunGuestTwoPassesAgree(t *testing.T) {
	requireKVM(t)
	s, err := vmm.LookupStrategy("kvm")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"timer", "syscall"} {
		res, err := vmm.RunGuest(s, load(t, name), vmm.Config{Args: "n=4", TimeBudget: 30 * time.Second}, true)
		if err != nil {
			t.Fatal(err)
		}
		if res.Stop.Kind != vmm.StopExit || res.Wall == 0 {
			t.Errorf("%s: stop %s wall %s", name, res.Stop, res.Wall)
		}
		pvm := res.Flavour == FlavourPVM
		if pvm != (res.Instructions > 0) {
			t.Errorf("%s on %s: %d instructions", name, res.Flavour, res.Instructions)
		}
		note := "not counted on kvm"
		if pvm {
			note = "counted by KVM's emulator under PVM"
		}
		found := false
		for _, n := range res.Notes {
			found = found || strings.Contains(n, note)
		}
		if !found {
			t.Errorf("%s: no note %q: %v", name, note, res.Notes)
		}
	}
}

// Closing a VM whose guest another goroutine is running stops the guest.
func TestCloseWhileRunning(t *testing.T) {
	requireKVM(t)
	v, err := New(flat(t, []byte{0xEB, 0xFE}), vmm.Config{TimeBudget: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan vmm.Stop)
	go func() {
		st, _ := v.Run()
		done <- st
	}()
	for !v.running.Load() {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	closed := make(chan error)
	go func() { closed <- v.Close() }()
	select {
	case st := <-done:
		if st.Kind != vmm.StopBudget || !strings.Contains(st.Reason, "closed") {
			t.Errorf("stop %+v", st)
		}
	case <-time.After(testWatchdog):
		t.Fatal("Close did not stop the running guest")
	}
	if err := <-closed; err != nil {
		t.Error(err)
	}
}

// Interrupt pauses a run in progress (the terminal UI's pause key), even
// one that makes no exit; it does not affect a run that starts later. The
// time budget counts only the time the guest ran.
func TestInterruptPauses(t *testing.T) {
	v := boot(t, flat(t, []byte{0xEB, 0xFE}), vmm.Config{TimeBudget: 2 * time.Second})
	disarm := watch(t, v, testWatchdog)
	defer disarm()
	timer := time.AfterFunc(100*time.Millisecond, v.Interrupt)
	defer timer.Stop()
	st, err := v.Run()
	if err != nil || st.Kind != vmm.StopNone || st.PC != flatBase {
		t.Fatalf("interrupted run: %+v %v", st, err)
	}
	v.Interrupt() // no run in progress: no effect
	time.Sleep(2 * time.Second)
	t0 := time.Now()
	st, err = v.Run()
	if err != nil || st.Kind != vmm.StopBudget || !strings.Contains(st.Reason, "time budget of 2s") {
		t.Fatalf("second run: %+v %v", st, err)
	}
	if d := time.Since(t0); d < time.Second {
		t.Errorf("the pause counted against the budget: the second run lasted only %s", d)
	}
}

// The disk workload's rep insw/outsw under KVM: how KVM hands string I/O
// to user space is reported as it happens (kvm-string-io-exits and
// -elements), and the output is native's.
func TestDiskStringIO(t *testing.T) {
	requireKVM(t)
	img := load(t, "disk")
	r := runKVM(t, img, "n=4", vmm.Config{})
	if !strings.Contains(r.Serial, "verify=ok") {
		t.Fatalf("serial: %s", r.Serial)
	}
	ex, el := r.Counters["kvm-string-io-exits"], r.Counters["kvm-string-io-elements"]
	t.Logf("string I/O: %d exits carried %d elements (%d words moved by rep insw/outsw in all)", ex, el, (1+3*4)*256)
	if el > 0 && el > ex*2048 {
		t.Errorf("%d elements in %d exits: more than a page per exit", el, ex)
	}
}

// kvmShadowLaw is, per iteration of a paging workload, what KVM's shadow
// MMU counts when the host has no nested paging (kvm_amd npt=0, kvm_intel
// ept=0): KVM's in-kernel counterpart of trap's shadow page tables.
// Measured in scripts/kvm-nested.sh with KVMNEST_KVMAMD="nested=0 npt=0".
var kvmShadowLaw = map[string]map[string]int{
	// A true fault reflected to the guest (pf_guest); the handler's PTE
	// write to a write-protected table, emulated (insn_emulation); its
	// invlpg, which exits; the hidden fault that fills the shadow entry
	// on the next touch (pf_fixed).
	"pgfault": {"kvm/pf_guest": 1, "kvm/insn_emulation": 1, "kvm/invlpg": 1, "kvm/pf_fixed": 1},
	// The PTE write (emulated), the invlpg, the hidden fault of the use.
	"ptemod": {"kvm/pf_guest": 0, "kvm/insn_emulation": 1, "kvm/invlpg": 1, "kvm/pf_fixed": 1},
	// A true fault only: the handler maps nothing.
	"pftrue": {"kvm/pf_guest": 1, "kvm/insn_emulation": 0, "kvm/invlpg": 0, "kvm/pf_fixed": 0},
}

func TestKVMShadowMMULaws(t *testing.T) {
	requireKVM(t)
	f := HostFlavour()
	if on, ok := nestedPaging(f); !f.Hardware() || !ok || on {
		t.Skipf("needs hardware assist without nested paging (flavour %q, nested paging %v, known %v): run with kvm_amd npt=0 or kvm_intel ept=0 "+
			"(make test-kvm-nested does, in its second boot)", f.Name, on, ok)
	}
	for name, law := range kvmShadowLaw {
		t.Run(name, func(t *testing.T) {
			img := load(t, name)
			a := runKVM(t, img, "n=10", vmm.Config{})
			b := runKVM(t, img, "n=20", vmm.Config{})
			for c, want := range law {
				if d := int(b.Counters[c]) - int(a.Counters[c]); d != 10*want {
					t.Errorf("%s(20)-%s(10) = %d, want 10×%d\nn=10: %v\nn=20: %v", c, c, d, want, a.Counters, b.Counters)
				}
			}
			if b.Counters[CounterNestedPaging] != 0 {
				t.Errorf("%s = %d without nested paging", CounterNestedPaging, b.Counters[CounterNestedPaging])
			}
		})
	}
}
