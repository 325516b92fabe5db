package unicorn

import (
	"fmt"
	"strings"
)

// Error is a Unicorn error code (uc_err). Its message comes from
// uc_strerror. The exported Err* constants are the codes; test for them with
// errors.Is, since the binding wraps them with context.
type Error int

// Prot is a set of memory permissions for MemMap and MemProtect.
type Prot uint32

// String renders a permission set as "rwx" letters ("---" for ProtNone).
func (p Prot) String() string {
	b := []byte("---")
	if p&ProtRead != 0 {
		b[0] = 'r'
	}
	if p&ProtWrite != 0 {
		b[1] = 'w'
	}
	if p&ProtExec != 0 {
		b[2] = 'x'
	}
	if rest := p &^ ProtAll; rest != 0 {
		return fmt.Sprintf("%s|%#x", b, uint32(rest))
	}
	return string(b)
}

// Reg names an x86 register (a UC_X86_REG_* value).
type Reg int

var regNames = map[Reg]string{
	EAX: "eax", ECX: "ecx", EDX: "edx", EBX: "ebx", ESP: "esp", EBP: "ebp", ESI: "esi", EDI: "edi",
	EIP: "eip", EFLAGS: "eflags",
	CS: "cs", SS: "ss", DS: "ds", ES: "es", FS: "fs", GS: "gs",
	CR0: "cr0", CR2: "cr2", CR3: "cr3", CR4: "cr4",
	DR0: "dr0", DR1: "dr1", DR2: "dr2", DR3: "dr3", DR6: "dr6", DR7: "dr7",
	GDTR: "gdtr", IDTR: "idtr", LDTR: "ldtr", TR: "tr",
}

// String returns the register's lower-case name, or "reg(N)" for a value
// this package does not know.
func (r Reg) String() string {
	if s, ok := regNames[r]; ok {
		return s
	}
	return fmt.Sprintf("reg(%d)", int(r))
}

// isScalar reports whether r is a register Reg/SetReg/Regs/SetRegs accept:
// one whose value fits in 32 bits. This check is what keeps the C side from
// writing a wider structure (an MMR, an MSR, an FPU register) into a 32-bit
// slot, so it must stay exhaustive and conservative.
func (r Reg) isScalar() bool {
	switch r {
	case EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI, EIP, EFLAGS,
		CS, SS, DS, ES, FS, GS, CR0, CR2, CR3, CR4,
		DR0, DR1, DR2, DR3, DR6, DR7, MXCSR:
		return true
	}
	return false
}

// isMMR reports whether r is a descriptor-table register (uc_x86_mmr).
func (r Reg) isMMR() bool {
	switch r {
	case GDTR, IDTR, LDTR, TR:
		return true
	}
	return false
}

// MMR is the value of a descriptor-table register (uc_x86_mmr): GDTR and
// IDTR use Base and Limit only; LDTR and TR also have a Selector and the
// descriptor's attribute Flags (QEMU's SegmentCache flags: type in bits
// 8-11, S bit 12, DPL 13-14, P 15, ..., i.e. the descriptor's second dword
// masked to the attribute bits).
type MMR struct {
	Selector uint16
	Base     uint32
	Limit    uint32
	Flags    uint32
}

// MemAccess is the kind of a memory access reported to a memory hook.
type MemAccess int

var memAccessNames = map[MemAccess]string{
	MemRead: "read", MemWrite: "write", MemFetch: "fetch",
	MemReadUnmapped: "read-unmapped", MemWriteUnmapped: "write-unmapped", MemFetchUnmapped: "fetch-unmapped",
	MemWriteProt: "write-prot", MemReadProt: "read-prot", MemFetchProt: "fetch-prot",
	MemReadAfter: "read-after",
}

// MemHook is a set of data-access hook kinds (HookMemAccess).
type MemHook int

// String returns a short name such as "write-prot".
func (a MemAccess) String() string {
	if s, ok := memAccessNames[a]; ok {
		return s
	}
	return fmt.Sprintf("mem-access(%d)", int(a))
}

// Hook identifies a hook installed on an Engine; pass it to Engine.Del.
// The zero Hook is invalid.
type Hook struct {
	hh   uintptr // Unicorn's uc_hook handle
	slot uint32  // registry slot + 1 (0 = invalid)
}

// CallbackPanicError is returned by Start when a Go hook callback panicked.
// The panic was recovered in the callback trampoline (a panic unwinding
// through Unicorn's C frames would kill the process) and the emulation was
// stopped.
type CallbackPanicError struct {
	Hook  string // which kind of hook, e.g. "intr"
	Value any    // the value passed to panic
	Stack string // the callback goroutine's stack at the panic
}

func (p *CallbackPanicError) Error() string {
	return fmt.Sprintf("unicorn: %s hook callback panicked: %v", p.Hook, p.Value)
}

// Unwrap exposes a panic value that is itself an error.
func (p *CallbackPanicError) Unwrap() error {
	if err, ok := p.Value.(error); ok {
		return err
	}
	return nil
}

func joinRegs(rs []Reg) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, ",")
}
