package tui

import (
	"strings"
	"testing"

	"virtsim/vmm"
)

func mech(t *testing.T, name string) vmm.Mechanism {
	t.Helper()
	m, err := vmm.ParseMechanism(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		cause, mech, want string
	}{
		{"priv/cli", "trap", "cli at CPL 1 raises #GP: the VMM clears the virtual IF"},
		{"priv/sti", "trap", "sti at CPL 1 raises #GP: the VMM sets the virtual IF"},
		{"priv/lgdt", "trap", "lgdt at CPL 1 raises #GP: the VMM records the virtual GDTR and rebuilds its shadow GDT (DPL 0 -> 1)"},
		{"priv/mov-cr0", "trap", "mov to %cr0 at CPL 1 raises #GP: the VMM updates the virtual control register"},
		{"priv/mov-from-cr3", "trap", "mov from %cr3 at CPL 1 raises #GP: the VMM returns the virtual control register"},
		{"priv/wrmsr", "trap", "wrmsr is privileged: at CPL 1 it raises #GP and the VMM emulates it on the virtual CPU"},
		{"priv/mov-ss", "trap", "loading SS with the kernel's RPL-0 selector faults at CPL 1: the VMM loads its RPL-1 shadow"},
		{"hlt", "trap", "hlt at CPL 1 raises #GP: the VMM idles the virtual CPU until the next interrupt"},
		{"io/out:0x3f8", "trap", "out to the serial port at CPL 1 (IOPL 0) raises #GP: the VMM performs it on its device model"},
		{"io/in:0x3fd", "trap", "in from the serial status at CPL 1 (IOPL 0) raises #GP: the VMM answers from its device model"},
		{"io/out:dx", "trap", "out to the port in %dx at CPL 1 (IOPL 0) raises #GP: the VMM performs it on its device model"},
		{"io/out:0x1234", "machine", "out to port 0x1234: the device answers as hardware would; no VMM runs"},
		{"io/out:0xf4", "machine", "out to the debug-exit port: the device answers as hardware would; no VMM runs"},
		{"io/in:0x40", "machine", "in from the PIT: the device answers as hardware would; no VMM runs"},
		{"int/0x80", "trap", "int $0x80: every real IDT entry leads into the VMM, which reflects it to the guest's handler"},
		{"int/0x80", "machine", "int $0x80 goes straight through the guest's own IDT"},
		{"exc/#DE", "trap", "#DE (divide error): the real IDT is the VMM's, which reflects it to the guest's own handler"},
		{"exc/#GP", "machine", "#GP (general protection) goes straight through the guest's own IDT to its handler"},
		{"irq/0", "trap", "IRQ 0 (the PIT timer) comes to the VMM, which injects it once the virtual IF allows"},
		{"irq/9", "machine", "IRQ 9 (the PIC) is delivered through the guest's own IDT"},
		{"hlt", "machine", "hlt: the CPU sleeps until the next interrupt (guest time skips ahead)"},
		{"cpuid", "machine", "cpuid is answered from virtsim's CPU model (the same on every strategy)"},
		{"cpuid", "kernel", "cpuid always leaves guest mode: KVM answers it in the host kernel"},
		{"sens/popf", "trap", "popf is sensitive but does not trap: it runs on the real CPU and sees real state (the x86 hole)"},
		{"sens/mov-from-cs", "machine", "mov from %cs is sensitive but does not trap: it runs on the real CPU and sees real state (the x86 hole)"},
		{"sens/popf", "in-tc", "the translator rewrote popf to use the virtual CPU: the x86 hole closed, no exit"},
		{"sens/ljmp", "callout", "the translator replaced ljmp with a call into the VMM, which runs it against the virtual CPU: the x86 hole closed"},
		{"priv/cli", "callout", "the translator replaced cli with a call into the VMM, which clears the virtual IF"},
		{"priv/lidt", "callout", "the translator replaced lidt with a call into the VMM, which emulates it"},
		{"priv/cli", "in-tc", "the translator rewrote cli to clear the virtual IF in place: no exit"},
		{"priv/cli", "shared-info", "the PV kernel cleared the virtual IF in the shared-info page: no exit"},
		{"priv/mov-cr3", "hypercall", "the PV kernel asked the VMM by hypercall instead of running mov to %cr3"},
		{"io/out:0x3f8", "hypercall", "the PV kernel asked the VMM by hypercall to do out to the serial port"},
		{"io/out:0x80", "vmexit", "out to the POST port leaves guest mode: KVM returns to virtsim, which emulates the device"},
		{"hlt", "kernel", "hlt leaves guest mode: KVM parks the vCPU in the host kernel until an interrupt"},
		// nothing more specific than the mechanism's own line
		{"priv/cli", "vmexit", ""},
		{"exc/#PF", "kernel", ""},
	} {
		ev := vmm.Event{Cause: tc.cause, Mech: mech(t, tc.mech)}
		if got := Explain(ev); got != tc.want {
			t.Errorf("Explain(%s, %s)\n got %q\nwant %q", tc.cause, tc.mech, got, tc.want)
		}
	}
}

