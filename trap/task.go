package trap

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// Hardware task switches (Intel SDM vol. 3, 7.3), against the guest's own
// TSSs and the virtual CPU: ljmp/lcall to a TSS descriptor or a task gate,
// an event through a task gate in the guest's IDT (Emulator.TaskGate), and
// iret with NT set. The outgoing task's registers go into its TSS (the
// guest's view: virtual IF and IOPL, selectors without ring compression's
// RPL 1), the busy bits, back link and NT follow x86.TaskRules, CR0.TS is
// set, and the incoming task's CR3 (through the platform's CR3 path: the
// shadow MMU under trap), LDT, flags, registers and segments are loaded
// with the checks the CPU makes. The real TR stays the VMM's; TR is the
// virtual CPU's. Not modelled: 16-bit TSSs, a switch into virtual-8086
// mode, and (under ring compression) a switch into a more privileged ring
// than the real CPU runs at by ljmp or lcall (the substrate refuses to
// raise CPL by a register write; a task gate's event enters through the
// VMM's privilege switch instead: TaskGate): those stop with
// ErrUnsupported. Imprecise: a fault found after the commit point (a bad
// selector in the new TSS) is raised with the switching instruction's EIP,
// where the CPU raises it in the new task; entering a more privileged task
// writes the trampoline's frame below the new task's ESP, in stack memory
// the task does not own yet.

// tsFault is #TS with a selector's error code.
func tsFault(sel uint16, format string, args ...any) error {
	return &Fault{Vector: x86.VecTS, Code: x86.SelErrorCode(sel), HasCode: true, Why: fmt.Sprintf(format, args...)}
}

// farTask: ljmp or lcall to a TSS descriptor or a task gate (d, named by
// sel); the privilege check is the descriptor's DPL against CPL and RPL.
func (m *emu) farTask(sel uint16, d x86.Descriptor) error {
	kind := x86.TaskJmp
	if m.inst.Op == x86asm.LCALL {
		kind = x86.TaskCall
	}
	cpl, rpl := m.v.CPL, x86.SelRPL(sel)
	if d.DPL < cpl || d.DPL < rpl {
		return gpSel(sel, "far %v to task %#x: DPL %d < max(CPL %d, RPL %d)", m.inst.Op, sel, d.DPL, cpl, rpl)
	}
	if d.Type == x86.TypeTaskGate {
		if !d.Present {
			return np(sel, "task gate %#x not present", sel)
		}
		sel = d.Selector
	}
	return m.switchTask(sel, kind, m.next, nil)
}

// taskReturn is iret with NT set: back to the task the current TSS's link
// names.
func (m *emu) taskReturn() error {
	cur, _, ok, err := m.lookup(m.v.TR)
	if err != nil {
		return err
	}
	if !ok || !cur.IsTSS() {
		return tsFault(m.v.TR, "iret with NT: no TSS loaded (TR %#x)", m.v.TR)
	}
	link, err := m.readN(cur.Base+x86.TSSLink, 2)
	if err != nil {
		return err
	}
	return m.switchTask(uint16(link), x86.TaskIret, m.next, nil)
}

// TaskGate delivers an event through a task gate of the guest's IDT: a
// task switch to the TSS the gate names, saving retEIP as the interrupted
// task's EIP, then the error code pushed on the new task's stack. The
// caller made the gate's checks (present; DPL for int n). It returns the
// exception the switch raised (delivered instead, in whichever task the
// CPU was in by then), or an error when it cannot be emulated; on success
// the CPU's EIP is the new task's. When the new task runs in a more
// privileged real ring than the interrupted code (an event from user mode
// into a kernel task, under ring compression), the host cannot load its
// CS and SS: TaskGate returns raise with everything else switched, the
// VMM enters the new ring at the task's EIP on its stack (the machine's
// privilege-switch trampoline), and FinishTask completes the task there.
func (e *Emulator) TaskGate(cpu CPU, v *VCPU, tssSel uint16, retEIP, code uint32, hasCode bool) (raise *TaskRaise, f *Fault, err error) {
	m := e.taskEmu(cpu, v, retEIP)
	r := &TaskRaise{Code: code, HasCode: hasCode}
	err = m.switchTask(tssSel, x86.TaskInt, retEIP, &r.State)
	if err == nil && r.State.Seg[CS] != 0 {
		cs := r.State.Seg[CS]
		d, _, ok, lerr := m.lookup(cs)
		switch {
		case lerr != nil:
			err = lerr
		case !ok || !d.IsCode() || !d.Present:
			err = tsFault(cs, "task CS %#x is not a present code segment (%v)", cs, d)
		default:
			r.CS = d
			return r, nil, nil
		}
	}
	if err == nil && hasCode {
		err = m.push(4, code)
	}
	if err == nil {
		cpu.SetReg(EIP, m.next)
	}
	f, err = taskOutcome(v, err)
	return nil, f, err
}

