package trap

import (
	"fmt"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/vmm"
)

// Class is how an instruction behaves when the guest kernel runs
// deprivileged (see doc.go).
type Class uint8

const (
	// Innocuous instructions behave the same at every privilege level.
	Innocuous Class = iota
	// Privileged instructions fault (#GP) outside CPL 0 — or, for cli and
	// sti, when CPL > IOPL — so a deprivileged kernel traps on every one.
	Privileged
	// Sensitive instructions read or change privileged state (or depend on
	// it) without being privileged: Robin and Irvine's list. Some of them
	// fault under ring compression in the cases that matter (iret and lret
	// to the kernel's RPL-0 code, loads of SS with its RPL-0 selectors);
	// the others never fault and silently misbehave — the x86 hole.
	Sensitive
	// IO instructions fault when CPL > IOPL unless the TSS I/O permission
	// bitmap allows the port.
	IO
	numClasses
)

var classNames = [numClasses]string{"innocuous", "privileged", "sensitive", "io"}

func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", c)
}

// ParseClass is the inverse of String.
func ParseClass(s string) (Class, error) {
	for c, n := range classNames {
		if n == s {
			return Class(c), nil
		}
	}
	return 0, fmt.Errorf("unknown instruction class %q", s)
}

// InsnClass is the classification of one decoded instruction.
type InsnClass struct {
	Op    x86asm.Op
	Class Class
	// Cause is the event cause the instruction produces whatever the
	// mechanism (the same word under every strategy): "priv/cli",
	// "priv/mov-cr3", "io/out:0x80", "sens/popf", "int/0x80", "cpuid".
	// Port I/O through DX reads "io/in:dx" / "io/out:dx" here; Emulate
	// names the port. Innocuous instructions have no cause ("") except
	// cpuid, which every VMM intercepts.
	//
	// The prefix says what the instruction does under ring compression:
	// "priv/" (and "io/", "int/", "hlt") when the guest kernel's use of it
	// faults into the VMM, "sens/" when it does not — it runs on the real
	// CPU and reveals or silently ignores the guest's privileged state.
	Cause string
	Note  string
}

// Hole reports an instruction of the x86 hole: sensitive, yet it runs on
// the real CPU without trapping under ring compression (its cause has the
// "sens/" prefix), so a trap-and-emulate VMM never sees it. Sensitive
// instructions that do reach the VMM (int n, iret and lret to RPL-0 code,
// loads of SS) are not in the hole.
func (ic InsnClass) Hole() bool { return ic.Class == Sensitive && strings.HasPrefix(ic.Cause, "sens/") }

// classEntry is one row of the operand-independent table.
type classEntry struct {
	class Class
	cause string
	note  string
}

