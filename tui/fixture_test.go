package tui

import (
	"errors"

	tea "github.com/charmbracelet/bubbletea"

	"virtsim/guest"
	"virtsim/vmm"
	"virtsim/vmm/x86"
)

// A fixed little guest for the model tests: the irq-toggle loop, so frames
// do not change when the real workload images are rebuilt.
const (
	fxMain = 0x101000
	fxLoop = 0x101007
	fxGDT  = 0x102000
)

var fxCode = []byte{
	0xb9, 0xa0, 0x0f, 0x00, 0x00, // main: mov $0xfa0,%ecx
	0x31, 0xdb, // xor %ebx,%ebx
	0xfa,       // irq_toggle_loop: cli
	0xfb,       // sti
	0x43,       // inc %ebx
	0x49,       // dec %ecx
	0x75, 0xfa, // jne irq_toggle_loop
	0xfa,       // cli
	0xe6, 0x80, // out %al,$0x80
	0x0f, 0x01, 0x15, 0x00, 0x20, 0x10, 0x00, // lgdtl gdt
	0x9d, // popf
	0xf4, // hlt
	0xc3, // ret
}

func fxImage() *guest.Image {
	return &guest.Image{
		Name: "irq-toggle", Entry: fxMain,
		Segments: []guest.Segment{{Addr: fxMain, Data: fxCode, MemSize: 0x2000}},
		Symbols: []guest.Symbol{
			{Name: "main", Addr: fxMain}, {Name: "irq_toggle_loop", Addr: fxLoop}, {Name: "gdt", Addr: fxGDT, Size: 0x18},
		},
	}
}

// fxCPU is the state after the loop's first cli under trap: the guest
// believes it runs at CPL 0 with interrupts off; really it runs at CPL 1
// with interrupts on, in the VMM's descriptor tables.
func fxCPU(pc uint32) (real, virt vmm.CPUState) {
	real = vmm.CPUState{
		GPR: [8]uint32{0xfa0, 0xfa0, 0, 0, 0x10614c, 0, 0, 0}, EIP: pc,
		EFLAGS: 0x202, Seg: [6]uint16{0x11, 0x09, 0x11, 0x11, 0x11, 0x11},
		CR0: 0x11, GDTBase: 0xfffc0000, IDTBase: 0xfffd0000, TR: 0xfff8, CPL: 1,
	}
	virt = real
	virt.EFLAGS &^= x86.FlagIF
	virt.Seg = [6]uint16{0x10, 0x08, 0x10, 0x10, 0x10, 0x10}
	virt.GDTBase, virt.IDTBase, virt.TR, virt.CPL = fxGDT, 0x1061d0, 0x28, 0
	return real, virt
}

var fxBoot = []vmm.Event{
	{Cause: "priv/lgdt", Mech: vmm.MechTrap, PC: 0x100210},
	{Cause: "priv/mov-ss", Mech: vmm.MechTrap, PC: 0x10021e},
	{Cause: "priv/lidt", Mech: vmm.MechTrap, PC: 0x10028d},
	{Cause: "priv/ltr", Mech: vmm.MechTrap, PC: 0x10029b},
	{Cause: "io/out:0x21", Mech: vmm.MechTrap, PC: 0x1002c6},
	{Cause: "io/out:0xa1", Mech: vmm.MechTrap, PC: 0x1002c8},
}

// fxUpdate is the guest goroutine's answer after events under trap, with
// the PC at pc.
func fxUpdate(gen int, done control, pc uint32, insns uint64, evs ...vmm.Event) updateMsg {
	real, virt := fxCPU(pc)
	u := updateMsg{gen: gen, Done: done, Events: evs, Snap: Snapshot{
		HasCPU: true, Real: real, Virtual: virt, HasVirtual: true, PC: pc,
		CodeBase: fxMain, Code: append(append([]byte(nil), fxCode...), make([]byte, 40)...),
		Stop: vmm.Stop{PC: pc}, Instructions: insns, Counts: vmm.Counts{},
	}}
	return u
}

// withCounts fills the snapshot's counts from all events so far.
func withCounts(u updateMsg, all []vmm.Event) updateMsg {
	for _, e := range all {
		u.Snap.Counts.Add(e.Cause, e.Mech)
	}
	u.Snap.Exits, u.Snap.Events = u.Snap.Counts.Exits(), u.Snap.Counts.Total()
	return u
}

// fakeEngine records the controls the model sends; tests feed the
// answers themselves.
type fakeEngine struct {
	spec   sessionSpec
	sent   []control
	closed bool
}

func (f *fakeEngine) Send(c control) bool { f.sent = append(f.sent, c); return true }
func (f *fakeEngine) Wait() tea.Cmd       { return nil }
func (f *fakeEngine) Close()              { f.closed = true }

// fakeStrategies stand in for the registry: native and trap run, bt and
// kvm are registered but unavailable.
func fakeStrategies() []*vmm.Strategy {
	ok := func() error { return nil }
	newInst := func(*guest.Image, vmm.Config) (vmm.Instance, error) { return nil, errors.New("fake") }
	return []*vmm.Strategy{
		{Name: "native", Description: "bare-metal reference", Substrate: "unicorn", Available: ok, New: newInst},
		{Name: "trap", Description: "trap-and-emulate", Substrate: "unicorn", Available: ok, New: newInst},
		{Name: "bt", Description: "binary translation", Substrate: "unicorn", Available: func() error { return errors.New("not built yet") }, New: newInst},
		{Name: "kvm", Description: "hardware assist", Substrate: "kvm", Available: func() error { return errors.New("/dev/kvm: no such file or directory") }, New: newInst},
	}
}
