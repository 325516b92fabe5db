package trap

import (
	"fmt"

	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
	"virtsim/vmstate"
)

// Saving and restoring under trap-and-emulate: the guest's CPU is the real
// one seen through the virtual CPU — IF, IOPL, the control registers and
// the descriptor-table registers are the VCPU's, the selectors lose the
// RPL 1 of ring compression. Everything else the VMM holds (the real GDT,
// IDT and TSS, the shadow page tables) is derived from that and rebuilt.

// GuestCPU is the guest's architectural CPU, with EIP eip (a binary
// translator's guest address for the TC address the CPU stands at).
func (t *VMM) GuestCPU(eip uint32) (vmstate.CPU, error) {
	c, err := t.NativeCPU()
	if err != nil {
		return c, err
	}
	v := &t.V
	c.EIP = eip
	c.CPL = 0
	vif := v.IF
	if c.Seg[vmstate.CS]&3 == 3 {
		c.CPL = 3
		vif = t.UserIF == nil || t.UserIF()
	}
	c.EFLAGS &^= x86.FlagIF | x86.FlagIOPL
	if vif {
		c.EFLAGS |= x86.FlagIF
	}
	c.EFLAGS |= uint32(v.IOPL&3) << 12
	for i := range c.Seg {
		c.Seg[i] = GuestView(c.Seg[i])
	}
	c.GDTR = vmstate.DTR{Base: v.GDTR.Base, Limit: v.GDTR.Limit}
	c.IDTR = vmstate.DTR{Base: v.IDTR.Base, Limit: v.IDTR.Limit}
	c.LDTR, c.TR = v.LDTR, v.TR
	c.CR0, c.CR2, c.CR3, c.CR4 = v.CR0, v.CR2, v.CR3, v.CR4
	c.DR = v.DR
	for _, idx := range vmm.MigratedMSRs {
		val, ok := v.MSR[idx]
		if !ok {
			if info, known := MSRFor(idx); known {
				val = info.Reset
			}
		}
		c.MSR[idx] = val
	}
	return c, nil
}

// SaveVM saves the VM at a pause with res as the run so far and eip as the
// guest's EIP.
func (t *VMM) SaveVM(res *vmm.Result, eip uint32, pv bool) (*vmstate.State, error) {
	if t.shadow {
		return nil, fmt.Errorf("%s: save: inside the shadow of an emulated sti", t.name)
	}
	c, err := t.GuestCPU(eip)
	if err != nil {
		return nil, err
	}
	st, err := t.SaveMachine(c, res, pv)
	if err != nil {
		return nil, err
	}
	st.Machine.PendingIRQs = append([]uint8(nil), t.pending...)
	return st, nil
}

// SaveState saves the VM at a pause (PauseAt).
func (t *VMM) SaveState() (*vmstate.State, error) {
	return t.SaveVM(t.Result(), t.Reg(unicorn.EIP), false)
}

// LoadState continues a saved VM under trap-and-emulate.
func (t *VMM) LoadState(st *vmstate.State) error {
	if err := vmm.CheckMove(st, t.name, false); err != nil {
		return err
	}
	if err := t.LoadMachine(st, false); err != nil {
		return err
	}
	return t.LoadGuestCPU(st, st.CPU.EIP)
}

// LoadGuestCPU makes st's CPU the virtual CPU, derives the real tables
// from it, puts the real CPU in its deprivileged place and continues at
// the real address eip.
func (t *VMM) LoadGuestCPU(st *vmstate.State, eip uint32) error {
	c := st.CPU
	if c.CPL != 0 && c.CPL != 3 {
		return fmt.Errorf("%s: restore: the guest runs at CPL %d; ring compression keeps rings 0 and 3 only", t.name, c.CPL)
	}
	t.V = VCPU{
		IF: c.EFLAGS&x86.FlagIF != 0, IOPL: x86.IOPL(c.EFLAGS), CPL: c.CPL,
		CR0: c.CR0, CR2: c.CR2, CR3: c.CR3, CR4: c.CR4,
		GDTR: DTR{Base: c.GDTR.Base, Limit: c.GDTR.Limit}, IDTR: DTR{Base: c.IDTR.Base, Limit: c.IDTR.Limit},
		LDTR: c.LDTR, TR: c.TR, MSR: map[uint32]uint64{}, DR: c.DR,
	}
	for idx, v := range c.MSR {
		if info, ok := MSRFor(idx); !ok || v != info.Reset {
			t.V.MSR[idx] = v
		}
	}
	if err := t.deriveGDT(); err != nil {
		return fmt.Errorf("%s: restore: %w", t.name, err)
	}
	var seg [6]uint16
	for i, s := range c.Seg {
		seg[i] = t.ShadowSelector(s)
		if i != vmstate.CS && i != vmstate.SS && s&^3 == 0 {
			seg[i] = s
		}
	}
	// The real IF is always set and the real IOPL 0: cli, sti and I/O
	// fault into the VMM.
	real := c.EFLAGS&^(x86.FlagIF|x86.FlagIOPL) | x86.FlagIF
	if err := t.EnterSegments(seg, real, c.ESP); err != nil {
		return fmt.Errorf("%s: %w", t.name, err)
	}
	t.SyncCPL()
	t.V.IF = c.EFLAGS&x86.FlagIF != 0
	if t.shadowOK {
		t.syncPaging() // the paravirtual VMM pages its own way
	}
	t.mirrorFPUControls(0) // the guest's TS, EM, MP, NE and OSFXSR, OSXMMEXCPT
	t.mirrorFPUControls(4)
	if s := t.Stopped(); s.Kind != vmm.StopNone {
		return fmt.Errorf("%s: restore: %s", t.name, s.Reason)
	}
	t.SetGPRs(c, eip)
	t.SetReg(unicorn.EFLAGS, real)
	t.pending = append([]uint8(nil), st.Machine.PendingIRQs...)
	return nil
}
