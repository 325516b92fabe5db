package translate_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"virtsim/difftest"
	"virtsim/guest"
	_ "virtsim/translate"
	"virtsim/vmm"
	"virtsim/vmm/vmmtest"
)

// Hand-written paging guests (assembled with difftest, which imports this
// package: hence an external test package).

func run(t testing.TB, strategy string, img *guest.Image, args string) *vmm.Result {
	t.Helper()
	return vmmtest.Run(t, strategy, img, args, vmm.Config{TimeBudget: 60 * time.Second})
}

// assemblePaging assembles a hand-written paging guest (path relative to
// this package), prefixed with pre.
func assemblePaging(t *testing.T, path, pre string) *guest.Image {
	t.Helper()
	if err := difftest.ToolsAvailable(); err != nil {
		t.Skip(err)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	elf, err := difftest.Assemble(pre+string(src), filepath.Join("..", "difftest", "corpus"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := guest.LoadELF(elf, vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// nativeThenBT runs img under native and bt; both must print want (the
// guest's own answer), and bt's result is returned.
func nativeThenBT(t *testing.T, img *guest.Image, want string) *vmm.Result {
	t.Helper()
	if native := run(t, "native", img, ""); native.Serial != want {
		t.Fatalf("native printed %q, want %q", native.Serial, want)
	}
	got := run(t, "bt", img, "")
	if got.Stop.Kind != vmm.StopExit || got.Serial != want {
		t.Fatalf("bt: %s, printed %q, want %q", got.Stop, got.Serial, want)
	}
	return got
}

// Translated code stays coherent under paging: a remapped window, a patch
// through a writable alias of a translated frame, and an address-space
// switch each run the code the linear address holds now, as under native.
func TestBTPagingCoherence(t *testing.T) {
	img := assemblePaging(t, filepath.Join("testdata", "paging", "coherence.S"), "")
	const want = "11111111 22222222 33333333 11111111 33333333 44444444\n"
	got := nativeThenBT(t, img, want)
	c := got.Counters
	// The patch through the alias is one write to a protected frame; the
	// remap (2) and the switches (4, 5) each retire the window's block; the
	// store of 6 becomes a PT site at its first (traced) write, calls out
	// for its second and is dropped at its third.
	for k, v := range map[string]uint64{"bt/smc-faults": 1, "shadow/protected-writes": 1, "bt/remap-invalidations": 3,
		"shadow/cache-misses": 2, "shadow/cache-hits": 1, "bt/pt-sites": 1, "bt/pt-sites-dropped": 1, "bt/callouts/pt-store": 2} {
		if c[k] != v {
			t.Errorf("%s = %d, want %d", k, c[k], v)
		}
	}
}

// Hostile page tables (trap's hand-written guest) under bt: a frame beyond
// RAM or at the top of physical memory stops with a clear report, never
// touching the VMM; a table edited through its own mapping runs as under
// native.
func TestBTHostilePageTables(t *testing.T) {
	for _, c := range []struct {
		n    int
		name string
		want string // what the crash report says ("" = must print what native prints)
	}{
		{1, "frame beyond RAM", "beyond guest RAM"},
		{2, "frame in the VMM region", "beyond guest RAM"},
		{4, "a table mapping itself", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := assemblePaging(t, filepath.Join("..", "trap", "testdata", "paging", "hostile.S"), fmt.Sprintf(".set CASE, %d\n", c.n))
			got := run(t, "bt", img, "")
			if c.want == "" {
				native := run(t, "native", img, "")
				if got.Stop.Kind != vmm.StopExit || got.Serial != native.Serial {
					t.Errorf("bt: %s %q, native %q", got.Stop, got.Serial, native.Serial)
				}
				return
			}
			if got.Stop.Kind != vmm.StopCrash || !strings.Contains(got.Stop.Reason, c.want) {
				t.Errorf("bt: %s (%q), want a crash report containing %q", got.Stop.Kind, got.Stop.Reason, c.want)
			}
		})
	}
}

// A store inside an in-TC sequence that writes a traced page table (pushf
// with its stack on a table in use) is stepped on the sequence's own
// registers: the stack ends where native leaves it.
func TestBTPTStoreInSequence(t *testing.T) {
	img := assemblePaging(t, filepath.Join("testdata", "paging", "pushfpt.S"), "")
	const want = "00001000\n"
	got := nativeThenBT(t, img, want)
	if n := got.Counts[vmm.Key{Cause: "pt/write", Mech: vmm.MechTrap}]; n < 2 {
		t.Errorf("pt/write by trap = %d, want the pushf and its merge store (2 or more)", n)
	}
}

// More address spaces than bt's shadow pool holds: a fill that runs out of
// pool pages flushes every shadow and rebuilds the one in force in a new
// directory, which the CPU is given (trap.VMM.ReloadShadowCR3); before, it
// kept walking the freed directory and the guest faulted forever.
func TestBTShadowPoolExhausted(t *testing.T) {
	img := assemblePaging(t, filepath.Join("testdata", "paging", "spaces.S"), "")
	const want = "000013ec\n"
	got := nativeThenBT(t, img, want)
	if got.Counters["shadow/flushes"] == 0 {
		t.Errorf("shadow/flushes = 0: the pool never ran out, the test tests nothing")
	}
}
