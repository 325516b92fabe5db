package migrate

import (
	"fmt"
	"strings"
	"testing"

	"virtsim/difftest"
	"virtsim/guest"
	"virtsim/vmm"
)

// fpuLoop keeps its running state only in the FPU: a count on the x87
// stack and a vector sum in XMM0 (SSE enabled with CR4.OSFXSR), printed
// at the end. A save that dropped the FPU would print other numbers.
const fpuLoop = `
	.include "corpus.inc"
_start:
	mov $stack_top, %esp
	mov %cr4, %eax
	or $0x600, %eax
	mov %eax, %cr4
	finit
	fldz
	xorps %xmm0, %xmm0
	movups ones, %xmm1
	mov $3000, %ecx
1:	fld1
	faddp
	addps %xmm1, %xmm0
	loop 1b
	fistpl count
	movups %xmm0, sum
	cvttss2si sum+12, %eax
	HEX count
	PUTC ' '
	HEX %eax
	PUTC '\n'
	EXIT 0
	.include "lib.inc"
	.data
	.balign 16
ones:	.float 1.0, 2.0, 0.5, 0.25
sum:	.space 16
count:	.long 0
	.bss
	.space 4096
stack_top:
`

// TestSaveRestoreFPU: a guest whose state lives in the x87 and SSE
// registers, cut at several points, saved and continued under the same
// strategy or another, prints what an uninterrupted run prints.
func TestSaveRestoreFPU(t *testing.T) {
	if err := difftest.ToolsAvailable(); err != nil {
		t.Skip(err)
	}
	elf, err := difftest.Assemble(fpuLoop, "../difftest/corpus")
	if err != nil {
		t.Fatal(err)
	}
	img, err := guest.LoadELF(elf, vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	w := guest.Workload{Name: "fpu-loop", Image: elf}
	want := uninterrupted(t, strategy(t, "native"), img, config(w))
	if !strings.HasPrefix(want.Serial, "00000bb8 ") {
		t.Fatalf("uninterrupted: %q, want the count 3000 (0xbb8) first", want.Serial)
	}
	for _, pair := range [][2]string{{"native", "native"}, {"native", "trap"}, {"trap", "bt"}, {"bt", "native"}} {
		from, to := strategy(t, pair[0]), strategy(t, pair[1])
		for _, frac := range []uint64{3, 2} {
			at := want.Instructions / frac
			what := fmt.Sprintf("fpu-loop saved under %s at %d of %d, continued under %s", pair[0], at, want.Instructions, pair[1])
			got := saveRestore(t, w, img, from, to, at)
			if got.Serial != want.Serial || got.Stop.Kind != vmm.StopExit {
				t.Errorf("%s: %s %q, want %q", what, got.Stop, got.Serial, want.Serial)
			}
		}
	}
}
