package hwassist

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"virtsim/vmm"
)

// kvmExit is what one return from KVM_RUN said, decoded from kvm_run into
// plain data so that deciding what it means is a pure function (decide).
type kvmExit struct {
	// Errno is KVM_RUN's error: EINTR when a signal (Go's preemption, or
	// the VMM's own kick) or immediate_exit ended it; 0 on a normal exit.
	Errno  unix.Errno
	Reason uint32
	// ReadyForInjection and IFFlag are kvm_run's view of the vCPU's
	// interruptibility after the exit.
	ReadyForInjection bool
	IFFlag            bool

	// KVM_EXIT_IO: one port access of Size bytes repeated Count times (a
	// rep ins/outs); Data is the Size*Count bytes in kvm_run that hold the
	// values written (out) or receive the values read (in).
	IOOut   bool
	IOSize  uint8
	IOPort  uint16
	IOCount uint32
	IOData  []byte

	// KVM_EXIT_MMIO.
	MMIOAddr  uint64
	MMIOData  [8]byte
	MMIOLen   uint32
	MMIOWrite bool

	// KVM_EXIT_INTERNAL_ERROR.
	Suberror     uint32
	InternalData []uint64

	// KVM_EXIT_FAIL_ENTRY, KVM_EXIT_UNKNOWN: the hardware's reason.
	HWReason uint64
	FailCPU  uint32

	// KVM_EXIT_DEBUG.
	DebugException uint32
	DebugPC        uint64

	// KVM_EXIT_SYSTEM_EVENT.
	SystemEvent uint32
}

// decodeExit reads the exit out of the kvm_run page.
func decodeExit(run []byte, errno unix.Errno) kvmExit {
	le := binary.LittleEndian
	e := kvmExit{
		Errno:             errno,
		Reason:            le.Uint32(run[runExitReason:]),
		ReadyForInjection: run[runReadyForInjection] != 0,
		IFFlag:            run[runIFFlag] != 0,
	}
	u := run[runExit : runExit+runExitUnionSize]
	switch e.Reason {
	case exitIO:
		e.IOOut = u[ioDirection] == ioDirOut
		e.IOSize = u[ioSize]
		e.IOPort = le.Uint16(u[ioPort:])
		e.IOCount = le.Uint32(u[ioCount:])
		off := le.Uint64(u[ioDataOffset:])
		n := uint64(e.IOSize) * uint64(e.IOCount)
		if off < uint64(len(run)) && n <= uint64(len(run))-off {
			e.IOData = run[off : off+n]
		}
	case exitMMIO:
		e.MMIOAddr = le.Uint64(u[mmioPhysAddr:])
		copy(e.MMIOData[:], u[mmioData:mmioData+8])
		e.MMIOLen = le.Uint32(u[mmioLen:])
		e.MMIOWrite = u[mmioIsWrite] != 0
	case exitInternalError:
		e.Suberror = le.Uint32(u[internalSuberror:])
		n := min(le.Uint32(u[internalNData:]), internalErrorMaxData)
		for i := range n {
			e.InternalData = append(e.InternalData, le.Uint64(u[internalData+8*i:]))
		}
	case exitFailEntry:
		e.HWReason = le.Uint64(u[failEntryReason:])
		e.FailCPU = le.Uint32(u[failEntryCPU:])
	case exitUnknown:
		e.HWReason = le.Uint64(u[hwExitReason:])
	case exitDebug:
		e.DebugException = le.Uint32(u[debugException:])
		e.DebugPC = le.Uint64(u[debugPC:])
	case exitSystemEvent:
		e.SystemEvent = le.Uint32(u[systemEventType:])
	}
	return e
}

// action is what the exit loop does about an exit.
type action uint8

const (
	// actKick: KVM_RUN was interrupted (EINTR, KVM_EXIT_INTR): look at
	// the kick reasons (time budget, abort, clock) and run again if none.
	actKick      action = iota
	actIO               // perform the port access on the device bus
	actMMIO             // a device register access: perform it on the device model (mmio.go)
	actHalt             // hlt: wait for an interrupt, or stop
	actIRQWindow        // the guest can take an interrupt now: inject it
	actEmulate          // KVM's emulator refused an instruction: finish it in user space
	actDebug            // a single step finished
	actCrash            // the guest (or the VM) cannot go on
)

