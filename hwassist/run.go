package hwassist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/arch/x86/x86asm"
	"golang.org/x/sys/unix"

	"virtsim/trap"
	"virtsim/vmm"
	"virtsim/vmm/x86"
)

// The exit loop. KVM_RUN enters the guest and returns at the next exit
// KVM leaves to user space; decodeExit reads kvm_run, decide says what the
// exit means (a pure function, see exit.go), and the loop acts on it:
// performs the port access on the device bus, waits out a hlt, finishes an
// instruction KVM's emulator refused, or stops the guest with a report.
// Before entering again it injects a pending interrupt if the guest can
// take it (decideIRQ), or arranges to find the moment it can.

type runMode int

const (
	modeRun    runMode = iota // until the guest stops
	modeToExit                // until the next exit event
	modeStep                  // one guest instruction
)

// Kick reasons: why another goroutine kicked the vCPU out of KVM_RUN.
const (
	kickBudget uint32 = 1 << iota // the time budget ran out
	kickAbort                     // Abort was called (e.g. a test's watchdog)
	kickClock                     // the guest ran clockKickAfter without an exit while a timer event was due
	kickPause                     // Interrupt was called: pause the run (the terminal UI)
)

// clockKickAfter: how long the guest may run without a single exit while
// the PIT has an event scheduled before the clock is moved to that event
// (see clock.go); clockKickPoll is how often the watchdog looks.
const (
	clockKickPoll  = 10 * time.Millisecond
	clockKickAfter = 5 // polls
)

// Run runs until the guest stops.
func (v *VM) Run() (vmm.Stop, error) { return v.loop(modeRun) }

// RunToExit runs until the next exit (an event with an exit mechanism) or
// until the guest stops.
func (v *VM) RunToExit() (vmm.Stop, error) { return v.loop(modeToExit) }

// Step executes one guest instruction, single-stepped by KVM
// (KVM_GUESTDBG_SINGLESTEP). An instruction that exits to user space (port
// I/O, hlt, an emulated instruction) is one step including its exit. On
// hardware assist a step over mov to SS or pop SS runs the next
// instruction too: they block the single-step trap (StepSpans).
func (v *VM) Step() (vmm.Stop, error) { return v.loop(modeStep) }

func (v *VM) loop(mode runMode) (stop vmm.Stop, err error) {
	if v.thread == nil {
		return v.stop, errors.New("hwassist: the VM is closed")
	}
	v.thread.do(func() { stop, err = v.loopOnThread(mode) })
	return stop, err
}

func (v *VM) loopOnThread(mode runMode) (vmm.Stop, error) {
	if v.stop.Kind != vmm.StopNone {
		return v.stop, nil
	}
	// The time budget counts the time the guest ran, not time spent paused
	// between runs (a debugger, the terminal UI), as on the Unicorn machine.
	remaining := v.Cfg.TimeBudget - v.res.Wall
	if remaining <= 0 {
		pc := uint32(v.regs.RIP)
		v.stop = vmm.Stop{Kind: vmm.StopBudget, Reason: fmt.Sprintf("time budget of %s exhausted", v.Cfg.TimeBudget), PC: pc, Insn: v.Disasm(pc)}
		return v.stop, nil
	}
	// An Interrupt made while no run was in progress does not pause this one.
	v.kickReasons.And(^kickPause)
	v.running.Store(true)
	defer v.running.Store(false)
	stopWatch := v.startWatchdog(remaining)
	defer stopWatch()
	t0 := time.Now()
	v.runStart = t0
	defer func() { v.res.Wall += time.Since(t0) }()
	v.userStep = mode == modeStep
	v.pauseExit = mode == modeToExit
	v.paused = false
	defer func() { v.userStep, v.pauseExit = false, false }()
	for {
		if pre, err := v.preEmulate(); err != nil {
			return v.stop, err
		} else if pre {
			// An instruction finished without entering the guest.
			if v.stop.Kind == vmm.StopNone {
				if err := v.checkInterrupts(); err != nil {
					return v.stop, err
				}
			}
			if v.stop.Kind != vmm.StopNone {
				return v.stop, nil
			}
			if mode == modeStep || v.paused {
				return vmm.Stop{PC: uint32(v.regs.RIP)}, nil
			}
			continue
		}
		if err := v.prepareEntry(); err != nil {
			return v.stop, err
		}
		v.entryRegs = v.regs
		v.inRun.Store(true)
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(v.vcpuFD), kvmRun, 0)
		v.inRun.Store(false)
		v.exitSeq.Add(1)
		// The kick protocol (see kick): clear immediate_exit before
		// reading the reasons, so a kick that lands in between is seen now
		// or makes the next KVM_RUN return at once.
		if runByte(v.run, runImmediateExit) != 0 {
			setRunByte(v.run, runImmediateExit, 0)
		}
		v.readSyncRegs()
		e := decodeExit(v.run, errno)
		stepDone, err := v.handle(e, decide(e))
		if err != nil {
			return v.stop, err
		}
		if v.stop.Kind != vmm.StopNone {
			return v.stop, nil
		}
		v.clockArmed.Store(v.timerScheduled())
		if (mode == modeStep && stepDone) || v.paused {
			return vmm.Stop{PC: uint32(v.regs.RIP)}, nil
		}
	}
}

