package hwassist

// The KVM ABI this package speaks: ioctl numbers, exit reasons and the
// structures the kernel reads and writes, each named after its C original
// in the kernel's UAPI headers (x86-64):
//
//   - linux/kvm.h: the ioctls, struct kvm_run and its exit reasons, struct
//     kvm_userspace_memory_region, kvm_interrupt, kvm_guest_debug (generic
//     part), kvm_translation and the binary statistics (kvm_stats_header,
//     kvm_stats_desc);
//   - asm/kvm.h (arch/x86/include/uapi/asm/kvm.h): struct kvm_regs,
//     kvm_segment, kvm_dtable, kvm_sregs, kvm_cpuid_entry2, kvm_cpuid2,
//     kvm_vcpu_events and the x86 KVM_GUESTDBG_* bits.
//
// Sizes are checked against the kernel's by TestABISizes (kvm_regs 144,
// kvm_sregs 312, the exit union at offset 32 of kvm_run).

// ioctl number encoding (asm-generic/ioctl.h): dir<<30 | size<<16 | type<<8 | nr.
const (
	iocNone  = 0
	iocWrite = 1
	iocRead  = 2

	kvmio = 0xAE // KVMIO
)

func ioc(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | kvmio<<8 | nr }

// ioctls of /dev/kvm, the VM and the vCPU (linux/kvm.h). The sizes are
// those of the structures below.
var (
	kvmGetAPIVersion       = ioc(iocNone, 0x00, 0)                          // KVM_GET_API_VERSION
	kvmCreateVM            = ioc(iocNone, 0x01, 0)                          // KVM_CREATE_VM
	kvmCheckExtension      = ioc(iocNone, 0x03, 0)                          // KVM_CHECK_EXTENSION
	kvmGetVCPUMmapSize     = ioc(iocNone, 0x04, 0)                          // KVM_GET_VCPU_MMAP_SIZE
	kvmCreateVCPU          = ioc(iocNone, 0x41, 0)                          // KVM_CREATE_VCPU
	kvmSetUserMemoryRegion = ioc(iocWrite, 0x46, sizeofMemoryRegion)        // KVM_SET_USER_MEMORY_REGION
	kvmSetTSSAddr          = ioc(iocNone, 0x47, 0)                          // KVM_SET_TSS_ADDR
	kvmRun                 = ioc(iocNone, 0x80, 0)                          // KVM_RUN
	kvmGetRegs             = ioc(iocRead, 0x81, sizeofRegs)                 // KVM_GET_REGS
	kvmSetRegs             = ioc(iocWrite, 0x82, sizeofRegs)                // KVM_SET_REGS
	kvmGetSregs            = ioc(iocRead, 0x83, sizeofSregs)                // KVM_GET_SREGS
	kvmSetSregs            = ioc(iocWrite, 0x84, sizeofSregs)               // KVM_SET_SREGS
	kvmTranslate           = ioc(iocRead|iocWrite, 0x85, sizeofTranslation) // KVM_TRANSLATE
	kvmInterrupt           = ioc(iocWrite, 0x86, 4)                         // KVM_INTERRUPT
	kvmSetCPUID2           = ioc(iocWrite, 0x90, 8)                         // KVM_SET_CPUID2 (the header; entries follow)
	kvmSetGuestDebug       = ioc(iocWrite, 0x9b, sizeofGuestDebug)          // KVM_SET_GUEST_DEBUG
	kvmGetVCPUEvents       = ioc(iocRead, 0x9f, sizeofVCPUEvents)           // KVM_GET_VCPU_EVENTS
	kvmGetStatsFD          = ioc(iocNone, 0xce, 0)                          // KVM_GET_STATS_FD
)

// kvmAPIVersion is the only KVM API version there has ever been (since 2.6.22).
const kvmAPIVersion = 12

// Capabilities (KVM_CAP_*) this package needs or uses.
const (
	capUserMemory    = 3   // KVM_CAP_USER_MEMORY
	capExtCPUID      = 7   // KVM_CAP_EXT_CPUID: KVM_SET_CPUID2
	capSetGuestDebug = 23  // KVM_CAP_SET_GUEST_DEBUG
	capSyncRegs      = 74  // KVM_CAP_SYNC_REGS
	capImmediateExit = 136 // KVM_CAP_IMMEDIATE_EXIT
	capBinaryStatsFD = 203 // KVM_CAP_BINARY_STATS_FD
)

// Exit reasons (KVM_EXIT_*, kvm_run.exit_reason).
const (
	exitUnknown       = 0
	exitException     = 1
	exitIO            = 2
	exitHypercall     = 3
	exitDebug         = 4
	exitHLT           = 5
	exitMMIO          = 6
	exitIRQWindowOpen = 7
	exitShutdown      = 8
	exitFailEntry     = 9
	exitIntr          = 10
	exitNMI           = 16
	exitInternalError = 17
	exitSystemEvent   = 24
)