var actionNames = [...]string{"kick", "io", "mmio", "halt", "irq-window", "emulate", "debug", "crash"}

func (a action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", a)
}

// CauseIRQWindow is the event cause of an exit the VMM asked for only to
// find the moment the guest can take a pending interrupt (an interrupt
// window: KVM_EXIT_IRQ_WINDOW_OPEN, or a single step under PVM).
const CauseIRQWindow = "irq-window"

// decision is what an exit means.
type decision struct {
	Action action
	// Cause and Mech: the event to record, when Event is set. An
	// emulation exit's cause is the refused instruction's, known only once
	// it is decoded (Cause is then empty).
	Cause string
	Mech  vmm.Mechanism
	Event bool
	// Why explains a crash.
	Why string
}

// decide maps an exit to its meaning. It reads nothing but e: every row
// of the table is unit-tested with made-up exits.
//
//	exit                              action      event
//	KVM_RUN error EINTR, KVM_EXIT_INTR kick       none (Go's preemption signal, or the VMM's kick)
//	KVM_RUN other error               crash       none
//	KVM_EXIT_IO out / in              io          io/out:PORT, io/in:PORT   vmexit
//	KVM_EXIT_HLT                      halt        hlt                       vmexit
//	KVM_EXIT_IRQ_WINDOW_OPEN          irq-window  irq-window                vmexit
//	KVM_EXIT_DEBUG                    debug       none (the VMM's single step)
//	KVM_EXIT_INTERNAL_ERROR emulation emulate     the instruction's cause   emulation
//	KVM_EXIT_INTERNAL_ERROR other     crash       none
//	KVM_EXIT_MMIO at a device         mmio        mmio/DEV:REG              vmexit
//	KVM_EXIT_MMIO elsewhere, or wider crash       no RAM and no device there
//	  than 4 bytes, or across a register
//	KVM_EXIT_SHUTDOWN                 crash       triple fault
//	KVM_EXIT_FAIL_ENTRY               crash       the hardware's entry-failure reason
//	KVM_EXIT_SYSTEM_EVENT             crash       shutdown/reset/crash request
//	anything else                     crash       the exit reason by name
func decide(e kvmExit) decision {
	if e.Errno == unix.EINTR || (e.Errno == 0 && e.Reason == exitIntr) {
		return decision{Action: actKick}
	}
	if e.Errno != 0 {
		return decision{Action: actCrash, Why: fmt.Sprintf("KVM_RUN failed: %v (errno %d)", e.Errno, int(e.Errno))}
	}
	switch e.Reason {
	case exitIO:
		cause := ioCause(e.IOOut, e.IOPort)
		if e.IOSize != 1 && e.IOSize != 2 && e.IOSize != 4 {
			return decision{Action: actCrash, Why: fmt.Sprintf("KVM_EXIT_IO with access size %d", e.IOSize)}
		}
		if e.IOData == nil {
			return decision{Action: actCrash, Why: "KVM_EXIT_IO whose data lies outside kvm_run"}
		}
		return decision{Action: actIO, Cause: cause, Mech: vmm.MechVMExit, Event: true}
	case exitHLT:
		return decision{Action: actHalt, Cause: vmm.CauseHLT, Mech: vmm.MechVMExit, Event: true}
	case exitIRQWindowOpen:
		return decision{Action: actIRQWindow, Cause: CauseIRQWindow, Mech: vmm.MechVMExit, Event: true}
	case exitDebug:
		return decision{Action: actDebug}
	case exitInternalError:
		if e.Suberror == internalEmulation {
			return decision{Action: actEmulate, Mech: vmm.MechEmulation, Event: true}
		}
		return decision{Action: actCrash, Why: "KVM internal error: " + internalName(e.Suberror) + dataText(e.InternalData)}
	case exitMMIO:
		return decideMMIO(e)
	case exitShutdown:
		return decision{Action: actCrash, Why: "triple fault: the CPU shut down (KVM_EXIT_SHUTDOWN): an exception was raised while delivering a double fault"}
	case exitFailEntry:
		return decision{Action: actCrash, Why: fmt.Sprintf("VM entry failed: hardware entry-failure reason %#x on cpu %d (KVM_EXIT_FAIL_ENTRY): the guest state is invalid for the CPU's guest mode", e.HWReason, e.FailCPU)}
	case exitSystemEvent:
		return decision{Action: actCrash, Why: fmt.Sprintf("KVM_EXIT_SYSTEM_EVENT %s", systemEventName(e.SystemEvent))}
	case exitUnknown:
		return decision{Action: actCrash, Why: fmt.Sprintf("KVM_EXIT_UNKNOWN: hardware exit reason %#x", e.HWReason)}
	}
	return decision{Action: actCrash, Why: "unexpected exit " + exitName(e.Reason)}
}