// decodeSegment reads a struct kvm_segment from its 24 bytes.
func decodeSegment(b []byte) kvmSegment {
	le := binary.LittleEndian
	return kvmSegment{
		Base: le.Uint64(b[0:]), Limit: le.Uint32(b[8:]), Selector: le.Uint16(b[12:]),
		Type: b[14], Present: b[15], DPL: b[16], DB: b[17], S: b[18], L: b[19], G: b[20], AVL: b[21], Unusable: b[22],
	}
}

// readSyncRegs copies what KVM stored in kvm_run at this exit
// (KVM_SYNC_X86_REGS, _SREGS, _EVENTS): the general registers, CS (for the
// CPL and the code base) and the interrupt shadow, without an ioctl per
// exit.
func (v *VM) readSyncRegs() {
	v.cs = decodeSegment(v.run[runSyncSregs+sregsCS:])
	le := binary.LittleEndian
	v.mmu = x86.MMU{CR0: uint32(le.Uint64(v.run[runSyncSregs+sregsCR0:])), CR3: uint32(le.Uint64(v.run[runSyncSregs+sregsCR3:])),
		CR4: uint32(le.Uint64(v.run[runSyncSregs+sregsCR4:]))}
	v.shadow = v.run[runSyncEvents+eventsInterruptShadow]&(shadowIntSTI|shadowIntMovSS) != 0
	b := v.run[runSyncRegs : runSyncRegs+sizeofRegs]
	r := &v.regs
	for i, p := range []*uint64{&r.RAX, &r.RBX, &r.RCX, &r.RDX, &r.RSI, &r.RDI, &r.RSP, &r.RBP,
		&r.R8, &r.R9, &r.R10, &r.R11, &r.R12, &r.R13, &r.R14, &r.R15, &r.RIP, &r.RFLAGS} {
		*p = le.Uint64(b[8*i:])
	}
}

// prepareEntry sets what KVM should do on the next entry: single-step
// (Step, or looking for an interrupt window under PVM) and the
// interrupt-window request (hardware assist).
func (v *VM) prepareEntry() error {
	ctl := uint32(0)
	if len(v.cpuidSites) > 0 && v.Flavour.Hardware() {
		ctl = guestDbgEnable | guestDbgUseSWBP // patched cpuid sites raise #BP
	}
	if v.userStep || (v.window && v.stepWindow) || v.userMode() {
		ctl |= guestDbgEnable | guestDbgSingleStep
	}
	if ctl != v.debugCtl {
		d := kvmGuestDebug{Control: ctl}
		if err := setGuestDebug(v.vcpuFD, &d); err != nil {
			return fmt.Errorf("hwassist: KVM_SET_GUEST_DEBUG %#x: %w", ctl, err)
		}
		v.debugCtl = ctl
	}
	if want := v.window && !v.stepWindow; want != v.reqWindow {
		b := uint8(0)
		if want {
			b = 1
		}
		setRunByte(v.run, runRequestInterruptWindow, b)
		v.reqWindow = want
	}
	return nil
}

