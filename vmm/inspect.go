package vmm

import (
	"virtsim/guest"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// CPUState is a snapshot of processor state, real or virtual.
type CPUState struct {
	GPR    [8]uint32 // EAX ECX EDX EBX ESP EBP ESI EDI
	EIP    uint32
	EFLAGS uint32
	// Segment selectors, in the order ES CS SS DS FS GS.
	Seg                [6]uint16
	CR0, CR2, CR3, CR4 uint32
	GDTBase, IDTBase   uint32
	GDTLimit, IDTLimit uint16
	LDTR, TR           uint16
	CPL                uint8
}

// IF reports the interrupt flag.
func (s CPUState) IF() bool { return s.EFLAGS&x86.FlagIF != 0 }

// Inspector is what a debugger or the terminal UI reads from a paused
// instance. Instances implement it optionally.
type Inspector interface {
	// Real is the state of the CPU the guest really runs on.
	Real() CPUState
	// Virtual is the guest's own view of its privileged state, where the
	// strategy keeps one (a VMM that deprivileges the guest); ok is false
	// when the real state is the guest's state (native).
	Virtual() (s CPUState, ok bool)
	// ReadMem reads guest memory by linear address.
	ReadMem(addr uint32, b []byte) error
	// Image is the guest image (for symbols).
	Image() *guest.Image
}

// Real reads the Unicorn CPU.
func (m *Machine) Real() CPUState {
	var s CPUState
	for i, r := range []unicorn.Reg{unicorn.EAX, unicorn.ECX, unicorn.EDX, unicorn.EBX, unicorn.ESP, unicorn.EBP, unicorn.ESI, unicorn.EDI} {
		s.GPR[i] = m.reg(r)
	}
	s.EIP, s.EFLAGS = m.reg(unicorn.EIP), m.reg(unicorn.EFLAGS)
	for i, r := range []unicorn.Reg{unicorn.ES, unicorn.CS, unicorn.SS, unicorn.DS, unicorn.FS, unicorn.GS} {
		s.Seg[i] = uint16(m.reg(r))
	}
	s.CR0, s.CR2, s.CR3, s.CR4 = m.reg(unicorn.CR0), m.reg(unicorn.CR2), m.reg(unicorn.CR3), m.reg(unicorn.CR4)
	if g, err := m.E.MMR(unicorn.GDTR); err == nil {
		s.GDTBase, s.GDTLimit = g.Base, uint16(g.Limit)
	}
	if g, err := m.E.MMR(unicorn.IDTR); err == nil {
		s.IDTBase, s.IDTLimit = g.Base, uint16(g.Limit)
	}
	if g, err := m.E.MMR(unicorn.TR); err == nil {
		s.TR = g.Selector
	}
	if g, err := m.E.MMR(unicorn.LDTR); err == nil {
		s.LDTR = g.Selector
	}
	s.CPL = uint8(s.Seg[1] & 3)
	return s
}

// Virtual: on the bare machine the real state is the guest's.
func (m *Machine) Virtual() (CPUState, bool) { return CPUState{}, false }

// Image is the guest image.
func (m *Machine) Image() *guest.Image { return m.Img }