// opClasses classifies by opcode alone. MOV, PUSH, POP, IN, OUT and INT
// depend on their operands and are handled in Classify. The table is
// checked against testdata/classes.txt.
var opClasses = map[x86asm.Op]classEntry{
	// Privileged: #GP(0) outside CPL 0 (cli/sti: when CPL > IOPL).
	x86asm.CLI:     {Privileged, "priv/cli", "IOPL-sensitive: faults when CPL > IOPL"},
	x86asm.STI:     {Privileged, "priv/sti", "IOPL-sensitive: faults when CPL > IOPL"},
	x86asm.HLT:     {Privileged, "hlt", ""},
	x86asm.LGDT:    {Privileged, "priv/lgdt", ""},
	x86asm.LIDT:    {Privileged, "priv/lidt", ""},
	x86asm.LLDT:    {Privileged, "priv/lldt", ""},
	x86asm.LTR:     {Privileged, "priv/ltr", ""},
	x86asm.LMSW:    {Privileged, "priv/lmsw", ""},
	x86asm.INVLPG:  {Privileged, "priv/invlpg", ""},
	x86asm.CLTS:    {Privileged, "priv/clts", ""},
	x86asm.RDMSR:   {Privileged, "priv/rdmsr", ""},
	x86asm.WRMSR:   {Privileged, "priv/wrmsr", ""},
	x86asm.WBINVD:  {Privileged, "priv/wbinvd", ""},
	x86asm.INVD:    {Privileged, "priv/invd", ""},
	x86asm.RDPMC:   {Privileged, "priv/rdpmc", "unprivileged when CR4.PCE is set; not emulated"},
	x86asm.SYSEXIT: {Privileged, "priv/sysexit", "the VMM returns to user code at EDX on ECX's stack (sysenter.go)"},
	x86asm.XSETBV:  {Privileged, "priv/xsetbv", "not emulated"},

	// I/O: faults when CPL > IOPL unless the TSS bitmap allows the port.
	x86asm.INSB:  {IO, "io/in:dx", "string form: ES:EDI, ECX with rep"},
	x86asm.INSW:  {IO, "io/in:dx", "string form: ES:EDI, ECX with rep"},
	x86asm.INSD:  {IO, "io/in:dx", "string form: ES:EDI, ECX with rep"},
	x86asm.OUTSB: {IO, "io/out:dx", "string form: DS:ESI, ECX with rep"},
	x86asm.OUTSW: {IO, "io/out:dx", "string form: DS:ESI, ECX with rep"},
	x86asm.OUTSD: {IO, "io/out:dx", "string form: DS:ESI, ECX with rep"},

	// Sensitive but unprivileged (Robin & Irvine). "sens/": never faults
	// under ring compression and reveals or ignores privileged state.
	x86asm.PUSHF:  {Sensitive, "sens/pushf", "pushes the real IF and IOPL"},
	x86asm.PUSHFD: {Sensitive, "sens/pushf", "pushes the real IF and IOPL"},
	x86asm.POPF:   {Sensitive, "sens/popf", "silently keeps IF and IOPL when CPL > 0 / CPL > IOPL"},
	x86asm.POPFD:  {Sensitive, "sens/popf", "silently keeps IF and IOPL when CPL > 0 / CPL > IOPL"},
	x86asm.SGDT:   {Sensitive, "sens/sgdt", "reveals the real GDTR"},
	x86asm.SIDT:   {Sensitive, "sens/sidt", "reveals the real IDTR"},
	x86asm.SLDT:   {Sensitive, "sens/sldt", "reveals the real LDTR"},
	x86asm.STR:    {Sensitive, "sens/str", "reveals the real TR"},
	x86asm.SMSW:   {Sensitive, "sens/smsw", "reveals the real CR0 low bits (trap mirrors the guest's FPU bits there, so it shows the guest's)"},
	x86asm.LAR:    {Sensitive, "sens/lar", "answers for the real descriptor at the real CPL"},
	x86asm.LSL:    {Sensitive, "sens/lsl", "answers for the real descriptor at the real CPL"},
	x86asm.VERR:   {Sensitive, "sens/verr", "answers for the real descriptor at the real CPL"},
	x86asm.VERW:   {Sensitive, "sens/verw", "answers for the real descriptor at the real CPL"},
	x86asm.LJMP:   {Sensitive, "sens/ljmp", "to DPL-0 code: runs at the real CPL with RPL 1"},
	x86asm.LCALL:  {Sensitive, "sens/lcall", "to DPL-0 code: runs at the real CPL, pushes CS with RPL 1"},
	x86asm.LDS:    {Sensitive, "sens/lds", "segment load"},
	x86asm.LES:    {Sensitive, "sens/les", "segment load"},
	x86asm.LFS:    {Sensitive, "sens/lfs", "segment load"},
	x86asm.LGS:    {Sensitive, "sens/lgs", "segment load"},
	// "priv/": sensitive instructions that fault under ring compression
	// when they name the kernel's RPL-0 selectors.
	x86asm.LSS:   {Sensitive, "priv/lss", "faults with an RPL-0 selector at CPL 1"},
	x86asm.LRET:  {Sensitive, "priv/lret", "faults returning to RPL 0 from CPL 1"},
	x86asm.IRET:  {Sensitive, "priv/iret", "faults returning to RPL 0 from CPL 1; ignores IF when CPL > IOPL"},
	x86asm.IRETD: {Sensitive, "priv/iret", "faults returning to RPL 0 from CPL 1; ignores IF when CPL > IOPL"},
	x86asm.INTO:  {Sensitive, "int/0x4", "software interrupt when OF=1: reaches the VMM's IDT"},
	x86asm.SYSENTER: {Sensitive, "priv/sysenter",
		"enters the CS:EIP of the real SYSENTER MSRs (the VMM's): the VMM enters the guest kernel by its virtual ones (sysenter.go)"},

	// Innocuous, but every VMM intercepts it for the CPU model.
	x86asm.CPUID: {Innocuous, "cpuid", "not sensitive (Robin & Irvine); intercepted for the CPU model"},
	x86asm.RDTSC: {Innocuous, "", "faults only with CR4.TSD set"},
}