// handle acts on one exit. stepDone reports that a guest instruction
// completed with it (for Step).
func (v *VM) handle(e kvmExit, d decision) (stepDone bool, err error) {
	rip := uint32(v.regs.RIP)
	switch d.Action {
	case actKick:
		v.onKick()
		return false, nil
	case actIO:
		pc := v.ioPC(e)
		v.record(d.Cause, d.Mech, pc)
		v.performIO(e, pc)
		// Under PVM KVM's emulator finished an out before exiting (RIP is
		// past it, and no debug exit follows); an in completes on the next
		// entry.
		stepDone = e.IOOut && !v.Flavour.Hardware()
	case actHalt:
		v.record(d.Cause, d.Mech, rip-1)
		v.onHalt(rip - 1)
		stepDone = true
	case actIRQWindow:
		v.record(d.Cause, d.Mech, rip)
	case actDebug:
		if e.DebugException == bpVector && v.atCPUIDSite(rip) {
			if err := v.emulateCPUID(rip); err != nil {
				return false, err
			}
			stepDone = true
			break
		}
		switch {
		case v.window && v.stepWindow:
			v.stepped = true
			v.steps++
			v.record(CauseIRQWindow, vmm.MechVMExit, rip)
		case v.userMode():
			v.userSteps++
		}
		stepDone = true
	case actEmulate:
		if err := v.emulate(rip, "KVM's emulator refused the instruction ("+internalName(e.Suberror)+")"); err != nil {
			return false, err
		}
		stepDone = true
	case actMMIO:
		v.onMMIO(e, d)
		// A load completes on the next entry, with the value in kvm_run;
		// a store is complete already.
		stepDone = e.MMIOWrite
	case actCrash:
		v.crash(rip, "%s", d.Why)
		return false, nil
	default:
		return false, fmt.Errorf("hwassist: no handler for action %v", d.Action)
	}
	if v.stop.Kind != vmm.StopNone {
		return stepDone, nil
	}
	return stepDone, v.checkInterrupts()
}

// record counts an event. An exit moves guest time forward (clock.go).
func (v *VM) record(cause string, mech vmm.Mechanism, pc uint32) {
	ev := vmm.Event{Cause: cause, Mech: mech, PC: pc}
	v.res.Counts.Add(cause, mech)
	if v.Cfg.Trace {
		v.res.Trace = append(v.res.Trace, ev)
	}
	if v.Cfg.OnEvent != nil {
		v.Cfg.OnEvent(ev)
	}
	if mech.IsExit() {
		v.tick()
		if v.pauseExit {
			v.paused = true
		}
	}
}

// ---- port I/O ----

// ioPC is the address of the I/O instruction of an exit. KVM reports RIP
// at the instruction, except under PVM for an out: KVM's emulator has
// completed it and RIP is past it, so the VMM finds the instruction that
// ends there.
func (v *VM) ioPC(e kvmExit) uint32 {
	rip := uint32(v.regs.RIP)
	if !e.IOOut || v.Flavour.Hardware() {
		return rip
	}
	return v.endingAt(rip, func(inst x86asm.Inst) bool { return isOut(inst.Op) })
}

// endingAt finds the instruction that ends at rip and satisfies is — the
// one KVM's emulator has just completed — by decoding back from rip (the
// shortest that fits first); rip itself if none does.
func (v *VM) endingAt(rip uint32, is func(x86asm.Inst) bool) uint32 {
	for k := uint32(1); k <= 15; k++ {
		inst, err := v.decode(rip - k)
		if err == nil && uint32(inst.Len) == k && is(inst) {
			return rip - k
		}
	}
	return rip
}

func isOut(op x86asm.Op) bool {
	return op == x86asm.OUT || op == x86asm.OUTSB || op == x86asm.OUTSW || op == x86asm.OUTSD
}

