package vmm

import (
	"strings"
	"testing"
	"time"

	"virtsim/guest"
)

// flat boots hand-assembled code as a flat binary at 1 MiB under native.
func flat(t *testing.T, code []byte, cfg Config) *Result {
	t.Helper()
	img, err := guest.LoadFlat(code, guest.DefaultLoadAddr, DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	s, err := LookupStrategy("native")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := s.New(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	if _, err := inst.Run(); err != nil {
		t.Fatal(err)
	}
	return inst.Result()
}

func TestMachineStops(t *testing.T) {
	tests := []struct {
		name   string
		code   []byte
		cfg    Config
		kind   StopKind
		reason string
		pc     uint32
	}{
		{"debug exit status", []byte{
			0xB0, 0x05, // mov $5,%al
			0xE6, 0xF4, // out %al,$0xf4
			0xEB, 0xFE, // jmp .
		}, Config{}, StopExit, "", 0x100002},
		{"triple fault: ud2 with no IDT", []byte{0x90, 0x0F, 0x0B}, Config{}, StopCrash, "triple fault", 0x100001},
		{"instruction budget", []byte{0xEB, 0xFE}, Config{Count: true, InsnBudget: 100000}, StopBudget, "instruction budget of 100000", 0x100000},
		{"time budget", []byte{0xEB, 0xFE}, Config{TimeBudget: 50 * time.Millisecond}, StopBudget, "time budget", 0x100000},
		{"hlt forever", []byte{0xFA, 0xF4}, Config{}, StopHalted, "interrupts disabled", 0x100001},
		{"access outside RAM", []byte{
			0xA1, 0x00, 0x00, 0x00, 0x80, // mov 0x80000000,%eax
		}, Config{}, StopCrash, "unmapped", 0x100000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := flat(t, tt.code, tt.cfg)
			if res.Stop.Kind != tt.kind || !strings.Contains(res.Stop.Reason, tt.reason) || res.Stop.PC != tt.pc {
				t.Errorf("stop = %+v, want kind %v at %#x mentioning %q", res.Stop, tt.kind, tt.pc, tt.reason)
			}
			if res.Exits != 0 {
				t.Errorf("native made %d exits", res.Exits)
			}
		})
	}
}

func TestInstructionCountExact(t *testing.T) {
	code := []byte{
		0xB9, 0x0A, 0x00, 0x00, 0x00, // mov $10,%ecx
		0xE2, 0xFE, //                   loop .
		0x31, 0xC0, //                   xor %eax,%eax
		0xE6, 0xF4, //                   out %al,$0xf4
	}
	res := flat(t, code, Config{Count: true})
	// mov + 10×loop + xor + out
	if res.Stop.Kind != StopExit || res.Instructions != 13 {
		t.Errorf("stop %v, instructions %d, want exit after 13", res.Stop, res.Instructions)
	}
}

func TestStep(t *testing.T) {
	code := []byte{
		0x90,       // nop
		0x40,       // inc %eax
		0xE6, 0x80, // out %al,$0x80
		0x40,       // inc %eax
		0xB0, 0x00, // mov $0,%al
		0xE6, 0xF4, // out %al,$0xf4
	}
	img, _ := guest.LoadFlat(code, guest.DefaultLoadAddr, DefaultMemSize)
	s, _ := LookupStrategy("native")
	inst, err := s.New(img, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	wantPCs := []uint32{0x100001, 0x100002, 0x100004, 0x100005, 0x100007}
	for i, want := range wantPCs {
		st, err := inst.Step()
		if err != nil {
			t.Fatal(err)
		}
		if st.PC != want {
			t.Fatalf("step %d: pc %#x, want %#x", i, st.PC, want)
		}
	}
	st, _ := inst.Step()
	if st.Kind != StopExit {
		t.Errorf("last step: %v", st)
	}
	if n := inst.Result().Counts[Key{"io/out:0x80", MechMachine}]; n != 1 {
		t.Errorf("out 0x80 counted %d times", n)
	}
}

// Interrupt pauses a running guest from another goroutine; the run can go
// on afterwards, and paused time does not count against the time budget.
func TestInterrupt(t *testing.T) {
	img, _ := guest.LoadFlat([]byte{0xEB, 0xFE}, guest.DefaultLoadAddr, DefaultMemSize) // jmp .
	s, _ := LookupStrategy("native")
	inst, err := s.New(img, Config{TimeBudget: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	for round := 0; round < 3; round++ {
		done := make(chan Stop, 1)
		go func() {
			st, err := inst.Run()
			if err != nil {
				t.Error(err)
			}
			done <- st
		}()
		time.Sleep(50 * time.Millisecond)
		inst.(Interrupter).Interrupt()
		select {
		case st := <-done:
			if st.Kind != StopNone || st.PC != 0x100000 {
				t.Fatalf("round %d: interrupted run ended %+v", round, st)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Interrupt did not pause the run")
		}
		time.Sleep(time.Second) // paused: must not eat the 2 s budget
	}
	st, _ := inst.Run()
	if st.Kind != StopBudget {
		t.Fatalf("final run: %v, want the time budget", st)
	}
	if w := inst.Result().Wall; w < 2*time.Second || w > 3*time.Second {
		t.Errorf("budget stopped after %v of running, want about 2s", w)
	}
}
