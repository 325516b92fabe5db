package hwassist

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"virtsim/guest"
	"virtsim/hwassist/internal/kvmc"
	"virtsim/vmm"
)

func TestDetectFlavour(t *testing.T) {
	for _, c := range []struct {
		mods  []string
		flags string
		want  string
		hw    bool
	}{
		{[]string{"kvm_pvm"}, "fpu sse hypervisor", FlavourPVM, false},
		{[]string{"kvm_pvm", "kvm_intel"}, "vmx", FlavourPVM, false}, // kvm_pvm provides /dev/kvm when loaded
		{[]string{"kvm_intel"}, "fpu vmx sse", FlavourVMX, true},
		{[]string{"kvm_amd"}, "svm", FlavourSVM, true},
		{nil, "fpu vmx", FlavourVMX, true},
		{nil, "svm lm", FlavourSVM, true},
		{nil, "fpu sse hypervisor", "", false},
	} {
		mods := map[string]bool{}
		for _, m := range c.mods {
			mods[m] = true
		}
		f := detectFlavour(mods, strings.Fields(c.flags))
		if f.Name != c.want || f.Hardware() != c.hw || f.Why == "" {
			t.Errorf("modules %v flags %q: %+v, want %q (hardware %v)", c.mods, c.flags, f, c.want, c.hw)
		}
	}
}

func TestHostFlavourMatchesThisMachine(t *testing.T) {
	f := HostFlavour()
	t.Logf("flavour %q: %s (%s)", f.Name, f.Describe(), f.Why)
	if Available() == nil && f.Name == "" {
		t.Error("KVM works here but no flavour was detected")
	}
}

// The causes named in Available's errors, and their fixes.
func TestOpenErrNamesCauseAndFix(t *testing.T) {
	for _, c := range []struct {
		err   error
		cause string
		fix   string
	}{
		{unix.ENOENT, "does not exist", "modprobe"},
		{unix.EACCES, "permission denied", "kvm"},
		{unix.ENXIO, "no KVM driver", "load the KVM vendor module"},
		{unix.EIO, "cannot open", "check"},
	} {
		err := openErr(c.err, FlavourInfo{CPUFlag: "vmx"})
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), c.cause) || !strings.Contains(err.Error(), c.fix) {
			t.Errorf("%v: %v", c.err, err)
		}
	}
	if err := openErr(unix.ENOENT, FlavourInfo{}); !strings.Contains(err.Error(), "no vmx or svm flag") {
		t.Errorf("no virtualization flag: %v", err)
	}
}

