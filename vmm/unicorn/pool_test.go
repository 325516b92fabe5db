package unicorn

import (
	"errors"
	"testing"
)

// A recycled engine starts as a new one: no memory, no hooks, the CPU of
// a new engine, no translated code of the last run.
func TestPoolRecycles(t *testing.T) {
	var p Pool
	defer p.Close()
	fresh, err := New()
	if err != nil {
		t.Fatal(err)
	}
	want := map[Reg]uint32{}
	for _, r := range []Reg{EAX, ESP, EIP, EFLAGS, CS, SS, CR0, CR3, CR4} {
		want[r] = reg(t, fresh, r)
	}
	fresh.Close()

	e, err := p.Get()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.MemMap(memBase, memSize, ProtAll); err != nil {
		t.Fatal(err)
	}
	if err := e.MemMapHost(0x20000, 0x1000, ProtAll); err != nil {
		t.Fatal(err)
	}
	// First run: the code at codeAddr stores 1 and counts outs.
	code := cat(insMovEAX1, insStore, insOutAl80)
	if err := e.MemWrite(codeAddr, code); err != nil {
		t.Fatal(err)
	}
	outs := 0
	if _, err := e.HookOut(func(port uint32, size int, v uint32) { outs++ }); err != nil {
		t.Fatal(err)
	}
	setReg(t, e, CR0, reg(t, e, CR0)|1<<16) // WP: a CPU change the recycling must undo
	runAll(t, e, code)
	if outs != 1 || reg(t, e, EAX) != 1 {
		t.Fatalf("first run: %d outs, eax %#x", outs, reg(t, e, EAX))
	}
	if err := p.Put(e); err != nil {
		t.Fatal(err)
	}

	e2, err := p.Get()
	if err != nil {
		t.Fatal(err)
	}
	if e2 != e || p.Opened != 1 || p.Reused != 1 {
		t.Fatalf("not reused: same %v opened %d reused %d", e2 == e, p.Opened, p.Reused)
	}
	for r, v := range want {
		if got := reg(t, e2, r); got != v {
			t.Errorf("%v = %#x after recycling, a new engine has %#x", r, got, v)
		}
	}
	var b [1]byte
	if err := e2.MemRead(codeAddr, b[:]); !errors.Is(err, ErrReadUnmapped) {
		t.Errorf("memory still mapped after recycling: %v", err)
	}
	// Same addresses, other code: the old translation must not run, the
	// old hook must not fire.
	if err := e2.MemMap(memBase, memSize, ProtAll); err != nil {
		t.Fatal(err)
	}
	code2 := cat(insMovEAX1, insIncEAX, insNop, insNop, insNop)
	if err := e2.MemWrite(codeAddr, code2); err != nil {
		t.Fatal(err)
	}
	if err := e2.MemRead(dataAddr, b[:]); err != nil || b[0] != 0 {
		t.Errorf("recycled memory not zero: %v %#x", err, b[0])
	}
	setReg(t, e2, ESP, stackTop)
	runAll(t, e2, code2)
	if outs != 1 || reg(t, e2, EAX) != 2 {
		t.Errorf("second run: %d outs (the first run's hook fired), eax %#x", outs, reg(t, e2, EAX))
	}
	if err := p.Put(e2); err != nil {
		t.Fatal(err)
	}
	// A nil pool opens and closes.
	var np *Pool
	e3, err := np.Get()
	if err != nil {
		t.Fatal(err)
	}
	if err := np.Put(e3); err != nil || e3.uc != nil {
		t.Errorf("nil pool Put: %v, closed %v", err, e3.uc == nil)
	}
}
