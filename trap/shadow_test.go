package trap_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"virtsim/difftest"
	"virtsim/guest"
	"virtsim/internal/qemu"

	"virtsim/trap"
	"virtsim/vmm"
	"virtsim/vmm/vmmtest"
)

// shadowLaws are trap's per-iteration laws for the paging workloads, by
// cause: what one more iteration costs under shadow paging, and why.
var shadowLaws = map[string]struct {
	per map[string]int
	why string
	// counters: the shadow MMU's own counters per iteration (the rest
	// may grow freely)
	counters map[string]int
}{
	"pgfault": {map[string]int{"exc/#PF": 1, trap.CausePFHidden: 1, trap.CausePTWrite: 2, "priv/invlpg": 1, "priv/mov-from-cr2": 1, "priv/iret": 1},
		"the touch of an unmapped page is a true fault (reflected), the handler's mov from CR2 and PTE write (traced) and its iret trap; the retried store fills the shadow (hidden, writable at once: it is a write); the unmap is a traced write and an invlpg", nil},
	"ptemod": {map[string]int{trap.CausePTWrite: 1, "priv/invlpg": 1, trap.CausePFHidden: 1},
		"each PTE write is a traced write and each invlpg traps; the use of the new mapping fills the shadow again (hidden)", nil},
	"pftrue": {map[string]int{"exc/#PF": 1, "priv/mov-from-cr2": 1, "priv/iret": 1},
		"the read of a page that is not present is a true fault (reflected); the handler's mov from CR2 and its iret trap; nothing is mapped, so nothing is traced or filled", map[string]int{"shadow/true": 1}},
	"ptestore": {map[string]int{},
		"the first store to the table in use is traced and drops its shadow; the table is not used again until after the loop, so no later store reaches the VMM (Adams & Agesen's VMware kept tracing: one trace per store)", nil},
	"forkwait": {map[string]int{"int/0x80": 3, "priv/mov-cr3": 2, "exc/#PF": 2, "priv/mov-from-cr2": 2,
		trap.CausePTWrite: 3, "priv/invlpg": 2, trap.CausePFHidden: 6},
		"fork, exit and wait trap from ring 3; fork and exit each load CR3 (a cached shadow); the child's write to the shared page and the parent's later write are true faults (COW copy, COW reuse), each handler reading CR2, writing the PTE (traced) and invlpg; fork's write-protect of the parent's PTE is traced; the child's table is traced only while the child's shadow derives from it: exit's first store into it, from the parent's address space, drops the child's shadow table (shadow/unshadowed) and then fills the parent's entry for it writable (a hidden fault), so the rest of exit's stores and the next fork's 2 are plain; the shadow is filled again where a traced write removed it: the parent's read and write of its data page, the child's read and write of it and its read of the read-only page (the kernel stack the deliveries push onto stays mapped)",
		map[string]int{"shadow/cache-hits": 2, "shadow/cache-misses": 0, "shadow/true": 2, "shadow/hidden": 6, "shadow/pt-writes": 3, "shadow/unshadowed": 1}},
	"higherhalf": {map[string]int{"priv/mov-cr3": 2, trap.CausePTWrite: 2, "priv/invlpg": 2, "int/0x80": 1, trap.CausePFHidden: 2, trap.CauseVMMAlias: 0},
		"two address-space switches (the shadow cache hits), two traced PTE writes each followed by an invlpg and a use (hidden) of the flipped alias, one system call from ring 3; its reads of its own tables through the recursive entry (aliased where the VMM's region lies) happen once, at boot", nil},
}

// shadowSpaces is how many address spaces (guest CR3 values) each paging
// workload uses: the shadow cache misses once per space.
var shadowSpaces = map[string]uint64{"pgfault": 1, "ptemod": 1, "pftrue": 1, "ptestore": 1, "forkwait": 2, "higherhalf": 2}

