package translate

import (
	"testing"
	"time"

	"virtsim/guest"
	"virtsim/vmm"
)

// smcImage builds a flat guest whose block at the load address is cut at
// the 12-instruction limit (so its continuation is laid out right after
// it, falling through) and whose last instruction patches the first
// instruction of that continuation: `mov $0, %eax` becomes `mov $7, %eax`,
// and the guest exits with %al as its status.
func smcImage(t *testing.T, pad int) *guest.Image {
	t.Helper()
	c := &code{base: hostileLoad}
	c.emit(0xBC)
	c.u32(0x90000) // mov $0x90000, %esp
	for i := 0; i < pad; i++ {
		c.emit(0x90) // nop
	}
	patch := c.pc() + 10 + 1 // the immediate of the mov after the 10-byte store
	c.emit(0xC7, 0x05)       // movl $7, patch
	c.u32(patch)
	c.u32(7)
	c.emit(0xB8) // mov $0, %eax  <- patched
	c.u32(0)
	c.emit(0xE6, 0xF4) // out %al, $0xf4
	c.emit(0xEB, 0xFE) // jmp .
	img, err := guest.LoadFlat(c.b, hostileLoad, vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	img.Name = "smc-flat"
	return img
}

// TestSMCAcrossBlocks: the store sits at every position of the first
// block, the patched instruction right after it — in the same block, or
// first in the block it falls through into.
func TestSMCAcrossBlocks(t *testing.T) {
	for pad := 0; pad <= maxInsns; pad++ {
		img := smcImage(t, pad)
		for _, strategy := range []string{"native", "bt"} {
			s, _ := vmm.LookupStrategy(strategy)
			res, err := vmm.RunGuest(s, img, vmm.Config{TimeBudget: 10 * time.Second}, false)
			if err != nil {
				t.Fatal(err)
			}
			if res.Stop.Kind != vmm.StopExit || res.Stop.Status != 7 {
				t.Errorf("pad %d, %s: %s, want exit status 7 (the patched immediate)", pad, strategy, res.Stop)
			}
		}
	}
}
