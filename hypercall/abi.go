package hypercall

import (
	"encoding/binary"
	"fmt"
)

// The paravirtual ABI: where the hypercall page and the shared-info page
// live, the hypercall numbers and their sub-commands, the errors. The
// assembly side is guest/src/include/pvops-pv.inc; TestPVIncMatchesGo keeps
// the two equal.

// Fixed guest-physical (= linear: no paging yet) addresses. Both pages lie
// in low memory below the multiboot info block (guest.InfoAddr), where no
// image is loaded; the VMM fills them before the guest's first instruction.
const (
	HypercallPage = 0x7000 // 128 stubs of StubSize bytes: `call HypercallPage + StubSize*nr`
	StubSize      = 32
	NumStubs      = PageSize / StubSize
	SharedInfo    = 0x8000 // the shared-info page
	PageSize      = 0x1000

	// HcallVector is the software-interrupt vector of the Unicorn stubs
	// (Xen's historic 32-bit hypercall vector).
	HcallVector = 0x82
	// HcallPort is the I/O port of the port-I/O stubs (StubPortIO): under
	// KVM an `out` to it exits to the user-space VMM, which reads the
	// number from EAX and the arguments from the other registers. No device
	// sits on it.
	HcallPort = 0xE0

	// ABIMagic is the signature every PV build carries (symbol pv_abi, from
	// the PV runtime in pvops-pv.inc); the pv strategy refuses images
	// without it.
	ABIMagic   = "VIRTSIM-PV-ABI 1"
	ABIVersion = 1
)

// Shared-info page layout: offsets from SharedInfo. The VMM writes every
// field except Mask and the guest-owned half from GuestArea on.
const (
	SIMagic   = 0x00 // "VSPV" (little-endian uint32 SIMagicValue)
	SIVersion = 0x04 // ABIVersion
	SIMask    = 0x08 // byte, written by the guest: 1 = events masked (the virtual IF is 0)
	SIPending = 0x09 // byte: 1 = an event waits for the guest
	SIVector  = 0x0A // byte: the vector of the event being delivered to the callback
	SICR0     = 0x10 // the virtual CR0
	SICR2     = 0x14
	SICR3     = 0x18 // as registered by mmuext_op new_baseptr
	SICR4     = 0x1C
	SIGDTR    = 0x20 // limit16, base32: the GDT set_gdt registered
	SIIDTR    = 0x28 // limit16, base32: the trap table set_trap_table registered
	SIEvtchn  = 0x30 // u32: bit p = event channel p has a pending event (the guest clears it)
	GuestArea = 0x800
	SITR      = GuestArea + 0x00 // word: the selector PV_LTR recorded (guest-owned)
	SIFailing = GuestArea + 0x04 // long: the guest's hypercall-failure path is running (guest-owned)

	SIMagicValue = 'V' | 'S'<<8 | 'P'<<16 | 'V'<<24
)

// Hypercall numbers: Xen's numbers where Xen has the call, virtsim's own from
// 48 on.
const (
	HcSetTrapTable = 0
	HcMMUUpdate    = 1
	HcSetGDT       = 2
	HcStackSwitch  = 3
	HcSetCallbacks = 4
	HcMulticall    = 13
	HcConsoleIO    = 18
	HcIret         = 23
	HcMMUExtOp     = 26
	HcSchedOp      = 29
	HcIOOut        = 48
	HcIOIn         = 49
	HcSetCR0       = 50
	HcEventCheck   = 51
	HcSetCR4       = 52
	HcEvtchnOp     = 32 // Xen's event_channel_op
	HcBlkifConnect = 53
)

// Sub-commands.
const (
	ConsoleIOWrite = 0

	SchedYield    = 0
	SchedBlock    = 1  // unmask events and wait for one (Xen's SCHEDOP_block)
	SchedShutdown = 2  // ECX = status: the VM stops with its low byte
	SchedHalt     = 64 // wait for an event, mask unchanged (virtsim's hlt)

	MMUExtNewBaseptr    = 5
	MMUExtTLBFlushLocal = 6
	MMUExtInvlpgLocal   = 7

	EvtchnOpSend = 4 // Xen's EVTCHNOP_send

	// MulticallEntrySize is the size of one multicall entry: op, result,
	// args[6], 32-bit words each (Xen's multicall_entry on 32-bit x86).
	MulticallEntrySize = 32
	// MaxMulticall bounds the entries of one multicall.
	MaxMulticall = 64
	// MaxConsoleWrite bounds one console_io write.
	MaxConsoleWrite = 4096
)

// Errors, returned in EAX as their negation (Linux/Xen errno values).
const (
	EPERM  Errno = 1
	EFAULT Errno = 14
	EINVAL Errno = 22
	ENOSYS Errno = 38
)

// Errno is a hypercall failure: the guest sees -Errno in EAX.
type Errno uint32

func (e Errno) Error() string {
	switch e {
	case EPERM:
		return "EPERM"
	case EFAULT:
		return "EFAULT"
	case EINVAL:
		return "EINVAL"
	case ENOSYS:
		return "ENOSYS"
	}
	return fmt.Sprintf("errno %d", uint32(e))
}