var exitNames = map[uint32]string{
	exitUnknown: "KVM_EXIT_UNKNOWN", exitException: "KVM_EXIT_EXCEPTION", exitIO: "KVM_EXIT_IO",
	exitHypercall: "KVM_EXIT_HYPERCALL", exitDebug: "KVM_EXIT_DEBUG", exitHLT: "KVM_EXIT_HLT",
	exitMMIO: "KVM_EXIT_MMIO", exitIRQWindowOpen: "KVM_EXIT_IRQ_WINDOW_OPEN", exitShutdown: "KVM_EXIT_SHUTDOWN",
	exitFailEntry: "KVM_EXIT_FAIL_ENTRY", exitIntr: "KVM_EXIT_INTR", exitNMI: "KVM_EXIT_NMI",
	exitInternalError: "KVM_EXIT_INTERNAL_ERROR", exitSystemEvent: "KVM_EXIT_SYSTEM_EVENT",
}

// Internal-error suberrors (KVM_INTERNAL_ERROR_*).
const (
	internalEmulation      = 1          // KVM_INTERNAL_ERROR_EMULATION: the in-kernel emulator gave up
	internalSimulEx        = 2          // KVM_INTERNAL_ERROR_SIMUL_EX: an exception while delivering one
	internalDeliveryEv     = 3          // KVM_INTERNAL_ERROR_DELIVERY_EV: an exit while delivering an event
	internalUnexpectedExit = 4          // KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON
	internalFlagInsnBytes  = 1          // KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES
	ioDirIn, ioDirOut      = 0, 1       // KVM_EXIT_IO_IN, KVM_EXIT_IO_OUT
	cpuidFlagSignifcantIdx = 1          // KVM_CPUID_FLAG_SIGNIFCANT_INDEX (sic)
	guestDbgEnable         = 0x1        // KVM_GUESTDBG_ENABLE
	guestDbgSingleStep     = 0x2        // KVM_GUESTDBG_SINGLESTEP
	guestDbgUseSWBP        = 0x10000    // KVM_GUESTDBG_USE_SW_BP (x86): #BP exits as KVM_EXIT_DEBUG
	bpVector               = 3          // #BP
	syncX86Regs            = 1          // KVM_SYNC_X86_REGS: kvm_run.s.regs.regs is valid after each exit
	syncX86Sregs           = 2          // KVM_SYNC_X86_SREGS: kvm_run.s.regs.sregs too
	syncX86Events          = 4          // KVM_SYNC_X86_EVENTS: kvm_run.s.regs.events too
	shadowIntMovSS         = 1          // KVM_X86_SHADOW_INT_MOV_SS
	shadowIntSTI           = 2          // KVM_X86_SHADOW_INT_STI
	kvmTSSAddr             = 0xFFFBD000 // where VT-x's real-mode TSS goes (QEMU's choice); above guest RAM
	maxCPUIDEntries        = 64
	internalErrorMaxData   = 16
	statsDescFixedSize     = 16 // struct kvm_stats_desc without its name
	sizeofStatsHeader      = 24 // struct kvm_stats_header
)

// struct kvm_run (linux/kvm.h), x86-64: the fixed part, the exit union at
// offset 32 (256 bytes), then the synchronised registers.
const (
	runRequestInterruptWindow = 0  // __u8 request_interrupt_window (in)
	runImmediateExit          = 1  // __u8 immediate_exit (in)
	runExitReason             = 8  // __u32 exit_reason
	runReadyForInjection      = 12 // __u8 ready_for_interrupt_injection
	runIFFlag                 = 13 // __u8 if_flag
	runFlags                  = 14 // __u16 flags
	runExit                   = 32 // the exit union
	runExitUnionSize          = 256
	runValidRegs              = 288 // __u64 kvm_valid_regs
	runDirtyRegs              = 296 // __u64 kvm_dirty_regs
	runSyncRegs               = 304 // struct kvm_sync_regs s: struct kvm_regs regs; struct kvm_sregs sregs; struct kvm_vcpu_events events
	runSyncSregs              = runSyncRegs + sizeofRegs
	runSyncEvents             = runSyncSregs + sizeofSregs
	runMinSize                = runSyncEvents + sizeofVCPUEvents
	sregsCS                   = 0   // offset of cs in struct kvm_sregs
	sregsCR0                  = 224 // cr0: after 8 segments (24 bytes each) and gdt, idt (16 each)
	sregsCR3                  = 240
	sregsCR4                  = 248
	eventsInterruptShadow     = 11 // offset of interrupt.shadow in struct kvm_vcpu_events
)