// TestABIMatchesKernelHeader compares every ioctl number, constant, size
// and offset hwassist mirrors with <linux/kvm.h> itself (through cgo).
func TestABIMatchesKernelHeader(t *testing.T) {
	c := kvmc.Values()
	for name, got := range map[string]uint64{
		"KVM_GET_API_VERSION": uint64(kvmGetAPIVersion), "KVM_CREATE_VM": uint64(kvmCreateVM),
		"KVM_CHECK_EXTENSION": uint64(kvmCheckExtension), "KVM_GET_VCPU_MMAP_SIZE": uint64(kvmGetVCPUMmapSize),
		"KVM_CREATE_VCPU": uint64(kvmCreateVCPU), "KVM_SET_USER_MEMORY_REGION": uint64(kvmSetUserMemoryRegion),
		"KVM_SET_TSS_ADDR": uint64(kvmSetTSSAddr), "KVM_RUN": uint64(kvmRun),
		"KVM_GET_REGS": uint64(kvmGetRegs), "KVM_SET_REGS": uint64(kvmSetRegs),
		"KVM_GET_SREGS": uint64(kvmGetSregs), "KVM_SET_SREGS": uint64(kvmSetSregs),
		"KVM_TRANSLATE": uint64(kvmTranslate), "KVM_INTERRUPT": uint64(kvmInterrupt),
		"KVM_SET_CPUID2": uint64(kvmSetCPUID2), "KVM_GET_CPUID2": uint64(kvmGetCPUID2),
		"KVM_SET_GUEST_DEBUG": uint64(kvmSetGuestDebug), "KVM_GET_VCPU_EVENTS": uint64(kvmGetVCPUEvents),
		"KVM_GET_STATS_FD": uint64(kvmGetStatsFD), "KVM_ENABLE_CAP": uint64(kvmEnableCapIoctl),
		"KVM_EXIT_IO": exitIO, "KVM_EXIT_HLT": exitHLT, "KVM_EXIT_MMIO": exitMMIO,
		"KVM_EXIT_IRQ_WINDOW_OPEN": exitIRQWindowOpen, "KVM_EXIT_SHUTDOWN": exitShutdown,
		"KVM_EXIT_FAIL_ENTRY": exitFailEntry, "KVM_EXIT_INTR": exitIntr,
		"KVM_EXIT_INTERNAL_ERROR": exitInternalError, "KVM_EXIT_DEBUG": exitDebug,
		"KVM_EXIT_SYSTEM_EVENT": exitSystemEvent, "KVM_INTERNAL_ERROR_EMULATION": internalEmulation,
		"KVM_GUESTDBG_ENABLE": guestDbgEnable, "KVM_GUESTDBG_SINGLESTEP": guestDbgSingleStep,
		"KVM_GUESTDBG_USE_SW_BP": guestDbgUseSWBP, "KVM_SYNC_X86_REGS": syncX86Regs,
		"KVM_SYNC_X86_SREGS": syncX86Sregs, "KVM_SYNC_X86_EVENTS": syncX86Events,
		"KVM_CAP_SYNC_REGS": capSyncRegs, "KVM_CAP_IMMEDIATE_EXIT": capImmediateExit,
		"KVM_CAP_BINARY_STATS_FD": capBinaryStatsFD, "KVM_CAP_EXIT_ON_EMULATION_FAILURE": capExitOnEmulationFailure,
		"KVM_CPUID_FLAG_SIGNIFCANT_INDEX": cpuidFlagSignifcantIdx,
		"sizeof(kvm_regs)":                sizeofRegs, "sizeof(kvm_sregs)": sizeofSregs, "sizeof(kvm_segment)": 24,
		"sizeof(kvm_dtable)": 16, "sizeof(kvm_cpuid_entry2)": 40, "sizeof(kvm_guest_debug)": sizeofGuestDebug,
		"sizeof(kvm_vcpu_events)": sizeofVCPUEvents, "sizeof(kvm_translation)": sizeofTranslation,
		"sizeof(kvm_enable_cap)": sizeofEnableCap, "sizeof(kvm_userspace_memory_region)": sizeofMemoryRegion,
		"sizeof(kvm_stats_header)": sizeofStatsHeader, "sizeof(kvm_stats_desc)": statsDescFixedSize,
		"offsetof(kvm_run,request_interrupt_window)":      runRequestInterruptWindow,
		"offsetof(kvm_run,immediate_exit)":                runImmediateExit,
		"offsetof(kvm_run,exit_reason)":                   runExitReason,
		"offsetof(kvm_run,ready_for_interrupt_injection)": runReadyForInjection,
		"offsetof(kvm_run,if_flag)":                       runIFFlag,
		"offsetof(kvm_run,io)":                            runExit,
		"offsetof(kvm_run,io.data_offset)":                runExit + ioDataOffset,
		"offsetof(kvm_run,io.count)":                      runExit + ioCount,
		"offsetof(kvm_run,io.port)":                       runExit + ioPort,
		"offsetof(kvm_run,mmio.len)":                      runExit + mmioLen,
		"offsetof(kvm_run,mmio.is_write)":                 runExit + mmioIsWrite,
		"offsetof(kvm_run,internal.data)":                 runExit + internalData,
		"offsetof(kvm_run,debug.arch.pc)":                 runExit + debugPC,
		"offsetof(kvm_run,kvm_valid_regs)":                runValidRegs,
		"offsetof(kvm_run,kvm_dirty_regs)":                runDirtyRegs,
		"offsetof(kvm_run,s)":                             runSyncRegs,
		"offsetof(kvm_sregs,cs)":                          sregsCS,
		"offsetof(kvm_sregs,cr0)":                         sregsCR0,
		"offsetof(kvm_sregs,cr3)":                         sregsCR3,
		"offsetof(kvm_sregs,cr4)":                         sregsCR4,
		"offsetof(kvm_run,mmio.data)":                     runExit + mmioData,
		"offsetof(kvm_segment,selector)":                  12,
		"offsetof(kvm_segment,unusable)":                  22,
		"offsetof(kvm_vcpu_events,interrupt.shadow)":      eventsInterruptShadow,
		"offsetof(kvm_sync_regs,sregs)":                   runSyncSregs - runSyncRegs,
		"offsetof(kvm_sync_regs,events)":                  runSyncEvents - runSyncRegs,
	} {
		want, ok := c[name]
		if !ok {
			t.Errorf("%s: not in the C table", name)
			continue
		}
		if got != want {
			t.Errorf("%s = %#x in Go, %#x in <linux/kvm.h>", name, got, want)
		}
	}
}

func TestBuildCPUIDFromModel(t *testing.T) {
	c, err := buildCPUID(vmm.CPUID)
	if err != nil {
		t.Fatal(err)
	}
	// qemu32: leaves 0-4 and 0x80000000-0x80000004, leaf 4 by index
	// (its four caches).
	if c.NEnt != 13 {
		t.Errorf("%d entries, want 13", c.NEnt)
	}
	for _, e := range c.Entries[:c.NEnt] {
		want := vmm.CPUID(e.Function, e.Index)
		if [4]uint32{e.EAX, e.EBX, e.ECX, e.EDX} != want {
			t.Errorf("leaf %#x.%d = %x, model says %x", e.Function, e.Index, e, want)
		}
		if (e.Flags&cpuidFlagSignifcantIdx != 0) != (e.Function == 4) {
			t.Errorf("leaf %#x flags %#x", e.Function, e.Flags)
		}
	}
}