// TaskRaise is a task switch TaskGate left for the VMM to enter: the new
// task's state, its CS descriptor (the guest's), the event's error code.
type TaskRaise struct {
	State   x86.TaskState
	CS      x86.Descriptor
	Code    uint32
	HasCode bool
}

// FinishTask completes a TaskRaise once the real CPU runs in the new
// task's ring at its EIP: its ESP, segment registers (with their checks)
// and the error code. The result is TaskGate's.
func (e *Emulator) FinishTask(cpu CPU, v *VCPU, r *TaskRaise) (*Fault, error) {
	m := e.taskEmu(cpu, v, r.State.EIP)
	cpu.SetReg(ESP, r.State.GPR[ESP])
	err := m.loadTaskSegs(r.State)
	if err == nil && r.HasCode {
		err = m.push(4, r.Code)
	}
	return taskOutcome(v, err)
}

// taskEmu readies the emulator's state for a switch outside an instruction.
func (e *Emulator) taskEmu(cpu CPU, v *VCPU, eip uint32) *emu {
	m := &e.m
	*m = emu{e: e, cpu: cpu, v: v, pc: eip, next: eip}
	e.out = Outcome{Cause: "task"}
	m.out = &e.out
	return m
}

// taskOutcome sorts a task switch's error into a guest fault or a failure.
func taskOutcome(v *VCPU, err error) (*Fault, error) {
	var f *Fault
	var mf *MemFault
	switch {
	case err == nil:
		return nil, nil
	case errors.As(err, &f):
		return f, nil
	case errors.As(err, &mf):
		if mf.Vector == x86.VecPF {
			v.CR2 = mf.Addr
		}
		return &Fault{Vector: mf.Vector, Code: mf.Code, HasCode: true, Why: mf.Error()}, nil
	}
	return nil, err
}

// asTS turns the #GP a segment check raises into the #TS a task switch
// raises for the same selector (#NP and #SS stay).
func asTS(err error) error {
	var f *Fault
	if errors.As(err, &f) && f.Vector == x86.VecGP {
		g := *f
		g.Vector = x86.VecTS
		return &g
	}
	return err
}

