package difftest

import "regexp"

// Rules are the documented differences of random streams (README.md lists
// them). Each names the runners it is between, the instructions that make
// it and why.
var Rules = []Rule{
	{
		Name: "popek-goldberg",
		Ref:  []Runner{"native"}, Got: []Runner{"trap"},
		Insn: regexp.MustCompile(`^(pushf|popf|sgdt|sidt|smsw|str|sldt|lar|lsl|verr|verw|mov %(cs|ss|ds|es|fs|gs),)`),
		Why: "trap runs the guest kernel at CPL 1 and these sensitive instructions do not trap there: " +
			"they show the VMM's state (real IF, RPL 1, the VMM's tables, DPL 1) — Popek and Goldberg's objection to x86",
	},
	{
		Name: "bt-fetch-accessed",
		Ref:  []Runner{"native"}, Got: []Runner{"bt"},
		Insn: regexp.MustCompile(`^mov %eax, %cr3`),
		Why: "bt runs the guest kernel's code from the translation cache, so fetching it walks no guest page table: " +
			"after a CR3 load the CPU's next instruction fetch sets the Accessed bit of the new directory's entry " +
			"(and of the code page's PTE), bt's does not until a data access or a translation walks it",
	},
	{
		Name: "user-view",
		Ref:  []Runner{"native"}, Got: []Runner{"trap", "bt"},
		User: true,
		Insn: regexp.MustCompile(`^pushf`),
		Why: "guest user code runs directly under trap and bt with the real IF set (the VMM takes every interrupt): " +
			"pushf at ring 3 shows IF=1 where the guest's iret cleared it",
	},
	{
		Name: "qemu-cmpxchg8b",
		Ref:  []Runner{QEMU}, Got: []Runner{"native"},
		Insn: regexp.MustCompile(`^cmpxchg8b`),
		Why: "the SDM leaves every flag but ZF unaffected by cmpxchg8b; QEMU 7.2's translator calls its helper without " +
			"storing the flags' pending state first, so the flags it keeps are computed from an older instruction's " +
			"(Unicorn 2.1.1, QEMU 5.0's translator, has the same fault, which virtsim steps around: vmm.LosesFlagsMidBlock)",
	},
}
