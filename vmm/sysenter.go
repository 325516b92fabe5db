package vmm

import (
	"encoding/binary"
	"fmt"

	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// Fast system calls: sysenter and sysexit.
//
// sysenter enters CPL 0 at the CS:EIP and SS:ESP that three MSRs name
// (IA32_SYSENTER_CS, _ESP, _EIP), pushing nothing and saving nothing; the
// kernel's sysexit returns to CPL 3 at EDX with ESP = ECX. It is the
// system call a Pentium 4 Linux makes (its int $0x80 + iret round trip
// costs about three times as much). Unicorn performs sysexit but not
// sysenter: its helper only calls the SYSENTER instruction hooks (with a
// stale EIP) and steps over the instruction. So sysenter is a machine site
// (io.go), found by the same sweep as port I/O: the machine performs it
// before the instruction runs — through the call-gate trampoline, the only
// way the host can raise the privilege level (deliver.go) — or hands it
// to the strategy (OnSysenter), for which it is an exit. A sysenter the
// sweep did not find (code written at run time) is stepped over by
// Unicorn, unseen: a limit of the substrate.

// The SYSENTER MSRs.
const (
	MSRSysenterCS  = 0x174
	MSRSysenterESP = 0x175
	MSRSysenterEIP = 0x176
)

// Causes of the fast system-call instructions.
var (
	CauseSysenter = CausePriv("sysenter")
	CauseSysexit  = CausePriv("sysexit")
)

// SysenterTarget is where sysenter goes for the MSR values cs, esp, eip:
// CS = cs & 0xFFFC and SS = CS + 8 (both RPL 0), flat, at CPL 0. ok is
// false when cs names the null selector: sysenter then raises #GP(0).
func SysenterTarget(cs, esp, eip uint32) (codeSel, stackSel uint16, ok bool) {
	codeSel = uint16(cs) & 0xFFFC
	if codeSel == 0 {
		return 0, 0, false
	}
	return codeSel, codeSel + 8, true
}

// SysexitTarget is where sysexit returns for the SYSENTER_CS value cs:
// CS = cs + 16 and SS = cs + 24, both with RPL 3.
func SysexitTarget(cs uint32) (codeSel, stackSel uint16) {
	return uint16(cs+16)&0xFFFC | 3, uint16(cs+24)&0xFFFC | 3
}

// SysenterFlags are the EFLAGS sysenter leaves: VM, IF and RF cleared.
func SysenterFlags(eflags uint32) uint32 { return eflags &^ (x86.FlagVM | x86.FlagIF | x86.FlagRF) }

// onSysenter runs before a sysenter found by the sweep.
func (m *Machine) onSysenter(pc uint32) {
	if m.OnSysenter != nil && m.OnSysenter(pc) {
		return
	}
	var msr [3]uint32
	for i, id := range [3]uint32{MSRSysenterCS, MSRSysenterESP, MSRSysenterEIP} {
		v, err := m.E.MSR(id)
		if err != nil {
			m.fail(fmt.Errorf("vmm: sysenter: read MSR %#x: %w", id, err))
			return
		}
		msr[i] = uint32(v)
	}
	cs, ss, ok := SysenterTarget(msr[0], msr[1], msr[2])
	if !ok {
		m.deliverException(x86.VecGP, 0, pc)
		return
	}
	target, err := m.Descriptor(cs)
	if err != nil || !target.IsCode() || target.DPL != 0 {
		// The CPU loads fixed flat segments without reading the GDT; the
		// host can load CS only through a descriptor, which an OS keeps
		// matching (the SDM asks it to).
		m.Crash(pc, "sysenter: SYSENTER_CS %#x does not name a DPL-0 code descriptor in the GDT, which the machine needs to load CS", msr[0])
		return
	}
	m.Record(CauseSysenter, MechMachine, pc)
	f := m.TransferTo(Transfer{
		Handler: msr[2], TargetSel: cs, Target: target,
		NewFlags: SysenterFlags(m.reg(unicorn.EFLAGS)), EventPC: pc,
		NoFrame: true, InnerSS: ss, InnerESP: msr[1],
	})
	if f != nil {
		e, _ := x86.ExceptionFor(f.Vec)
		m.deliver(CauseExc(f.Vec), f.Vec, f.Code, e.ErrorCode, false, pc, pc)
	}
}

// transferNoFrame finishes a NoFrame transfer at the handler's privilege
// level: CS (if it changes), SS:ESP and EFLAGS, then the handler.
func (m *Machine) transferNoFrame(t Transfer) *DeliveryFault {
	if uint32(t.TargetSel) != m.reg(unicorn.CS) {
		m.segLoading(t.TargetSel)
		if err := m.E.SetReg(unicorn.CS, uint32(t.TargetSel)); err != nil {
			return &DeliveryFault{Vec: x86.VecGP, Code: uint32(t.TargetSel &^ 3), Why: fmt.Sprintf("load handler CS: %v", err)}
		}
	}
	if uint32(t.InnerSS) != m.reg(unicorn.SS) {
		m.segLoading(t.InnerSS)
		if err := m.E.SetReg(unicorn.SS, uint32(t.InnerSS)); err != nil {
			return &DeliveryFault{Vec: x86.VecGP, Code: uint32(t.InnerSS &^ 3), Why: fmt.Sprintf("load SS %#x: %v", t.InnerSS, err)}
		}
	}
	m.setRegs([]unicorn.Reg{unicorn.ESP, unicorn.EFLAGS}, []uint32{t.InnerESP, t.NewFlags})
	m.Complete(t.Handler)
	return nil
}

// savedStack is the area of the TSS's inner stack the trampoline's call
// frame overwrites during a NoFrame transfer.
type savedStack struct {
	ok   bool
	addr uint32
	b    [16]byte
}

// saveCallFrameArea reads the 16 bytes below the inner stack the TSS
// names for cpl (SS base + ESP − 16), where the call gate will push.
func (m *Machine) saveCallFrameArea(tssBase uint32, cpl uint8) savedStack {
	var s savedStack
	var b [8]byte
	if err := m.cpuRead(tssBase+4+8*uint32(cpl), b[:]); err != nil {
		return s
	}
	esp := binary.LittleEndian.Uint32(b[:4])
	ss := binary.LittleEndian.Uint16(b[4:6])
	s.addr = m.segBase(ss) + esp - 16
	s.ok = m.ReadMem(s.addr, s.b[:]) == nil
	return s
}

// restoreCallFrameArea writes back what saveCallFrameArea read.
func (m *Machine) restoreCallFrameArea(s savedStack) {
	if s.ok {
		if err := m.write(s.addr, s.b[:]); err != nil {
			m.fail(fmt.Errorf("vmm: sysenter: restore the TSS stack: %w", err))
		}
	}
}

// ReturnOuter returns the guest to an outer privilege level at eip, with
// cs, eflags, esp and ss, as sysexit does under a VMM that deprivileges
// the guest kernel: the host cannot lower the privilege level by writing
// SS (Unicorn refuses an SS whose RPL is not the CPL), so the machine puts
// the five words of an iret frame below ESP on the current stack and runs
// an iret on its landing page (supervisor-only, mapped wherever the
// trampoline is). The frame's bytes stay below the stack, as an
// interrupt's would.
func (m *Machine) ReturnOuter(eip, cs, eflags, esp, ss uint32) error {
	frame := [5]uint32{eip, cs, eflags, esp, ss}
	sp := m.reg(unicorn.ESP) - 20
	var fb [20]byte
	if err := m.write(m.segBase(uint16(m.reg(unicorn.SS)))+sp, words(fb[:0], frame[:])); err != nil {
		return fmt.Errorf("vmm: return to an outer ring: push the iret frame: %w", err)
	}
	m.setReg(unicorn.ESP, sp)
	m.Complete(iretAddr - m.segBase(uint16(m.reg(unicorn.CS))))
	return nil
}
