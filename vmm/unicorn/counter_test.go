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

// A range counter counts and budgets only the instructions in [begin, end].
func TestCounterRange(t *testing.T) {
	// loop100i, then a "trampoline" at handlerAddr that the guest never
	// reaches by itself: the run starts there and it jumps to the loop.
	tramp := cat([]byte{0x90, 0x90, 0xbd, 0, 0x10, 0, 0}, []byte{0xff, 0xe5}) // nop; nop; mov $0x1000,%ebp; jmp *%ebp
	cases := []struct {
		name       string
		begin, end uint64
		budget     uint64
		want       uint64
		exhausted  bool
		stopEIP    uint32 // where a budget stop leaves EIP
	}{
		{"all addresses", 1, 0, 0, 4 + loop100Insns + 1, false, 0},
		{"guest only", codeAddr, codeAddr + 0xfff, 0, loop100Insns + 1, false, 0},
		{"trampoline only", handlerAddr, handlerAddr + 0xfff, 0, 4, false, 0},
		{"loop body, inclusive end", loopBody, loopBody + 1, 0, 200, false, 0},
		{"single instruction", loopBody + 1, loopBody + 1, 0, 100, false, 0},
		{"nothing there", 0x8000, 0x8fff, 0, 0, false, 0},
		// The budget counts in-range instructions only: the trampoline's 4
		// do not use it up.
		{"budget in range", codeAddr, codeAddr + 0xfff, 3, 3, true, loopBody},
		{"budget outside the range never stops", 0x8000, 0x8fff, 1, 0, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newVM(t, loop100i)
			if err := e.MemWrite(handlerAddr, tramp); err != nil {
				t.Fatal(err)
			}
			stopOnInt80(t, e)
			ctr, err := e.NewInsnCounterRange(c.begin, c.end, c.budget)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Start(handlerAddr, 0, 0, 0); err != nil {
				t.Fatal(err)
			}
			if ctr.Count() != c.want || ctr.Exhausted() != c.exhausted {
				t.Errorf("Count %d Exhausted %v, want %d %v", ctr.Count(), ctr.Exhausted(), c.want, c.exhausted)
			}
			wantEIP := uint32(loopExit + 2)
			if c.exhausted {
				wantEIP = c.stopEIP
			}
			if eip := reg(t, e, EIP); eip != wantEIP {
				t.Errorf("EIP %#x, want %#x", eip, wantEIP)
			}
		})
	}
}

