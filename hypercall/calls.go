package hypercall

import (
	"encoding/binary"
	"fmt"

	"virtsim/trap"
	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// The hypercalls. Each one validates its arguments against the guest's
// memory and descriptor tables and returns an error code instead of
// touching anything it should not: a hypercall never crashes the VMM.

// What the VMM does after a hypercall.
const (
	waitNone  = iota
	waitBlock // sched_op block: unmask events, wait for one, deliver it
	waitHalt  // sched_op halt: wait for an event, mask unchanged
)

// outcome is the result of one hypercall.
type outcome struct {
	ret    uint32 // EAX
	cause  string // the event cause it is recorded under
	edx    uint32 // io_in's value
	setEDX bool
	wait   int
}

func ok(cause string) outcome               { return outcome{cause: cause} }
func refused(cause string, e Errno) outcome { return outcome{ret: e.Ret(), cause: cause} }

// Event causes. A hypercall that does exactly what one native instruction
// does is recorded under that instruction's cause (io/out:0x80, priv/lgdt,
// priv/mov-cr0, hlt, ...) with mechanism hypercall, so that tables compare
// row by row with trap's traps; the others are hypercall/NAME.
const (
	causeSetCallbacks = "hypercall/set_callbacks"
	causeStackSwitch  = "hypercall/stack_switch"
	causeMulticall    = "hypercall/multicall"
	causeConsole      = "hypercall/console_io:write"
	causeConsoleOther = "hypercall/console_io"
	causeIret         = "hypercall/iret"
	causeMMUExt       = "hypercall/mmuext_op"
	causeTLBFlush     = "hypercall/mmuext_op:tlb_flush_local"
	causeSched        = "hypercall/sched_op"
	causeYield        = "hypercall/sched_op:yield"
	causeBlock        = "hypercall/sched_op:block"
	causeShutdown     = "hypercall/sched_op:shutdown"
	causeEventCheck   = "hypercall/event_check"
	causeUnknown      = "hypercall/unknown"
)

// maxGuestGDT is the number of GDT entries a guest may have: trap keeps the
// top three of the 8192 for the VMM (its TSS, its code segment, the
// machine's call-gate slot).
const maxGuestGDT = 8189

// hypercall handles an `int $0x82` from the guest kernel: number in EAX,
// arguments in EBX, ECX, EDX, ESI, EDI, result in EAX.
func (p *VMM) hypercall(tr vmm.Trap) {
	m := p.Machine
	nr := m.Reg(unicorn.EAX)
	var a [6]uint32
	for i, r := range []unicorn.Reg{unicorn.EBX, unicorn.ECX, unicorn.EDX, unicorn.ESI, unicorn.EDI} {
		a[i] = m.Reg(r)
	}
	p.callPC = p.callSite(tr.PC)
	if nr == HcIret {
		p.iret(tr.RetEIP)
		return
	}
	out := p.call(nr, a, false)
	m.Record(out.cause, vmm.MechHypercall, p.callPC)
	m.SetReg(unicorn.EAX, out.ret)
	if out.setEDX {
		m.SetReg(unicorn.EDX, out.edx)
	}
	if m.Stopped().Kind != vmm.StopNone {
		m.Complete(tr.RetEIP)
		return
	}
	switch out.wait {
	case waitBlock:
		p.setMask(false)
		p.wait(tr.RetEIP)
	case waitHalt:
		p.wait(tr.RetEIP)
	default:
		p.leave(tr.RetEIP)
		p.armFast(tr.PC, nr, a, out)
	}
}

// callSite is the guest's `call` of the stub whose `int $0x82` is at pc:
// where the event log should point. A hypercall made some other way is
// reported at the int itself.
func (p *VMM) callSite(pc uint32) uint32 {
	if pc < HypercallPage || pc >= HypercallPage+PageSize {
		return pc
	}
	var b [4]byte
	if err := p.ReadMem(p.Reg(unicorn.ESP), b[:]); err != nil {
		return pc
	}
	ret := binary.LittleEndian.Uint32(b[:])
	var op [1]byte
	if ret < 5 || p.ReadMem(ret-5, op[:]) != nil || op[0] != 0xE8 {
		return pc
	}
	return ret - 5
}

// call runs hypercall nr with arguments a. nested: inside a multicall,
// where calls that do not return (iret, block, halt) and multicall itself
// are refused.
func (p *VMM) call(nr uint32, a [6]uint32, nested bool) outcome {
	switch nr {
	case HcSetTrapTable:
		return p.setTrapTable(a[0])
	case HcSetGDT:
		return p.setGDT(a[0])
	case HcStackSwitch:
		return p.stackSwitch(a[0], a[1])
	case HcSetCallbacks:
		return p.setCallbacks(a[0], a[1])
	case HcMulticall:
		if nested {
			return refused(causeMulticall, EINVAL)
		}
		return p.multicall(a[0], a[1])
	case HcConsoleIO:
		return p.consoleIO(a[0], a[1], a[2])
	case HcIret:
		return refused(causeIret, EINVAL) // only at top level (hypercall)
	case HcMMUExtOp:
		return p.mmuextOp(a[0], a[1])
	case HcSchedOp:
		return p.schedOp(a[0], a[1], nested)
	case HcIOOut:
		return p.ioOut(a[0], a[1], a[2])
	case HcIOIn:
		return p.ioIn(a[0], a[1])
	case HcSetCR0:
		return p.setCR0(a[0])
	case HcEventCheck:
		return ok(causeEventCheck)
	case HcMMUUpdate:
		return p.mmuUpdate(a[0], a[1])
	case HcSetCR4:
		return p.setCR4(a[0])
	case HcEvtchnOp:
		return p.evtchnOp(a[0], a[1])
	case HcBlkifConnect:
		return p.blkifConnect(a[0])
	}
	return refused(causeUnknown, ENOSYS)
}

// ---- guest memory, bounds-checked ----

// guestRange checks that [addr, addr+n) lies in guest RAM: a hypercall
// never reads or writes the VMM's own memory for the guest.
func (p *VMM) guestRange(addr, n uint32) bool {
	mem := p.Cfg.MemSize
	return n <= mem && addr <= mem-n
}

func (p *VMM) readGuest(addr, n uint32) ([]byte, bool) {
	if !p.guestRange(addr, n) {
		return nil, false
	}
	b := make([]byte, n)
	if err := p.ReadMem(addr, b); err != nil {
		return nil, false
	}
	return b, true
}

func (p *VMM) writeGuest(addr uint32, b []byte) bool {
	if !p.guestRange(addr, uint32(len(b))) {
		return false
	}
	return p.WriteMem(addr, b) == nil
}

// readDTR reads a 6-byte pseudo-descriptor {limit16, base32}.
func (p *VMM) readDTR(ptr uint32) (trap.DTR, bool) {
	b, ok := p.readGuest(ptr, 6)
	if !ok {
		return trap.DTR{}, false
	}
	return trap.DTR{Limit: binary.LittleEndian.Uint16(b), Base: binary.LittleEndian.Uint32(b[2:])}, true
}

// ---- descriptor tables, stacks, callbacks ----

// setTrapTable registers the guest's IDT as its trap table. Bounced
// exceptions read their gates from it at delivery (the guest may fill
// entries afterwards, as with the IDTR); the system-call gate is copied into
// the real IDT now if it is ready, else when the first system call reaches
// the VMM. Changing an installed system-call gate needs another
// set_trap_table.
func (p *VMM) setTrapTable(ptr uint32) outcome {
	const cause = "priv/lidt"
	d, good := p.readDTR(ptr)
	if !good {
		return refused(cause, EFAULT)
	}
	if d.Limit > 256*8-1 {
		return refused(cause, EINVAL)
	}
	if !p.guestRange(d.Base, uint32(d.Limit)+1) {
		return refused(cause, EFAULT)
	}
	p.V.IDTR = d
	var b [6]byte
	putDTR(b[:], d)
	p.siWrite(SIIDTR, b[:])
	p.syncSyscallGate()
	return ok(cause)
}

// setGDT registers the guest's GDT: validated (it fits beside the VMM's
// entries, lies in guest RAM, holds no gates: a call gate could lead into
// the VMM's own code segment), then shadowed into the real GDT with DPL 0
// compressed to 1.
func (p *VMM) setGDT(ptr uint32) outcome {
	const cause = "priv/lgdt"
	d, good := p.readDTR(ptr)
	if !good {
		return refused(cause, EFAULT)
	}
	n := (uint32(d.Limit) + 1) / 8
	if n > maxGuestGDT {
		return refused(cause, EINVAL)
	}
	raw, good := p.readGuest(d.Base, uint32(d.Limit)+1)
	if !good {
		return refused(cause, EFAULT)
	}
	for i := uint32(1); i < n; i++ {
		e := x86.Decode(raw[i*8:])
		if e.Present && e.IsGate() {
			return refused(cause, EINVAL)
		}
	}
	p.V.GDTR = d
	p.GDTLoaded()
	var b [6]byte
	putDTR(b[:], d)
	p.siWrite(SIGDTR, b[:])
	return ok(cause)
}

// stackSwitch sets the kernel stack for entries from user mode: the real
// TSS's SS1:ESP1 (the guest's kernel ring is ring 1). ss must be a
// writable kernel data segment of the guest's GDT.
func (p *VMM) stackSwitch(ss, esp uint32) outcome {
	if ss > 0xFFFF || x86.SelIndex(uint16(ss)) == 0 || x86.SelRPL(uint16(ss))&2 != 0 {
		return refused(causeStackSwitch, EINVAL)
	}
	d, err := p.GuestDescriptor(uint16(ss))
	if err != nil || !d.IsWritableData() || !d.Present || d.DPL != 0 {
		return refused(causeStackSwitch, EINVAL)
	}
	tr, err := p.E.MMR(unicorn.TR)
	if err != nil {
		p.Fail(fmt.Errorf("pv: read TR: %w", err))
		return refused(causeStackSwitch, EINVAL)
	}
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], esp)
	binary.LittleEndian.PutUint32(b[4:], uint32(p.ShadowSelector(uint16(ss)&^3)))
	if err := p.WriteMem(tr.Base+x86.TSSESP1, b[:]); err != nil {
		p.Fail(err)
		return refused(causeStackSwitch, EINVAL)
	}
	p.stackSet = true
	return ok(causeStackSwitch)
}

