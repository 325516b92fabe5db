package partition

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"virtsim/guest"
	_ "virtsim/hypercall"
	_ "virtsim/translate"
	_ "virtsim/trap"
	"virtsim/vmm"
)

// Hostile guests, as flat binaries at 1 MiB.
var hostile = map[string][]byte{
	"spin":   {0xEB, 0xFE},                                                 // jmp .
	"flood":  {0xBA, 0xF8, 0x03, 0x00, 0x00, 0xB0, 0x41, 0xEE, 0xEB, 0xFB}, // 1: mov $'A',%al; out %al,%dx; jmp 1b
	"triple": {0x0F, 0x0B},                                                 // ud2 with no IDT: #UD, #GP, #DF, shutdown
	"crash":  {0xA1, 0x00, 0x00, 0x00, 0xF0},                               // mov 0xf0000000,%eax: outside RAM
}

func hostileVM(t *testing.T, kind, strategy string) VM {
	t.Helper()
	img, err := guest.LoadFlat(hostile[kind], 0x100000, vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	img.Name = kind
	return VM{Name: kind, Image: kind + ".bin", Strategy: strategy, Img: img, MaxInsns: 400_000}
}

func goodVM(t *testing.T, name, guestName, args, strategy string, shares int) VM {
	t.Helper()
	v := VM{Name: name, Guest: guestName, Args: args, Strategy: strategy, Shares: shares}
	h := &Host{VMs: []VM{v}}
	if err := h.Resolve(""); err != nil {
		t.Fatal(err)
	}
	return h.VMs[0]
}

// alone runs one VM by itself.
func alone(t *testing.T, v VM) *vmm.Result {
	t.Helper()
	s, err := vmm.LookupStrategy(v.Strategy)
	if err != nil {
		t.Fatal(err)
	}
	res, err := vmm.RunGuest(s, v.Img, vmm.Config{Name: v.Name, Args: v.Args, InsnBudget: v.MaxInsns}, false)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestEightVMsTwoHostile: eight VMs under four strategies share the CPU;
// one spins forever and one floods its serial port. Each of the six
// others prints, stops and counts exactly what it does alone, and the
// hostile ones are stopped by their own budgets.
func TestEightVMsTwoHostile(t *testing.T) {
	h := &Host{Slice: 1000, VMs: []VM{
		goodVM(t, "hello-bt", "hello", "n=3", "bt", 1),
		goodVM(t, "io-trap", "io", "n=300", "trap", 2),
		goodVM(t, "timer-native", "timer", "n=3", "native", 1),
		hostileVM(t, "spin", "trap"),
		goodVM(t, "syscall-bt", "syscall", "n=200", "bt", 3),
		goodVM(t, "irq-pv", "irq-toggle", "n=200", "pv", 1),
		hostileVM(t, "flood", "bt"),
		goodVM(t, "disk-trap", "disk", "n=2", "trap", 1),
	}}
	rep, err := Run(h)
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := rep.Table(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	for _, v := range rep.VMs {
		if v.Err != nil || v.Result == nil {
			t.Fatalf("%s: %v", v.VM.Name, v.Err)
		}
		got := v.Result
		if _, bad := hostile[v.VM.Img.Name]; bad {
			if got.Stop.Kind != vmm.StopBudget || got.Instructions != v.VM.MaxInsns {
				t.Errorf("%s: %v after %d instructions, want its own budget of %d", v.VM.Name, got.Stop, got.Instructions, v.VM.MaxInsns)
			}
			continue
		}
		want := alone(t, v.VM)
		if got.Serial != want.Serial || got.Stop.Kind != want.Stop.Kind || got.Stop.Status != want.Stop.Status {
			t.Errorf("%s: printed %q and %v beside the others, %q and %v alone", v.VM.Name, got.Serial, got.Stop, want.Serial, want.Stop)
		}
		if !got.Counts.Equal(want.Counts) || got.Instructions != want.Instructions {
			t.Errorf("%s: %d instructions, %d events beside the others; %d and %d alone", v.VM.Name, got.Instructions, got.Counts.Total(), want.Instructions, want.Counts.Total())
		}
		if v.Slices < 1 {
			t.Errorf("%s never ran", v.VM.Name)
		}
	}
	if flood := rep.VMs[6].Result; !strings.HasPrefix(flood.Serial, "AAAA") || len(flood.Serial) < 100_000 {
		t.Errorf("the flood VM wrote %d bytes", len(flood.Serial))
	}
}

// A VM that crashes and one that triple-faults end alone; the others
// finish as they would alone.
func TestCrashingVMs(t *testing.T) {
	h := &Host{Slice: 3000, VMs: []VM{
		hostileVM(t, "crash", "native"),
		goodVM(t, "hello-trap", "hello", "n=2", "trap", 1),
		hostileVM(t, "triple", "trap"),
		goodVM(t, "divzero-native", "divzero", "n=50", "native", 1),
	}}
	rep, err := Run(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2} {
		if r := rep.VMs[i].Result; r.Stop.Kind != vmm.StopCrash {
			t.Errorf("%s: %v, want a crash", rep.VMs[i].VM.Name, r.Stop)
		}
	}
	if r := rep.VMs[2].Result; !strings.Contains(r.Stop.Reason, "triple fault") {
		t.Errorf("triple: %q, want a triple fault", r.Stop.Reason)
	}
	for _, i := range []int{1, 3} {
		v := rep.VMs[i]
		want := alone(t, v.VM)
		if v.Result.Serial != want.Serial || !v.Result.Counts.Equal(want.Counts) || v.Result.Instructions != want.Instructions {
			t.Errorf("%s: differs from its run alone", v.VM.Name)
		}
	}
}

// Host descriptions: the file format and its errors.
func TestParseHost(t *testing.T) {
	h, err := ParseHost([]byte(`{"slice": 1000, "vms": [{"name": "a", "guest": "hello", "strategy": "bt", "shares": 2}, {"guest": "io", "strategy": "trap"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if h.VMs[1].Name != "vm1" || h.VMs[1].Shares != 1 || h.VMs[0].Shares != 2 {
		t.Errorf("defaults not applied: %+v", h.VMs)
	}
	for _, c := range []struct{ in, want string }{
		{`{"vms": []}`, "no VMs"},
		{`{"vms": [{"guest": "hello", "strategy": "warp"}]}`, "warp"},
		{`{"vms": [{"strategy": "bt"}]}`, "give a guest"},
		{`{"vms": [{"name": "x", "guest": "hello", "strategy": "bt"}, {"name": "x", "guest": "io", "strategy": "bt"}]}`, "two VMs are named"},
		{`{"vms": [{"guest": "hello", "strategy": "bt", "cpus": 2}]}`, "unknown field"},
	} {
		if _, err := ParseHost([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseHost(%s): %v, want an error with %q", c.in, err, c.want)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "spin.bin"), hostile["spin"], 0o644); err != nil {
		t.Fatal(err)
	}
	h, err = ParseHost([]byte(fmt.Sprintf(`{"vms": [{"image": "spin.bin", "load": "0x100000", "strategy": "native"}]}`)))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Resolve(dir); err != nil || h.VMs[0].Img == nil {
		t.Errorf("Resolve: %v", err)
	}
}