func TestCPUIDDiff(t *testing.T) {
	set, _ := buildCPUID(vmm.CPUID)
	same := *set
	if d := cpuidDiff(set, &same); len(d) != 0 {
		t.Errorf("identical tables differ: %v", d)
	}
	got := *set
	got.Entries[1].ECX = 0xf6d81203 // PVM's leaf 1
	got.Entries[got.NEnt] = kvmCPUIDEntry2{Function: 0xd}
	got.NEnt++
	d := cpuidDiff(set, &got)
	if len(d) != 2 || d[0] != "leaf 0x1.0 ecx 0x80000001→0xf6d81203" || d[1] != "added leaves 0xd.0" {
		t.Errorf("diff %v", d)
	}
}

// The sweep finds exactly the cpuid instructions objdump shows.
func TestCPUIDSitesOfTheCPUIDWorkload(t *testing.T) {
	w, err := guest.Lookup("cpuid")
	if err != nil {
		t.Fatal(err)
	}
	img, err := w.Load(vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%x", cpuidSites(img))
	if _, err := exec.LookPath("objdump"); err == nil {
		out, err := exec.Command("objdump", "-d", "--no-show-raw-insn", "../guest/images/cpuid.elf").Output()
		if err != nil {
			t.Fatal(err)
		}
		var want []uint32
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && f[1] == "cpuid" {
				var a uint32
				fmt.Sscanf(strings.TrimSuffix(f[0], ":"), "%x", &a)
				want = append(want, a)
			}
		}
		if got != fmt.Sprintf("%x", want) {
			t.Errorf("sites %s, objdump %x", got, want)
		}
	}
	for _, name := range []string{"io", "syscall", "hello"} {
		w, _ := guest.Lookup(name)
		img, _ := w.Load(vmm.DefaultMemSize)
		if s := cpuidSites(img); len(s) != 0 {
			t.Errorf("%s has no cpuid, sweep found %x", name, s)
		}
	}
}

// `virtsim list` names a KVM flavour only where KVM can run: a loaded
// module without a usable /dev/kvm is not "here".
func TestDescriptionNamesFlavourOnlyWhereAvailable(t *testing.T) {
	d := description()
	if err := Available(); err != nil && strings.Contains(d, "here:") {
		t.Errorf("KVM is unavailable (%v), yet the description says %q", err, d)
	}
	if Available() == nil && HostFlavour().Name != "" && !strings.Contains(d, "here: "+HostFlavour().Describe()) {
		t.Errorf("KVM runs here as %s, yet the description says %q", HostFlavour().Name, d)
	}
}

// Where KVM runs, from what the rig (scripts/kvm-nested.sh), this
// project's PVM machines and bare metal show.
func TestDetectHost(t *testing.T) {
	for _, c := range []struct {
		flags, vendor, clocks string
		want                  string
	}{
		{"fpu svm npt", "", "tsc hpet acpi_pm", HostBare},
		{"fpu lahf_lm hypervisor svm npt", "QEMU\n", "tsc hpet acpi_pm", HostTCG}, // the rig
		{"fpu hypervisor", "", "kvm-clock", HostNested},                           // the PVM machines (no DMI)
		{"vmx hypervisor", "QEMU", "kvm-clock tsc hpet acpi_pm", HostNested},      // QEMU with KVM below
		{"vmx hypervisor", "Microsoft Corporation", "hyperv_clocksource_tsc_page acpi_pm", HostVM},
	} {
		kind, why := detectHost(strings.Fields(c.flags), c.vendor, c.clocks)
		if kind != c.want || (kind != HostBare) != (why != "") {
			t.Errorf("flags %q vendor %q clocks %q: %q (%s), want %q", c.flags, c.vendor, c.clocks, kind, why, c.want)
		}
	}
	f := FlavourInfo{Name: FlavourSVM, Host: HostTCG, HostWhy: "emulated"}
	if !f.Emulated() || !strings.HasPrefix(f.Describe(), "AMD-V (kvm_amd: hardware-assisted); emulated") {
		t.Errorf("%v %q", f.Emulated(), f.Describe())
	}
	if (FlavourInfo{Name: FlavourPVM, Host: HostTCG}).Emulated() {
		t.Error("PVM is not emulated hardware assist")
	}
}

func TestParseTDP(t *testing.T) {
	for in, want := range map[string][2]bool{"Y\n": {true, true}, "N\n": {false, true}, "1": {true, true}, "0\n": {false, true}, "": {false, false}, "maybe": {false, false}} {
		on, ok := parseTDP(in)
		if on != want[0] || ok != want[1] {
			t.Errorf("parseTDP(%q) = %v, %v; want %v, %v", in, on, ok, want[0], want[1])
		}
	}
}
