package vmm

// The CPU model every strategy shows the guest, modelled on QEMU's qemu32
// (`-cpu qemu32`, QEMU 7.2 TCG), so that output depending on CPUID is the
// same under virtsim and under the QEMU oracle. The values were read from
// QEMU by the cpuid workload, and the oracle test (TestNativeMatchesQEMU)
// checks them against QEMU on every run.

type cpuidKey struct{ leaf, sub uint32 }

// cpuidTable: leaf (and subleaf for leaf 4) → EAX, EBX, ECX, EDX, as
// QEMU 7.2 answers for `-cpu qemu32` under TCG. Only values read from QEMU
// are modelled: leaf 4 describes QEMU's four caches (subleaves 0-3: L1
// data, L1 instruction, L2, L3) and reports "no more caches" beyond them.
var cpuidTable = map[cpuidKey][4]uint32{
	{0x00000000, 0}: {0x00000004, 0x756e6547, 0x6c65746e, 0x49656e69}, // max leaf 4, "GenuineIntel"
	{0x00000001, 0}: {0x00000663, 0x00000800, 0x80000001, 0x0781abfd}, // family 6 model 6 stepping 3; SSE3, hypervisor; PPro features
	{0x00000002, 0}: {0x00000001, 0x00000000, 0x0000004d, 0x002c307d}, // cache descriptors
	{0x00000003, 0}: {0x00000000, 0x00000000, 0x00000000, 0x00000000},
	{0x00000004, 0}: {0x00000121, 0x01c0003f, 0x0000003f, 0x00000001}, // L1d: 32 KiB, 8-way, 64-byte lines
	{0x00000004, 1}: {0x00000122, 0x01c0003f, 0x0000003f, 0x00000001}, // L1i: 32 KiB, 8-way
	{0x00000004, 2}: {0x00000143, 0x03c0003f, 0x00000fff, 0x00000001}, // L2: 4 MiB, 16-way
	{0x00000004, 3}: {0x00000163, 0x03c0003f, 0x00003fff, 0x00000006}, // L3: 16 MiB, 16-way, inclusive
	{0x80000000, 0}: {0x80000004, 0x756e6547, 0x6c65746e, 0x49656e69}, // max extended leaf
	{0x80000001, 0}: {0x00000663, 0x00000000, 0x00000000, 0x00000000},
	{0x80000002, 0}: {0x554d4551, 0x72695620, 0x6c617574, 0x55504320}, // "QEMU Virtual CPU"
	{0x80000003, 0}: {0x72657620, 0x6e6f6973, 0x352e3220, 0x0000002b}, // " version 2.5+"
	{0x80000004, 0}: {0x00000000, 0x00000000, 0x00000000, 0x00000000},
}

// cpuidSubleafed lists the leaves whose result depends on ECX.
var cpuidSubleafed = map[uint32]bool{4: true}

// CPUID returns the model's answer for leaf/subleaf. Leaves above the
// maximum basic or extended leaf answer as the highest basic leaf does,
// as Intel CPUs (and QEMU) do.
func CPUID(leaf, sub uint32) [4]uint32 {
	maxBasic := cpuidTable[cpuidKey{0, 0}][0]
	maxExt := cpuidTable[cpuidKey{0x80000000, 0}][0]
	if leaf > maxBasic && (leaf < 0x80000000 || leaf > maxExt) {
		leaf = maxBasic // the subleaf stays: QEMU answers leaf 4's for it
	}
	if !cpuidSubleafed[leaf] {
		sub = 0
	}
	return cpuidTable[cpuidKey{leaf, sub}] // zeros past the last subleaf
}