// setCallbacks registers the event callback: cs a kernel code segment of
// the guest's GDT (RPL 0 or the real RPL 1), eip in guest RAM.
func (p *VMM) setCallbacks(cs, eip uint32) outcome {
	if cs > 0xFFFF || x86.SelIndex(uint16(cs)) == 0 || x86.SelRPL(uint16(cs)) > 1 {
		return refused(causeSetCallbacks, EINVAL)
	}
	d, err := p.GuestDescriptor(uint16(cs))
	if err != nil || !d.IsCode() || !d.Present || d.DPL != 0 {
		return refused(causeSetCallbacks, EINVAL)
	}
	if !p.guestRange(eip, 1) {
		return refused(causeSetCallbacks, EFAULT)
	}
	p.callbackSel, p.callbackEIP = uint16(cs)&^3, eip
	return ok(causeSetCallbacks)
}

// ---- batching ----

// multicall runs count entries {op, result, args[6]} at ptr in one exit and
// writes each result back; io_in leaves its value in args[2]. The entries
// are counted as multicall/NAME, beside the one exit.
func (p *VMM) multicall(ptr, count uint32) outcome {
	if count > MaxMulticall {
		return refused(causeMulticall, EINVAL)
	}
	raw, good := p.readGuest(ptr, count*MulticallEntrySize)
	if !good {
		return refused(causeMulticall, EFAULT)
	}
	for i := uint32(0); i < count; i++ {
		e := raw[i*MulticallEntrySize:]
		op := binary.LittleEndian.Uint32(e)
		var a [6]uint32
		for j := range a {
			a[j] = binary.LittleEndian.Uint32(e[8+4*j:])
		}
		out := p.call(op, a, true)
		name := CallName(op)
		if name == "" {
			name = "unknown"
		}
		p.counters["multicall/"+name]++
		at := ptr + i*MulticallEntrySize
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], out.ret)
		if !p.writeGuest(at+4, b[:]) {
			return refused(causeMulticall, EFAULT)
		}
		if out.setEDX {
			binary.LittleEndian.PutUint32(b[:], out.edx)
			if !p.writeGuest(at+8+8, b[:]) {
				return refused(causeMulticall, EFAULT)
			}
		}
		if p.Stopped().Kind != vmm.StopNone {
			break
		}
	}
	return ok(causeMulticall)
}