// performIO performs an I/O exit's accesses on the device bus: Count
// accesses of Size bytes (a rep ins/outs batch), values in kvm_run.
func (v *VM) performIO(e kvmExit, pc uint32) {
	size := int(e.IOSize)
	if e.IOCount > 1 {
		// KVM batched a rep ins/outs: one exit for IOCount elements
		// (reported as it happens: kvm-string-io-exits/-elements).
		v.strIOExits++
		v.strIOElems += uint64(e.IOCount)
	}
	for i := range int(e.IOCount) {
		b := e.IOData[i*size : (i+1)*size]
		if e.IOOut {
			v.Bus.Out(e.IOPort, size, leUint(b))
			if v.checkOutputStop(pc) {
				return
			}
			continue
		}
		putLE(b, v.Bus.In(e.IOPort, size))
	}
}

func leUint(b []byte) uint32 {
	switch len(b) {
	case 1:
		return uint32(b[0])
	case 2:
		return uint32(binary.LittleEndian.Uint16(b))
	}
	return binary.LittleEndian.Uint32(b)
}

func putLE(b []byte, v uint32) {
	switch len(b) {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	default:
		binary.LittleEndian.PutUint32(b, v)
	}
}

// ---- interrupts ----

// checkOutputStop stops the guest after a port write at pc to the
// debug-exit port, a reset (the keyboard controller, port 0x92 or 0xCF9:
// a crash, as QEMU -no-reboot stops), an ACPI power-off, or once its
// serial output ends with Config.UntilOutput (vmm.Platform.ExitReason), as
// the Unicorn machine does; it reports whether it did.
func (v *VM) checkOutputStop(pc uint32) bool {
	if v.stop.Kind != vmm.StopNone {
		return true
	}
	if v.Exit.Written {
		v.stop = vmm.Stop{Kind: vmm.StopExit, Status: v.Exit.Status, PC: pc}
		return true
	}
	if why, ok := v.ResetRequested(); ok {
		v.crash(pc, "%s", why)
		return true
	}
	if why, ok := v.ExitReason(); ok {
		v.stop = vmm.Stop{Kind: vmm.StopExit, Reason: why, PC: pc}
		return true
	}
	return false
}

// checkInterrupts injects the pending external interrupt — the local
// APIC's best vector, or the PIC's through LINT0 (vmm.Platform) — if the
// guest can take it now, or asks for an interrupt window.
func (v *VM) checkInterrupts() error {
	pending := v.PendingIRQ()
	ifSet := v.regs.RFLAGS&x86.FlagIF != 0
	// The guard is for hardware assist; under PVM, whose windows are
	// found by single steps anyway, injection stays as it was.
	// After a step an instruction has run: any shadow is over, even if
	// RIP is back after the sti (sti; jmp .).
	stiBefore := pending && ifSet && !v.shadow && !v.stepped && v.Flavour.Hardware() && v.stiBefore()
	v.stepped = false
	switch decideIRQ(pending, ifSet, v.shadow || stiBefore) {
	case irqNone:
		v.window = false
	case irqWindow:
		v.window = true
		v.stepWindow = stepForWindow(v.Flavour.Hardware(), stiBefore)
		if stiBefore {
			v.stiSteps++
		}
	case irqInject:
		v.window = false
		return v.inject()
	}
	return nil
}

// stiBefore reports whether the instruction before RIP is sti (the byte
// 0xFB): the guest may still be in its one-instruction interrupt shadow.
// KVM reports the shadow (kvm_run's synchronised events), but the nested
// rig's emulated SVM was seen opening an interrupt window between sti and
// the hlt it protects — the guest then took its wake-up before the hlt and
// slept forever, about one run in ten of the apic guest's `sti; hlt` wait.
// The Unicorn machine makes the same check (vmm/irq.go, onClock). A 0xFB
// that is the last byte of another instruction only delays the interrupt
// by one instruction.
func (v *VM) stiBefore() bool {
	pa, ok := v.phys(uint32(v.cs.Base) + uint32(v.regs.RIP) - 1)
	return ok && v.original(pa, v.mem[pa]) == 0xFB
}

// stepForWindow says how the VMM finds a pending interrupt's window: by
// single-stepping the guest (PVM, which honours an interrupt-window request
// only between batches of emulated instructions; and after an sti whose
// shadow KVM does not report, where a window request could open at once,
// inside the shadow) or by KVM's interrupt-window exit.
func stepForWindow(hardware, stiBefore bool) bool { return !hardware || stiBefore }

