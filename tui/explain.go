package tui

import (
	"strings"

	"virtsim/vmm"
	"virtsim/vmm/x86"
)

// explainRule is one row of the explanation table: for events whose cause
// matches Cause and whose mechanism matches Mech, Text says what happened
// and why, under the strategy that handles events that way.
//
// Cause is an exact cause ("priv/cli") or a prefix ending in '*'
// ("io/out:*"); Mech is a mechanism name (vmm.Mechanisms) or "*". Text may
// use placeholders filled from the cause: {insn} (the instruction, "mov to
// %cr0"), {dir} ("out to" / "in from"), {dev} (the device behind the port),
// {vec} (the vector of int n), {exc} ("#DE (divide error)"), {irq} (the IRQ
// line) and {cause} (the cause as written).
type explainRule struct {
	Cause, Mech, Text string
}

// explainTable is searched top to bottom and the first match wins, so the
// specific rows come before the general ones. Keep each text short enough
// to read on one line beside the event: the mechanism's own one-line
// explanation (vmm.Mechanisms) is added after it in the "why" line.
var explainTable = []explainRule{
	// ---- trap-and-emulate: the kernel runs at CPL 1 and faults ----
	{"priv/cli", "trap", "cli at CPL 1 raises #GP: the VMM clears the virtual IF"},
	{"priv/sti", "trap", "sti at CPL 1 raises #GP: the VMM sets the virtual IF"},
	{"priv/lgdt", "trap", "lgdt at CPL 1 raises #GP: the VMM records the virtual GDTR and rebuilds its shadow GDT (DPL 0 -> 1)"},
	{"priv/lidt", "trap", "lidt at CPL 1 raises #GP: the VMM records the virtual IDTR; the real IDT stays the VMM's"},
	{"priv/ltr", "trap", "ltr at CPL 1 raises #GP: the VMM records the virtual task register"},
	{"priv/lldt", "trap", "lldt at CPL 1 raises #GP: the VMM records the virtual LDTR"},
	{"priv/mov-cr*", "trap", "{insn} at CPL 1 raises #GP: the VMM updates the virtual control register"},
	{"priv/mov-from-cr*", "trap", "{insn} at CPL 1 raises #GP: the VMM returns the virtual control register"},
	{"priv/mov-ss", "trap", "loading SS with the kernel's RPL-0 selector faults at CPL 1: the VMM loads its RPL-1 shadow"},
	{"priv/pop-ss", "trap", "loading SS with the kernel's RPL-0 selector faults at CPL 1: the VMM loads its RPL-1 shadow"},
	{"priv/lss", "trap", "loading SS with the kernel's RPL-0 selector faults at CPL 1: the VMM loads its RPL-1 shadow"},
	{"priv/iret", "trap", "iret to RPL-0 kernel code faults at CPL 1: the VMM finishes it on the virtual CPU"},
	{"priv/sysenter", "trap", "sysenter would enter the VMM's own SYSENTER_EIP: the VMM enters the guest kernel at its virtual SYSENTER_CS:EIP (CPL 1) on its SYSENTER_ESP"},
	{"priv/sysexit", "*", "sysexit needs CPL 0: the VMM returns to guest user code at EDX on ECX's stack with a real iret"},
	{"priv/lret", "trap", "lret to RPL-0 kernel code faults at CPL 1: the VMM finishes it on the virtual CPU"},
	{"priv/*", "trap", "{insn} is privileged: at CPL 1 it raises #GP and the VMM emulates it on the virtual CPU"},
	{"hlt", "trap", "hlt at CPL 1 raises #GP: the VMM idles the virtual CPU until the next interrupt"},
	{"io/out:*", "trap", "out to {dev} at CPL 1 (IOPL 0) raises #GP: the VMM performs it on its device model"},
	{"io/in:*", "trap", "in from {dev} at CPL 1 (IOPL 0) raises #GP: the VMM answers from its device model"},
	{"pf/hidden", "trap", "a hidden fault: the shadow page table lacked what the guest's own tables allow, so the VMM filled the entry from them and retried; the guest saw nothing"},
	{"pf/vmm-alias", "trap", "the guest touched its own page where the VMM's region lies: the VMM put the guest's mapping into its own table until the guest's paging changes"},
	{"mem/vmm-overlay", "trap", "the guest loaded or stored its own RAM at a page where the VMM keeps one the CPU must reach (its GDT, IDT, code cache): the VMM watched the page and gave the access the guest's frame, leaving its own page as it was"},
	{"pt/write", "trap", "a store into a guest page table, which every shadow maps read-only: the VMM performed it and dropped the shadow entries it changed"},
	{"pt/write", "callout", "a translated store into a guest page table calls the VMM, which performs it and updates the shadow: no page fault (Adams & Agesen's in-TC PTE write)"},
	{"mmio/*", "trap", "{cause}: the device's page is absent from the real page tables, so the access faulted and the VMM emulated the register"},
	{"mmio/*", "machine", "{cause}: the chipset routes the access to the device, which answers as hardware would"},
	{"int/*", "trap", "int ${vec}: every real IDT entry leads into the VMM, which reflects it to the guest's handler"},
	{"exc/*", "trap", "{exc}: the real IDT is the VMM's, which reflects it to the guest's own handler"},
	{"irq/*", "trap", "IRQ {irq} ({dev}) comes to the VMM, which injects it once the virtual IF allows"},

	// ---- binary translation: translated code calls out, or handles it in place ----
	{"priv/cli", "callout", "the translator replaced cli with a call into the VMM, which clears the virtual IF"},
	{"priv/sti", "callout", "the translator replaced sti with a call into the VMM, which sets the virtual IF"},
	{"priv/*", "callout", "the translator replaced {insn} with a call into the VMM, which emulates it"},
	{"hlt", "callout", "translated hlt calls the VMM, which idles the virtual CPU until the next interrupt"},
	{"io/*", "callout", "translated {dir} {dev} calls the VMM, which performs it on its device model"},
	{"int/*", "callout", "translated int ${vec} calls the VMM, which delivers it to the guest's handler"},
	{"exc/*", "callout", "{exc} in translated code: the VMM delivers it to the guest's own handler"},
	{"irq/*", "callout", "IRQ {irq} ({dev}) is injected by the VMM at a block boundary once the virtual IF allows"},
	{"priv/cli", "in-tc", "the translator rewrote cli to clear the virtual IF in place: no exit"},
	{"priv/sti", "in-tc", "the translator rewrote sti to set the virtual IF in place: no exit"},
	{"sens/*", "in-tc", "the translator rewrote {insn} to use the virtual CPU: the x86 hole closed, no exit"},
	{"sens/*", "callout", "the translator replaced {insn} with a call into the VMM, which runs it against the virtual CPU: the x86 hole closed"},
	{"*", "in-tc", "the translator rewrote {insn} to act on the virtual CPU in place: no exit"},

	// ---- paravirtualization: the kernel asks ----
	{"priv/cli", "shared-info", "the PV kernel cleared the virtual IF in the shared-info page: no exit"},
	{"priv/sti", "shared-info", "the PV kernel set the virtual IF in the shared-info page: no exit"},
	{"*", "shared-info", "the PV kernel wrote the shared-info page instead of running {insn}: no exit"},
	{"io/*", "hypercall", "the PV kernel asked the VMM by hypercall to do {dir} {dev}"},
	{"*", "hypercall", "the PV kernel asked the VMM by hypercall instead of running {insn}"},

	// ---- hardware assistance (KVM) ----
	{"io/*", "vmexit", "{dir} {dev} leaves guest mode: KVM returns to virtsim, which emulates the device"},
	{"hlt", "vmexit", "hlt leaves guest mode: KVM returns to virtsim to wait for the next interrupt"},
	{"hlt", "kernel", "hlt leaves guest mode: KVM parks the vCPU in the host kernel until an interrupt"},
	{"cpuid", "kernel", "cpuid always leaves guest mode: KVM answers it in the host kernel"},
	{"*", "emulation", "KVM could not run {insn} in guest mode and its emulator gave up: virtsim finished it"},

	// ---- the machine model (native, and what no VMM intercepts) ----
	{"hlt", "machine", "hlt: the CPU sleeps until the next interrupt (guest time skips ahead)"},
	{"io/out:*", "machine", "out to {dev}: the device answers as hardware would; no VMM runs"},
	{"io/in:*", "machine", "in from {dev}: the device answers as hardware would; no VMM runs"},
	{"int/*", "machine", "int ${vec} goes straight through the guest's own IDT"},
	{"exc/*", "machine", "{exc} goes straight through the guest's own IDT to its handler"},
	{"irq/*", "machine", "IRQ {irq} ({dev}) is delivered through the guest's own IDT"},
	{"priv/sysenter", "machine", "sysenter: the CPU enters the kernel at SYSENTER_CS:EIP on SYSENTER_ESP, saving nothing (the kernel's sysexit returns unseen)"},
	{"priv/*", "machine", "{insn} runs at real CPL 0: nothing intercepts it"},
	{"cpuid", "*", "cpuid is answered from virtsim's CPU model (the same on every strategy)"},

	// ---- anywhere ----
	{"sens/*", "*", "{insn} is sensitive but does not trap: it runs on the real CPU and sees real state (the x86 hole)"},
}

