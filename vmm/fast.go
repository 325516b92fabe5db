package vmm

import "fmt"

// Support for emulation the substrate does on its own between two entries
// into Go (vmm/unicorn's fast_cgo.go: cli and sti under trap).

// QuietResume reports whether the guest may run on from here with the Go
// side absent until its next entry, and with instructions the substrate
// emulates in the meantime counted in bulk (RecordN): no instruction
// counter, event trace, event callback or pause wants each event as it
// happens; no stop, pause, single step, interrupt window, clock start or
// failure is waiting for the engine to return; no interrupt is pending
// (opening the virtual IF would have to deliver it); no live input can
// raise one from another goroutine; and the guest does not page (a
// linear address is the guest-physical one, fixed until the VMM sees a
// write of CR0).
func (m *Machine) QuietResume() bool {
	return m.counter == nil && m.ExtraCounter == nil && !m.Cfg.Trace && m.Cfg.OnEvent == nil && m.pauseOn == nil &&
		!m.pause && !m.resume && m.stop.Kind == StopNone && !m.irqWindow && !m.inShadow && !m.wantClock &&
		m.stepThen == nil && m.hookErr == nil && !m.crashInsn && !m.pendingUD && !m.rewind.pending && m.gate == nil &&
		!m.Cfg.LiveInput && m.Cfg.InputReader == nil && !m.interrupt.Load() && m.pauseAt == 0 &&
		!m.PendingIRQ() && !m.MMU().Paging()
}

// RecordN records n events of one kind at pc at once: events the
// substrate emulated on its own while QuietResume held.
func (m *Machine) RecordN(cause string, mech Mechanism, pc uint32, n uint64) {
	if m.Cfg.Trace || m.Cfg.OnEvent != nil || m.pauseOn != nil || m.counter != nil {
		for ; n > 0; n-- {
			m.Record(cause, mech, pc)
		}
		return
	}
	m.res.Counts[Key{cause, mech}] += n
}

// TimeIdle reports whether an I/O instruction's catch-up of device time
// (syncTime) can change nothing but the time itself: no PIT channel counts
// or waits to start, the local APIC's timer is off, and no host input
// waits for the UART. Then an I/O instruction the substrate emulates on
// its own (the POST write) may skip it: the next one Go performs catches
// up the same.
func (m *Machine) TimeIdle() bool {
	for i := range m.PIT.ch {
		if m.PIT.ch[i].run || m.PIT.ch[i].pend {
			return false
		}
	}
	if m.LAPIC.timerOn {
		return false
	}
	m.Serial.mu.Lock()
	defer m.Serial.mu.Unlock()
	return len(m.Serial.host) == 0
}

// HookFastSite makes the machine's code hook run before the instruction
// at pc, so that the substrate's C side can emulate it there, before it
// raises its exception (vmm/unicorn's fast_cgo.go: a #GP costs Unicorn a
// longjmp and a context save and restore, a code hook a call). When the C
// side leaves the instruction alone, the hook's Go side does nothing and
// the instruction runs (and traps) as before.
func (m *Machine) HookFastSite(pc uint32) error {
	if _, err := m.E.HookCodeEager(uint64(pc), uint64(pc), func(uint64, uint32) {}); err != nil {
		return fmt.Errorf("vmm: hook %#x: %w", pc, err)
	}
	return m.DropTranslations(uint64(pc), uint64(pc)+1)
}
