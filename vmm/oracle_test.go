package vmm_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"virtsim/guest"
	"virtsim/internal/qemu"
	"virtsim/vmm"
	"virtsim/vmm/vmmtest"
)

// oracleNs are the two iteration counts every workload runs at.
var oracleNs = []int{3, 17}

func load(t *testing.T, w guest.Workload) *guest.Image {
	t.Helper()
	img, err := w.Load(vmm.DefaultMemSize)
	if err != nil {
		t.Fatalf("%s: %v", w.Name, err)
	}
	return img
}

func runNative(t *testing.T, img *guest.Image, args string) *vmm.Result {
	t.Helper()
	return vmmtest.Run(t, "native", img, args, vmm.Config{TimeBudget: 20 * time.Second})
}

// TestNativeMatchesQEMU boots every workload under QEMU (TCG, -cpu qemu32)
// and under native, at two values of N: serial output and exit status
// must be identical.
func TestNativeMatchesQEMU(t *testing.T) {
	if err := qemu.Available(); err != nil {
		t.Skip(err)
	}
	for _, w := range guest.All() {
		for _, n := range oracleNs {
			args := fmt.Sprintf("n=%d", n)
			t.Run(w.Name+"/"+args, func(t *testing.T) {
				t.Parallel()
				var disk []byte
				if w.Disk != nil {
					var err error
					if disk, err = w.Disk(); err != nil {
						t.Fatal(err)
					}
				}
				q, err := qemu.RunWithDisk(w.Image, args, disk, 60*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				res := runNative(t, load(t, w), args)
				if res.Serial != q.Serial {
					t.Errorf("serial output differs\nnative:\n%s\nqemu:\n%s", res.Serial, q.Serial)
				}
				v, exited := q.GuestStatus()
				switch {
				case exited && (res.Stop.Kind != vmm.StopExit || int(res.Stop.Status) != v):
					t.Errorf("QEMU: guest exited with %d; native: %s", v, res.Stop)
				case !exited && res.Stop.Kind != vmm.StopCrash:
					t.Errorf("QEMU ended with status %d (triple fault); native: %s", q.Status, res.Stop)
				}
				if res.Stop.Kind != vmm.StopExit || res.Stop.Status != 0 {
					t.Errorf("%s did not succeed: %s\n%s", w.Name, res.Stop, res.Serial)
				}
			})
		}
	}
}

// TestNativeGolden pins native's event counts for every workload.
func TestNativeGolden(t *testing.T) {
	golden := filepath.Join("testdata", "native.golden")
	for _, w := range guest.All() {
		for _, n := range oracleNs {
			args := fmt.Sprintf("n=%d", n)
			t.Run(w.Name+"/"+args, func(t *testing.T) {
				res := runNative(t, load(t, w), args)
				if res.Exits != 0 {
					t.Errorf("native made %d exits", res.Exits)
				}
				for k := range res.Counts {
					if k.Mech != vmm.MechMachine {
						t.Errorf("native event %s has mechanism %s", k.Cause, k.Mech)
					}
				}
				vmmtest.CheckGolden(t, golden, res)
			})
		}
	}
}

// TestNativeDeterministic: two counting runs agree exactly, and the counts
// grow linearly in N, with the documented per-iteration events.
func TestNativePerIteration(t *testing.T) {
	one := func(cause string) map[vmm.Key]uint64 {
		return map[vmm.Key]uint64{{Cause: cause, Mech: vmm.MechMachine}: 1}
	}
	perIter := map[string]map[vmm.Key]uint64{
		"io":         one("io/out:0x80"),
		"io-in":      one("io/in:0x80"),
		"syscall":    one("int/0x80"),
		"divzero":    one("exc/#DE"),
		"cpuid":      one("cpuid"),
		"pgfault":    one("exc/#PF"),
		"pftrue":     one("exc/#PF"),
		"sysenter":   one("priv/sysenter"),
		"higherhalf": one("int/0x80"),
		// fork, exit, wait; a COW copy in the child, a COW reuse in the parent
		"forkwait": {{Cause: "int/0x80", Mech: vmm.MechMachine}: 3, {Cause: "exc/#PF", Mech: vmm.MechMachine}: 2},
	}
	for _, w := range guest.All() {
		law, ok := perIter[w.Name]
		if !ok {
			continue
		}
		t.Run(w.Name, func(t *testing.T) {
			img := load(t, w)
			a := runNative(t, img, "n=10")
			b := runNative(t, img, "n=20")
			for key, per := range law {
				if d := b.Counts[key] - a.Counts[key]; d != 10*per {
					t.Errorf("%s %s: count(n=20)-count(n=10) = %d, want 10×%d", key.Cause, key.Mech, d, per)
				}
			}
			again := runNative(t, img, "n=10")
			if !again.Counts.Equal(a.Counts) || again.Instructions != a.Instructions {
				t.Errorf("two runs differ: %d vs %d instructions", a.Instructions, again.Instructions)
			}
			if !strings.Contains(a.Serial, w.Name) {
				t.Errorf("serial %q does not name the workload", a.Serial)
			}
		})
	}
}

// A run with UntilOutput ends as a success at the port write of the text's
// last byte, with the output up to it and counts that repeat exactly.
func TestUntilOutput(t *testing.T) {
	w, err := guest.Lookup("hello")
	if err != nil {
		t.Fatal(err)
	}
	img := load(t, w)
	full := runNative(t, img, "n=3")
	first, _, ok := strings.Cut(full.Serial, "\n")
	if !ok {
		t.Fatalf("hello printed one line only: %q", full.Serial)
	}
	want := first + "\n"
	for _, s := range []string{"native"} { // the strategies share the machine's serial port
		var got [2]*vmm.Result
		for i := range got {
			got[i] = vmmtest.Run(t, s, img, "n=3", vmm.Config{TimeBudget: 20 * time.Second, UntilOutput: want})
		}
		r := got[0]
		if r.Stop.Kind != vmm.StopExit || r.Stop.Status != 0 || !strings.Contains(r.Stop.Reason, "--until-output") {
			t.Errorf("%s: stop %v, want a success naming --until-output", s, r.Stop)
		}
		if r.Serial != want {
			t.Errorf("%s: serial %q, want %q", s, r.Serial, want)
		}
		if r.Instructions == 0 || r.Instructions >= full.Instructions || r.Instructions != got[1].Instructions {
			t.Errorf("%s: %d and %d instructions (the whole run: %d)", s, r.Instructions, got[1].Instructions, full.Instructions)
		}
	}
}
