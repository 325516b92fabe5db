package vmm

import "virtsim/vmm/unicorn"

// MSRInfo describes a model-specific register the virtual CPU implements.
type MSRInfo struct {
	Index uint32
	Name  string
	Reset uint64 // the value rdmsr returns until the guest writes it
	// WriteIgnored: wrmsr is accepted and changes nothing (QEMU's qemu32
	// drops writes to these; no #GP).
	WriteIgnored bool
}

// MSRs is the virtual CPU's MSR table, modelled on QEMU's qemu32 (the CPU
// model of DESIGN.md section 1): each value is what QEMU 7.2 TCG -cpu
// qemu32 returns after reset (difftest's corpus guests `privileged` and
// `msr` read them under QEMU and every strategy). trap and bt emulate
// rdmsr and wrmsr from it; the machine itself answers those of
// unicornMSRs at their sites (msrSite).
var MSRs = []MSRInfo{
	{0x10, "IA32_TIME_STAMP_COUNTER", 0, false},
	{0x1B, "IA32_APIC_BASE", 0xFEE00900, false}, // BSP, global enable, default base
	{0x3A, "IA32_FEATURE_CONTROL", 0, false},
	{0x8B, "IA32_BIOS_SIGN_ID", 0x100000000, true}, // QEMU's microcode revision for TCG
	{0xFE, "IA32_MTRRCAP", 0, true},                // qemu32 has no MTRRs (CPUID.1:EDX.MTRR clear)
	{0x174, "IA32_SYSENTER_CS", 0, false},
	{0x175, "IA32_SYSENTER_ESP", 0, false},
	{0x176, "IA32_SYSENTER_EIP", 0, false},
	{0x179, "IA32_MCG_CAP", 0, true},
	{0x17A, "IA32_MCG_STATUS", 0, false},
	{0x1A0, "IA32_MISC_ENABLE", 1, false}, // fast strings
	{0x277, "IA32_PAT", 0x0007040600070406, false},
	{0x2FF, "IA32_MTRR_DEF_TYPE", 0, false},
	{0xC0000080, "IA32_EFER", 0, false},
}

var msrByIndex = func() map[uint32]MSRInfo {
	t := make(map[uint32]MSRInfo, len(MSRs))
	for _, m := range MSRs {
		t[m.Index] = m
	}
	return t
}()

// MSRFor looks an MSR up in the table.
func MSRFor(idx uint32) (MSRInfo, bool) {
	m, ok := msrByIndex[idx]
	return m, ok
}

// unicornMSRs are the MSRs Unicorn's own CPU model answers otherwise than
// qemu32 (APIC base 0, MTRRCAP 0x508, BIOS_SIGN_ID 0x1000065,
// MCG_CAP 0x100010a, MISC_ENABLE 0): the machine serves rdmsr and wrmsr
// of these itself, so that native is qemu32 too. The others (the SYSENTER
// MSRs the CPU uses, PAT, EFER, ...) stay Unicorn's, which agrees.
var unicornMSRs = map[uint32]bool{0x1B: true, 0x8B: true, 0xFE: true, 0x179: true, 0x1A0: true}

// msrSite performs rdmsr or wrmsr (write) at pc when it names one of
// unicornMSRs, at CPL 0, under the machine's own paging (native: a VMM
// emulates MSRs itself), reporting whether it did. Nothing is recorded:
// on hardware an MSR access is no event. Only instructions found by the
// site sweep come here: an rdmsr in code the guest makes at run time gets
// Unicorn's value.
func (m *Machine) msrSite(pc uint32, write bool) bool {
	if !m.nativeMMU || m.reg(unicorn.CS)&3 != 0 {
		return false // a VMM's business, or the CPU's #GP
	}
	idx := m.reg(unicorn.ECX)
	if !unicornMSRs[idx] {
		return false
	}
	info, _ := MSRFor(idx)
	if write {
		if info.WriteIgnored {
			m.Complete(pc + 2)
			return true
		}
		if m.msrs == nil {
			m.msrs = map[uint32]uint64{}
		}
		m.msrs[idx] = uint64(m.reg(unicorn.EDX))<<32 | uint64(m.reg(unicorn.EAX))
	} else {
		v, ok := m.msrs[idx]
		if !ok {
			v = info.Reset
		}
		m.setRegs([]unicorn.Reg{unicorn.EAX, unicorn.EDX}, []uint32{uint32(v), uint32(v >> 32)})
	}
	m.Complete(pc + 2)
	return true
}
