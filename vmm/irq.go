package vmm

import (
	"fmt"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// Deterministic time and external interrupts.
//
// Wall time would make every run different, so guest time on Unicorn is
// counted in executed guest basic blocks: a block hook that lives entirely
// in C (unicorn.BlockClock) increments a counter and crosses into Go only
// when the next timer event is due. One block is one PIT input-clock tick
// (TicksPerBlock): a guest that polls the PIT sees it advance at a fixed
// rate per block it executes, on every run and under every Unicorn
// strategy, and the timer workload's results do not depend on host speed.
//
// Time is only observable through the PIT, and an idle PIT shows nothing
// that changes. So the clock starts when the guest first loads a PIT count
// (the machine installs it between two engine runs, at that I/O
// instruction: deterministic) and the guest's time stands still before.
// Unicorn's per-block hook call costs ~1–2.5 ns a block (about 1.6× on a
// tight loop), and a guest that never programs the timer — compute, io,
// syscall — does not pay it.
//
// The PIT's channel 0 drives IRQ 0 of the master PIC. An interrupt the PIC
// presents is delivered at the next instruction boundary at which the
// guest's IF allows it:
//
//   - Due at a block start (the clock's deadline) with IF=1: delivered
//     there, before the block runs.
//   - Raised by an I/O instruction (unmasking the PIC, an EOI that exposes a
//     lower-priority request): delivered right after that instruction.
//   - Pending while IF=0: the machine single-steps the guest until IF opens.
//     Single-stepping makes the interrupt shadow exact: after `sti` one more
//     instruction runs before the interrupt is taken (Intel SDM vol. 3,
//     6.8.3); after popf or iret it is taken at once.
//   - hlt with IF=1 skips time forward to the next timer event; hlt with
//     IF=0 (or with no timer programmed) can never wake: the run ends with
//     a clear message.

// TicksPerBlock is the rate of guest time: PIT input-clock ticks per
// executed guest basic block.
const TicksPerBlock = 1

// never is a clock deadline that never fires.
const never = ^uint64(0)

// CauseIRQ is the event cause of external interrupt line irq.
func CauseIRQ(irq int) string {
	if irq >= 0 && irq < len(irqCauses) {
		return irqCauses[irq]
	}
	return fmt.Sprintf("irq/%d", irq)
}

var irqCauses = func() (c [16]string) {
	for i := range c {
		c[i] = fmt.Sprintf("irq/%d", i)
	}
	return c
}()

// startClock installs the block clock, between engine runs.
func (m *Machine) startClock() error {
	m.wantClock = false
	if m.clock != nil {
		return nil
	}
	// Guest code: every linear address below the VMM region (a paging
	// guest runs above its RAM) and, under a binary translator, its
	// translation cache (in the VMM region, so one range covers both).
	end := uint64(VMMBase) - 1
	if m.TCEnd != 0 {
		end = uint64(m.TCEnd) - 1
	}
	// Only guest code needs retranslating with the clock: dropping its
	// translations by range costs far less than flushing all of them.
	c, err := m.E.NewBlockClockKeep(0, end, m.onClock)
	if err != nil {
		return fmt.Errorf("vmm: block clock: %w", err)
	}
	m.clock = c
	if err := m.DropTranslations(0, uint64(m.Cfg.MemSize)); err != nil {
		return err
	}
	if m.TCEnd != 0 {
		if err := m.DropTranslations(uint64(m.TCBase), uint64(m.TCEnd)); err != nil {
			return err
		}
	}
	m.schedule()
	return nil
}

// Now is the guest time in PIT ticks.
func (m *Machine) Now() uint64 {
	if m.clock == nil {
		return 0
	}
	return m.clock.Now() * TicksPerBlock
}

// armClock notes an access to a port that needs the clock: a count loaded
// into the PIT, the RTC's periodic interrupt, a read of the ACPI PM timer;
// the first starts the clock at the end of this instruction.
func (m *Machine) armClock(port uint16) {
	if m.clock == nil && (port >= 0x40 && port <= 0x42 || port == 0x71 && m.RTC.periodic() || port&^3 == PortPMTimer) {
		m.wantClock = true
	}
}

// schedule sets the clock's deadline to the PIT's next event.
func (m *Machine) schedule() {
	if m.clock == nil {
		return
	}
	at, ok := m.NextTimerEvent()
	if !ok {
		m.clock.SetDeadline(never)
		return
	}
	blocks := (at + TicksPerBlock - 1) / TicksPerBlock
	m.clock.SetDeadline(blocks)
}

// onClock runs in the C block hook when the deadline is reached, at the
// start of the block at addr: an instruction boundary. (EIP itself may be
// stale there: Unicorn does not store it on a chained branch.)
func (m *Machine) onClock(now, addr uint64) {
	m.Sync()
	m.schedule()
	if after, opened := m.clock.IFOpened(); opened {
		// IF just opened (WatchIF). After sti the next instruction — the
		// first of this block — still runs before any interrupt: step it.
		if b, err := m.read(uint32(after)-1, 1); err == nil && b[0] == 0xFB {
			if m.PendingIRQ() {
				m.inShadow = true
				m.irqWindow = true
				m.E.Stop()
				return
			}
		}
	}
	m.checkInterrupts(uint32(addr))
}

// interruptsOpen reports whether a maskable interrupt may be taken now:
// the real IF on the bare machine, or what the VMM says (VirtualIF) when
// it virtualizes IF, in which case the PIC keeps its request in IRR —
// unacknowledged, visible to the guest — until the VMM can inject it.
func (m *Machine) interruptsOpen() bool {
	if m.VirtualIF != nil {
		return m.VirtualIF()
	}
	return m.reg(unicorn.EFLAGS)&x86.FlagIF != 0 && !m.inShadow
}

// checkInterrupts delivers a pending interrupt at the boundary before pc if
// IF allows, or arranges single-stepping until it does.
func (m *Machine) checkInterrupts(pc uint32) {
	if m.gate != nil || m.stop.Kind != StopNone {
		return
	}
	if !m.PendingIRQ() {
		return
	}
	if !m.interruptsOpen() {
		if m.VirtualIF == nil {
			// Wait for IF to open: the block clock watches for it at
			// block starts (cheap, exact: see BlockClock.WatchIF) while
			// it runs; otherwise single-step until it does. A VMM
			// instead injects when its virtual IF opens.
			if m.waitForIF() {
				m.E.Stop()
			}
		}
		return
	}
	m.deliverIRQ(pc)
}

// deliverIRQ acknowledges the PIC and delivers its vector with the return
// address pc.
func (m *Machine) deliverIRQ(pc uint32) {
	vec, cause, ok := m.AcknowledgeIRQ()
	if !ok {
		return
	}
	m.deliver(cause, vec, 0, false, false, pc, pc)
}

// WaitForInterrupt is what hlt means to the hardware: if no interrupt is
// pending at the PIC, skip guest time to the next timer event. It returns
// "" when an interrupt is now pending, else why none ever will be.
func (m *Machine) WaitForInterrupt() string {
	m.Sync()
	if m.PendingIRQ() {
		return ""
	}
	at, ok := m.NextTimerEvent()
	if !ok || m.clock == nil {
		if m.waitForInput() && m.PendingIRQ() {
			return ""
		}
		if !ok {
			return "hlt with interrupts enabled but no timer programmed and nothing pending: the CPU would sleep forever"
		}
		return "hlt with interrupts enabled but no timer running: the CPU would sleep forever"
	}
	m.clock.Set((at + TicksPerBlock - 1) / TicksPerBlock)
	m.Sync()
	m.schedule()
	if !m.PendingIRQ() {
		return "hlt: the timer fired but its interrupt is masked (at the PIC or the APICs): the CPU would sleep forever"
	}
	return ""
}

// DeliverPendingIRQ delivers the PIC's pending interrupt with return
// address ret (after a hlt, say).
func (m *Machine) DeliverPendingIRQ(ret uint32) { m.deliverIRQ(ret) }

// stepForInterruptWindow single-steps while an interrupt is pending and IF
// is clear, then delivers it at the first boundary IF allows. It returns
// when the interrupt was delivered, is no longer pending, or the guest
// stopped.
func (m *Machine) stepForInterruptWindow() error {
	m.irqWindow = false
	for m.stop.Kind == StopNone {
		if !m.PendingIRQ() {
			return nil
		}
		if m.reg(unicorn.EFLAGS)&x86.FlagIF != 0 && !m.inShadow {
			m.deliverIRQ(m.pc())
			m.applyResume()
			return nil
		}
		// sti (and mov/pop to SS) shadow the next instruction.
		shadow := false
		if inst, err := m.Decode(m.pc()); err == nil {
			shadow = opensShadow(inst)
		}
		m.inShadow = false
		m.irqWindow = false
		if err := m.stepOnce(); err != nil {
			return err
		}
		m.irqWindow = false
		m.inShadow = shadow
		if m.pause {
			return nil
		}
	}
	return nil
}

// opensShadow reports instructions after which interrupts stay inhibited
// for one more instruction.
func opensShadow(inst x86asm.Inst) bool {
	switch inst.Op {
	case x86asm.STI:
		return true
	case x86asm.POP:
		return inst.Args[0] == x86asm.SS
	case x86asm.MOV:
		return inst.Args[0] == x86asm.SS
	}
	return false
}

// onHlt handles the hlt at pc at CPL 0, before it executes.
func (m *Machine) onHlt(pc uint32) {
	m.Record(CauseHLT, MechMachine, pc)
	if m.reg(unicorn.EFLAGS)&x86.FlagIF == 0 {
		m.Halt(Stop{Kind: StopHalted, Reason: "hlt with interrupts disabled: the CPU would sleep forever", PC: pc, Insn: "hlt"})
		return
	}
	if reason := m.WaitForInterrupt(); reason != "" {
		m.Halt(Stop{Kind: StopHalted, Reason: reason, PC: pc, Insn: "hlt"})
		return
	}
	m.deliverIRQ(pc + 1)
}

// waitForIF arranges for a pending interrupt to be taken at the first
// boundary where IF allows it: the block clock watches IF at block starts
// (exact: QEMU ends a block after sti, popf and iret), or, without a clock
// or inside sti's shadow, single-stepping (irqWindow). It reports whether
// the engine must stop for the stepping.
func (m *Machine) waitForIF() bool {
	if m.clock != nil && !m.inShadow && m.stepThen == nil {
		m.clock.WatchIF(true)
		return false
	}
	m.irqWindow = true
	return true
}
