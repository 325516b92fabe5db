package trap

import (
	"virtsim/vmm"
	"virtsim/vmm/x86"
)

// Reg names a general-purpose register, EIP or EFLAGS of the real CPU.
type Reg uint8

const (
	EAX Reg = iota
	ECX
	EDX
	EBX
	ESP
	EBP
	ESI
	EDI
	EIP
	EFLAGS
)

// SegReg names a segment register.
type SegReg uint8

const (
	ES SegReg = iota
	CS
	SS
	DS
	FS
	GS
)

// Segment is a segment register as the CPU holds it: the visible selector
// and the hidden descriptor cache loaded with it.
type Segment struct {
	Sel  uint16
	Desc x86.Descriptor
}

// CPU is the real processor state the emulator reads and writes: the
// registers of the vCPU as the substrate (Unicorn, or KVM's kvm_regs and
// kvm_sregs) holds them, and guest memory by linear address. Both the
// Unicorn strategies and the KVM strategy implement it.
type CPU interface {
	Reg(r Reg) uint32
	SetReg(r Reg, v uint32)
	Seg(s SegReg) Segment
	// LoadSeg loads a segment register with sel and the descriptor cache d
	// without further checks: the emulator has done the checks the
	// virtual CPU requires. It may fail where the substrate refuses (Unicorn
	// refuses to raise the privilege level through CS or SS).
	LoadSeg(s SegReg, sel uint16, d x86.Descriptor) error
	ReadLinear(addr uint32, b []byte) error
	WriteLinear(addr uint32, b []byte) error
}

// DTR is a descriptor-table register (GDTR, IDTR).
type DTR struct {
	Base  uint32
	Limit uint16
}

// VCPU is the guest's view of its privileged state: what the guest kernel
// believes it set, kept by the VMM because the real CPU runs the guest
// deprivileged and holds the VMM's values instead.
type VCPU struct {
	IF   bool  // virtual EFLAGS.IF
	IOPL uint8 // virtual EFLAGS.IOPL
	CPL  uint8 // virtual CPL: 0 while the guest kernel runs at real CPL 1, 3 for guest user code
	CR0  uint32
	CR2  uint32
	CR3  uint32
	CR4  uint32
	GDTR DTR
	IDTR DTR
	LDTR uint16 // selector
	TR   uint16 // selector
	MSR  map[uint32]uint64
	// DR holds the debug registers as written (DR4 and DR5 alias DR6 and
	// DR7); DebugReg gives what a read returns.
	DR [8]uint32
}

// DebugReg is the value mov from DRn returns (n = 0..3, 6, 7): the
// machine's rule (vmm.DebugRegValue).
func (v *VCPU) DebugReg(n int) uint32 { return vmm.DebugRegValue(&v.DR, n) }

// Platform is what the emulator asks of the VMM around it: the devices,
// the CPU model, and notifications when the guest changes state the VMM
// shadows (so it can re-derive its real tables).
type Platform interface {
	// In and Out perform port I/O on the device bus (size 1, 2 or 4).
	In(port uint16, size int) uint32
	Out(port uint16, size int, v uint32)
	CPUID(leaf, sub uint32) [4]uint32
	// GDTLoaded, IDTLoaded, TRLoaded, LDTLoaded: the guest loaded a table register (the VCPU already holds it).
	GDTLoaded()
	IDTLoaded()
	TRLoaded()
	LDTLoaded()
	// CRWritten: the guest wrote control register n (0, 3, 4); old is the previous value.
	CRWritten(n int, old uint32)
	// InvalidatePage: invlpg of a linear address.
	InvalidatePage(addr uint32)
	// ShadowSelector maps a guest selector to the selector the real CPU
	// uses for it under ring compression (the guest's RPL-0 selectors run
	// with RPL 1); ShadowDescriptor maps its descriptor likewise
	// (DPL 0 becomes DPL 1).
	ShadowSelector(sel uint16) uint16
	ShadowDescriptor(d x86.Descriptor) x86.Descriptor
}