// The paging workloads print under trap what they print under native (which
// matches QEMU: vmm's oracle test), with their counts pinned.
func TestTrapShadowPaging(t *testing.T) {
	golden := filepath.Join("testdata", "trap.golden")
	for _, name := range []string{"pgfault", "ptemod", "pftrue", "ptestore", "forkwait", "higherhalf"} {
		for _, n := range []int{3, 17} {
			args := fmt.Sprintf("n=%d", n)
			t.Run(name+"/"+args, func(t *testing.T) {
				img := load(t, name)
				native := run(t, "native", img, args, vmm.Config{})
				got := run(t, "trap", img, args, vmm.Config{})
				if got.Stop.Kind != vmm.StopExit || got.Stop.Status != 0 {
					t.Fatalf("trap: %s\n%s", got.Stop, got.Serial)
				}
				if got.Serial != native.Serial {
					t.Errorf("serial differs from native\ntrap:\n%s\nnative:\n%s", got.Serial, native.Serial)
				}
				if got.Counters["shadow/cache-misses"] != shadowSpaces[name] {
					t.Errorf("shadow cache misses %d, want %d (one per address space)", got.Counters["shadow/cache-misses"], shadowSpaces[name])
				}
				vmmtest.CheckGolden(t, golden, got)
			})
		}
	}
}

func TestTrapShadowPerIteration(t *testing.T) {
	for name, law := range shadowLaws {
		t.Run(name, func(t *testing.T) {
			img := load(t, name)
			a := run(t, "trap", img, "n=10", vmm.Config{})
			b := run(t, "trap", img, "n=20", vmm.Config{})
			for cause, per := range law.per {
				k := vmm.Key{Cause: cause, Mech: vmm.MechTrap}
				if d := int(b.Counts[k]) - int(a.Counts[k]); d != 10*per {
					t.Errorf("%s: %d more for 10 more iterations, want 10×%d (%s)", cause, d, per, law.why)
				}
			}
			for c, per := range law.counters {
				if d := int(b.Counters[c]) - int(a.Counters[c]); d != 10*per {
					t.Errorf("counter %s: %d more for 10 more iterations, want 10×%d", c, d, per)
				}
			}
			sum := 0
			for _, per := range law.per {
				sum += per
			}
			if d := int(b.Counts.Exits()) - int(a.Counts.Exits()); d != 10*sum {
				t.Errorf("exits: %d more for 10 more iterations, want 10×%d: only the law's events may grow", d, sum)
			}
		})
	}
}

// A guest whose tables cover the VMM's region (higherhalf's recursive
// entry at 0xFFC00000) gets its own memory there: each access to one of
// the VMM's absent pages is one pf/vmm-alias, the same number at any N.
func TestTrapShadowAliasesVMMRegion(t *testing.T) {
	img := load(t, "higherhalf")
	native := run(t, "native", img, "n=3", vmm.Config{})
	a := run(t, "trap", img, "n=3", vmm.Config{})
	b := run(t, "trap", img, "n=6", vmm.Config{})
	if a.Stop.Kind != vmm.StopExit || a.Serial != native.Serial {
		t.Fatalf("trap: %s %q, native %q", a.Stop, a.Serial, native.Serial)
	}
	k := vmm.Key{Cause: trap.CauseVMMAlias, Mech: vmm.MechTrap}
	if a.Counts[k] == 0 || a.Counts[k] != b.Counts[k] || a.Counters["shadow/vmm-aliases"] != a.Counts[k] {
		t.Errorf("%s: %d at n=3, %d at n=6 (counter %d): want the same, nonzero", k.Cause, a.Counts[k], b.Counts[k], a.Counters["shadow/vmm-aliases"])
	}
}

