package hypercall

import (
	"fmt"
	"path/filepath"
	"testing"

	"virtsim/guest"
	"virtsim/vmm"
	"virtsim/vmm/vmmtest"
	"virtsim/vmm/x86"
)

// pvPagingLaws: direct paging's cost per iteration, by cause and mechanism.
var pvPagingLaws = map[string]map[vmm.Key]int{
	"pgfault": {
		{Cause: "exc/#PF", Mech: vmm.MechTrap}:                 1, // bounced through the trap table
		{Cause: causeMMUUpdate, Mech: vmm.MechHypercall}:       2, // map in the handler, unmap after
		{Cause: causeInvlpg, Mech: vmm.MechHypercall}:          1,
		{Cause: "priv/mov-from-cr2", Mech: vmm.MechSharedInfo}: 1, // CR2 from the shared-info page
	},
	"ptemod": {
		{Cause: causeMMUUpdate, Mech: vmm.MechHypercall}: 1,
		{Cause: causeInvlpg, Mech: vmm.MechHypercall}:    1,
	},
	"pftrue": {
		{Cause: "exc/#PF", Mech: vmm.MechTrap}:                 1, // bounced through the trap table
		{Cause: "priv/mov-from-cr2", Mech: vmm.MechSharedInfo}: 1,
		{Cause: "priv/iret", Mech: vmm.MechSharedInfo}:         1,
	},
	"ptestore": {
		{Cause: causeMMUUpdate, Mech: vmm.MechHypercall}: 4, // every store is validated
	},
	"forkwait": {
		{Cause: "int/0x80", Mech: vmm.MechMachine}:              3, // fork, exit, wait: the trap table's gate, no exit
		{Cause: "priv/mov-cr3", Mech: vmm.MechHypercall}:        2, // new_baseptr into the child (pinned once) and back
		{Cause: "exc/#PF", Mech: vmm.MechTrap}:                  2, // the COW copy and the COW reuse, bounced
		{Cause: "priv/mov-from-cr2", Mech: vmm.MechSharedInfo}:  2,
		{Cause: causeMMUUpdate, Mech: vmm.MechHypercall}:        7, // fork 3, exit 2, one per #PF handler
		{Cause: causeInvlpg, Mech: vmm.MechHypercall}:           2,
		{Cause: "priv/iret", Mech: vmm.MechSharedInfo}:          5, // back to ring 3 after each call and fault
		{Cause: "hypercall/mmuext_op", Mech: vmm.MechHypercall}: 0,
	},
}

// The paging workloads' PV builds print under pv what their native builds
// print under native (= QEMU), their counts pinned; no hidden fault and no
// traced write exists under direct paging.
func TestPVDirectPaging(t *testing.T) {
	golden := filepath.Join("testdata", "pv.golden")
	for name := range pvPagingLaws {
		for _, n := range []int{3, 17} {
			args := fmt.Sprintf("n=%d", n)
			t.Run(name+"/"+args, func(t *testing.T) {
				nimg, pimg := loadBoth(t, name)
				native := run(t, "native", nimg, args, vmm.Config{})
				got := run(t, "pv", pimg, args, vmm.Config{})
				if got.Stop.Kind != vmm.StopExit || got.Stop.Status != 0 {
					t.Fatalf("pv: %s\n%s", got.Stop, got.Serial)
				}
				if got.Serial != native.Serial {
					t.Errorf("serial differs from native\npv:\n%s\nnative:\n%s", got.Serial, native.Serial)
				}
				for k := range got.Counts {
					if k.Cause == "pf/hidden" || k.Cause == "pt/write" {
						t.Errorf("direct paging recorded %s", k.Cause)
					}
				}
				vmmtest.CheckGolden(t, golden, got)
			})
		}
	}
}

func TestPVDirectPagingPerIteration(t *testing.T) {
	for name, law := range pvPagingLaws {
		t.Run(name, func(t *testing.T) {
			_, pimg := loadBoth(t, name)
			a := run(t, "pv", pimg, "n=10", vmm.Config{})
			b := run(t, "pv", pimg, "n=20", vmm.Config{})
			exits := 0
			for k, per := range law {
				if d := int(b.Counts[k]) - int(a.Counts[k]); d != 10*per {
					t.Errorf("%s %s: %d more for 10 more iterations, want 10×%d", k.Cause, k.Mech, d, per)
				}
				if k.Mech.IsExit() {
					exits += per
				}
			}
			if d := int(b.Counts.Exits()) - int(a.Counts.Exits()); d != 10*exits {
				t.Errorf("exits: %d more for 10 more iterations, want 10×%d: only the law's exits may grow", d, exits)
			}
		})
	}
}

