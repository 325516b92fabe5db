package hwassist

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// DevKVM is the KVM device.
const DevKVM = "/dev/kvm"

// Flavours of KVM (Result.Flavour).
const (
	FlavourPVM = "pvm" // kvm_pvm: a software hypervisor (shadow paging, a paravirtual switcher)
	FlavourVMX = "vmx" // kvm_intel: Intel VT-x
	FlavourSVM = "svm" // kvm_amd: AMD-V
)

// FlavourInfo says what KVM is underneath and how it was told.
type FlavourInfo struct {
	Name   string // "pvm", "vmx", "svm", or "" when no KVM module was found
	Module string // the kernel module that provides /dev/kvm
	// CPUFlag is the virtualization flag /proc/cpuinfo shows ("vmx",
	// "svm"), "" when the CPU has none (as under PVM on these machines).
	CPUFlag string
	Why     string // one line: how the flavour was detected
	// Host is where KVM itself runs (nesting.go): HostBare, HostNested,
	// HostTCG or HostVM; HostWhy says it for people.
	Host, HostWhy string
}

// Hardware reports whether the guest runs in the CPU's guest mode.
func (f FlavourInfo) Hardware() bool { return f.Name == FlavourVMX || f.Name == FlavourSVM }

// Describe is the flavour for people.
func (f FlavourInfo) Describe() string {
	switch f.Name {
	case FlavourPVM:
		return "PVM (kvm_pvm: software virtualization; KVM's in-kernel emulator runs every 32-bit guest instruction)"
	case FlavourVMX:
		return "VT-x (kvm_intel: hardware-assisted)" + f.hostNote()
	case FlavourSVM:
		return "AMD-V (kvm_amd: hardware-assisted)" + f.hostNote()
	}
	return "unknown"
}

// Emulated reports whether the hardware assist is itself emulated (QEMU's
// TCG): exit counts are real, times are not.
func (f FlavourInfo) Emulated() bool { return f.Hardware() && f.Host == HostTCG }

func (f FlavourInfo) hostNote() string {
	if f.HostWhy == "" {
		return ""
	}
	return "; " + f.HostWhy
}

// detectFlavour decides the flavour from the facts a host shows: which KVM
// modules are loaded (present under /sys/module) and the CPU's
// virtualization flag. It is pure so that every combination is testable.
func detectFlavour(modules map[string]bool, cpuFlags []string) FlavourInfo {
	var flag string
	for _, f := range cpuFlags {
		if f == "vmx" || f == "svm" {
			flag = f
			break
		}
	}
	switch {
	case modules["kvm_pvm"]:
		return FlavourInfo{Name: FlavourPVM, Module: "kvm_pvm", CPUFlag: flag,
			Why: "module kvm_pvm is loaded: KVM runs as PVM, a software hypervisor"}
	case modules["kvm_intel"]:
		return FlavourInfo{Name: FlavourVMX, Module: "kvm_intel", CPUFlag: flag,
			Why: "module kvm_intel is loaded (cpu flag " + orNone(flag) + ")"}
	case modules["kvm_amd"]:
		return FlavourInfo{Name: FlavourSVM, Module: "kvm_amd", CPUFlag: flag,
			Why: "module kvm_amd is loaded (cpu flag " + orNone(flag) + ")"}
	case flag == "vmx":
		return FlavourInfo{Name: FlavourVMX, CPUFlag: flag, Why: "no KVM vendor module under /sys/module; the CPU has vmx (KVM built into the kernel?)"}
	case flag == "svm":
		return FlavourInfo{Name: FlavourSVM, CPUFlag: flag, Why: "no KVM vendor module under /sys/module; the CPU has svm (KVM built into the kernel?)"}
	}
	return FlavourInfo{Why: "no kvm_pvm, kvm_intel or kvm_amd module, and no vmx or svm CPU flag"}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// HostFlavour detects the flavour of KVM on this host.
func HostFlavour() FlavourInfo {
	mods := map[string]bool{}
	for _, m := range []string{"kvm_pvm", "kvm_intel", "kvm_amd"} {
		if _, err := os.Stat("/sys/module/" + m); err == nil {
			mods[m] = true
		}
	}
	var flags []string
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
				flags = strings.Fields(v)
				break
			}
		}
	}
	f := detectFlavour(mods, flags)
	f.Host, f.HostWhy = readHost(flags)
	return f
}