func TestWhyAndShort(t *testing.T) {
	ev := vmm.Event{Cause: "priv/cli", Mech: vmm.MechTrap}
	want := "cli at CPL 1 raises #GP: the VMM clears the virtual IF [trap: " + vmm.Mechanisms[vmm.MechTrap].Explain + "]"
	if got := Why(ev); got != want {
		t.Errorf("Why = %q, want %q", got, want)
	}
	if got := Short(ev); got != "cli at CPL 1 raises #GP: the VMM clears the virtual IF" {
		t.Errorf("Short = %q", got)
	}
	// every mechanism explains any event, even one the table does not know
	for _, mi := range vmm.Mechanisms {
		ev := vmm.Event{Cause: "new/thing", Mech: mi.Mech}
		if Short(ev) == "" || !strings.Contains(Why(ev), mi.Explain) {
			t.Errorf("%s: Short %q, Why %q", mi.Name, Short(ev), Why(ev))
		}
	}
}

// sampleCause makes a cause that a rule's pattern matches.
func sampleCause(pattern string) string {
	p, wild := strings.CutSuffix(pattern, "*")
	if !wild {
		return pattern
	}
	switch {
	case strings.HasPrefix(p, "io/"):
		return p + "0x80"
	case p == "irq/":
		return "irq/0"
	case p == "int/":
		return "int/0x80"
	case p == "exc/":
		return "exc/#GP"
	case p == "":
		return "priv/zzz"
	}
	return p + "zzz"
}

// TestExplainTable checks the table itself: every mechanism named exists,
// every row is reachable (no earlier row shadows it for every mechanism
// it names), and every placeholder is filled.
func TestExplainTable(t *testing.T) {
	for i, r := range explainTable {
		if r.Mech != "*" {
			if _, err := vmm.ParseMechanism(r.Mech); err != nil {
				t.Errorf("row %d (%s, %s): %v", i, r.Cause, r.Mech, err)
				continue
			}
		}
		cause := sampleCause(r.Cause)
		reached := false
		for _, mi := range vmm.Mechanisms {
			if r.Mech != "*" && r.Mech != mi.Name {
				continue
			}
			ev := vmm.Event{Cause: cause, Mech: mi.Mech}
			got := Explain(ev)
			if strings.ContainsAny(got, "{}") {
				t.Errorf("row %d (%s, %s): unfilled placeholder in %q", i, r.Cause, r.Mech, got)
			}
			if got == fill(r.Text, cause) {
				reached = true
			}
		}
		if !reached {
			t.Errorf("row %d (%s, %s) is shadowed by an earlier row", i, r.Cause, r.Mech)
		}
	}
}

func TestInsnOf(t *testing.T) {
	for cause, want := range map[string]string{
		"priv/cli": "cli", "priv/mov-cr0": "mov to %cr0", "priv/mov-from-cr4": "mov from %cr4",
		"priv/pop-ss": "pop %ss", "sens/push-cs": "push %cs", "sens/mov-from-ds": "mov from %ds",
		"io/out:0x80": "out", "int/0x80": "int $0x80", "hlt": "hlt", "cpuid": "cpuid",
	} {
		if got := insnOf(cause); got != want {
			t.Errorf("insnOf(%q) = %q, want %q", cause, got, want)
		}
	}
}
