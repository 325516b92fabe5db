package vmm_test

import (
	"testing"

	"virtsim/vmm/vmmtest"
)

// A delivery allocates nothing: syscall's int $0x80 from ring 3 goes
// through the machine's privilege switch (call gate, landing pad) every
// iteration, and the heap allocations of a run do not grow with n.
func TestDeliveryAllocatesNothing(t *testing.T) {
	img := vmmtest.Load(t, "syscall", false)
	a1, _ := vmmtest.RunAllocs(t, "native", img, 1000)
	a2, _ := vmmtest.RunAllocs(t, "native", img, 3000)
	if per := (a2 - a1) / 2000; per > 0 {
		t.Errorf("syscall under native: %.3f allocations per system call", per)
	}
}