// Explain is the cause-specific line for an event: what the guest did and
// what the strategy that handled it that way did about it. It is "" when
// the table has nothing more specific than the mechanism's own line.
func Explain(ev vmm.Event) string {
	mech := ev.Mech.String()
	for _, r := range explainTable {
		if matchCause(r.Cause, ev.Cause) && (r.Mech == "*" || r.Mech == mech) {
			return fill(r.Text, ev.Cause)
		}
	}
	return ""
}

// Why is the full one-line explanation of an event: Explain, then the
// mechanism's line from vmm.Mechanisms.
func Why(ev vmm.Event) string {
	mi := mechInfo(ev.Mech)
	spec := Explain(ev)
	if spec == "" {
		return ev.Cause + ": " + mi.Explain
	}
	return spec + " [" + mi.Name + ": " + mi.Explain + "]"
}

// Short is the text shown on the event's own row: Explain, or the
// mechanism's line when the table has nothing specific.
func Short(ev vmm.Event) string {
	if s := Explain(ev); s != "" {
		return s
	}
	return mechInfo(ev.Mech).Explain
}

func mechInfo(m vmm.Mechanism) vmm.MechanismInfo {
	for _, mi := range vmm.Mechanisms {
		if mi.Mech == m {
			return mi
		}
	}
	return vmm.MechanismInfo{Mech: m, Name: m.String(), Explain: "an unknown mechanism"}
}

