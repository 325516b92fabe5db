package translate

import (
	"fmt"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/trap"
)

// Kind is how the translator treats one guest instruction (see doc.go).
type Kind uint8

const (
	// Ident: copied into the translation cache unchanged.
	Ident Kind = iota
	// InTC: rewritten into code that runs on the virtual CPU in place,
	// without leaving the translation cache (cli, sti, pushf, popf, sgdt,
	// mov from a segment register, ...).
	InTC
	// Callout: replaced by a jump to a callout stub; the VMM emulates the
	// instruction with trap's emulator (privileged instructions, I/O,
	// int n, iret, far transfers, loads of SS).
	Callout
	// Jmp: a direct jump, an exit chained to the target's translation.
	Jmp
	// Jcc: a conditional branch, two chained exits (taken, fall-through).
	Jcc
	// Loop: loop, loope, loopne, jecxz (rel8 only): the same, through a
	// short trampoline.
	Loop
	// Call: a direct call: pushes the guest's return address, then a
	// chained exit to the target.
	Call
	// Ret: ret (and ret $n): the return address is looked up in the
	// in-TC table; a miss calls out to the translator.
	Ret
	// JmpInd and CallInd: indirect jump and call, through the same lookup.
	JmpInd
	CallInd
	// Undecodable bytes: a callout that raises #UD in the guest.
	Undecodable
	// Iret: a return to user mode is a real iret from the TC; a return
	// into the guest kernel (which would fault at CPL 1) calls out.
	Iret
	numKinds
)

