package vtx

import (
	"testing"

	"virtsim/vmm"
)

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		cause  string
		nested bool
		want   vmm.Mechanism
		ok     bool
	}{
		{"io/out:0x80", true, vmm.MechVMExit, true},
		{"io/in:0x3fd", false, vmm.MechVMExit, true},
		{"hlt", true, vmm.MechVMExit, true},
		{"cpuid", false, vmm.MechKernel, true},
		{"irq/0", true, vmm.MechVMExit, true},
		{"int/0x80", false, vmm.MechMachine, true},
		{"exc/#DE", false, vmm.MechMachine, true},
		{"pf/true", true, vmm.MechMachine, true},
		{"exc/#PF", false, vmm.MechKernel, true},
		{"exc/#PF", true, vmm.MechMachine, true},
		{"pt/write", false, vmm.MechKernel, true},
		{"pt/write", true, vmm.MechMachine, true},
		{"pf/true", false, vmm.MechKernel, true},
		{"priv/mov-cr3", false, vmm.MechKernel, true},
		{"priv/mov-cr3", true, vmm.MechMachine, true},
		{"priv/invlpg", false, vmm.MechKernel, true},
		{"priv/mov-cr0", true, vmm.MechKernel, true},
		{"priv/cli", false, vmm.MechMachine, true},
		{"priv/iret", true, vmm.MechMachine, true},
		{"sens/pushf", true, vmm.MechMachine, true},
		{"hypercall/multicall", true, 0, false},
	} {
		d, ok := Classify(tt.cause, tt.nested)
		if ok != tt.ok || (ok && d.Mech != tt.want) {
			t.Errorf("Classify(%q, nested=%v) = %v %v, want %v %v", tt.cause, tt.nested, d.Mech, ok, tt.want, tt.ok)
		}
		if ok && d.Why == "" {
			t.Errorf("Classify(%q): no reason", tt.cause)
		}
	}
}