func matchCause(pattern, cause string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(cause, p)
	}
	return pattern == cause
}

// fill expands the placeholders of an explanation from the cause.
func fill(text, cause string) string {
	if !strings.Contains(text, "{") {
		return text
	}
	r := strings.NewReplacer(
		"{insn}", insnOf(cause),
		"{dir}", dirOf(cause),
		"{dev}", devOf(cause),
		"{vec}", vecOf(cause),
		"{exc}", excOf(cause),
		"{irq}", irqOf(cause),
		"{cause}", cause,
	)
	return r.Replace(text)
}

// insnOf names the instruction behind a cause: "priv/mov-cr0" -> "mov to
// %cr0", "sens/popf" -> "popf", "io/out:0x80" -> "out".
func insnOf(cause string) string {
	kind, rest, _ := strings.Cut(cause, "/")
	switch kind {
	case "priv", "sens":
		switch {
		case strings.HasPrefix(rest, "mov-from-"):
			return "mov from %" + strings.TrimPrefix(rest, "mov-from-")
		case strings.HasPrefix(rest, "mov-"):
			return "mov to %" + strings.TrimPrefix(rest, "mov-")
		case strings.HasPrefix(rest, "push-"), strings.HasPrefix(rest, "pop-"):
			op, reg, _ := strings.Cut(rest, "-")
			return op + " %" + reg
		}
		return rest
	case "io":
		op, _, _ := strings.Cut(rest, ":")
		return op
	case "int":
		return "int $" + rest
	case "irq":
		return "an interrupt"
	case "exc":
		return "the faulting instruction"
	}
	return cause
}

func dirOf(cause string) string {
	if strings.HasPrefix(cause, "io/in:") {
		return "in from"
	}
	return "out to"
}

// portDevices names the devices of the guest ABI (README, "Guest ABI").
var portDevices = []struct {
	lo, hi uint16
	name   string
}{
	{0x3F8, 0x3F8, "the serial port"},
	{0x3FD, 0x3FD, "the serial status"},
	{0x3F9, 0x3FF, "the serial port"},
	{0xF4, 0xF7, "the debug-exit port"},
	{0x80, 0x80, "the POST port"},
	{0x20, 0x21, "the master PIC"},
	{0xA0, 0xA1, "the slave PIC"},
	{0x40, 0x43, "the PIT"},
}

func devOf(cause string) string {
	if strings.HasPrefix(cause, "irq/") {
		if cause == "irq/0" {
			return "the PIT timer"
		}
		return "the PIC"
	}
	_, port, ok := strings.Cut(cause, ":")
	if !ok {
		return "a device"
	}
	if port == "dx" {
		return "the port in %dx"
	}
	p, ok := parseHex(port)
	if !ok {
		return "port " + port
	}
	for _, d := range portDevices {
		if p >= uint32(d.lo) && p <= uint32(d.hi) {
			return d.name
		}
	}
	return "port " + port
}

func vecOf(cause string) string {
	_, v, _ := strings.Cut(cause, "/")
	return v
}

func irqOf(cause string) string {
	_, v, _ := strings.Cut(cause, "/")
	return v
}

func excOf(cause string) string {
	_, m, _ := strings.Cut(cause, "/")
	for _, e := range x86.Exceptions {
		if e.Mnemonic == m {
			return m + " (" + e.Name + ")"
		}
	}
	return m
}

func parseHex(s string) (uint32, bool) {
	s, ok := strings.CutPrefix(s, "0x")
	if !ok || s == "" || len(s) > 8 {
		return 0, false
	}
	var v uint32
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint32(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint32(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | uint32(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}