// The counter serves sites from its C table: the callback runs before each
// instruction at a site, after it was counted, with EIP exact; a site added
// while translations exist is served without retranslation; Del stops it.
func TestCounterServesSites(t *testing.T) {
	e := newVM(t, loop100)
	c, err := e.NewInsnCounter(0)
	if err != nil {
		t.Fatal(err)
	}
	type hit struct {
		addr  uint64
		count uint64
		eip   uint32
	}
	var hits []hit
	if err := c.ServeSites(func(addr uint64, size uint32) {
		hits = append(hits, hit{addr, c.Count(), reg(t, e, EIP)})
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.ServeSites(func(uint64, uint32) {}); err == nil {
		t.Error("a second ServeSites was accepted")
	}
	if err := c.AddSite(uint32(codeAddr)); err != nil { // mov $100,%ecx: once
		t.Fatal(err)
	}
	runAll(t, e, loop100)
	want := []hit{{codeAddr, 1, uint32(codeAddr)}}
	if len(hits) != 1 || hits[0] != want[0] {
		t.Fatalf("hits %+v, want %+v", hits, want)
	}
	// jnz at +6 runs 100 times, the 1st at count 3, then every 2nd.
	if err := c.AddSite(uint32(codeAddr + 6)); err != nil {
		t.Fatal(err)
	}
	if !c.HasSite(uint32(codeAddr+6)) || c.HasSite(uint32(codeAddr+5)) {
		t.Error("HasSite disagrees with AddSite")
	}
	hits = nil
	runAll(t, e, loop100)
	if len(hits) != 101 {
		t.Fatalf("%d hits on the second run, want 101", len(hits))
	}
	if h := hits[1]; h.addr != codeAddr+6 || h.count != loop100Insns+3 || h.eip != uint32(codeAddr+6) {
		t.Errorf("first jnz hit %+v, want addr %#x count %d", h, codeAddr+6, loop100Insns+3)
	}
	if err := c.Del(); err != nil {
		t.Fatal(err)
	}
	hits = nil
	runAll(t, e, loop100)
	if len(hits) != 0 {
		t.Errorf("%d hits after Del", len(hits))
	}
}

// Counted sites: each counts the executions of its instruction in C, none
// before the budget's stop, and keeps its count after UncountSite and Del.
func TestCounterCountsSites(t *testing.T) {
	e := newVM(t, loop100)
	c, err := e.NewInsnCounter(0)
	if err != nil {
		t.Fatal(err)
	}
	mov, dec, jnz := uint32(codeAddr), uint32(codeAddr+5), uint32(codeAddr+6)
	for _, a := range []uint32{mov, jnz} {
		if err := c.CountSite(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CountSite(mov); !errors.Is(err, ErrArg) {
		t.Errorf("a second CountSite of one address: %v, want ErrArg", err)
	}
	runAll(t, e, loop100)
	// A site added while translations exist counts without retranslation.
	if err := c.CountSite(dec); err != nil {
		t.Fatal(err)
	}
	runAll(t, e, loop100)
	for _, w := range []struct {
		addr uint32
		n    uint64
	}{{mov, 2}, {jnz, 200}, {dec, 100}, {dec + 100, 0}} {
		if got := c.SiteCount(w.addr); got != w.n {
			t.Errorf("SiteCount(%#x) = %d, want %d", w.addr, got, w.n)
		}
	}
	if n, err := c.UncountSite(jnz); err != nil || n != 200 {
		t.Errorf("UncountSite(jnz) = %d, %v, want 200", n, err)
	}
	if _, err := c.UncountSite(jnz); !errors.Is(err, ErrArg) {
		t.Errorf("a second UncountSite: %v, want ErrArg", err)
	}
	// The budget stops before the 51st instruction, the 26th jnz (mov,
	// then dec and jnz in turn): that one is not counted.
	c.SetBudget(c.Count() + 50)
	if err := c.CountSite(jnz); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(codeAddr, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if !c.Exhausted() || c.SiteCount(jnz) != 24 || c.SiteCount(dec) != 125 {
		t.Errorf("after the budget's stop: exhausted %v, jnz %d (want 24), dec %d (want 125)", c.Exhausted(), c.SiteCount(jnz), c.SiteCount(dec))
	}
	if err := c.Del(); err != nil {
		t.Fatal(err)
	}
	if c.SiteCount(dec) != 125 || c.SiteCount(mov) != 3 {
		t.Errorf("after Del: dec %d mov %d, want 125 3", c.SiteCount(dec), c.SiteCount(mov))
	}
}

// The site table holds many sites through growth and removal in any
// order (open addressing: a removal must not lose the entries after it).
func TestCounterSiteTable(t *testing.T) {
	e := newVM(t, loop100)
	c, err := e.NewInsnCounter(0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	addr := func(i int) uint32 { return 0xFF600000 + uint32(i*37%n)*16 }
	for i := 0; i < n; i++ {
		if err := c.CountSite(addr(i)); err != nil {
			t.Fatal(err)
		}
	}
	removed := map[uint32]bool{}
	for i := 0; i < n; i += 3 {
		a := addr(i * 7 % n)
		if removed[a] {
			continue
		}
		if _, err := c.UncountSite(a); err != nil {
			t.Fatalf("UncountSite(%#x): %v", a, err)
		}
		removed[a] = true
	}
	for i := 0; i < n; i++ {
		a := addr(i)
		err := c.CountSite(a)
		if removed[a] != (err == nil) {
			t.Fatalf("site %#x (removed %v): CountSite says %v", a, removed[a], err)
		}
	}
}
