package hypercall

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"virtsim/guest"
	"virtsim/trap"
	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

func init() {
	vmm.Register(&vmm.Strategy{
		Name: "pv",
		Description: "paravirtualization (Xen style): the PV build of the guest kernel runs at CPL 1 and asks the VMM by hypercall; " +
			"cli/sti are writes to a shared-info page",
		Substrate: "unicorn",
		PV:        true,
		Available: func() error { return nil },
		New:       New,
	})
}

// VMM is one paravirtual guest. It builds on trap-and-emulate's
// deprivileging (trap.VMM: ring compression, the VMM's own GDT, IDT and
// TSS, the virtual CPU V) and replaces its entry: an `int $0x82` from the
// guest kernel is a hypercall, an external interrupt becomes an event
// upcall, an exception bounces into the guest's handler, and only a
// privileged instruction the PV build should not contain is left to
// trap-and-emulate (and reported).
type VMM struct {
	*trap.VMM

	callbackSel uint16 // the event callback (set_callbacks); sel 0: none yet
	callbackEIP uint32
	stackSet    bool // stack_switch gave the real TSS a kernel stack
	sysGate     bool // the system-call vector is installed directly in the real IDT
	sysGateSel  uint16
	sysGateOff  uint32

	inExit     bool   // inside a hypercall: an interrupt delivered now needs no exit of its own
	inFallback bool   // trap-and-emulate is handling an instruction: its virtual IF rules
	callPC     uint32 // the guest call site of the hypercall being handled
	sites      []site // the in-place (shared-info) operations of the image
	sitesArmed bool   // their counters exist
	fallbacks  uint64 // privileged instructions left to trap-and-emulate
	counters   map[string]uint64
	audit      bool // --audit was asked for (nothing to audit under pv)
	pg         directPaging
	// The POST-port hypercalls performed in C (fast.go).
	fastOK  bool
	fast    []fastCall
	fastBuf []unicorn.FastSite
}

// New boots a PV image under the paravirtual VMM.
func New(img *guest.Image, cfg vmm.Config) (vmm.Instance, error) {
	return NewVMM(img, cfg)
}

// NewVMM boots img, which must be a PV build (CheckImage), under the
// paravirtual VMM.
func NewVMM(img *guest.Image, cfg vmm.Config) (*VMM, error) {
	if err := CheckImage(img); err != nil {
		return nil, err
	}
	audit := cfg.Audit
	cfg.Audit = false // the sensitive instructions of a PV build are fixed up by design
	t, err := trap.NewVMM(img, cfg, "pv")
	if err != nil {
		return nil, fmt.Errorf("pv: %w", err)
	}
	p := &VMM{VMM: t, counters: map[string]uint64{}, audit: audit,
		pg: directPaging{tables: map[uint32]int{}, dirs: map[uint32]bool{}}}
	if err := p.boot(); err != nil {
		t.Close()
		return nil, fmt.Errorf("pv: %w", err)
	}
	p.fastOK = true
	p.E.OnFast(p.fastDone)
	return p, nil
}