// inject has KVM deliver the pending vector through the guest's IDT on
// the next entry, then performs the CPU's interrupt acknowledge at the
// user-space controller (the local APIC's IRR to ISR, or the PIC's INTA).
func (v *VM) inject() error {
	vec, _ := v.PendingVector()
	if err := interrupt(v.vcpuFD, uint32(vec)); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil // the last injection is still queued (an entry was cut short)
		}
		return fmt.Errorf("hwassist: KVM_INTERRUPT %#x: %w", vec, err)
	}
	_, cause, _ := v.AcknowledgeIRQ()
	v.record(cause, vmm.MechMachine, uint32(v.regs.RIP))
	return nil
}

// onHalt: hlt at pc has exited (KVM has no in-kernel interrupt controller
// here, so halting is the VMM's business). With IF=1 guest time skips to
// the next timer event, whose interrupt checkInterrupts then injects; with
// IF=0, or nothing that could ever wake the CPU, the guest stops.
func (v *VM) onHalt(pc uint32) {
	halted := func(why string) {
		v.stop = vmm.Stop{Kind: vmm.StopHalted, Reason: why, PC: pc, Insn: "hlt"}
	}
	if v.regs.RFLAGS&x86.FlagIF == 0 {
		halted("hlt with interrupts disabled: the CPU would sleep forever")
		return
	}
	if reason := v.waitForInterrupt(); reason != "" {
		halted(reason)
	}
}

// ---- user-space completion of KVM's emulator ----

// platform is what trap's emulator asks of the KVM VMM. Under KVM the
// guest kernel really runs at CPL 0: no selector or descriptor is shadowed.
type platform struct{ v *VM }

func (p platform) In(port uint16, size int) uint32 { return p.v.Bus.In(port, size) }
func (p platform) Out(port uint16, size int, val uint32) {
	p.v.Bus.Out(port, size, val)
	p.v.checkOutputStop(uint32(p.v.regs.RIP))
}
func (p platform) CPUID(leaf, sub uint32) [4]uint32                 { return vmm.CPUID(leaf, sub) }
func (p platform) GDTLoaded()                                       {}
func (p platform) IDTLoaded()                                       {}
func (p platform) TRLoaded()                                        {}
func (p platform) LDTLoaded()                                       {}
func (p platform) CRWritten(n int, old uint32)                      {}
func (p platform) InvalidatePage(addr uint32)                       {}
func (p platform) ShadowSelector(sel uint16) uint16                 { return sel }
func (p platform) ShadowDescriptor(d x86.Descriptor) x86.Descriptor { return d }

// cpu reads the vCPU's full state into a kvmCPU.
func (v *VM) cpu() (*kvmCPU, error) {
	c := &kvmCPU{regs: v.regs, mem: v}
	if err := getSregs(v.vcpuFD, &c.sregs); err != nil {
		return nil, fmt.Errorf("hwassist: KVM_GET_SREGS: %w", err)
	}
	return c, nil
}

// writeBack gives KVM what the VMM changed.
func (v *VM) writeBack(c *kvmCPU) error {
	if c.regsDirty {
		if err := setRegs(v.vcpuFD, &c.regs); err != nil {
			return fmt.Errorf("hwassist: KVM_SET_REGS: %w", err)
		}
	}
	if c.sregsDirty {
		if err := setSregs(v.vcpuFD, &c.sregs); err != nil {
			return fmt.Errorf("hwassist: KVM_SET_SREGS: %w", err)
		}
		v.cs = c.sregs.CS
		v.mmu = x86.MMU{CR0: uint32(c.sregs.CR0), CR3: uint32(c.sregs.CR3), CR4: uint32(c.sregs.CR4)}
	}
	v.regs = c.regs
	return nil
}

