package translate

import (
	"fmt"
	"path/filepath"
	"testing"

	"virtsim/trap"
	"virtsim/vmm"
	"virtsim/vmm/vmmtest"
)

// btShadowLaws are bt's per-iteration laws for the paging workloads: what
// one more iteration costs under shadow paging, by cause and mechanism,
// and why. The translator's own work does not grow at all.
var btShadowLaws = map[string]struct {
	per map[vmm.Key]int
	why string
}{
	"pgfault": {map[vmm.Key]int{
		{Cause: "exc/#PF", Mech: vmm.MechTrap}:              1,
		{Cause: trap.CausePFHidden, Mech: vmm.MechTrap}:     1,
		{Cause: trap.CausePTWrite, Mech: vmm.MechCallout}:   2,
		{Cause: trap.CausePTWrite, Mech: vmm.MechTrap}:      0,
		{Cause: "priv/invlpg", Mech: vmm.MechCallout}:       1,
		{Cause: "priv/mov-from-cr2", Mech: vmm.MechCallout}: 1,
		{Cause: "priv/iret", Mech: vmm.MechCallout}:         1,
	}, "the touch of an unmapped page is a true fault (reflected to the handler's translation); the handler's mov from CR2, iret and PTE write call out (the store, a PT site since it first faulted on the traced table, is performed by the VMM without a fault); the retried store fills the shadow (hidden); the unmap is a PT-site callout and an invlpg callout"},
	"ptemod": {map[vmm.Key]int{
		{Cause: trap.CausePTWrite, Mech: vmm.MechCallout}: 1,
		{Cause: trap.CausePTWrite, Mech: vmm.MechTrap}:    0,
		{Cause: "priv/invlpg", Mech: vmm.MechCallout}:     1,
		{Cause: trap.CausePFHidden, Mech: vmm.MechTrap}:   1,
	}, "each PTE write is a callout (the store faulted on the traced table once and was retranslated: Adams & Agesen's in-TC PTE write, no page fault), each invlpg a callout; the use of the new mapping fills the shadow again (hidden)"},
	"pftrue": {map[vmm.Key]int{
		{Cause: "exc/#PF", Mech: vmm.MechTrap}:              1,
		{Cause: "priv/mov-from-cr2", Mech: vmm.MechCallout}: 1,
		{Cause: "priv/iret", Mech: vmm.MechCallout}:         1,
	}, "the read of a page that is not present is a true fault (reflected to the handler's translation); the handler's mov from CR2 and its iret back into the kernel call out; nothing is mapped"},
	"ptestore": {map[vmm.Key]int{
		{Cause: trap.CausePTWrite, Mech: vmm.MechCallout}: 0,
		{Cause: trap.CausePTWrite, Mech: vmm.MechTrap}:    0,
	}, "the first store to the table in use is traced and drops its shadow; the table is not used again until after the loop, so no later store reaches the VMM"},
	"forkwait": {map[vmm.Key]int{
		{Cause: "int/0x80", Mech: vmm.MechTrap}:             3,
		{Cause: "exc/#PF", Mech: vmm.MechTrap}:              2,
		{Cause: trap.CausePFHidden, Mech: vmm.MechTrap}:     6,
		{Cause: "priv/mov-cr3", Mech: vmm.MechCallout}:      2,
		{Cause: "priv/mov-from-cr2", Mech: vmm.MechCallout}: 2,
		{Cause: "priv/invlpg", Mech: vmm.MechCallout}:       2,
		{Cause: trap.CausePTWrite, Mech: vmm.MechCallout}:   3,
		{Cause: trap.CausePTWrite, Mech: vmm.MechTrap}:      0,
	}, "ring 3 runs directly: fork, exit and wait trap, and so do the two COW faults (true: the child's copy, the parent's reuse); the kernel's mov to CR3 (fork, exit), mov from CR2 and invlpg (both handlers) call out; of its 7 PTE stores, the 3 into tables the shadow in force derives from (fork's write-protect of the parent's PTE, one per handler) are traced PT-site callouts; the child's table is traced only while the child's shadow derives from it: exit's first store into it, from the parent's address space, drops the child's shadow table (shadow/unshadowed) and fills the parent's entry for it writable (a hidden fault), so exit's 2 and the next fork's 2 stores into it are plain; the shadow is filled again where a traced write dropped it (the parent's read and write of its data page, the child's read and write of it and its read of the read-only page)"},
	"higherhalf": {map[vmm.Key]int{
		{Cause: "int/0x80", Mech: vmm.MechTrap}:           1,
		{Cause: trap.CausePFHidden, Mech: vmm.MechTrap}:   2,
		{Cause: "priv/mov-cr3", Mech: vmm.MechCallout}:    2,
		{Cause: "priv/invlpg", Mech: vmm.MechCallout}:     2,
		{Cause: trap.CausePTWrite, Mech: vmm.MechCallout}: 2,
		{Cause: trap.CausePTWrite, Mech: vmm.MechTrap}:    0,
		{Cause: trap.CauseVMMAlias, Mech: vmm.MechTrap}:   0,
	}, "two address-space switches and two invlpg call out; the two PTE stores through the recursive entry (0xFFF01000, where the VMM's region lies) are PT-site callouts that walk the guest's own tables; the uses of the flipped alias fill the shadow (hidden); one system call from ring 3; the aliased reads of its own tables happen once, at boot"},
}