// CheckImage accepts only PV builds: the image carries the PV runtime's
// signature (ABIMagic) and leaves the hypercall and shared-info pages free.
func CheckImage(img *guest.Image) error {
	found := false
	for _, s := range img.Segments {
		if uint64(s.Addr) < SharedInfo+PageSize && s.End() > HypercallPage {
			return fmt.Errorf("pv: image segment %#x..%#x overlaps the hypercall and shared-info pages (%#x..%#x)",
				s.Addr, s.End(), HypercallPage, SharedInfo+PageSize)
		}
		if bytes.Contains(s.Data, []byte(ABIMagic)) {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("pv: image %q is not a paravirtual build (no %q signature): the pv strategy runs NAME.pv.elf, built with --defsym PV=1 (guest/src/build.sh)", img.Name, ABIMagic)
	}
	return nil
}

// boot fills the hypercall page and the shared-info page, takes over the
// machine's hooks and finds the image's in-place operations.
func (p *VMM) boot() error {
	m := p.Machine
	if err := m.WriteMem(HypercallPage, Page(StubInt82)); err != nil {
		return err
	}
	si := make([]byte, PageSize)
	binary.LittleEndian.PutUint32(si[SIMagic:], SIMagicValue)
	binary.LittleEndian.PutUint32(si[SIVersion:], ABIVersion)
	if !p.V.IF {
		si[SIMask] = 1 // multiboot enters with IF=0
	}
	binary.LittleEndian.PutUint32(si[SICR0:], p.V.CR0)
	putDTR(si[SIGDTR:], p.V.GDTR)
	putDTR(si[SIIDTR:], p.V.IDTR)
	if err := m.WriteMem(SharedInfo, si); err != nil {
		return err
	}
	if err := m.E.RemoveCache(HypercallPage, SharedInfo+PageSize); err != nil {
		return fmt.Errorf("drop translations of the PV pages: %w", err)
	}
	m.VMMTrap = p.onTrap
	m.VirtualIF = p.virtualIF
	p.setupBlk()
	return p.installSites()
}

func putDTR(b []byte, d trap.DTR) {
	binary.LittleEndian.PutUint16(b[0:], d.Limit)
	binary.LittleEndian.PutUint32(b[2:], d.Base)
}

// ---- the shared-info page ----

func (p *VMM) siByte(off uint32) byte {
	var b [1]byte
	if err := p.ReadMem(SharedInfo+off, b[:]); err != nil {
		p.Fail(err)
	}
	return b[0]
}

func (p *VMM) siWrite(off uint32, b []byte) {
	if err := p.WriteMem(SharedInfo+off, b); err != nil {
		p.Fail(err)
	}
}

func (p *VMM) siPut32(off, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	p.siWrite(off, b[:])
}

// masked reports the guest's event mask: the virtual IF is !masked.
func (p *VMM) masked() bool { return p.siByte(SIMask) != 0 }

// setMask writes the event mask (and keeps trap's virtual IF in step, for
// the trap-and-emulate fallback).
func (p *VMM) setMask(on bool) {
	var b byte
	if on {
		b = 1
	}
	p.siWrite(SIMask, []byte{b})
	p.V.IF = !on
}

// publishPending tells the guest whether an event waits at the (virtual)
// PIC: the unmask paths of the PV build make a hypercall only then.
func (p *VMM) publishPending() {
	var b byte
	if p.PendingIRQ() {
		b = 1
	}
	p.siWrite(SIPending, []byte{b})
}

// virtualIF is the machine's question "may the PIC's interrupt be taken
// now?": only with events unmasked and a callback to deliver them to.
// Otherwise the request waits in the PIC's IRR (visible to the guest) and
// the pending flag tells the guest to ask for it when it unmasks.
func (p *VMM) virtualIF() bool {
	unmasked := !p.masked()
	if p.inFallback {
		unmasked = p.V.IF // trap's emulator keeps the virtual IF until fallback syncs the mask
	}
	open := p.callbackSel != 0 && unmasked
	if !open {
		p.publishPending()
	}
	return open
}

// ---- the VMM's entry ----

// vcpl is the guest's virtual privilege level: 3 for guest user code, 0 for
// the guest kernel (really at CPL 1).
func (p *VMM) vcpl() uint8 {
	if p.Reg(unicorn.CS)&3 == 3 {
		return 3
	}
	return 0
}

// onTrap receives every event the real IDT routes into the VMM.
func (p *VMM) onTrap(tr vmm.Trap) {
	m := p.Machine
	p.V.CPL = p.vcpl()
	switch {
	case tr.Soft && tr.Vector == HcallVector && p.V.CPL == 0:
		p.hypercall(tr)
	case tr.External:
		mech := vmm.MechTrap
		if p.inExit {
			// Delivered on the way out of a hypercall: the VMM was running
			// anyway, the event cost no exit of its own.
			mech = vmm.MechSharedInfo
		}
		m.Record(tr.Cause, mech, tr.PC)
		p.upcall(tr.Vector, tr.RetEIP, tr.PC)
	case tr.Soft && tr.Vector == HcallVector:
		// Hypercalls are for the kernel: from user mode the vector behaves
		// as if its gate had DPL 1, as Xen's does.
		m.Record(tr.Cause, vmm.MechTrap, tr.PC)
		p.bounce(x86.VecGP, uint32(HcallVector)*8+2, true, false, tr.PC, tr.PC)
	case tr.Vector == x86.VecGP && !tr.Soft && p.V.CPL == 0:
		p.fallback(tr)
	default:
		m.Record(tr.Cause, vmm.MechTrap, tr.PC)
		if tr.Vector == x86.VecPF && !tr.Soft {
			// The guest's handler reads CR2 from the shared-info page.
			p.V.CR2 = m.Reg(unicorn.CR2)
			p.siPut32(SICR2, p.V.CR2)
		}
		if tr.Soft && tr.Vector == SyscallVector {
			// The guest filled its system-call gate after registering its
			// trap table: install it now, so the next calls need no exit.
			p.syncSyscallGate()
		}
		p.bounce(tr.Vector, tr.Code, tr.HasCode, tr.Soft, tr.RetEIP, tr.PC)
	}
}

// SyscallVector is the guest's system-call vector, which set_trap_table
// installs directly in the real IDT.
const SyscallVector = 0x80

// fallback: the guest kernel executed a privileged instruction after all
// (a PV build that missed a macro, or a foreign image): trap-and-emulate
// handles it against the virtual CPU, and the run's notes say so.
func (p *VMM) fallback(tr vmm.Trap) {
	p.fallbacks++
	p.V.IF = !p.masked()
	p.inFallback = true
	p.EmulateTrap(tr)
	p.inFallback = false
	p.setMask(!p.V.IF)
}

// leave finishes an exit: the guest continues at next, after the event
// that waits for it, if its events are unmasked. The machine delivers it
// (through onTrap, as an upcall that needs no exit of its own).
func (p *VMM) leave(next uint32) {
	p.publishPending()
	p.inExit = true
	p.CompleteIO(next)
	p.inExit = false
}

// ---- into the guest kernel: bounces and upcalls ----

// entry is where an event enters the guest kernel.
type entry struct {
	vec  uint8
	sel  uint16 // guest selector of the handler's code segment
	off  uint32
	mask bool // mask events on entry (an interrupt gate, the event callback)
}

// bounce delivers an exception or software interrupt into the guest's
// handler, taken from the trap table it registered, as the CPU would
// through an IDT at the guest's virtual privilege level. A fault while
// doing so escalates by the double-fault rule.
func (p *VMM) bounce(vec uint8, code uint32, hasCode, soft bool, retEIP, pc uint32) {
	p.Escalating(vec, code, hasCode, soft, retEIP, pc, p.tryBounce)
}

func (p *VMM) tryBounce(vec uint8, code uint32, hasCode, soft bool, retEIP, pc uint32) *vmm.DeliveryFault {
	gate, f := p.ReadGate(p.V.IDTR.Base, uint32(p.V.IDTR.Limit), vec)
	if f != nil {
		return f
	}
	idtCode := uint32(vec)*8 + 2
	if soft && gate.DPL < p.V.CPL {
		return &vmm.DeliveryFault{Vec: x86.VecGP, Code: idtCode, Why: fmt.Sprintf("int $%#x from virtual CPL %d through a DPL-%d gate", vec, p.V.CPL, gate.DPL)}
	}
	if !gate.Present {
		return &vmm.DeliveryFault{Vec: x86.VecNP, Code: idtCode, Why: fmt.Sprintf("trap-table entry %#x not present", vec)}
	}
	return p.enter(entry{vec: vec, sel: gate.Selector, off: gate.Offset, mask: gate.Type == x86.TypeIntGate32}, code, hasCode, retEIP, pc)
}

// upcall delivers the event of vector vec (an interrupt the VMM took from
// the PIC) to the guest's event callback: events masked, the vector at
// SIVector, an interrupt frame returning to retEIP.
func (p *VMM) upcall(vec uint8, retEIP, pc uint32) {
	p.counters["upcalls"]++
	p.siWrite(SIVector, []byte{vec})
	p.publishPending()
	if p.callbackSel == 0 {
		p.Crash(pc, "pv: event %#x arrived with no event callback registered (set_callbacks)", vec)
		return
	}
	if f := p.enter(entry{vec: vec, sel: p.callbackSel, off: p.callbackEIP, mask: true}, 0, false, retEIP, pc); f != nil {
		p.Crash(pc, "pv: cannot enter the event callback %#x:%#x: %v", p.callbackSel, p.callbackEIP, f)
	}
}

// enter transfers control into the guest kernel at e with an interrupt
// frame that shows the guest its own view: its CS with RPL 0 for the
// kernel, EFLAGS with the virtual IF. From user mode the CPU switches to the
// kernel stack stack_switch registered (the real TSS's SS1:ESP1).
func (p *VMM) enter(e entry, code uint32, hasCode bool, retEIP, pc uint32) *vmm.DeliveryFault {
	m := p.Machine
	target, err := p.GuestDescriptor(e.sel)
	selCode := uint32(e.sel &^ 3)
	if err != nil || x86.SelIndex(e.sel) == 0 || !target.IsCode() {
		return &vmm.DeliveryFault{Vec: x86.VecGP, Code: selCode, Why: fmt.Sprintf("handler selector %#x is not a code segment of the guest's GDT", e.sel)}
	}
	if !target.Present {
		return &vmm.DeliveryFault{Vec: x86.VecNP, Code: selCode, Why: fmt.Sprintf("handler segment %#x not present", e.sel)}
	}
	vcpl := p.vcpl()
	newVCPL := target.DPL
	if target.IsConforming() {
		newVCPL = vcpl
	}
	if newVCPL > vcpl {
		return &vmm.DeliveryFault{Vec: x86.VecGP, Code: selCode, Why: "handler less privileged than the interrupted code"}
	}
	if newVCPL < vcpl && !p.stackSet {
		return &vmm.DeliveryFault{Vec: x86.VecTS, Code: 0, Why: "the guest registered no kernel stack (stack_switch) for entries from user mode"}
	}
	realFlags := m.Reg(unicorn.EFLAGS)
	frameFlags := realFlags &^ (x86.FlagIF | x86.FlagIOPL)
	if !p.masked() {
		frameFlags |= x86.FlagIF
	}
	f := m.TransferTo(vmm.Transfer{
		Vector: e.vec, Handler: e.off,
		TargetSel: p.ShadowSelector(e.sel&^3 | uint16(newVCPL)), Target: p.ShadowDescriptor(target),
		FrameCS: uint32(trap.GuestView(uint16(m.Reg(unicorn.CS)))), FrameFlags: frameFlags,
		RetEIP: retEIP, Code: code, HasCode: hasCode,
		NewFlags: realFlags&^(x86.FlagTF|x86.FlagNT|x86.FlagRF|x86.FlagVM) | x86.FlagIF,
		EventPC:  pc,
	})
	if f != nil {
		return f
	}
	if e.mask {
		p.setMask(true)
	}
	p.V.CPL = newVCPL
	return nil
}

// syncSyscallGate installs the guest's system-call gate directly in the
// real IDT when it is a DPL-3 gate to kernel code, so that `int $0x80` from
// guest user mode reaches the guest kernel with no exit (the machine
// delivers it), and takes it out again when it is not.
func (p *VMM) syncSyscallGate() {
	ok, sel, off := false, uint16(0), uint32(0)
	if gate, f := p.ReadGate(p.V.IDTR.Base, uint32(p.V.IDTR.Limit), SyscallVector); f == nil && gate.Present && gate.DPL == 3 {
		if d, err := p.GuestDescriptor(gate.Selector); err == nil && x86.SelIndex(gate.Selector) != 0 &&
			d.IsCode() && !d.IsConforming() && d.Present && d.DPL == 0 {
			ok, sel, off = true, p.ShadowSelector(gate.Selector&^3), gate.Offset
		}
	}
	if ok == p.sysGate && sel == p.sysGateSel && off == p.sysGateOff {
		return
	}
	var err error
	if ok {
		err = p.SetRealGate(SyscallVector, sel, off, 3)
	} else {
		err = p.SetRealGate(SyscallVector, 0, 0, 3)
	}
	if err != nil {
		p.Fail(err)
		return
	}
	p.sysGate, p.sysGateSel, p.sysGateOff = ok, sel, off
}

// ---- results and inspection ----

// Result is the machine's result with the in-place (shared-info) events
// counted at their sites and the PV counters. (Not trap's: the sensitive
// instructions of a PV build are fixed up by its macros, so the
// Popek-Goldberg note does not apply.)
func (p *VMM) Result() *vmm.Result {
	r := p.Machine.Result()
	r.Counts = r.Counts.Clone()
	for cause, n := range p.siteCounts() {
		if n > 0 {
			r.Counts[vmm.Key{Cause: cause, Mech: vmm.MechSharedInfo}] += n
		}
	}
	r.Exits = r.Counts.Exits()
	counters := make(map[string]uint64, len(r.Counters)+len(p.counters))
	for k, v := range r.Counters {
		counters[k] = v
	}
	for k, v := range p.counters {
		counters[k] = v
	}
	r.Counters = counters
	r.Notes = append([]string(nil), r.Notes...)
	if p.fallbacks > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf(
			"pv: the guest kernel executed %d privileged instruction(s) instead of asking by hypercall; the VMM trapped and emulated them (events with mechanism trap): the PV build misses a pv_ops macro", p.fallbacks))
	}
	if p.audit {
		r.Notes = append(r.Notes, "pv: --audit has nothing to count: the PV build reads privileged state through the shared-info page, and its macros fix up what pushf, lar and mov %cs show")
	}
	return r
}

// Virtual is the guest's view, with the virtual IF from the shared-info page.
func (p *VMM) Virtual() (vmm.CPUState, bool) {
	p.V.IF = !p.masked()
	s, ok := p.VMM.Virtual()
	var tr [2]byte
	if err := p.ReadMem(SharedInfo+SITR, tr[:]); err == nil {
		s.TR = binary.LittleEndian.Uint16(tr[:])
	}
	return s, ok
}
