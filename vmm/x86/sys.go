package x86

// More architectural facts for the privileged-instruction emulator
// (package trap): the remaining EFLAGS and control-register bits, the TSS
// I/O-bitmap field, selector error codes, and descriptor predicates the
// protection checks of LAR, LSL, VERR, VERW and segment loads need.

// EFLAGS bits not in desc.go.
const (
	FlagReserved1 = 1 << 1 // always 1
	FlagAF        = 1 << 4
	FlagSF        = 1 << 7
	FlagOF        = 1 << 11
	FlagAC        = 1 << 18
	FlagVIF       = 1 << 19
	FlagVIP       = 1 << 20
	FlagID        = 1 << 21
)

// FlagsArith are the arithmetic (status) flags.
const FlagsArith = FlagCF | FlagPF | FlagAF | FlagZF | FlagSF | FlagOF

// FlagsPopf are the flags POPF and IRET may change at any privilege level
// (IF and IOPL have their own rules; VM, RF, VIF and VIP are never taken
// from a POPF image in protected mode).
const FlagsPopf = FlagsArith | FlagTF | FlagDF | FlagNT | FlagAC | FlagID

// CR0 bits not in desc.go.
const (
	CR0AM = 1 << 18
	CR0NW = 1 << 29
	CR0CD = 1 << 30
)

// Bits of DR6 and DR7 that always read as 1 (the reset values are these:
// DR6 0xFFFF0FF0, DR7 0x400), as QEMU's qemu32 and the SDM have them.
const (
	DR6Fixed1 = 0xFFFF0FF0
	DR6BS     = 1 << 14 // the #DB was TF's single-step trap
	DR7Fixed1 = 0x400
)

// CR4 bits.
const (
	CR4VME        = 1 << 0
	CR4PVI        = 1 << 1
	CR4TSD        = 1 << 2
	CR4DE         = 1 << 3
	CR4PSE        = 1 << 4
	CR4PAE        = 1 << 5
	CR4MCE        = 1 << 6
	CR4PGE        = 1 << 7
	CR4PCE        = 1 << 8
	CR4OSFXSR     = 1 << 9
	CR4OSXMMEXCPT = 1 << 10
	CR4UMIP       = 1 << 11
	CR4LA57       = 1 << 12
	CR4VMXE       = 1 << 13
	CR4SMXE       = 1 << 14
	CR4FSGSBASE   = 1 << 16
	CR4PCIDE      = 1 << 17
	CR4OSXSAVE    = 1 << 18
	CR4SMEP       = 1 << 20
	CR4SMAP       = 1 << 21
	CR4PKE        = 1 << 22
)

// CR4Reserved are the CR4 bits a MOV to CR4 must leave clear (#GP(0)
// otherwise) on the 32-bit CPUs virtsim models: bit 15, bit 19 and
// everything above bit 22.
const CR4Reserved = 1<<15 | 1<<19 | 0xFF800000

// 32-bit TSS layout beyond the stack fields of desc.go.
const (
	TSSIOMap    = 102 // 16-bit offset of the I/O permission bitmap from the TSS base
	TSS32MinLim = 103 // the smallest limit of a usable 32-bit TSS
)

// SelErrorCode is the error code a protection fault on selector sel pushes:
// the selector with its RPL bits cleared (the EXT and IDT bits are 0 for a
// fault raised by an instruction's own operand).
func SelErrorCode(sel uint16) uint32 { return uint32(sel &^ 3) }

// SelNull reports a null selector (index 0 in the GDT, any RPL).
func SelNull(sel uint16) bool { return sel&^3 == 0 }

// IsData reports a data (non-executable) segment.
func (d Descriptor) IsData() bool { return d.S && d.Type&typeCodeBit == 0 }

// IsReadable reports a segment a program may read: any data segment, or a
// code segment with the readable bit.
func (d Descriptor) IsReadable() bool {
	return d.IsData() || (d.IsCode() && d.Type&typeWritableBit != 0)
}

// IsTSS reports a 16- or 32-bit TSS descriptor, available or busy.
func (d Descriptor) IsTSS() bool {
	if d.S {
		return false
	}
	switch d.Type {
	case TypeTSS16Avail, TypeTSS16Busy, TypeTSS32Avail, TypeTSS32Busy:
		return true
	}
	return false
}

// Accessed reports the accessed bit of a code or data segment.
func (d Descriptor) Accessed() bool { return d.S && d.Type&1 != 0 }

// AccessRights is what LAR loads into a 32-bit register: the second
// doubleword of the descriptor masked with 0x00F0FF00: the type, S, DPL
// and P byte and the AVL, L, D/B and G nibble; the base bytes and limit
// bits 19..16 read as 0.
func (d Descriptor) AccessRights() uint32 { return uint32(d.Raw>>32) & 0x00F0FF00 }

// WithDPL returns d with its DPL replaced, the raw bits included.
func (d Descriptor) WithDPL(dpl uint8) Descriptor {
	d.DPL = dpl & 3
	d.Raw = d.Raw&^(uint64(3)<<45) | uint64(d.DPL)<<45
	return d
}