// btSpaces is how many address spaces (guest CR3 values) each paging
// workload uses: the shadow cache misses once per space.
var btSpaces = map[string]uint64{"pgfault": 1, "ptemod": 1, "pftrue": 1, "ptestore": 1, "forkwait": 2, "higherhalf": 2}

// The paging workloads print under bt what they print under native (which
// matches QEMU: vmm's oracle test), on shadow page tables, with their
// counts pinned.
func TestBTShadowPaging(t *testing.T) {
	golden := filepath.Join("testdata", "bt-paging.golden")
	for _, name := range []string{"pgfault", "ptemod", "pftrue", "ptestore", "forkwait", "higherhalf"} {
		for _, n := range []int{3, 17} {
			args := fmt.Sprintf("n=%d", n)
			t.Run(name+"/"+args, func(t *testing.T) {
				img := load(t, name)
				native := run(t, "native", img, args)
				got := run(t, "bt", img, args)
				if got.Stop.Kind != vmm.StopExit || got.Stop.Status != 0 {
					t.Fatalf("bt: %s\n%s", got.Stop, got.Serial)
				}
				if got.Serial != native.Serial {
					t.Errorf("serial differs from native\nbt:\n%s\nnative:\n%s", got.Serial, native.Serial)
				}
				c := got.Counters
				if c["shadow/cache-misses"] != btSpaces[name] {
					t.Errorf("shadow cache misses %d, want %d (one per address space)", c["shadow/cache-misses"], btSpaces[name])
				}
				if c["bt/smc-faults"] != 0 || c["bt/remap-invalidations"] != 0 {
					t.Errorf("smc faults %d, remap invalidations %d: the workloads neither write nor remap their code",
						c["bt/smc-faults"], c["bt/remap-invalidations"])
				}
				if c["bt/space-checks"] == 0 {
					t.Errorf("no check of translated pages after the paging changes")
				}
				// Every traced PTE write after the first at each store is a
				// callout: the faults are the sites' first writes.
				ptTraps := got.Counts[vmm.Key{Cause: trap.CausePTWrite, Mech: vmm.MechTrap}]
				if c["bt/pt-sites"] == 0 || ptTraps != c["bt/pt-sites"] || c["bt/pt-sites-dropped"] != 0 {
					t.Errorf("pt/write traps %d, pt sites %d (dropped %d): each site should fault once, then call out",
						ptTraps, c["bt/pt-sites"], c["bt/pt-sites-dropped"])
				}
				vmmtest.CheckGolden(t, golden, got)
			})
		}
	}
}

func TestBTShadowPerIteration(t *testing.T) {
	for name, law := range btShadowLaws {
		t.Run(name, func(t *testing.T) {
			img := load(t, name)
			a := run(t, "bt", img, "n=10")
			b := run(t, "bt", img, "n=20")
			for k, per := range law.per {
				if d := int(b.Counts[k]) - int(a.Counts[k]); d != 10*per {
					t.Errorf("%s: %d more for 10 more iterations, want 10×%d (%s)", k, d, per, law.why)
				}
			}
			if d := b.Counts.Exits() - a.Counts.Exits(); d != 10*sumLaw(law.per) {
				t.Errorf("exits: %d more for 10 more iterations, want 10×%d: only the law's events may grow", d, sumLaw(law.per))
			}
			for _, w := range translatorWork {
				if a.Counters[w] != b.Counters[w] {
					t.Errorf("%s: %d at n=10, %d at n=20: the translator's work must not grow with N", w, a.Counters[w], b.Counters[w])
				}
			}
		})
	}
}

func sumLaw(per map[vmm.Key]int) uint64 {
	n := 0
	for _, v := range per {
		n += v
	}
	return uint64(n)
}

// A guest whose tables cover the VMM's region (higherhalf's recursive
// entry at 0xFFC00000) gets its own memory where the translator's pages
// are absent (pf/vmm-alias, the same number at any N).
func TestBTShadowAliasesVMMRegion(t *testing.T) {
	img := load(t, "higherhalf")
	native := run(t, "native", img, "n=3")
	a := run(t, "bt", img, "n=3")
	b := run(t, "bt", img, "n=6")
	if a.Stop.Kind != vmm.StopExit || a.Serial != native.Serial {
		t.Fatalf("bt: %s %q, native %q", a.Stop, a.Serial, native.Serial)
	}
	k := vmm.Key{Cause: trap.CauseVMMAlias, Mech: vmm.MechTrap}
	if a.Counts[k] == 0 || a.Counts[k] != b.Counts[k] {
		t.Errorf("%s: %d at n=3, %d at n=6: want the same, nonzero", k.Cause, a.Counts[k], b.Counts[k])
	}
}
