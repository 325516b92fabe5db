package translate

import (
	"strings"
	"testing"
	"time"

	"virtsim/vmm"
)

// Single steps (the TUI's) move one guest instruction at a time: every
// stop is a guest address, and a guest stepped to the end prints what it
// prints natively. Stepping makes every translated instruction the start
// of a Unicorn block, so this also exercises the TC-to-guest map at every
// point where the clock may deliver an interrupt.
func TestStep(t *testing.T) {
	for _, name := range []string{"hello", "divzero", "syscall", "pgprobe", "irq-toggle", "timer"} {
		t.Run(name, func(t *testing.T) {
			img := load(t, name)
			args := "n=1"
			native := run(t, "native", img, args)
			b, err := NewBT(img, vmm.Config{Args: args, TimeBudget: 60 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			steps := 0
			for ; steps < 2_000_000; steps++ {
				st, err := b.Step()
				if err != nil {
					t.Fatalf("step %d: %v", steps, err)
				}
				if st.Kind != vmm.StopNone {
					break
				}
				if pc := b.Reg(ucEIP); b.inCode(pc) {
					p, ok := b.points[pc]
					if !ok || (p.kind != ptBoundary && p.kind != ptShadow) {
						t.Fatalf("step %d stopped at %#x, inside a translation", steps, pc)
					}
				}
				if s, _ := b.Virtual(); s.EIP >= vmm.VMMBase {
					t.Fatalf("step %d: the virtual EIP is %#x", steps, s.EIP)
				}
			}
			res := b.Result()
			if res.Serial != native.Serial || res.Stop.Kind != native.Stop.Kind {
				t.Errorf("stepped %d times: %s\n%s\nnative: %s\n%s", steps, res.Stop, res.Serial, native.Stop, native.Serial)
			}
		})
	}
}

// The terminal UI's translation view: a block by TC or guest address.
func TestTranslationView(t *testing.T) {
	img := load(t, "irq-toggle")
	b, err := NewBT(img, vmm.Config{Args: "n=3"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.KeepHistory()
	if _, err := b.Run(); err != nil {
		t.Fatal(err)
	}
	loop := symbol(t, img, "irq_toggle_loop")
	g, tc, ok := b.Translation(loop)
	if !ok {
		t.Fatalf("no translation of irq_toggle_loop (%#x)", loop)
	}
	if !strings.Contains(g, "cli") || !strings.Contains(g, "in-tc priv/cli") || !strings.Contains(tc, "vcpu.IF") {
		t.Errorf("guest:\n%s\ntranslation:\n%s", g, tc)
	}
	blk := b.live(loop)
	if g2, _, ok := b.Translation(blk.tc + 1); !ok || g2 != g {
		t.Errorf("by TC address: ok=%v\n%s", ok, g2)
	}
	if _, _, ok := b.Translation(0x800000); ok {
		t.Errorf("a translation of untranslated code")
	}
	var sb strings.Builder
	if err := b.Listing(&sb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sb.String(), "block 1: guest ") || !strings.Contains(sb.String(), "| ") {
		t.Errorf("listing:\n%s", sb.String())
	}
}
