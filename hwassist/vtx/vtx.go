// Package vtx is the decision table of hardware-assisted virtualization
// (Intel VT-x, AMD-V) as virtsim's kvm strategy meets it: for each thing a
// guest does (an event cause, the same word under every strategy), whether
// the CPU leaves guest mode, and whether KVM handles the exit in the host
// kernel or returns to the user-space VMM (package hwassist).
//
// Under hardware assist the guest kernel runs at its own CPL 0 in guest
// mode, so most of what trap-and-emulate must catch — cli, sti, iret,
// lgdt, int n, exceptions the guest handles itself — runs with no exit at
// all. What still exits is chosen by the hypervisor through the VMCS
// controls: CPUID always; port I/O to devices the VMM emulates (virtsim's
// devices live in user space, so these reach user space: KVM_EXIT_IO);
// hlt (virtsim keeps its PIT and PIC in user space: KVM_EXIT_HLT); the
// interrupt window the VMM asks for to inject a pending interrupt; and,
// without nested paging (EPT/NPT), guest page faults, CR3 writes and
// invlpg, which the hypervisor needs to keep its shadow page tables.
//
// The table lets the experiments layer model a VT-x column from counts
// taken on any machine: the events native recorded, classified here,
// priced with VM exit costs. It is data, and every row is unit-tested.
package vtx

import (
	"strings"

	"virtsim/vmm"
)

// Decision is what hardware assist does with one event.
type Decision struct {
	// Mech is vmm.MechVMExit (the exit reaches the user-space VMM),
	// vmm.MechKernel (KVM handles it in the host kernel) or
	// vmm.MechMachine (no exit: the CPU delivers or runs it in guest mode).
	Mech vmm.Mechanism
	Why  string
}

// Rule is one row of the table: a cause pattern (exact, or a prefix
// ending in '*') and the decision with and without nested paging.
type Rule struct {
	Cause             string
	WithNestedPaging  Decision
	WithoutNestedPage Decision
}

// rule is a row whose decision does not depend on nested paging.
func rule(cause string, m vmm.Mechanism, why string) Rule {
	return Rule{cause, Decision{m, why}, Decision{m, why}}
}

// Table is the decision table, most specific patterns first where they
// overlap (Classify picks the longest match anyway).
var Table = []Rule{
	rule("io/*", vmm.MechVMExit, "port I/O exits unconditionally here (I/O bitmap); virtsim's devices are in user space: KVM_EXIT_IO"),
	rule(vmm.CauseHLT, vmm.MechVMExit, "hlt exits; virtsim's PIT and PIC are in user space: KVM_EXIT_HLT"),
	rule(vmm.CauseCPUID, vmm.MechKernel, "CPUID exits unconditionally on VT-x; KVM answers from the CPUID table in the kernel"),
	rule("irq/*", vmm.MechVMExit, "a pending interrupt from the user-space PIC needs an interrupt-window exit to be injected"),
	rule("int/*", vmm.MechMachine, "int n is delivered through the guest's IDT in guest mode"),
	rule("exc/*", vmm.MechMachine, "the exception bitmap leaves the guest's own exceptions to the guest"),
	{"exc/#PF", Decision{vmm.MechMachine, "with nested paging the guest's page faults are its own"},
		Decision{vmm.MechKernel, "without nested paging every guest page fault exits so the hypervisor can keep its shadow page tables"}},
	{"pf/*", Decision{vmm.MechMachine, "with nested paging the guest's page faults are its own"},
		Decision{vmm.MechKernel, "without nested paging every guest page fault exits so the hypervisor can keep its shadow page tables"}},
	{"pt/*", Decision{vmm.MechMachine, "with nested paging the guest writes its page tables freely"},
		Decision{vmm.MechKernel, "without nested paging the guest's page-table pages are write-protected (the shadow must follow them): each write exits"}},
	{"priv/mov-cr3", Decision{vmm.MechMachine, "with nested paging CR3 writes need no exit"},
		Decision{vmm.MechKernel, "without nested paging a CR3 write exits (the shadow page table must switch)"}},
	{"priv/invlpg", Decision{vmm.MechMachine, "with nested paging invlpg needs no exit"},
		Decision{vmm.MechKernel, "without nested paging invlpg exits (the shadow entry must go)"}},
	rule("priv/mov-cr0", vmm.MechKernel, "CR0 bits owned by the hypervisor (guest/host mask) make writes exit"),
	rule("priv/mov-cr4", vmm.MechKernel, "CR4 bits owned by the hypervisor (guest/host mask) make writes exit"),
	rule("priv/wrmsr", vmm.MechKernel, "MSR writes exit unless the MSR bitmap lets them through"),
	rule("priv/rdmsr", vmm.MechKernel, "MSR reads exit unless the MSR bitmap lets them through"),
	rule("priv/*", vmm.MechMachine, "other privileged instructions (cli, sti, iret, lgdt, lidt, ltr, segment loads) run in guest mode at the guest's CPL 0"),
	rule("sens/*", vmm.MechMachine, "sensitive-but-unprivileged instructions see the guest's own state in guest mode"),
}

// Classify returns what hardware assist does with an event of cause, with
// or without nested paging, and whether the table has a row for it.
func Classify(cause string, nestedPaging bool) (Decision, bool) {
	best, bestLen := -1, -1
	for i, r := range Table {
		l := -1
		switch {
		case r.Cause == cause:
			l = 1 << 30
		case strings.HasSuffix(r.Cause, "*") && strings.HasPrefix(cause, strings.TrimSuffix(r.Cause, "*")):
			l = len(r.Cause) - 1
		}
		if l > bestLen {
			best, bestLen = i, l
		}
	}
	if best < 0 {
		return Decision{}, false
	}
	if nestedPaging {
		return Table[best].WithNestedPaging, true
	}
	return Table[best].WithoutNestedPage, true
}
