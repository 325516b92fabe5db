package hwassist

import "time"

// Guest time under KVM.
//
// On Unicorn, guest time is counted in executed guest basic blocks
// (vmm.TicksPerBlock): deterministic, and independent of host speed. KVM
// cannot count blocks or instructions — the guest runs on the CPU (or, under
// PVM, inside KVM's emulator) and nothing reports progress until it exits.
// What the VMM does see, deterministically, is the sequence of exits the
// guest causes. So guest time here is counted in exits:
//
//	PIT input-clock ticks = TicksPerExit × (exits recorded so far) + the time hlt skips
//
// Every recorded exit event (port I/O, hlt, an emulated instruction, an
// interrupt-window exit) moves the clock by TicksPerExit before the exit is
// handled, so a PIT read sees time that depends only on what the guest did;
// EINTRs (Go's preemption signal), kicks and the debugger's single steps
// are not guest events and do not move it. hlt with IF=1 skips time
// forward to the next timer event, as on Unicorn. A guest can only observe
// time through the PIT and its interrupt, and it can only read the PIT by
// exiting, so a guest that polls the PIT sees it advance at a fixed rate per
// poll, on every run: the counts in a KVM golden are as exact as Unicorn's.
//
// The timer workload prints only what the hardware's semantics fix (one
// interrupt per edge, K periodic ticks, a masked request delivered once on
// unmask), never how many polls a wait took, so its output is the same at
// any rate: on QEMU (real time), on Unicorn (blocks) and here (exits).
//
// One case needs wall time: a guest that spins without any exit while it
// waits for a timer interrupt (`sti; jmp .`) would wait forever, as no
// exit moves the clock. When the PIT has an event scheduled and the vCPU
// has stayed inside one KVM_RUN for clockKickAfter × clockKickPoll (50 ms),
// the watchdog kicks it out and the clock jumps to that event, like a hlt
// (counted in the kvm-clock-kicks counter). Such runs are not exactly
// repeatable — no VMM can make them so without counting instructions — and
// no catalogue workload makes one.

// TicksPerExit is the rate of guest time on KVM: PIT input-clock ticks per
// exit to user space.
const TicksPerExit = 1

// tick moves guest time by one exit.
func (v *VM) tick() {
	v.now += TicksPerExit
	v.Sync()
}

// timerScheduled reports whether a timer (the PIT, the local APIC's) will
// raise an interrupt at some point.
func (v *VM) timerScheduled() bool {
	_, ok := v.NextTimerEvent()
	return ok
}

// waitForInterrupt is what hlt with IF=1 means to the hardware: if no
// interrupt is pending (at the local APIC, or the PIC through LINT0), skip
// guest time to the next timer event. It returns "" when an interrupt is
// now pending, else why none ever will be (the Unicorn machine's words).
// With no timer programmed but a live input source (a terminal, the UI),
// it waits in real time for input, as the Unicorn machine does.
func (v *VM) waitForInterrupt() string {
	if v.PendingIRQ() {
		return ""
	}
	at, ok := v.NextTimerEvent()
	if !ok {
		deadline := time.Now().Add(v.Cfg.TimeBudget - v.res.Wall - time.Since(v.runStart))
		if v.WaitForInput(deadline, v.kicked) && v.PendingIRQ() || v.kicked() {
			return "" // input arrived, or a kick (budget, pause) ends the wait: the loop handles it
		}
		return "hlt with interrupts enabled but no timer programmed and nothing pending: the CPU would sleep forever"
	}
	v.now = at
	v.Sync()
	if !v.PendingIRQ() {
		return "hlt: the timer fired but its interrupt is masked (at the PIC or the APICs): the CPU would sleep forever"
	}
	return ""
}

// kicked reports whether another goroutine has asked the loop to stop or
// pause (a kick other than the clock's).
func (v *VM) kicked() bool { return v.kickReasons.Load()&^kickClock != 0 }

// clockKick moves the clock to the next timer event after the guest ran
// without exiting for too long (see above).
func (v *VM) clockKick() {
	v.kicks++
	if at, ok := v.NextTimerEvent(); ok {
		v.now = at
		v.Sync()
	}
}

// Now is the guest time in PIT ticks.
func (v *VM) Now() uint64 { return v.now }
