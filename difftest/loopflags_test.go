package difftest

import (
	"strings"
	"testing"
	"time"

	"virtsim/guest"
	"virtsim/internal/qemu"
	"virtsim/vmm"
)

// TestUninstrumentedFlags: a run without instrumentation (a timing pass:
// no counter, Unicorn's blocks long) computes the flags the counting pass
// does after loope/loopne end a loop by ECX reaching 0, and after
// cmpxchg8b, right after an instruction that set the flags. Unicorn 2.1.1
// lost them there (pushf read garbage, TF included, so bt took a #DB):
// vmm.LosesFlagsMidBlock, Engine.HookFlagsSync at the image's sites, bt's
// jmp before each translated one. QEMU 7.2 agrees on the loops; on
// cmpxchg8b it has the fault itself (rule qemu-cmpxchg8b).
func TestUninstrumentedFlags(t *testing.T) {
	if err := ToolsAvailable(); err != nil {
		t.Skip(err)
	}
	var ss []Stream
	for i, body := range [][]string{
		{"mov $1, %ecx", "8: add $0xffffffff, %edx", "loopne 8b", "pushf", "pop %eax"},
		{"mov $2, %ecx", "8: add $0xffffffff, %edx", "loopne 8b", "lahf"},
		{"mov $1, %ecx", "8: cmp %eax, %eax", "loope 8b", "pushf", "pop %ebx"},
		{"mov $3, %ecx", "8: sub $1, %esi", "loope 8b", "setc %al", "setz %bl"},
		{"add %eax, %eax", "cmpxchg8b scratch+128", "pushf", "pop %eax"}, // the last: QEMU differs
	} {
		s := Generate(FamALU, int64(i), 1)
		s.Insns = body
		ss = append(ss, s)
	}
	elf, err := Assemble(Render(ss), "")
	if err != nil {
		t.Fatal(err)
	}
	want, err := RunVM("native", elf, 0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(want.Serial, "\nS") < len(ss)-1 || strings.Contains(want.Serial, " X ") {
		t.Fatalf("the counting pass did not run every stream cleanly:\n%s", want.Serial)
	}
	if qemu.Available() == nil {
		q, err := RunQEMU(elf, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		w, g := reports(want, len(ss)), reports(q, len(ss))
		for i := 0; i < len(ss)-1; i++ {
			if w[i] != g[i] {
				t.Errorf("stream %d: native's counting pass\n%s\nQEMU\n%s", i, w[i], g[i])
			}
		}
	}
	for _, name := range Strategies {
		s, err := vmm.LookupStrategy(name)
		if err != nil {
			t.Fatal(err)
		}
		img, err := guest.LoadELF(elf, vmm.DefaultMemSize)
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		cfg := vmm.Config{Count: false, TimeBudget: 30 * time.Second, Serial: func(b byte) { out.WriteByte(b) }}
		inst, err := s.New(img, cfg.WithDefaults())
		if err != nil {
			t.Fatal(err)
		}
		st, err := inst.Run()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := (Outcome{Serial: out.String(), End: endOf(st)}); got != want {
			t.Errorf("%s without instrumentation\n%s\ncounting pass\n%s", name, got, want)
		}
	}
}