// emulate finishes the instruction at pc that KVM's emulator refused
// (KVM_EXIT_INTERNAL_ERROR, KVM_INTERNAL_ERROR_EMULATION) or would refuse
// (preEmulate): trap's emulator runs it against KVM's registers and guest
// memory, at the guest's real privilege (PassFlags: IF and IOPL are the
// guest's own). A software interrupt, or an exception the instruction
// raises, is then delivered through the guest's IDT (deliver.go). why
// says how the VMM got here, for a crash report.
func (v *VM) emulate(pc uint32, why string) error {
	c, err := v.cpu()
	if err != nil {
		return err
	}
	if v.atCPUIDSite(pc) {
		return v.emulateCPUID(pc)
	}
	// KVM_SET_REGS after every emulation exit, changed or not: it also
	// drops the #UD KVM queued when its emulator gave up.
	c.regsDirty = true
	vc := c.vcpuState()
	out, eerr := v.emu.Emulate(c, &vc, pc)
	if eerr != nil {
		cause := "emulation"
		if inst, err := v.decode(pc); err == nil {
			if cl := trap.Classify(inst); cl.Cause != "" {
				cause = cl.Cause
			}
		}
		v.record(cause, vmm.MechEmulation, pc)
		v.crashCPU(c, pc, "%s and virtsim cannot emulate it either: %v", why, eerr)
		return nil
	}
	cause := out.Cause
	if cause == "" {
		cause = "insn/" + strings.ToLower(out.Inst.Op.String())
	}
	v.record(cause, vmm.MechEmulation, pc)
	if v.stop.Kind != vmm.StopNone { // an emulated out to the debug-exit port
		return nil
	}
	if err := c.applyVCPU(&vc); err != nil {
		v.crashCPU(c, pc, "hwassist: after emulating %s: %v", cause, err)
		return nil
	}
	if f := out.Fault; f != nil {
		ret := pc
		if f.Soft {
			ret = out.Next
		}
		delivered, derr := deliver(c, event{Vector: f.Vector, Code: f.Code, HasCode: f.HasCode, Soft: f.Soft, Ret: ret}, pc)
		for _, ev := range delivered[min(1, len(delivered)):] {
			v.record(vmm.CauseExc(ev.Vector), vmm.MechEmulation, pc)
		}
		if derr != nil {
			v.crashCPU(c, pc, "%v", derr)
			return nil
		}
	}
	if err := v.writeBack(c); err != nil {
		return err
	}
	if out.Halt {
		v.onHalt(pc)
	}
	return nil
}

// ---- guest user mode under PVM ----

// Under PVM, KVM's emulator also runs the guest's user-mode (CPL 3) code,
// and when it refuses an instruction there (int $0x80, iret, lar, ...) it
// does not exit: it raises #UD in the guest, as if the instruction did not
// exist — even with KVM_CAP_EXIT_ON_EMULATION_FAILURE enabled (measured).
// So while the guest runs at CPL 3 the VMM single-steps it
// (KVM_GUESTDBG_SINGLESTEP, one debug exit per instruction, counted in
// kvm-user-steps, not as events) and looks at each instruction before KVM
// does: one KVM would refuse is finished in user space instead, exactly as
// if KVM had exited for it (an emulation exit). Guest kernels run their
// user code rarely and briefly here; hardware assist runs it natively.

// userMode reports whether the guest runs at CPL 3 under PVM.
func (v *VM) userMode() bool { return !v.Flavour.Hardware() && v.cs.Selector&3 == 3 }

// refusedByKVM lists the instructions KVM's emulator refuses in 32-bit
// protected mode (SUBSTRATE.md).
func refusedByKVM(op x86asm.Op) bool {
	switch op {
	case x86asm.INT, x86asm.INTO, x86asm.IRET, x86asm.IRETD, x86asm.LAR, x86asm.LSL, x86asm.VERR, x86asm.VERW:
		return true
	}
	return false
}

// preEmulate finishes, without entering the guest, an instruction at the
// guest's RIP that KVM would refuse at CPL 3 under PVM.
func (v *VM) preEmulate() (bool, error) {
	if !v.userMode() || v.stop.Kind != vmm.StopNone {
		return false, nil
	}
	pc := uint32(v.regs.RIP)
	inst, err := v.decode(uint32(v.cs.Base) + pc)
	if err != nil || !refusedByKVM(inst.Op) {
		return false, nil
	}
	v.preEmulated++
	return true, v.emulate(pc, "KVM's emulator would refuse the instruction at CPL 3 (PVM makes that a #UD)")
}

// ---- stopping ----