// ioCauses memoises the cause strings of port I/O: the exit loop's hot
// path then formats nothing (vmm.CauseOut uses fmt).
var ioCauses sync.Map // [2]uint16{dir, port} → string

func ioCause(out bool, port uint16) string {
	k := [2]uint16{0, port}
	if out {
		k[0] = 1
	}
	if c, ok := ioCauses.Load(k); ok {
		return c.(string)
	}
	c := vmm.CauseIn(port)
	if out {
		c = vmm.CauseOut(port)
	}
	ioCauses.Store(k, c)
	return c
}

func exitName(r uint32) string {
	if n, ok := exitNames[r]; ok {
		return n
	}
	return fmt.Sprintf("exit reason %d", r)
}

func internalName(sub uint32) string {
	switch sub {
	case internalEmulation:
		return "emulation failure (KVM_INTERNAL_ERROR_EMULATION)"
	case internalSimulEx:
		return "exception while delivering an exception (KVM_INTERNAL_ERROR_SIMUL_EX)"
	case internalDeliveryEv:
		return "exit while delivering an event (KVM_INTERNAL_ERROR_DELIVERY_EV)"
	case internalUnexpectedExit:
		return "unexpected hardware exit reason (KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON)"
	}
	return fmt.Sprintf("suberror %d", sub)
}

func systemEventName(t uint32) string {
	switch t {
	case 1:
		return "shutdown (KVM_SYSTEM_EVENT_SHUTDOWN)"
	case 2:
		return "reset (KVM_SYSTEM_EVENT_RESET)"
	case 3:
		return "crash (KVM_SYSTEM_EVENT_CRASH)"
	}
	return fmt.Sprintf("type %d", t)
}

func dataText(d []uint64) string {
	if len(d) == 0 {
		return ""
	}
	parts := make([]string, len(d))
	for i, v := range d {
		parts[i] = fmt.Sprintf("%#x", v)
	}
	return " [data " + strings.Join(parts, " ") + "]"
}

// insnBytes extracts the instruction bytes KVM attaches to an emulation
// failure (KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES: data[0] is
// the flags, then insn_size in the low byte of data[1] and up to 15
// bytes after it), or nil.
func insnBytes(data []uint64) []byte {
	if len(data) < 3 || data[0]&internalFlagInsnBytes == 0 {
		return nil
	}
	var raw [16]byte
	binary.LittleEndian.PutUint64(raw[0:], data[1])
	binary.LittleEndian.PutUint64(raw[8:], data[2])
	n := int(raw[0])
	if n > 15 {
		n = 15
	}
	return append([]byte(nil), raw[1:1+n]...)
}

// irqChoice is what the VMM does about the PIC's interrupt output at an
// exit boundary, before the vCPU runs again.
type irqChoice uint8

const (
	irqNone   irqChoice = iota // nothing pending
	irqInject                  // KVM_INTERRUPT now: KVM delivers it on entry, before the next instruction
	irqWindow                  // wait for an interrupt window
)

// decideIRQ: a pending interrupt is injected only when the guest can take
// it now — IF set and no interrupt shadow (sti, mov/pop ss). KVM itself
// would hold back an injected interrupt until then on VT-x and AMD-V, but
// PVM does not (measured: KVM_INTERRUPT with IF=0, or in an sti shadow, is
// delivered at the next entry regardless), so the VMM checks on every
// flavour and otherwise waits for the window.
func decideIRQ(pending, ifSet, shadow bool) irqChoice {
	switch {
	case !pending:
		return irqNone
	case ifSet && !shadow:
		return irqInject
	}
	return irqWindow
}