// ErrUnavailable is wrapped by every error that says KVM cannot be used here.
var ErrUnavailable = errors.New("kvm unavailable")

// unavailable builds the error Available returns: the cause and the fix.
func unavailable(cause, fix string) error {
	return fmt.Errorf("%w: %s; %s", ErrUnavailable, cause, fix)
}

// openErr explains a failure to open /dev/kvm.
func openErr(err error, f FlavourInfo) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		fix := "load KVM (modprobe kvm_intel or kvm_amd) on a host with VT-x or AMD-V enabled in the firmware, or run on a machine that provides /dev/kvm"
		if f.CPUFlag == "" && f.Module == "" {
			fix = "this CPU shows no vmx or svm flag: run on a host with hardware virtualization (or nested virtualization) enabled, or load a KVM module such as kvm_pvm"
		}
		if f.Module != "" {
			// The module is there but the device is not: a container
			// or sandbox that does not pass /dev/kvm through.
			return unavailable(DevKVM+" does not exist although "+f.Module+" is loaded (a container that does not pass the device through?)",
				"give this environment /dev/kvm (e.g. docker run --device /dev/kvm) or run on the host")
		}
		return unavailable(DevKVM+" does not exist (no KVM module loaded)", fix)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return unavailable("permission denied opening "+DevKVM, "add your user to the group that owns it (usually kvm: sudo usermod -aG kvm $USER, then log in again) or run as root")
	case errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
		return unavailable(DevKVM+" exists but no KVM driver answers ("+err.Error()+")", "load the KVM vendor module (kvm_intel, kvm_amd or kvm_pvm)")
	}
	return unavailable("cannot open "+DevKVM+": "+err.Error(), "check that KVM is loaded and usable by this user")
}

// probe checks, once per process, that KVM can run a virtsim guest: the
// device opens, speaks API version 12, has the capabilities this package
// needs, and creates a VM with a vCPU.
var probe = sync.OnceValue(func() error {
	fl := HostFlavour()
	fd, err := unix.Open(DevKVM, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return openErr(err, fl)
	}
	defer unix.Close(fd)
	v, err := ioctlInt(fd, kvmGetAPIVersion, 0)
	if err != nil {
		return unavailable("KVM_GET_API_VERSION failed: "+err.Error(), "the device at "+DevKVM+" is not KVM")
	}
	if v != kvmAPIVersion {
		return unavailable(fmt.Sprintf("KVM_GET_API_VERSION is %d, want %d", v, kvmAPIVersion), "use a kernel whose KVM speaks the stable API (every Linux since 2.6.22)")
	}
	for _, c := range []struct {
		cap  uintptr
		name string
	}{
		{capUserMemory, "KVM_CAP_USER_MEMORY"},
		{capExtCPUID, "KVM_CAP_EXT_CPUID"},
		{capImmediateExit, "KVM_CAP_IMMEDIATE_EXIT"},
		{capSetGuestDebug, "KVM_CAP_SET_GUEST_DEBUG"},
	} {
		if n, err := ioctlInt(fd, kvmCheckExtension, c.cap); err != nil || n <= 0 {
			return unavailable("KVM lacks "+c.name, "use a newer kernel (virtsim needs Linux 4.11 or later)")
		}
	}
	vm, err := ioctlInt(fd, kvmCreateVM, 0)
	if err != nil {
		return unavailable("KVM_CREATE_VM failed: "+err.Error(), "another hypervisor may own the virtualization extensions, or they are disabled in the firmware ("+fl.Why+")")
	}
	defer unix.Close(vm)
	vcpu, err := ioctlInt(vm, kvmCreateVCPU, 0)
	if err != nil {
		return unavailable("KVM_CREATE_VCPU failed: "+err.Error(), "check the kernel log (dmesg) for KVM errors")
	}
	unix.Close(vcpu)
	return nil
})

// Available reports whether the kvm strategy can run here, and if not,
// the cause and the fix.
func Available() error { return probe() }

// ioctlInt issues an ioctl with an integer argument and returns its result.
func ioctlInt(fd int, req, arg uintptr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, arg)
	if errno != 0 {
		return int(r), errno
	}
	return int(r), nil
}