// ---- console ----

// consoleIO writes count bytes at buf to the console (the COM1 model) in
// one exit: what natively costs two port accesses per byte. Returns count.
func (p *VMM) consoleIO(cmd, count, buf uint32) outcome {
	switch cmd {
	case ConsoleIOWrite:
	case 1: // CONSOLEIO_read: there is no console input
		return refused(causeConsoleOther, ENOSYS)
	default:
		return refused(causeConsoleOther, EINVAL)
	}
	if count > MaxConsoleWrite {
		return refused(causeConsole, EINVAL)
	}
	b, good := p.readGuest(buf, count)
	if !good {
		return refused(causeConsole, EFAULT)
	}
	p.ConsoleWrite(p.callPC, b)
	return outcome{ret: count, cause: causeConsole}
}

// ---- the MMU (for the paging step) ----

// mmuextOp: new_baseptr validates and records a page-directory base (the
// virtual CR3, published at SICR3); with paging not yet virtualized the
// VMM only keeps it. tlb_flush_local and invlpg_local are counted.
func (p *VMM) mmuextOp(cmd, arg uint32) outcome {
	switch cmd {
	case MMUExtNewBaseptr:
		const cause = "priv/mov-cr3"
		if arg&0xFFF != 0 {
			return refused(cause, EINVAL)
		}
		if !p.guestRange(arg, PageSize) {
			return refused(cause, EFAULT)
		}
		prev := p.V.CR3
		p.V.CR3 = arg
		if p.pg.on {
			if e := p.loadCR3(); e != 0 {
				p.V.CR3 = prev
				return refused(cause, e)
			}
		}
		p.pg.cr3Set = true
		p.siPut32(SICR3, arg)
		p.counters["tlb-flushes"]++
		return ok(cause)
	case MMUExtTLBFlushLocal:
		p.counters["tlb-flushes"]++
		if p.pg.on {
			p.flushTLB()
		}
		return ok(causeTLBFlush)
	case MMUExtInvlpgLocal:
		p.counters["invlpg"]++
		if p.pg.on {
			p.flushTLB()
		}
		return ok(causeInvlpg)
	}
	return refused(causeMMUExt, EINVAL)
}