// switchTask switches from the task in the virtual TR to the TSS sel
// names, saving saveEIP as the outgoing task's EIP. With raise set, a new
// task in a more privileged real ring is switched to but for its
// segments, and its state left in *raise (TaskGate); else such a switch is
// not emulated.
func (m *emu) switchTask(sel uint16, kind x86.TaskSwitch, saveEIP uint32, raise *x86.TaskState) error {
	rule := x86.TaskRules[kind]
	bad := func(format string, args ...any) error {
		if kind == x86.TaskIret {
			return tsFault(sel, format, args...)
		}
		return gpSel(sel, format, args...)
	}
	if x86.SelTI(sel) || x86.SelNull(sel) {
		return bad("task switch (%v) to %#x: not a GDT selector", kind, sel)
	}
	d, addr, ok, err := m.lookup(sel)
	switch {
	case err != nil:
		return err
	case !ok || !d.IsTSS():
		return bad("task switch (%v) to %#x: not a TSS (%v)", kind, sel, d)
	case d.Type&0x8 == 0:
		return errUnsupported("task switch to a 16-bit TSS (%#x)", sel)
	case rule.NewBusy && d.Type != x86.TypeTSS32Busy:
		return tsFault(sel, "iret to task %#x, which is not busy", sel)
	case !rule.NewBusy && d.Type != x86.TypeTSS32Avail:
		return gpSel(sel, "task switch (%v) to busy task %#x", kind, sel)
	case !d.Present:
		return np(sel, "TSS %#x not present", sel)
	case d.Limit < x86.TSS32Size-1:
		return tsFault(sel, "TSS %#x limit %#x < %#x", sel, d.Limit, x86.TSS32Size-1)
	}
	old, oaddr, ok, err := m.lookup(m.v.TR)
	if err != nil {
		return err
	}
	if !ok || x86.SelTI(m.v.TR) || !old.IsTSS() || old.Type&0x8 == 0 {
		return errUnsupported("task switch (%v) with no 32-bit TSS loaded (TR %#x)", kind, m.v.TR)
	}
	if old.Limit < x86.TSSLDT-1 {
		return tsFault(m.v.TR, "the current TSS %#x is too short (limit %#x) to save the task", m.v.TR, old.Limit)
	}
	img, err := m.read(d.Base, x86.TSS32Size)
	if err != nil {
		return err
	}
	next := x86.DecodeTaskState(img)
	if next.EFLAGS&x86.FlagVM != 0 {
		return errUnsupported("task switch into virtual-8086 mode")
	}
	from, to := x86.SelRPL(m.cpu.Seg(CS).Sel), m.realCPL(next.Seg[CS])
	raising := !m.e.PassFlags && to < from
	if x86.SelNull(next.Seg[CS]) {
		return tsFault(0, "task %#x has a null CS", sel)
	}
	if raising && raise == nil {
		return errUnsupported("a task switch from real CPL %d into the task at CS %#x (real CPL %d): the substrate refuses to raise the privilege level by a register write", from, next.Seg[CS], to)
	}

	// Save the outgoing task.
	saved := x86.TaskState{EIP: saveEIP, EFLAGS: m.guestFlags()}
	if rule.SavedNTZero {
		saved.EFLAGS &^= x86.FlagNT
	}
	for i := range saved.GPR {
		saved.GPR[i] = m.cpu.Reg(Reg(i))
	}
	for i := range saved.Seg {
		saved.Seg[i] = m.guestSel(m.cpu.Seg(SegReg(i)).Sel)
	}
	if err := m.write(old.Base+x86.TSSEIP, saved.Dynamic()); err != nil {
		return err
	}
	if !rule.OldStays {
		if err := m.write(oaddr+5, []byte{byte(old.Raw>>40) &^ 2}); err != nil {
			return err
		}
	}
	if rule.Nest {
		var b [2]byte
		binary.LittleEndian.PutUint16(b[:], m.v.TR)
		if err := m.write(d.Base+x86.TSSLink, b[:]); err != nil {
			return err
		}
		next.EFLAGS |= x86.FlagNT
	}
	if !rule.NewBusy {
		if err := m.write(addr+5, []byte{byte(d.Raw>>40) | 2}); err != nil {
			return err
		}
	}

	// Load the incoming task: from here on a fault belongs to it.
	m.v.TR = sel
	if old := m.v.CR0; old&x86.CR0TS == 0 {
		m.v.CR0 |= x86.CR0TS
		m.e.P.CRWritten(0, old)
	}
	if m.v.CR0&x86.CR0PG != 0 {
		old := m.v.CR3
		m.v.CR3 = next.CR3
		m.e.P.CRWritten(3, old)
	}
	oldLDTR := m.v.LDTR
	m.v.LDTR = next.LDT
	ldtOK := x86.SelNull(next.LDT)
	if !ldtOK && !x86.SelTI(next.LDT) {
		ld, _, ok, err := m.lookup(next.LDT)
		if err != nil {
			return err
		}
		ldtOK = ok && !ld.S && ld.Type == x86.TypeLDT && ld.Present
	}
	m.e.P.TRLoaded()
	if next.LDT != oldLDTR {
		m.e.P.LDTLoaded()
	}
	for i, r := range next.GPR {
		m.cpu.SetReg(Reg(i), r)
	}
	m.setIF(next.EFLAGS&x86.FlagIF != 0)
	m.v.IOPL = x86.IOPL(next.EFLAGS)
	m.setRealFlags(next.EFLAGS, true, 0)
	if !ldtOK {
		return tsFault(next.LDT, "task %#x names LDT %#x, not an LDT descriptor", sel, next.LDT)
	}
	if raising {
		*raise = next
		return nil
	}
	return m.loadTaskSegs(next)
}

// loadTaskSegs loads CS, SS and the data segments of an incoming task,
// with the checks of a task switch (#TS for a bad selector).
func (m *emu) loadTaskSegs(next x86.TaskState) error {
	cs := next.Seg[CS]
	cpl := x86.SelRPL(cs)
	cd, caddr, ok, err := m.lookup(cs)
	switch {
	case err != nil:
		return err
	case !ok || !cd.IsCode():
		return tsFault(cs, "task CS %#x is not a code segment (%v)", cs, cd)
	case !cd.IsConforming() && cd.DPL != cpl, cd.IsConforming() && cd.DPL > cpl:
		return tsFault(cs, "task CS %#x: DPL %d, RPL %d", cs, cd.DPL, cpl)
	case !cd.Present:
		return np(cs, "task CS %#x not present", cs)
	}
	sd, saddr, err := m.ssDesc(next.Seg[SS], cpl)
	if err != nil {
		return asTS(err)
	}
	prev := m.v.CPL
	m.v.CPL = cpl
	if cd, err = m.setAccessed(cd, caddr); err != nil {
		return err
	}
	if err := m.loadReal(CS, cs, cd); err != nil {
		m.v.CPL = prev
		return err
	}
	if sd, err = m.setAccessed(sd, saddr); err != nil {
		return err
	}
	if err := m.loadReal(SS, next.Seg[SS], sd); err != nil {
		return err
	}
	for _, s := range []SegReg{ES, DS, FS, GS} {
		sel := next.Seg[s]
		if x86.SelNull(sel) {
			if err := m.cpu.LoadSeg(s, sel, x86.Descriptor{}); err != nil {
				return fmt.Errorf("%w: the CPU refused a null %v: %v", ErrUnsupported, s, err)
			}
			continue
		}
		d, addr, err := m.dataDesc(sel)
		if err != nil {
			return asTS(err)
		}
		if d, err = m.setAccessed(d, addr); err != nil {
			return err
		}
		if err := m.loadReal(s, sel, d); err != nil {
			return err
		}
	}
	m.next = next.EIP
	return nil
}

