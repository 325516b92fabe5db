package hypercall

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
	"virtsim/vmstate"
)

// Saving and restoring a paravirtual guest. Its CPU is trap's view, its
// virtual IF the shared-info page's mask (guest RAM, saved with it); what
// only the paravirtual VMM holds is what the guest registered by
// hypercall — the event callback, the kernel stack, the system-call gate
// installed in the real IDT, the page tables it had pinned for direct
// paging — and the PV counters. That goes into State.VMM, which is why a
// PV state moves only to pv (vmm.CheckMove).

// pvState is State.VMM under pv.
type pvState struct {
	CallbackSel uint16            `json:"callback_sel"`
	CallbackEIP uint32            `json:"callback_eip"`
	StackSet    bool              `json:"stack_set"`
	StackESP1   uint32            `json:"stack_esp1"` // the real TSS's ring-1 stack (stack_switch)
	StackSS1    uint32            `json:"stack_ss1"`
	SysGate     bool              `json:"sys_gate"`
	SysGateSel  uint16            `json:"sys_gate_sel"`
	SysGateOff  uint32            `json:"sys_gate_off"`
	Paging      bool              `json:"paging"`
	CR3Set      bool              `json:"cr3_set"`
	Tables      map[uint32]int    `json:"tables"` // pinned page tables, by directory entries naming them
	Dirs        map[uint32]bool   `json:"dirs"`   // pinned directories (their VMM slots are in RAM)
	Fallbacks   uint64            `json:"fallbacks"`
	Counters    map[string]uint64 `json:"counters"`
}

// SaveState saves the paravirtual VM at a pause.
func (p *VMM) SaveState() (*vmstate.State, error) {
	if p.inExit || p.inFallback {
		return nil, fmt.Errorf("pv: save: inside a hypercall")
	}
	p.V.IF = !p.masked()
	st, err := p.SaveVM(p.Result(), p.Reg(unicorn.EIP), true)
	if err != nil {
		return nil, err
	}
	tr, err := p.E.MMR(unicorn.TR)
	if err != nil {
		return nil, fmt.Errorf("pv: save: %w", err)
	}
	var stk [8]byte
	if err := p.ReadMem(tr.Base+x86.TSSESP1, stk[:]); err != nil {
		return nil, fmt.Errorf("pv: save: %w", err)
	}
	s := pvState{
		CallbackSel: p.callbackSel, CallbackEIP: p.callbackEIP,
		StackSet: p.stackSet, StackESP1: binary.LittleEndian.Uint32(stk[0:]), StackSS1: binary.LittleEndian.Uint32(stk[4:]),
		SysGate: p.sysGate, SysGateSel: p.sysGateSel, SysGateOff: p.sysGateOff,
		Paging: p.pg.on, CR3Set: p.pg.cr3Set, Tables: p.pg.tables, Dirs: p.pg.dirs,
		Fallbacks: p.fallbacks, Counters: p.counters,
	}
	if st.VMM, err = json.Marshal(s); err != nil {
		return nil, fmt.Errorf("pv: save: %w", err)
	}
	return st, nil
}

// LoadState continues a saved paravirtual VM.
func (p *VMM) LoadState(st *vmstate.State) error {
	if err := vmm.CheckMove(st, "pv", true); err != nil {
		return err
	}
	var s pvState
	if err := json.Unmarshal(st.VMM, &s); err != nil || s.Tables == nil || s.Dirs == nil || s.Counters == nil {
		return fmt.Errorf("pv: restore: the saved VM lacks the paravirtual VMM's state (vmm): %v", err)
	}
	if err := p.LoadMachine(st, true); err != nil {
		return err
	}
	// The sites' counters are armed at the entry point, which a restored
	// guest does not pass again (under trace, hooks record them instead).
	if !p.Cfg.Trace && p.Cfg.OnEvent == nil {
		if err := p.armCounters(); err != nil {
			return err
		}
	}
	if err := p.LoadGuestCPU(st, st.CPU.EIP); err != nil {
		return err
	}
	p.callbackSel, p.callbackEIP = s.CallbackSel, s.CallbackEIP
	p.stackSet = s.StackSet
	tr, err := p.E.MMR(unicorn.TR)
	if err != nil {
		return fmt.Errorf("pv: restore: %w", err)
	}
	var stk [8]byte
	binary.LittleEndian.PutUint32(stk[0:], s.StackESP1)
	binary.LittleEndian.PutUint32(stk[4:], s.StackSS1)
	if err := p.WriteMem(tr.Base+x86.TSSESP1, stk[:]); err != nil {
		return fmt.Errorf("pv: restore: %w", err)
	}
	if s.SysGate {
		if err := p.SetRealGate(SyscallVector, s.SysGateSel, s.SysGateOff, 3); err != nil {
			return fmt.Errorf("pv: restore: %w", err)
		}
	}
	p.sysGate, p.sysGateSel, p.sysGateOff = s.SysGate, s.SysGateSel, s.SysGateOff
	p.pg.on, p.pg.cr3Set, p.pg.tables, p.pg.dirs = s.Paging, s.CR3Set, s.Tables, s.Dirs
	p.fallbacks, p.counters = s.Fallbacks, s.Counters
	if len(s.Dirs) > 0 {
		// The pinned directories in RAM name the VMM's own page tables for
		// its region in their top slots; this fresh VMM has not written
		// them yet.
		if _, err := p.VMMDirEntries(); err != nil {
			return fmt.Errorf("pv: restore: %w", err)
		}
	}
	if s.Paging {
		// The real tables are the guest's own (direct paging): its pinned
		// directory, with the VMM's slots already in it.
		cr4 := p.Reg(unicorn.CR4) &^ x86.CR4PSE
		if p.V.CR4&x86.CR4PSE != 0 {
			cr4 |= x86.CR4PSE
		}
		p.SetReg(unicorn.CR4, cr4)
		p.SetReg(unicorn.CR3, p.V.CR3&x86.PTEAddr)
		p.SetReg(unicorn.CR0, p.Reg(unicorn.CR0)|x86.CR0PG|x86.CR0WP)
		p.flushTLB()
	}
	if s := p.Stopped(); s.Kind != vmm.StopNone {
		return fmt.Errorf("pv: restore: %s", s.Reason)
	}
	return nil
}