// Offsets inside the exit union (relative to runExit).
const (
	ioDirection  = 0 // io: __u8 direction
	ioSize       = 1 // __u8 size
	ioPort       = 2 // __u16 port
	ioCount      = 4 // __u32 count
	ioDataOffset = 8 // __u64 data_offset (from the start of kvm_run)

	mmioPhysAddr = 0  // mmio: __u64 phys_addr
	mmioData     = 8  // __u8 data[8]
	mmioLen      = 16 // __u32 len
	mmioIsWrite  = 20 // __u8 is_write

	failEntryReason = 0 // fail_entry: __u64 hardware_entry_failure_reason
	failEntryCPU    = 8 // __u32 cpu

	internalSuberror = 0 // internal: __u32 suberror
	internalNData    = 4 // __u32 ndata
	internalData     = 8 // __u64 data[16]

	debugException = 0  // debug.arch (struct kvm_debug_exit_arch): __u32 exception
	debugPC        = 8  // __u64 pc
	debugDR6       = 16 // __u64 dr6

	hwExitReason    = 0 // hw: __u64 hardware_exit_reason
	systemEventType = 0 // system_event: __u32 type
)

// kvmRegs is struct kvm_regs (asm/kvm.h).
type kvmRegs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
}

const sizeofRegs = 144

// kvmSegment is struct kvm_segment (asm/kvm.h).
type kvmSegment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8
	Present  uint8
	DPL      uint8
	DB       uint8
	S        uint8
	L        uint8
	G        uint8
	AVL      uint8
	Unusable uint8
	Padding  uint8
}

// kvmDtable is struct kvm_dtable (asm/kvm.h).
type kvmDtable struct {
	Base    uint64
	Limit   uint16
	Padding [3]uint16
}

// kvmSregs is struct kvm_sregs (asm/kvm.h).
type kvmSregs struct {
	CS, DS, ES, FS, GS, SS  kvmSegment
	TR, LDT                 kvmSegment
	GDT, IDT                kvmDtable
	CR0, CR2, CR3, CR4, CR8 uint64
	EFER                    uint64
	APICBase                uint64
	InterruptBitmap         [4]uint64 // (KVM_NR_INTERRUPTS + 63) / 64
}

const sizeofSregs = 312

// kvmUserspaceMemoryRegion is struct kvm_userspace_memory_region (linux/kvm.h).
type kvmUserspaceMemoryRegion struct {
	Slot          uint32
	Flags         uint32
	GuestPhysAddr uint64
	MemorySize    uint64
	UserspaceAddr uint64
}

const sizeofMemoryRegion = 32

// kvmCPUIDEntry2 is struct kvm_cpuid_entry2 (asm/kvm.h); KVM_SET_CPUID2
// takes struct kvm_cpuid2 { __u32 nent; __u32 padding; entries[] }.
type kvmCPUIDEntry2 struct {
	Function, Index, Flags uint32
	EAX, EBX, ECX, EDX     uint32
	Padding                [3]uint32
}

// kvmCPUID2 is struct kvm_cpuid2 with room for the entries virtsim sets.
type kvmCPUID2 struct {
	NEnt    uint32
	Padding uint32
	Entries [maxCPUIDEntries]kvmCPUIDEntry2
}

// kvmGuestDebug is struct kvm_guest_debug with the x86 struct
// kvm_guest_debug_arch (debugreg[8]).
type kvmGuestDebug struct {
	Control  uint32
	Pad      uint32
	DebugReg [8]uint64
}

const sizeofGuestDebug = 72

// kvmVCPUEvents is struct kvm_vcpu_events (asm/kvm.h).
type kvmVCPUEvents struct {
	Exception struct {
		Injected, Nr, HasErrorCode, Pending uint8
		ErrorCode                           uint32
	}
	Interrupt struct {
		Injected, Nr, Soft, Shadow uint8
	}
	NMI struct {
		Injected, Pending, Masked, Pad uint8
	}
	SIPIVector uint32
	Flags      uint32
	SMI        struct {
		SMM, Pending, SMMInsideNMI, LatchedInit uint8
	}
	TripleFault struct {
		Pending uint8
	}
	Reserved            [26]uint8
	ExceptionHasPayload uint8
	ExceptionPayload    uint64
}

const sizeofVCPUEvents = 64

// kvmTranslation is struct kvm_translation (linux/kvm.h).
type kvmTranslation struct {
	LinearAddress   uint64
	PhysicalAddress uint64
	Valid           uint8
	Writeable       uint8
	Usermode        uint8
	Pad             [5]uint8
}

const sizeofTranslation = 24

// kvmEnableCap is struct kvm_enable_cap (linux/kvm.h).
type kvmEnableCap struct {
	Cap   uint32
	Flags uint32
	Args  [4]uint64
	Pad   [64]uint8
}

const sizeofEnableCap = 104

// KVM_ENABLE_CAP (on the VM fd for VM-wide capabilities).
var kvmEnableCapIoctl = ioc(iocWrite, 0xa3, sizeofEnableCap)

// capExitOnEmulationFailure is KVM_CAP_EXIT_ON_EMULATION_FAILURE (Linux
// 5.17): when enabled, every failure of KVM's emulator exits to user space;
// without it, a failure at CPL 3 is turned into a #UD for the guest.
const capExitOnEmulationFailure = 204
