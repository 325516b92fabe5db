package unicorn

import (
	"errors"
	"testing"
)

// loop100 runs 1 + 2*100 = 201 instructions.
var loop100 = cat(
	[]byte{0xb9, 0x64, 0, 0, 0}, // 0x1000: mov $100,%ecx
	[]byte{0x49},                // 0x1005: 1: dec %ecx
	[]byte{0x75, 0xfd},          // 0x1006: jnz 1b
)

const loop100Insns = 201

func TestCounterCountsExactly(t *testing.T) {
	e := newVM(t, loop100)
	c, err := e.NewInsnCounter(0)
	if err != nil {
		t.Fatal(err)
	}
	runAll(t, e, loop100)
	if c.Count() != loop100Insns || c.Exhausted() {
		t.Errorf("Count %d Exhausted %v, want %d false", c.Count(), c.Exhausted(), loop100Insns)
	}
	runAll(t, e, loop100)
	if c.Count() != 2*loop100Insns {
		t.Errorf("after a second run Count = %d", c.Count())
	}
	c.Reset()
	if c.Count() != 0 {
		t.Errorf("after Reset Count = %d", c.Count())
	}
}

func TestCounterBudget(t *testing.T) {
	e := newVM(t, loop100)
	end := codeAddr + uint64(len(loop100))
	c, err := e.NewInsnCounter(50)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(codeAddr, end, 0, 0); err != nil {
		t.Fatal(err)
	}
	// 50 instructions: mov, 24 × (dec, jnz), dec. ECX = 100-25; next is jnz.
	if c.Count() != 50 || !c.Exhausted() {
		t.Fatalf("Count %d Exhausted %v, want 50 true", c.Count(), c.Exhausted())
	}
	if ecx, eip := reg(t, e, ECX), reg(t, e, EIP); ecx != 75 || eip != codeAddr+6 {
		t.Errorf("stopped with ECX %d EIP %#x, want 75 and %#x", ecx, eip, codeAddr+6)
	}
	// Restarting without a new budget stops at once, running nothing.
	if err := e.Start(codeAddr+6, end, 0, 0); err != nil {
		t.Fatal(err)
	}
	if c.Count() != 50 || reg(t, e, EIP) != codeAddr+6 {
		t.Errorf("exhausted counter let code run: Count %d EIP %#x", c.Count(), reg(t, e, EIP))
	}
	// Slices of 7 instructions until done: the total stays exact.
	for i := 0; ; i++ {
		if i > 100 {
			t.Fatal("did not finish")
		}
		c.SetBudget(c.Count() + 7)
		if c.Exhausted() {
			t.Fatal("SetBudget did not clear Exhausted")
		}
		eip := reg(t, e, EIP)
		if err := e.Start(uint64(eip), end, 0, 0); err != nil {
			t.Fatal(err)
		}
		if !c.Exhausted() {
			break
		}
	}
	if c.Count() != loop100Insns || reg(t, e, ECX) != 0 || reg(t, e, EIP) != uint32(end) {
		t.Errorf("after slices: Count %d ECX %d EIP %#x", c.Count(), reg(t, e, ECX), reg(t, e, EIP))
	}
	// Del keeps the last values and removes the hook.
	if err := c.Del(); err != nil {
		t.Fatal(err)
	}
	if err := c.Del(); err != nil {
		t.Errorf("second Del: %v", err)
	}
	runAll(t, e, loop100)
	if c.Count() != loop100Insns {
		t.Errorf("deleted counter still counting: %d", c.Count())
	}
}

// Two counters are independent; a counter deleted from inside a hook stops
// counting at once; Close frees counters.
func TestCounterDelInsideHook(t *testing.T) {
	code := cat(insNop, insNop, insInt80, insNop, insNop)
	e := newVM(t, code)
	a, _ := e.NewInsnCounter(0)
	b, _ := e.NewInsnCounter(0)
	if _, err := e.HookIntr(func(uint32) {
		if err := b.Del(); err != nil {
			t.Error(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	runAll(t, e, code)
	if a.Count() != 5 || b.Count() != 3 {
		t.Errorf("counts %d %d, want 5 3", a.Count(), b.Count())
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if a.Count() != 5 {
		t.Errorf("count after Close = %d", a.Count())
	}
	if _, err := e.NewInsnCounter(0); !errors.Is(err, ErrHandle) {
		t.Errorf("NewInsnCounter after Close: %v", err)
	}
}