func (v *VM) crash(pc uint32, format string, a ...any) {
	c, err := v.cpu()
	if err != nil {
		c = &kvmCPU{regs: v.regs, mem: v}
	}
	v.crashCPU(c, pc, format, a...)
}

// crashCPU stops the guest with a report: what went wrong, the registers
// and the decoded instruction at pc.
func (v *VM) crashCPU(c *kvmCPU, pc uint32, format string, a ...any) {
	if v.stop.Kind != vmm.StopNone {
		return
	}
	if v.Flavour.Name == FlavourSVM && initState(c.regs, c.sregs) {
		// KVM reset the vCPU at the crash (hwquirks.go): report where
		// the guest was last entered instead.
		pc = uint32(v.entryRegs.RIP)
		v.stop = vmm.Stop{Kind: vmm.StopCrash, Reason: fmt.Sprintf(format, a...) + "; " + stateLost(v.entryRegs), PC: pc, Insn: v.Disasm(pc)}
		return
	}
	v.stop = vmm.Stop{Kind: vmm.StopCrash, Reason: fmt.Sprintf(format, a...) + "; " + regsReport(c), PC: pc, Insn: v.Disasm(pc)}
}

// regsReport renders the vCPU state for a crash report.
func regsReport(c *kvmCPU) string {
	r, s := c.regs, c.sregs
	return fmt.Sprintf("eax=%08x ebx=%08x ecx=%08x edx=%08x esi=%08x edi=%08x ebp=%08x esp=%08x eip=%08x eflags=%08x "+
		"cs=%04x ss=%04x ds=%04x es=%04x fs=%04x gs=%04x cr0=%08x cr2=%08x cr3=%08x cr4=%08x gdt=%08x/%04x idt=%08x/%04x tr=%04x",
		uint32(r.RAX), uint32(r.RBX), uint32(r.RCX), uint32(r.RDX), uint32(r.RSI), uint32(r.RDI), uint32(r.RBP), uint32(r.RSP),
		uint32(r.RIP), uint32(r.RFLAGS), s.CS.Selector, s.SS.Selector, s.DS.Selector, s.ES.Selector, s.FS.Selector, s.GS.Selector,
		uint32(s.CR0), uint32(s.CR2), uint32(s.CR3), uint32(s.CR4), s.GDT.Base, s.GDT.Limit, s.IDT.Base, s.IDT.Limit, s.TR.Selector)
}

// ---- kicks: budgets and aborts ----

// Kicking is how another goroutine gets the vCPU out of KVM_RUN (Go has
// no other way to interrupt a blocking ioctl): it records a reason, sets
// kvm_run.immediate_exit, and sends SIGURG to the vCPU thread with tgkill.
// A signal pending on the thread makes KVM_RUN return EINTR
// (KVM_EXIT_INTR); immediate_exit covers the window in which the thread is
// not inside KVM_RUN yet (a signal there would be handled and forgotten):
// the next KVM_RUN returns EINTR at once. SIGURG is the signal Go's own
// runtime uses to preempt goroutines, so every Go program already handles
// it, and the runtime tolerates extra ones — the vCPU thread sees one more
// EINTR, which is what the loop expects anyway (Go's preemption causes
// them too: they are retried and counted in kvm-eintr).
//
// v.kickMu keeps a kick from touching kvm_run after Close unmapped it.
func (v *VM) kick(reason uint32) {
	v.kickReasons.Or(reason)
	v.kickMu.RLock()
	defer v.kickMu.RUnlock()
	if v.run == nil || v.thread == nil {
		return
	}
	setRunByte(v.run, runImmediateExit, 1)
	if tid := v.thread.tid.Load(); tid != 0 {
		unix.Tgkill(unix.Getpid(), int(tid), unix.SIGURG)
	}
}

// Abort stops a running guest from any goroutine (a test's watchdog, a
// user's interrupt): Run returns with a budget stop naming why.
func (v *VM) Abort(why string) {
	v.abortWhy.Store(&why)
	v.kick(kickAbort)
}

