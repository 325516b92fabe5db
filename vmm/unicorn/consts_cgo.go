package unicorn

/*
#include "shim.h"
*/
import "C"

// Unicorn error codes (uc_err). Compare with errors.Is; every error this
// package returns for a failed Unicorn call wraps one of these.
const (
	ErrNoMem          Error = C.UC_ERR_NOMEM
	ErrArch           Error = C.UC_ERR_ARCH
	ErrHandle         Error = C.UC_ERR_HANDLE
	ErrMode           Error = C.UC_ERR_MODE
	ErrVersion        Error = C.UC_ERR_VERSION
	ErrReadUnmapped   Error = C.UC_ERR_READ_UNMAPPED
	ErrWriteUnmapped  Error = C.UC_ERR_WRITE_UNMAPPED
	ErrFetchUnmapped  Error = C.UC_ERR_FETCH_UNMAPPED
	ErrHook           Error = C.UC_ERR_HOOK
	ErrInsnInvalid    Error = C.UC_ERR_INSN_INVALID
	ErrMap            Error = C.UC_ERR_MAP
	ErrWriteProt      Error = C.UC_ERR_WRITE_PROT
	ErrReadProt       Error = C.UC_ERR_READ_PROT
	ErrFetchProt      Error = C.UC_ERR_FETCH_PROT
	ErrArg            Error = C.UC_ERR_ARG
	ErrReadUnaligned  Error = C.UC_ERR_READ_UNALIGNED
	ErrWriteUnaligned Error = C.UC_ERR_WRITE_UNALIGNED
	ErrFetchUnaligned Error = C.UC_ERR_FETCH_UNALIGNED
	ErrHookExist      Error = C.UC_ERR_HOOK_EXIST
	ErrResource       Error = C.UC_ERR_RESOURCE
	ErrException      Error = C.UC_ERR_EXCEPTION
	errOK             Error = C.UC_ERR_OK
)

// Memory permissions (uc_prot).
const (
	ProtNone  Prot = C.UC_PROT_NONE
	ProtRead  Prot = C.UC_PROT_READ
	ProtWrite Prot = C.UC_PROT_WRITE
	ProtExec  Prot = C.UC_PROT_EXEC
	ProtAll   Prot = C.UC_PROT_ALL
)

// x86 registers (uc_x86_reg). In 32-bit mode the general-purpose registers,
// EIP, EFLAGS and CR0-CR4 are 32 bits wide, segment registers hold the
// 16-bit selector. GDTR, IDTR, LDTR and TR are descriptor-table registers:
// use MMR/SetMMR for them.
const (
	EAX    Reg = C.UC_X86_REG_EAX
	ECX    Reg = C.UC_X86_REG_ECX
	EDX    Reg = C.UC_X86_REG_EDX
	EBX    Reg = C.UC_X86_REG_EBX
	ESP    Reg = C.UC_X86_REG_ESP
	EBP    Reg = C.UC_X86_REG_EBP
	ESI    Reg = C.UC_X86_REG_ESI
	EDI    Reg = C.UC_X86_REG_EDI
	EIP    Reg = C.UC_X86_REG_EIP
	EFLAGS Reg = C.UC_X86_REG_EFLAGS
	CS     Reg = C.UC_X86_REG_CS
	SS     Reg = C.UC_X86_REG_SS
	DS     Reg = C.UC_X86_REG_DS
	ES     Reg = C.UC_X86_REG_ES
	FS     Reg = C.UC_X86_REG_FS
	GS     Reg = C.UC_X86_REG_GS
	CR0    Reg = C.UC_X86_REG_CR0
	CR2    Reg = C.UC_X86_REG_CR2
	CR3    Reg = C.UC_X86_REG_CR3
	CR4    Reg = C.UC_X86_REG_CR4
	DR0    Reg = C.UC_X86_REG_DR0
	DR1    Reg = C.UC_X86_REG_DR1
	DR2    Reg = C.UC_X86_REG_DR2
	DR3    Reg = C.UC_X86_REG_DR3
	DR6    Reg = C.UC_X86_REG_DR6
	DR7    Reg = C.UC_X86_REG_DR7
	GDTR   Reg = C.UC_X86_REG_GDTR
	IDTR   Reg = C.UC_X86_REG_IDTR
	LDTR   Reg = C.UC_X86_REG_LDTR
	TR     Reg = C.UC_X86_REG_TR
	// MXCSR is SSE's control and status register (reset value 0x1F80).
	MXCSR Reg = C.UC_X86_REG_MXCSR
	// The x87 unit's control, status and tag words (16 bits; RegBytes),
	// its eight 80-bit registers (FP0+i: a 64-bit mantissa, then the
	// 16-bit sign and exponent) and the eight 128-bit XMM registers
	// (XMM0+i).
	FPCW  Reg = C.UC_X86_REG_FPCW
	FPSW  Reg = C.UC_X86_REG_FPSW
	FPTAG Reg = C.UC_X86_REG_FPTAG
	FP0   Reg = C.UC_X86_REG_FP0
	XMM0  Reg = C.UC_X86_REG_XMM0
)

// Kinds of memory access reported to memory hooks (uc_mem_type).
const (
	MemRead          MemAccess = C.UC_MEM_READ
	MemWrite         MemAccess = C.UC_MEM_WRITE
	MemFetch         MemAccess = C.UC_MEM_FETCH
	MemReadUnmapped  MemAccess = C.UC_MEM_READ_UNMAPPED
	MemWriteUnmapped MemAccess = C.UC_MEM_WRITE_UNMAPPED
	MemFetchUnmapped MemAccess = C.UC_MEM_FETCH_UNMAPPED
	MemWriteProt     MemAccess = C.UC_MEM_WRITE_PROT
	MemReadProt      MemAccess = C.UC_MEM_READ_PROT
	MemFetchProt     MemAccess = C.UC_MEM_FETCH_PROT
	MemReadAfter     MemAccess = C.UC_MEM_READ_AFTER
)

// Hook type bits used by the memory hooks.
const (
	hookMemInvalid   = C.UC_HOOK_MEM_INVALID
	hookMemWriteProt = C.UC_HOOK_MEM_WRITE_PROT
)

// Data-access hook kinds for HookMemAccess (a set: or them together).
const (
	MemHookRead      MemHook = C.UC_HOOK_MEM_READ
	MemHookReadAfter MemHook = C.UC_HOOK_MEM_READ_AFTER
	MemHookWrite     MemHook = C.UC_HOOK_MEM_WRITE
)
