package migrate

import (
	"testing"

	"virtsim/guest"
	"virtsim/vmm"
	"virtsim/vmm/unicorn"
)

func TestDebugPaging(t *testing.T) {
	w, _ := guest.Lookup("pgfault")
	s := strategy(t, "native")
	img := workloadImage(t, w, false)
	st, _, err := RunAndSave(s, img, config(w), 11658)
	if err != nil || st == nil {
		t.Fatal(err)
	}
	t.Logf("saved cpu %+v", st.CPU)
	inst, err := Restore(s, img, config(w), st)
	if err != nil {
		t.Fatal(err)
	}
	m := inst.(interface{ Real() vmm.CPUState })
	t.Logf("real %+v", m.Real())
	e := inst.(interface{ Reg(unicorn.Reg) uint32 })
	t.Logf("cr0 %x cr3 %x cr4 %x", e.Reg(unicorn.CR0), e.Reg(unicorn.CR3), e.Reg(unicorn.CR4))
}