// Interrupt makes a Run or RunToExit in progress return at the next
// instruction boundary, as a pause (vmm.Interrupter: the terminal UI's
// pause key). It is safe from any goroutine.
func (v *VM) Interrupt() {
	if v.running.Load() {
		v.kick(kickPause)
	}
}

// onKick handles KVM_RUN returning EINTR.
func (v *VM) onKick() {
	reasons := v.kickReasons.Swap(0)
	if reasons == 0 {
		v.eintr++
		return
	}
	pc := uint32(v.regs.RIP)
	switch {
	case reasons&kickAbort != 0:
		why := "aborted"
		if p := v.abortWhy.Load(); p != nil {
			why = "aborted: " + *p
		}
		v.stop = vmm.Stop{Kind: vmm.StopBudget, Reason: why, PC: pc, Insn: v.Disasm(pc)}
	case reasons&kickBudget != 0:
		v.stop = vmm.Stop{Kind: vmm.StopBudget, Reason: fmt.Sprintf("time budget of %s exhausted", v.Cfg.TimeBudget), PC: pc, Insn: v.Disasm(pc)}
	case reasons&kickPause != 0:
		v.paused = true
		if reasons&kickClock != 0 {
			v.kickReasons.Or(kickClock) // handled on the next run
		}
	case reasons&kickClock != 0:
		v.clockKick()
		if err := v.checkInterrupts(); err != nil {
			v.crash(pc, "%v", err)
		}
	}
}

// startWatchdog starts the goroutine that kicks the vCPU when the time
// budget runs out, or when the guest has run for a while without a single
// exit while a timer event is due (clock.go). The returned function stops
// it and waits until it has.
func (v *VM) startWatchdog(remaining time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		budget := time.NewTimer(remaining)
		defer budget.Stop()
		poll := time.NewTicker(clockKickPoll)
		defer poll.Stop()
		last, stale := v.exitSeq.Load(), 0
		for {
			select {
			case <-done:
				return
			case <-budget.C:
				v.kick(kickBudget)
			case <-poll.C:
				seq := v.exitSeq.Load()
				if seq == last && v.inRun.Load() && v.clockArmed.Load() {
					if stale++; stale >= clockKickAfter {
						v.kick(kickClock)
						stale = 0
					}
				} else {
					stale = 0
				}
				last = seq
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// ---- reading the guest ----

// decode decodes the instruction at linear address pc (through the
// guest's page tables when paging is on).
func (v *VM) decode(pc uint32) (x86asm.Inst, error) {
	code := v.fetch(pc)
	if len(code) == 0 {
		return x86asm.Inst{}, fmt.Errorf("no guest memory at %#x", pc)
	}
	return x86asm.Decode(code, 32)
}

func (v *VM) fetch(pc uint32) []byte {
	var code []byte
	for i := uint32(0); i < 15; i++ {
		pa, ok := v.phys(pc + i)
		if !ok {
			break
		}
		code = append(code, v.original(pa, v.mem[pa]))
	}
	return code
}

// phys translates a linear address through the guest's page tables as
// they were at the last exit (CR0, CR3 and CR4 from kvm_run's synchronised
// special registers), setting no Accessed bits: false if it is unmapped or
// outside guest RAM.
func (v *VM) phys(lin uint32) (uint32, bool) {
	t, f := v.mmu.Walk(ramPhys(v.mem), lin, x86.Access{}, false)
	if f != nil || uint64(t.Phys) >= uint64(len(v.mem)) {
		return 0, false
	}
	return t.Phys, true
}

// ramPhys is guest RAM as the page walker reads it.
type ramPhys []byte

func (m ramPhys) ReadPhys32(pa uint32) (uint32, bool) {
	if uint64(pa)+4 > uint64(len(m)) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(m[pa:]), true
}

func (m ramPhys) WritePhys32(pa, v uint32) bool { return false }

// Disasm renders the instruction at pc in AT&T syntax, or "" if there is
// none.
func (v *VM) Disasm(pc uint32) string {
	inst, err := v.decode(pc)
	if err != nil {
		if code := v.fetch(pc); len(code) > 0 {
			return fmt.Sprintf("undecodable: % x", code[:min(len(code), 4)])
		}
		return ""
	}
	return x86asm.GNUSyntax(inst, uint64(pc), nil)
}
