package hypercall

import (
	"fmt"
	"path/filepath"
	"testing"

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
			for k, per := range law {
				if d := int(b.Counts[k]) - int(a.Counts[k]); d != 10*per {
					t.Errorf("%s %s: %d more for 10 more iterations, want 10×%d", k.Cause, k.Mech, d, per)
				}
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
	sym := func(name string) uint32 {
		for _, s := range pimg.Symbols {
			if s.Name == name {
				return s.Addr
			}
		}
		t.Fatalf("no symbol %s", name)
		return 0
	}
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
