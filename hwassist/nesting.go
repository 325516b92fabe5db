package hwassist

import (
	"os"
	"strings"
)

// Where KVM itself runs. A host that is a virtual machine runs KVM nested:
// its VMX or SVM instructions are either virtualized by the hypervisor
// below (nested virtualization: still hardware, with extra exits below) or,
// under QEMU without KVM (TCG), emulated instruction by instruction — the
// rig scripts/kvm-nested.sh builds on a machine without hardware assist.
// KVM's exits and counters are real in both cases; only in the second are
// times meaningless, and the hardware is QEMU's model of it. The flavour
// (vmx, svm) and the goldens do not change: KVM behaves the same.

// Host kinds (FlavourInfo.Host).
const (
	HostBare   = ""         // the CPU shows no hypervisor
	HostNested = "nested"   // a virtual machine with KVM below it (kvm-clock)
	HostTCG    = "qemu-tcg" // a QEMU machine with no KVM below it: the CPU is emulated
	HostVM     = "vm"       // some other virtual machine
)

// detectHost decides where KVM runs from the CPU flags, the firmware's
// system vendor (/sys/class/dmi/id/sys_vendor) and the clock sources the
// kernel can use: a hypervisor flag with kvm-clock is a KVM guest; without
// it, on QEMU's firmware, QEMU's TCG. It returns the kind and one line for
// people.
func detectHost(cpuFlags []string, sysVendor, clocksources string) (kind, why string) {
	hv := false
	for _, f := range cpuFlags {
		hv = hv || f == "hypervisor"
	}
	vendor := strings.TrimSpace(sysVendor)
	switch {
	case !hv:
		return HostBare, ""
	case strings.Contains(" "+clocksources+" ", " kvm-clock "):
		return HostNested, "this host is itself a KVM guest (kvm-clock): nested virtualization, exits below it unseen"
	case vendor == "QEMU":
		return HostTCG, "this host is a QEMU machine without KVM below it (no kvm-clock): QEMU's TCG emulates the CPU, its virtualization " +
			"extensions included; exit counts are real, times are not"
	}
	if vendor == "" {
		vendor = "unknown vendor"
	}
	return HostVM, "this host is a virtual machine (" + vendor + ")"
}

// readHost reads detectHost's inputs on this machine.
func readHost(cpuFlags []string) (kind, why string) {
	vendor, _ := os.ReadFile("/sys/class/dmi/id/sys_vendor")
	cs, _ := os.ReadFile("/sys/devices/system/clocksource/clocksource0/available_clocksource")
	return detectHost(cpuFlags, string(vendor), strings.TrimSpace(string(cs)))
}

// CounterNestedPaging is the Result counter that says whether KVM used
// nested paging (EPT on VT-x, NPT on AMD-V) for the run: 1 yes, 0 no
// (KVM's shadow MMU); absent when it could not be told (PVM, or no module
// parameter to read). With it a guest's page faults, CR3 loads and invlpg
// never leave guest mode; without it they exit to KVM, which shadows the
// guest's page tables as trap does in user space.
const CounterNestedPaging = "kvm-nested-paging"

// parseTDP reads a kvm_intel ept or kvm_amd npt module parameter ("Y",
// "N", "1", "0").
func parseTDP(param string) (on, ok bool) {
	switch strings.TrimSpace(param) {
	case "Y", "y", "1":
		return true, true
	case "N", "n", "0":
		return false, true
	}
	return false, false
}

// nestedPaging reads whether this host's KVM uses nested paging, from the
// vendor module's parameter (ok false when there is none to read).
func nestedPaging(f FlavourInfo) (on, ok bool) {
	var p string
	switch f.Name {
	case FlavourVMX:
		p = "/sys/module/kvm_intel/parameters/ept"
	case FlavourSVM:
		p = "/sys/module/kvm_amd/parameters/npt"
	default:
		return false, false
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return false, false
	}
	return parseTDP(string(b))
}