// ---- port I/O ----

// ioPort checks an I/O hypercall's port and size.
func ioPort(port, size uint32) bool {
	return (size == 1 || size == 2 || size == 4) && port <= 0xFFFF && port+size-1 <= 0xFFFF
}

// ioOut writes a port of the virtual devices, as an `out` would (a write of
// v to the debug-exit port stops the VM with status v).
func (p *VMM) ioOut(port, size, v uint32) outcome {
	if !ioPort(port, size) {
		return refused("hypercall/io_out", EINVAL)
	}
	p.DeviceOut(p.callPC, uint16(port), int(size), v)
	return ok(vmm.CauseOut(uint16(port)))
}

// ioIn reads a port: the value in EDX, zero-extended, EAX = 0.
func (p *VMM) ioIn(port, size uint32) outcome {
	if !ioPort(port, size) {
		return refused("hypercall/io_in", EINVAL)
	}
	v := p.DeviceIn(uint16(port), int(size))
	return outcome{cause: vmm.CauseIn(uint16(port)), edx: v, setEDX: true}
}

// setCR0 validates and records CR0: protected mode stays on, no reserved
// bits, NW only with CD; PG starts direct paging (paging.go) once the
// guest's directory validates, and stays on.
// (CR0.TS and friends are recorded, not applied: no workload uses the FPU.)
func (p *VMM) setCR0(v uint32) outcome {
	const cause = "priv/mov-cr0"
	const allowed = x86.CR0PE | x86.CR0MP | x86.CR0EM | x86.CR0TS | x86.CR0ET | x86.CR0NE |
		x86.CR0WP | x86.CR0AM | x86.CR0NW | x86.CR0CD | x86.CR0PG
	switch {
	case v&^allowed != 0, v&x86.CR0PE == 0, v&x86.CR0NW != 0 && v&x86.CR0CD == 0:
		return refused(cause, EINVAL)
	case v&x86.CR0PG == 0 && p.pg.on:
		return refused(cause, EINVAL) // a paging PV guest stays paging (as on Xen)
	case v&x86.CR0PG != 0 && !p.pg.on:
		prev := p.V.CR0
		p.V.CR0 = v | x86.CR0ET
		if e := p.startPaging(); e != 0 {
			p.V.CR0 = prev
			return refused(cause, e)
		}
	}
	p.V.CR0 = v | x86.CR0ET
	p.siPut32(SICR0, p.V.CR0)
	return ok(cause)
}

