package trap

// MSRInfo describes a model-specific register the virtual CPU implements.
type MSRInfo struct {
	Index    uint32
	Name     string
	Reset    uint64 // the value rdmsr returns until the guest writes it
	ReadOnly bool
}

// MSRs is the virtual CPU's MSR table, modelled on QEMU's qemu32 (the CPU
// model of DESIGN.md section 1): each value is what QEMU 7.2 TCG -cpu
// qemu32 returns after reset (difftest's corpus guest `privileged` reads
// them all under QEMU and every strategy). rdmsr and wrmsr of an index that is
// neither here nor already in VCPU.MSR raise #GP(0), as hardware does for
// an unimplemented MSR; a VMM may preload VCPU.MSR to add its own.
var MSRs = []MSRInfo{
	{0x10, "IA32_TIME_STAMP_COUNTER", 0, false},
	{0x1B, "IA32_APIC_BASE", 0xFEE00900, false}, // BSP, global enable, default base
	{0x3A, "IA32_FEATURE_CONTROL", 0, false},
	{0x8B, "IA32_BIOS_SIGN_ID", 0x100000000, false}, // QEMU's microcode revision for TCG
	{0xFE, "IA32_MTRRCAP", 0, true},                 // qemu32 has no MTRRs (CPUID.1:EDX.MTRR clear)
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
