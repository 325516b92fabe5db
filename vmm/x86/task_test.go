package x86

import "testing"

// A task state written by Dynamic (what a switch saves) reads back the
// same from a TSS image, at the SDM's offsets.
func TestTaskStateLayout(t *testing.T) {
	s := TaskState{EIP: 0x1234, EFLAGS: 0x4202, GPR: [8]uint32{1, 2, 3, 4, 5, 6, 7, 8}, Seg: [6]uint16{0x10, 0x08, 0x18, 0x20, 0x28, 0x33}}
	img := make([]byte, TSS32Size)
	copy(img[TSSEIP:], s.Dynamic())
	img[TSSCR3], img[TSSLDT] = 0x40, 0x38
	s.CR3, s.LDT = 0x40, 0x38
	if got := DecodeTaskState(img); got != s {
		t.Errorf("round trip: %+v, want %+v", got, s)
	}
	// Spot checks against the SDM's figure 7-2: EAX at 0x28, ESP at 0x38, CS at 0x4C, GS at 0x5C.
	for off, want := range map[int]byte{0x28: 1, 0x38: 5, 0x4C: 0x08, 0x5C: 0x33} {
		if img[off] != want {
			t.Errorf("TSS byte %#x = %#x, want %#x", off, img[off], want)
		}
	}
}
