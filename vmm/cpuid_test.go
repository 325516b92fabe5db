package vmm

import "testing"

func TestCPUIDModel(t *testing.T) {
	tests := []struct {
		leaf, sub uint32
		want      [4]uint32
	}{
		{0, 0, [4]uint32{4, 0x756e6547, 0x6c65746e, 0x49656e69}},
		{0, 7, [4]uint32{4, 0x756e6547, 0x6c65746e, 0x49656e69}}, // subleaf ignored
		{4, 0, [4]uint32{0x121, 0x01c0003f, 0x3f, 1}},
		{4, 3, [4]uint32{0x163, 0x03c0003f, 0x3fff, 6}}, // L3, as QEMU 7.2
		{4, 4, [4]uint32{}}, // no more caches
		{4, 5, [4]uint32{}},
		{7, 2, cpuidTable[cpuidKey{4, 2}]},          // above max basic: leaf 4, the subleaf kept (QEMU)
		{0x80000009, 1, cpuidTable[cpuidKey{4, 1}]}, // above max extended likewise
		{7, 0, cpuidTable[cpuidKey{4, 0}]},          // above max basic: highest basic leaf
		{0x40000000, 0, cpuidTable[cpuidKey{4, 0}]}, // likewise
		{0x80000002, 0, [4]uint32{0x554d4551, 0x72695620, 0x6c617574, 0x55504320}},
	}
	for _, tt := range tests {
		if got := CPUID(tt.leaf, tt.sub); got != tt.want {
			t.Errorf("CPUID(%#x,%d) = %#x, want %#x", tt.leaf, tt.sub, got, tt.want)
		}
	}
}