// Ret is the EAX value the guest receives for the error.
func (e Errno) Ret() uint32 { return -uint32(e) }

// Call describes one hypercall of the table.
type Call struct {
	Nr   uint32
	Name string
	Args string // the registers it takes
	Does string // one line
}

// Calls is the hypercall table, in number order (doc.go and the README show it).
var Calls = []Call{
	{HcSetTrapTable, "set_trap_table", "ebx = &{limit16, base32} of the guest's IDT",
		"register the exception and system-call handlers (hardware gate format); the system-call gate (0x80) goes straight into the real IDT"},
	{HcSetGDT, "set_gdt", "ebx = &{limit16, base32} of the guest's GDT",
		"register the GDT: the VMM shadows it (DPL 0 -> 1) into the real GDT"},
	{HcStackSwitch, "stack_switch", "ebx = ss, ecx = esp",
		"the kernel stack for entries from user mode: the real TSS's SS1:ESP1"},
	{HcSetCallbacks, "set_callbacks", "ebx = cs, ecx = eip",
		"register the event callback, where event upcalls (the timer) enter the guest"},
	{HcMulticall, "multicall", "ebx = entries, ecx = count",
		"run count hypercalls in one exit; each entry is {op, result, args[6]}"},
	{HcConsoleIO, "console_io", "ebx = 0 (write), ecx = count, edx = buffer",
		"write a whole string to the console in one exit"},
	{HcIret, "iret", "stack: call's return address, saved eax, iret frame",
		"return from a handler and deliver the event that is pending (does not return)"},
	{HcMMUExtOp, "mmuext_op", "ebx = cmd (5 new_baseptr, 6 tlb_flush_local, 7 invlpg_local), ecx = arg",
		"validate and record a new page-directory base (CR3); flush the TLB or one page"},
	{HcSchedOp, "sched_op", "ebx = cmd (0 yield, 1 block, 2 shutdown, 64 halt), ecx = status",
		"yield; unmask events and block until one is handled; stop the VM with a status; halt"},
	{HcEvtchnOp, "event_channel_op", "ebx = cmd (4 send), ecx = port",
		"notify the other end of an event channel: the disk's backend serves its ring (one exit per batch)"},
	{HcIOOut, "io_out", "ebx = port, ecx = size (1, 2, 4), edx = value",
		"write a port of a virtual device (the PIT, the PIC, ...)"},
	{HcIOIn, "io_in", "ebx = port, ecx = size (1, 2, 4); value -> edx",
		"read a port of a virtual device"},
	{HcSetCR0, "set_cr0", "ebx = value",
		"validate and record CR0 (PE stays set, PG clear until memory virtualization)"},
	{HcEventCheck, "event_check", "",
		"nothing: the pending event is delivered on the way back (the unmask path's exit)"},
	{HcBlkifConnect, "blkif_connect", "ebx = guest-physical address of the ring page",
		"grant the block ring page to the disk backend; returns its event-channel port (package blkring)"},
}

// CallName names hypercall nr ("" if there is none).
func CallName(nr uint32) string {
	for _, c := range Calls {
		if c.Nr == nr {
			return c.Name
		}
	}
	return ""
}

// Substrate selects the stubs the VMM writes into the hypercall page.
type Substrate int

const (
	// StubInt82 is Unicorn's stub: `movl $nr, %eax; int $0x82; ret`. The
	// software interrupt reaches the VMM through the real IDT it owns.
	StubInt82 Substrate = iota
	// StubPortIO is the stub for KVM, where vmcall never reaches user space
	// on these machines: `movl $nr, %eax; outl %eax, $HcallPort; ret`.
	StubPortIO
)

// Page returns the contents of the hypercall page for a substrate: stub nr
// at offset StubSize*nr, the rest of each stub int3 (0xCC). The guest calls
// a stub and gets the result in EAX at its ret.
func Page(s Substrate) []byte {
	page := make([]byte, PageSize)
	for i := range page {
		page[i] = 0xCC
	}
	for nr := 0; nr < NumStubs; nr++ {
		stub := page[nr*StubSize : (nr+1)*StubSize]
		stub[0] = 0xB8 // movl $nr, %eax
		binary.LittleEndian.PutUint32(stub[1:], uint32(nr))
		switch s {
		case StubPortIO:
			stub[5], stub[6] = 0xE7, HcallPort // outl %eax, $imm8
		default:
			stub[5], stub[6] = 0xCD, HcallVector // int $0x82
		}
		stub[7] = 0xC3 // ret
		stub[8] = 0xCF // iret: where the iret hypercall resumes the guest
	}
	return page
}

// StubAddr is the guest address of hypercall nr's stub.
func StubAddr(nr uint32) uint32 { return HypercallPage + StubSize*nr }

// iretAt is the iret instruction inside the iret hypercall's stub: the VMM
// resumes the guest there to perform a return it needs no help with.
const iretAt = HypercallPage + StubSize*HcIret + 8
