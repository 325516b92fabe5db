package translate

import (
	"fmt"

	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
	"virtsim/vmstate"
)

// Saving and restoring under binary translation. The guest's state is
// trap's (the virtual CPU) plus the two bytes of it bt keeps in the
// guest-owned page — the virtual IF and IOPL that in-TC cli, sti and popf
// change, and the IF of user code — and an EIP that is a guest address
// only at a boundary of the TC-to-guest map: a save waits for one
// (SafePoint). The translation cache, its chains and lookup table are
// derived from guest code and are rebuilt from the first instruction on.

// safePoint: guest user code runs directly (its EIP is the guest's); in
// the TC only a boundary before a guest instruction, outside any VMM
// entry and any sti shadow, holds the guest's whole state.
func (b *BT) safePoint(pc uint32) bool {
	if b.depth != 0 || b.shadow || b.toShadow {
		return false
	}
	if !b.inCode(pc) {
		return pc < vmm.VMMBase
	}
	// A boundary with nothing to undo: some boundaries still hold a
	// scratch register in the guest-owned page (restore), which only the
	// recipe puts back.
	p, ok := b.points[pc]
	return ok && p.kind == ptBoundary && p.restore == 0 && p.esp == 0 && !p.pop && !p.ecxTarget && p.fix == nil
}

// guestEIP is the guest address of a safe point.
func (b *BT) guestEIP(pc uint32) uint32 {
	if p, ok := b.points[pc]; ok && b.inCode(pc) {
		return p.guest
	}
	return pc
}

// SaveState saves the VM at a pause (PauseAt).
func (b *BT) SaveState() (*vmstate.State, error) {
	pc := b.Reg(unicorn.EIP)
	if !b.safePoint(pc) {
		return nil, fmt.Errorf("bt: save: the CPU at %#x is not at a guest instruction boundary", pc)
	}
	b.syncIn()
	return b.SaveVM(b.Result(), b.guestEIP(pc), false)
}

// LoadState continues a saved VM under binary translation: trap's virtual
// CPU, bt's guest-owned bytes, and — for the guest kernel — EIP at a fresh
// translation of the saved guest instruction.
func (b *BT) LoadState(st *vmstate.State) error {
	if err := vmm.CheckMove(st, "bt", false); err != nil {
		return err
	}
	if err := b.LoadMachine(st, false); err != nil {
		return err
	}
	// The boot's translation of the entry block read RAM that is gone.
	if err := b.flush(); err != nil {
		return err
	}
	b.stats.flushes--
	if err := b.LoadGuestCPU(st, st.CPU.EIP); err != nil {
		return err
	}
	c := st.CPU
	if c.CPL == 3 {
		uif := byte(0)
		if c.EFLAGS&x86.FlagIF != 0 {
			uif = 1
		}
		if err := b.OwnWrite(vrwUserIF, []byte{uif}); err != nil {
			return fmt.Errorf("bt: restore: %w", err)
		}
	} else {
		tc, err := b.entry(c.EIP)
		if err != nil {
			return fmt.Errorf("bt: restore: translate the guest's instruction at %#x: %w", c.EIP, err)
		}
		b.SetReg(unicorn.EIP, tc)
	}
	b.vroSet = false
	b.syncOut()
	if s := b.Stopped(); s.Kind != vmm.StopNone {
		return fmt.Errorf("bt: restore: %s", s.Reason)
	}
	return nil
}