// ---- the VMM side ----

// deliverTask delivers vec through the task gate at that vector of the
// guest's IDT (tryReflect found one there).
func (t *VMM) deliverTask(vec uint8, code uint32, hasCode, soft bool, retEIP, pc uint32) *vmm.DeliveryFault {
	var raw [8]byte
	if err := t.ReadMem(t.V.IDTR.Base+uint32(vec)*8, raw[:]); err != nil {
		return &vmm.DeliveryFault{Vec: x86.VecGP, Code: uint32(vec)*8 + 2, Why: err.Error()}
	}
	gate := x86.Decode(raw[:])
	if soft && gate.DPL < t.V.CPL {
		return &vmm.DeliveryFault{Vec: x86.VecGP, Code: uint32(vec)*8 + 2, Why: fmt.Sprintf("int $%#x from virtual CPL %d through a DPL-%d task gate", vec, t.V.CPL, gate.DPL)}
	}
	t.cpu.pc = pc
	raise, f, err := t.emu.TaskGate(t.cpu, &t.V, gate.Selector, retEIP, code, hasCode)
	if err != nil {
		return &vmm.DeliveryFault{Vec: x86.VecTS, NotModelled: true, Why: fmt.Sprintf("task gate %#x: %v", vec, err)}
	}
	if f != nil {
		return &vmm.DeliveryFault{Vec: f.Vector, Code: f.Code, Why: "task switch: " + f.Why}
	}
	t.mirrorIF() // the new task's IF, where the real EFLAGS mirror it
	if raise != nil {
		return t.enterTask(vec, raise, retEIP, pc)
	}
	t.Complete(t.continueAt(t.cpu.pc))
	return nil
}

// enterTask enters the more privileged ring of a task TaskGate switched
// to: the machine's privilege-switch trampoline lands at the task's EIP on
// its own stack (named for the trampoline as the real TSS's ring-1 stack;
// the next event from user mode sets it again from the guest's TSS), and
// FinishTask loads the rest there.
func (t *VMM) enterTask(vec uint8, r *TaskRaise, retEIP, pc uint32) *vmm.DeliveryFault {
	st := r.State
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], st.GPR[ESP])
	binary.LittleEndian.PutUint32(b[4:], uint32(t.ShadowSelector(st.Seg[SS])))
	if err := t.OwnWrite(realTSSAddr+x86.TSSESP1, b[:]); err != nil {
		t.Fail(err)
		return nil
	}
	handler := st.EIP
	if t.Redirect != nil && st.Seg[CS]&3 != 3 {
		handler = t.Redirect(handler)
	}
	flags := t.Reg(unicorn.EFLAGS)
	return t.TransferTo(vmm.Transfer{
		Vector: vec, Handler: handler, TargetSel: t.ShadowSelector(st.Seg[CS]), Target: t.ShadowDescriptor(r.CS),
		FrameCS: uint32(st.Seg[CS]), FrameFlags: flags, RetEIP: retEIP, NewFlags: flags, EventPC: pc,
		Landed: func() {
			f, err := t.emu.FinishTask(t.cpu, &t.V, r)
			switch {
			case err != nil:
				t.Crash(pc, "delivering %s through a task gate: %v", x86.VectorName(vec), err)
			case f != nil:
				t.Crash(pc, "delivering %s through a task gate: the new task's %v (raised after the switch; not delivered)", x86.VectorName(vec), f)
			}
		},
	})
}

// taskIret reports the #TS the real CPU raises for the guest kernel's
// iret with NT set: it looks for the back link in the VMM's TSS, which
// has none, so the VMM emulates the return to the guest's previous task.
func (t *VMM) taskIret(tr vmm.Trap) bool {
	if tr.Vector != x86.VecTS || tr.Soft || t.V.CPL != 0 || t.Reg(unicorn.EFLAGS)&x86.FlagNT == 0 {
		return false
	}
	inst, err := t.Decode(tr.PC)
	return err == nil && (inst.Op == x86asm.IRET || inst.Op == x86asm.IRETD)
}