var kindNames = [numKinds]string{"ident", "in-tc", "callout", "jmp", "jcc", "loop", "call", "ret", "jmp-ind", "call-ind", "undecodable", "iret"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// ParseKind is the inverse of String.
func ParseKind(s string) (Kind, error) {
	for k, n := range kindNames {
		if n == s {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("unknown translation kind %q", s)
}

// IsIdent reports whether the instruction is copied unchanged.
func (k Kind) IsIdent() bool { return k == Ident }

// Class is the translator's classification of one guest instruction.
type Class struct {
	Kind Kind
	// Cause is the event cause the instruction produces (trap.Classify's):
	// recorded as an in-tc event for InTC, a callout exit for Callout.
	Cause string
	// EndsBlock: control flow; the basic block ends after it.
	EndsBlock bool
}

// calloutEndsBlock: emulated instructions after which the guest continues
// elsewhere (the VMM decides where).
var calloutEndsBlock = map[x86asm.Op]bool{
	x86asm.INT: true, x86asm.INTO: true, x86asm.IRET: true, x86asm.IRETD: true,
	x86asm.LRET: true, x86asm.LJMP: true, x86asm.LCALL: true,
	x86asm.SYSENTER: true, x86asm.SYSEXIT: true,
}

// inTCCauses are the sensitive instructions the translator rewrites in
// place. Segment loads are Ident: they behave as the guest expects against
// the VMM's shadow GDT, which only moved DPL 0 to 1 and 1 to 2. lar, lsl,
// verr and verw are callouts (descriptorQuery): their answer at the real
// CPL 1 differs from the guest's at CPL 0 in ways no table fixes up — an
// RPL-1 selector passes a shadowed DPL-0 descriptor that refuses it, and a
// DPL-0 TSS, LDT or gate (not shadowed: they must stay out of the
// deprivileged kernel's reach) fails where the guest's CPU answers — so
// the emulator answers them against the virtual CPL (found by difftest).
func inTCCause(cause string) bool {
	switch cause {
	case "priv/cli", "priv/sti", "sens/pushf", "sens/popf", "sens/sgdt", "sens/sidt",
		"sens/sldt", "sens/str", "sens/smsw":
		return true
	}
	return strings.HasPrefix(cause, "sens/mov-from-") || strings.HasPrefix(cause, "sens/push-")
}

// inTCPorts are the ports whose reads the translation cache answers in
// place, by value: ports that read as a constant and have no side effect
// on a read, so no device need see it — VMware's translator emulated such
// an `in` "by a short sequence of instructions that interacts with the
// virtual chipset model" (Adams & Agesen 2006; quoted, not checked
// against a copy here), without an exit. Port
// 0x80, the POST port, reads as all ones (an unclaimed ISA read: what
// QEMU's gives and vmm.PostSink returns; io-in checks it).
var inTCPorts = map[uint16]uint32{0x80: 0xFFFFFFFF}

// inTCPortRead reports whether inst is an `in` from an immediate port the
// translation cache answers (inTCPorts), and the value it reads.
func inTCPortRead(inst x86asm.Inst) (uint32, bool) {
	if inst.Op != x86asm.IN {
		return 0, false
	}
	imm, ok := inst.Args[1].(x86asm.Imm)
	if !ok {
		return 0, false
	}
	v, ok := inTCPorts[uint16(imm)]
	return v, ok
}

// descriptorQuery: the sensitive instructions that ask about a descriptor
// at the current privilege; the emulator answers them (inTCCause says why).
var descriptorQuery = map[x86asm.Op]bool{x86asm.LAR: true, x86asm.LSL: true, x86asm.VERR: true, x86asm.VERW: true}

// Classify says how the translator treats inst.
func Classify(inst x86asm.Inst) Class {
	tc := trap.Classify(inst)
	c := Class{Kind: Ident, Cause: tc.Cause}
	switch inst.Op {
	case x86asm.JMP:
		if _, ok := inst.Args[0].(x86asm.Rel); ok {
			return Class{Kind: Jmp, EndsBlock: true}
		}
		return Class{Kind: JmpInd, EndsBlock: true}
	case x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JE, x86asm.JG, x86asm.JGE, x86asm.JL,
		x86asm.JLE, x86asm.JNE, x86asm.JNO, x86asm.JNP, x86asm.JNS, x86asm.JO, x86asm.JP, x86asm.JS:
		return Class{Kind: Jcc, EndsBlock: true}
	case x86asm.JCXZ, x86asm.JECXZ, x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE:
		return Class{Kind: Loop, EndsBlock: true}
	case x86asm.CALL:
		if _, ok := inst.Args[0].(x86asm.Rel); ok {
			return Class{Kind: Call, EndsBlock: true}
		}
		return Class{Kind: CallInd, EndsBlock: true}
	case x86asm.RET:
		return Class{Kind: Ret, EndsBlock: true}
	}
	switch tc.Class {
	case trap.Privileged, trap.IO:
		if inst.Op == x86asm.CLI || inst.Op == x86asm.STI {
			c.Kind = InTC
			return c
		}
		if _, ok := inTCPortRead(inst); ok {
			c.Kind = InTC
			return c
		}
		c.Kind = Callout
	case trap.Sensitive:
		switch {
		case descriptorQuery[inst.Op]:
			c.Kind = Callout
		case inTCCause(tc.Cause):
			c.Kind = InTC
		case strings.HasPrefix(tc.Cause, "sens/"):
			if inst.Op == x86asm.LJMP || inst.Op == x86asm.LCALL {
				c.Kind = Callout // far transfers: the emulator loads CS
			} else {
				c.Kind, c.Cause = Ident, ""
			}
		default: // priv/ (faulting sensitive), int/
			c.Kind = Callout
		}
	default:
		if inst.Op == x86asm.UD2 {
			c.EndsBlock = true
		}
	}
	if c.Kind == Callout && (inst.Op == x86asm.IRET || inst.Op == x86asm.IRETD) {
		c.Kind = Iret
	}
	if (c.Kind == Callout || c.Kind == Iret) && calloutEndsBlock[inst.Op] {
		c.EndsBlock = true
	}
	if c.Kind == Ident {
		c.Cause = "" // cpuid: the machine's CPU model answers, as on hardware
	}
	return c
}