// A paging guest's hostile updates are refused with an error, change
// nothing, and never stop the VMM.
func TestMMUUpdateValidation(t *testing.T) {
	_, pimg := loadBoth(t, "ptemod")
	inst, err := NewVMM(pimg, vmm.Config{Args: "n=2"}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	p := inst
	if _, err := p.Run(); err != nil || p.Stopped().Kind != vmm.StopExit || !p.pg.on {
		t.Fatalf("ptemod under pv: %v %s, paging on %v", err, p.Stopped(), p.pg.on)
	}
	sym := func(name string) uint32 { return symbol(t, pimg, name) }
	pd, pt0, ptWin := sym("pd"), sym("pt0"), sym("pt_win")
	ram := p.Cfg.MemSize
	cases := []struct {
		name      string
		addr, val uint32
		want      Errno
	}{
		{"a frame beyond RAM", ptWin + 4, (ram + 0x1000) | x86.PTEPresent, EINVAL},
		{"the VMM region as a frame", ptWin + 4, vmm.VMMBase | x86.PTEPresent, EINVAL},
		{"a page table mapped writable", ptWin + 4, pt0 | x86.PTEPresent | x86.PTEWrite, EINVAL},
		{"the directory mapped writable", ptWin + 4, pd | x86.PTEPresent | x86.PTEWrite, EINVAL},
		{"the VMM's directory slot", pd + 1023*4, pt0 | x86.PTEPresent, EPERM},
		{"a directory entry naming a writably mapped page", pd + 5*4, sym("frames") | x86.PTEPresent | x86.PTEWrite, EINVAL},
		{"an entry outside guest RAM", ram + 8, 0, EFAULT},
		{"a misaligned entry", ptWin + 2, 0, EFAULT},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, _ := p.phys32(c.addr &^ 3)
			out := p.mmuUpdate(c.addr, c.val)
			if out.ret != c.want.Ret() {
				t.Errorf("mmu_update(%#x, %#x) = %#x, want -%v", c.addr, c.val, out.ret, c.want)
			}
			if after, _ := p.phys32(c.addr &^ 3); after != before {
				t.Errorf("the entry changed: %#x -> %#x", before, after)
			}
		})
	}
	// A read-only mapping of a frame of its own is fine.
	if out := p.mmuUpdate(ptWin+4, sym("frames")|x86.PTEPresent); out.ret != 0 {
		t.Errorf("a valid update was refused: %#x", out.ret)
	}
	if p.Stopped().Kind != vmm.StopExit {
		t.Errorf("the VMM stopped: %s", p.Stopped())
	}
}

// forkwait's two address spaces under direct paging: both directories are
// pinned, the kernel table they share is counted once per directory, every
// page-table page is read-only in the guest's own identity map, and the
// child's tables are as protected as the parent's: mapping one writable is
// refused from either space.
func TestPVForkwaitSpaces(t *testing.T) {
	_, pimg := loadBoth(t, "forkwait")
	p, err := NewVMM(pimg, vmm.Config{Args: "n=3"}.WithDefaults())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Run(); err != nil || p.Stopped().Kind != vmm.StopExit || p.Stopped().Status != 0 {
		t.Fatalf("forkwait under pv: %v %s", err, p.Stopped())
	}
	sym := func(name string) uint32 { return symbol(t, pimg, name) }
	pd, pdC, pt0, ptP, ptC := sym("pd"), sym("pd_c"), sym("pt0"), sym("pt_p"), sym("pt_c")
	if !p.pg.dirs[pd] || !p.pg.dirs[pdC] || len(p.pg.dirs) != 2 {
		t.Errorf("pinned directories %v, want pd %#x and pd_c %#x", p.pg.dirs, pd, pdC)
	}
	if p.pg.tables[pt0] != 2 || p.pg.tables[ptP] != 1 || p.pg.tables[ptC] != 1 {
		t.Errorf("tables %v: want pt0 %#x named twice, pt_p %#x and pt_c %#x once", p.pg.tables, pt0, ptP, ptC)
	}
	for _, f := range []uint32{pd, pdC, pt0, ptP, ptC} {
		if v, _ := p.phys32(pt0 + (f>>12)*4); v&x86.PTEPresent == 0 || v&x86.PTEWrite != 0 {
			t.Errorf("the identity map's entry for table page %#x is %#x, want present and read-only", f, v)
		}
	}
	for _, c := range []struct {
		name      string
		addr, val uint32
	}{
		{"the child's table, from the parent's", ptP + 8, ptC | x86.PTEPresent | x86.PTEWrite | x86.PTEUser},
		{"the child's directory, from the parent's", ptP + 8, pdC | x86.PTEPresent | x86.PTEWrite | x86.PTEUser},
		{"the parent's table, from the child's", ptC + 8, ptP | x86.PTEPresent | x86.PTEWrite | x86.PTEUser},
	} {
		if out := p.mmuUpdate(c.addr, c.val); out.ret != EINVAL.Ret() {
			t.Errorf("%s: mmu_update(%#x, %#x) = %#x, want -EINVAL", c.name, c.addr, c.val, out.ret)
		}
	}
}

// symbol is the address of a symbol of img (the test fails without it).
func symbol(t *testing.T, img *guest.Image, name string) uint32 {
	t.Helper()
	for _, s := range img.Symbols {
		if s.Name == name {
			return s.Addr
		}
	}
	t.Fatalf("no symbol %s", name)
	return 0
}