// ---- scheduling ----

func (p *VMM) schedOp(cmd, arg uint32, nested bool) outcome {
	switch cmd {
	case SchedYield:
		return ok(causeYield)
	case SchedBlock:
		if nested {
			return refused(causeBlock, EINVAL)
		}
		return outcome{cause: causeBlock, wait: waitBlock}
	case SchedHalt:
		if nested {
			return refused(vmm.CauseHLT, EINVAL)
		}
		return outcome{cause: vmm.CauseHLT, wait: waitHalt}
	case SchedShutdown:
		p.Halt(vmm.Stop{Kind: vmm.StopExit, Status: arg & 0xFF, PC: p.callPC})
		return ok(causeShutdown)
	}
	return refused(causeSched, EINVAL)
}

// wait blocks the guest until an event arrives and delivers it with return
// address next (the stub's ret): hlt for a paravirtual kernel. With events
// masked, or nothing that could ever raise one, the guest would sleep
// forever: the run ends, as for a hlt with IF=0.
func (p *VMM) wait(next uint32) {
	m := p.Machine
	stop := func(reason string) {
		m.Halt(vmm.Stop{Kind: vmm.StopHalted, Reason: reason, PC: p.callPC, Insn: "sched_op"})
	}
	switch {
	case p.masked():
		stop("sched_op halt with events masked: the guest would sleep forever")
		return
	case p.callbackSel == 0:
		stop("sched_op block with no event callback registered (set_callbacks): no event can ever be delivered")
		return
	}
	if p.PendingIRQ() {
		p.leave(next)
		return
	}
	if reason := m.WaitForInterrupt(); reason != "" {
		stop(reason)
		return
	}
	// The timer's interrupt is pending at the PIC: the machine delivers it
	// through the real IDT, back into onTrap, as an upcall of this exit.
	p.inExit = true
	m.DeliverPendingIRQ(next)
	p.inExit = false
}

// iret is the iret hypercall, made by PV_IRET when it unmasked events with
// one pending. The stack holds the call's return address, the saved EAX and
// the iret frame. The VMM restores EAX, drops both words and resumes the
// guest at an iret instruction in the hypercall page, delivering the
// pending event first: the handler returns to that iret, which then
// performs the guest's own. It never returns to its caller; bad arguments
// return an error there (and PV_IRET's ud2 reports it).
func (p *VMM) iret(retEIP uint32) {
	m := p.Machine
	esp := m.Reg(unicorn.ESP)
	b, good := p.readGuest(esp, 8+12)
	if !good {
		m.Record(causeIret, vmm.MechHypercall, p.callPC)
		m.SetReg(unicorn.EAX, EFAULT.Ret())
		p.leave(retEIP)
		return
	}
	eax := binary.LittleEndian.Uint32(b[4:])
	cs := binary.LittleEndian.Uint32(b[12:])
	flags := binary.LittleEndian.Uint32(b[16:])
	if rpl := cs & 3; cs > 0xFFFF || rpl == 0 || rpl == 2 {
		m.Record(causeIret, vmm.MechHypercall, p.callPC)
		m.SetReg(unicorn.EAX, EINVAL.Ret())
		p.leave(retEIP)
		return
	}
	m.Record(causeIret, vmm.MechHypercall, p.callPC)
	m.SetReg(unicorn.EAX, eax)
	m.SetReg(unicorn.ESP, esp+8)
	p.setMask(flags&x86.FlagIF == 0)
	p.leave(iretAt)
}