// hostileImage assembles testdata/paging/hostile.S for one case.
func hostileImage(t *testing.T, c int) ([]byte, *guest.Image) {
	t.Helper()
	if err := difftest.ToolsAvailable(); err != nil {
		t.Skip(err)
	}
	src, err := os.ReadFile(filepath.Join("testdata", "paging", "hostile.S"))
	if err != nil {
		t.Fatal(err)
	}
	elf, err := difftest.Assemble(fmt.Sprintf(".set CASE, %d\n", c)+string(src), filepath.Join("..", "difftest", "corpus"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := guest.LoadELF(elf, vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	return elf, img
}

// asQEMU in a hostile case's expectations: the run must print what QEMU
// prints.
const asQEMU = "=qemu"

// Hostile page tables: a frame beyond RAM, a mapping of the physical top of
// memory where the VMM lives, CR3 outside RAM stop with a clear report under
// native and trap (never a VMM crash, never a write into the VMM); a table
// that maps itself writable and is edited through itself runs as on QEMU;
// the guest's own code on its page over the VMM's stops trap and bt with a
// report (QEMU runs it).
func TestHostilePageTables(t *testing.T) {
	for _, c := range []struct {
		n    int
		name string
		want map[string]string // strategy -> what the crash report says ("" = must match QEMU)
	}{
		{1, "frame beyond RAM", map[string]string{"native": "unmapped address 0x7ff00000", "trap": "beyond guest RAM"}},
		{2, "frame in the VMM region", map[string]string{"native": "unmapped address 0xfffff000", "trap": "beyond guest RAM"}},
		{3, "CR3 outside RAM", map[string]string{"native": "", "trap": ""}},
		{4, "a table mapping itself", nil},
		{5, "own pages over the VMM region", nil},
		{6, "table writes by other than mov", nil},
		{7, "the APIC through the guest's tables", nil},
		{8, "a table written while paging is off", nil},
		{10, "CR0.WP set after a kernel write to a read-only page", nil},
		{11, "own code over the VMM's data", map[string]string{"native": asQEMU, "trap": "not supported", "bt": "not supported"}},
		{12, "own code over the machine's trampoline", map[string]string{"native": asQEMU, "trap": "not supported", "bt": "not supported"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			elf, img := hostileImage(t, c.n)
			for _, s := range []string{"native", "trap", "bt"} {
				if _, listed := c.want[s]; c.want != nil && !listed {
					continue
				}
				got := run(t, s, img, "", vmm.Config{})
				if c.want == nil || c.want[s] == asQEMU {
					if qemu.Available() != nil {
						t.Skip(qemu.Available())
					}
					q, err := qemu.Run(elf, "", 30*time.Second)
					if err != nil {
						t.Fatal(err)
					}
					if got.Serial != q.Serial || got.Stop.Kind != vmm.StopExit {
						t.Errorf("%s: %s %q, QEMU %q", s, got.Stop, got.Serial, q.Serial)
					}
					continue
				}
				if got.Stop.Kind != vmm.StopCrash || !strings.Contains(got.Stop.Reason, c.want[s]) {
					t.Errorf("%s: %s (%q), want a crash report containing %q", s, got.Stop.Kind, got.Stop.Reason, c.want[s])
				}
			}
		})
	}
}

// A guest page mapped where the VMM keeps a page the CPU must reach (trap's
// GDT at 0xFF000000) is the guest's: its load there reads what it stored,
// as on QEMU (native reads the guest's page too), one mem/vmm-overlay event
// for the load (the store went to the frame's own address); the VMM's own GDT is untouched (the run
// goes on through segment loads and deliveries). difftest's corpus guest
// vmmover covers every kind of such page against QEMU.
func TestHostileOverlapEmulated(t *testing.T) {
	_, img := hostileImage(t, 9)
	native := run(t, "native", img, "", vmm.Config{})
	if native.Serial != "00009999\n" {
		t.Fatalf("native: %q", native.Serial)
	}
	for _, s := range []string{"trap", "bt"} {
		got := run(t, s, img, "", vmm.Config{})
		if got.Serial != native.Serial || got.Stop.Kind != vmm.StopExit {
			t.Errorf("%s: %s %q, native %q", s, got.Stop, got.Serial, native.Serial)
		}
		k := vmm.Key{Cause: vmm.CauseVMMOverlay, Mech: vmm.MechTrap}
		if got.Counts[k] != 1 {
			t.Errorf("%s: %d %s events, want 1 (the load)", s, got.Counts[k], k.Cause)
		}
		for _, n := range got.Notes {
			if strings.Contains(n, "keeps its own") {
				t.Errorf("%s: a note of a limit that no longer applies: %q", s, n)
			}
		}
	}
}

// The paging view names an overlaid page for what it is.
func TestPagingViewOverlay(t *testing.T) {
	_, img := hostileImage(t, 9)
	for _, s := range []string{"trap", "bt"} {
		st, err := vmm.LookupStrategy(s)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := st.New(img, vmm.Config{}.WithDefaults())
		if err != nil {
			t.Fatal(err)
		}
		if stop, err := inst.Run(); err != nil || stop.Kind != vmm.StopExit {
			t.Fatalf("%s: %v %v", s, stop, err)
		}
		v := inst.(interface {
			Paging([]uint32, int) vmm.PagingView
		}).Paging([]uint32{0xFF000000}, 0)
		if len(v.Rows) != 1 || !v.Rows[0].Differs || !strings.Contains(v.Rows[0].Why, vmm.CauseVMMOverlay) {
			t.Errorf("%s: rows %+v, want 0xff000000 marked %s", s, v.Rows, vmm.CauseVMMOverlay)
		}
	}
}

// The paging view: under native the guest's entries are the real ones;
// under trap the shadow lags behind the guest's tables (entries not yet
// filled, page tables read-only), and every difference says why.
func TestPagingView(t *testing.T) {
	img := load(t, "pgfault")
	for _, s := range []string{"native", "trap"} {
		st, err := vmm.LookupStrategy(s)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := st.New(img, vmm.Config{Args: "n=3"}.WithDefaults())
		if err != nil {
			t.Fatal(err)
		}
		if stop, err := inst.Run(); err != nil || stop.Kind != vmm.StopExit {
			t.Fatalf("%s: %v %v", s, stop, err)
		}
		pv, ok := inst.(interface {
			Paging([]uint32, int) vmm.PagingView
		})
		if !ok {
			t.Fatalf("%s has no paging view", s)
		}
		v := pv.Paging([]uint32{0x100000}, 64)
		differ := 0
		for _, r := range v.Rows {
			if r.Differs {
				differ++
				if r.Why == "" {
					t.Errorf("%s: %#x differs without a reason", s, r.Lin)
				}
			}
		}
		if !v.GuestPaging || len(v.Rows) < 10 {
			t.Errorf("%s: guest paging %v, %d rows", s, v.GuestPaging, len(v.Rows))
		}
		if (s == "native") != (differ == 0) {
			t.Errorf("%s: %d rows differ", s, differ)
		}
		inst.Close()
	}
}

// The paging view of a PAE guest (corpus pae, under native): the pages its
// PAE tables map, found through the PDPT, each as the walk
// translates it — 0xC0000000's 2 MiB alias among them.
func TestPagingViewPAE(t *testing.T) {
	if err := difftest.ToolsAvailable(); err != nil {
		t.Skip(err)
	}
	elf, err := difftest.BuildCorpus("pae")
	if err != nil {
		t.Fatal(err)
	}
	img, err := guest.LoadELF(elf, vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	st, err := vmm.LookupStrategy("native")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := st.New(img, vmm.Config{}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	if stop, err := inst.Run(); err != nil || stop.Kind != vmm.StopExit {
		t.Fatalf("%v %v", stop, err)
	}
	v := inst.(interface {
		Paging([]uint32, int) vmm.PagingView
	}).Paging(nil, 600)
	seen := map[uint32]bool{}
	for _, r := range v.Rows {
		seen[r.Lin] = true
		if !r.GuestPresent || r.Differs {
			t.Errorf("%#x: present %v, differs %v (%s)", r.Lin, r.GuestPresent, r.Differs, r.Why)
		}
	}
	for _, lin := range []uint32{0, 0x00200000, 0x00201000, 0x003FF000, 0xC0000000} {
		if !seen[lin] {
			t.Errorf("%#x missing from the view (%d rows)", lin, len(v.Rows))
		}
	}
	if len(v.Rows) != 2+512 {
		t.Errorf("%d rows, want 514: two 2 MiB pages and one table of 512", len(v.Rows))
	}
}