// segName names a segment register in causes ("mov-ss").
var segName = map[x86asm.Reg]string{
	x86asm.ES: "es", x86asm.CS: "cs", x86asm.SS: "ss",
	x86asm.DS: "ds", x86asm.FS: "fs", x86asm.GS: "gs",
}

func isSegReg(a x86asm.Arg) bool {
	r, ok := a.(x86asm.Reg)
	return ok && r >= x86asm.ES && r <= x86asm.GS
}

func isCR(a x86asm.Arg) bool {
	r, ok := a.(x86asm.Reg)
	return ok && r >= x86asm.CR0 && r <= x86asm.CR15
}

func isDR(a x86asm.Arg) bool {
	r, ok := a.(x86asm.Reg)
	return ok && r >= x86asm.DR0 && r <= x86asm.DR15
}

// Classify says how inst behaves under deprivileging and which event
// cause it produces. MOV to or from a control, debug or segment register,
// PUSH and POP of a segment register, IN and OUT with an immediate port,
// and INT n are classified by their operands.
func Classify(inst x86asm.Inst) InsnClass {
	ic := InsnClass{Op: inst.Op}
	set := func(c Class, cause, note string) InsnClass {
		ic.Class, ic.Cause, ic.Note = c, cause, note
		return ic
	}
	a0, a1 := inst.Args[0], inst.Args[1]
	switch inst.Op {
	case x86asm.MOV:
		switch {
		case isCR(a0):
			return set(Privileged, fmt.Sprintf("priv/mov-cr%d", a0.(x86asm.Reg)-x86asm.CR0), "")
		case isCR(a1):
			return set(Privileged, fmt.Sprintf("priv/mov-from-cr%d", a1.(x86asm.Reg)-x86asm.CR0), "")
		case isDR(a0):
			return set(Privileged, fmt.Sprintf("priv/mov-dr%d", a0.(x86asm.Reg)-x86asm.DR0), "")
		case isDR(a1):
			return set(Privileged, fmt.Sprintf("priv/mov-from-dr%d", a1.(x86asm.Reg)-x86asm.DR0), "")
		case isSegReg(a0):
			r := a0.(x86asm.Reg)
			if r == x86asm.SS {
				return set(Sensitive, "priv/mov-ss", "faults with an RPL-0 selector at CPL 1")
			}
			return set(Sensitive, "sens/mov-"+segName[r], "segment load")
		case isSegReg(a1):
			return set(Sensitive, "sens/mov-from-"+segName[a1.(x86asm.Reg)], "reveals the real selector (its RPL is the real CPL)")
		}
		return ic
	case x86asm.PUSH:
		if isSegReg(a0) {
			return set(Sensitive, "sens/push-"+segName[a0.(x86asm.Reg)], "reveals the real selector (its RPL is the real CPL)")
		}
		return ic
	case x86asm.POP:
		if isSegReg(a0) {
			r := a0.(x86asm.Reg)
			if r == x86asm.SS {
				return set(Sensitive, "priv/pop-ss", "faults with an RPL-0 selector at CPL 1")
			}
			return set(Sensitive, "sens/pop-"+segName[r], "segment load")
		}
		return ic
	case x86asm.IN:
		if imm, ok := a1.(x86asm.Imm); ok {
			return set(IO, causeIn(uint16(imm)), "")
		}
		return set(IO, "io/in:dx", "port in DX")
	case x86asm.OUT:
		if imm, ok := a0.(x86asm.Imm); ok {
			return set(IO, causeOut(uint16(imm)), "")
		}
		return set(IO, "io/out:dx", "port in DX")
	case x86asm.INT:
		if imm, ok := a0.(x86asm.Imm); ok {
			note := "software interrupt: reaches the VMM's IDT, reflected through the guest's"
			return set(Sensitive, causeInt(uint8(imm)), note)
		}
		return ic
	}
	if e, ok := opClasses[inst.Op]; ok {
		return set(e.class, e.cause, e.note)
	}
	return ic
}

// Cause spellings shared with package vmm (vmm.CauseOut, vmm.CauseIn,
// vmm.CauseInt, vmm.CauseCPUID, vmm.CauseHLT): the same words under every
// strategy.
func causeOut(port uint16) string { return vmm.CauseOut(port) }
func causeIn(port uint16) string  { return vmm.CauseIn(port) }
func causeInt(vec uint8) string   { return vmm.CauseInt(vec) }
