package vmm

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/guest"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// Precise port I/O.
//
// Unicorn never faults on in/out and calls its IN/OUT hook with a stale EIP
// (the start of the translated block); after a stop or an EIP write in that
// hook the rest of the block still runs (SUBSTRATE.md). A device that stops
// the VM, or a VMM that must see the exact instruction, needs better. So the
// machine finds I/O instructions by decoding guest code — a linear sweep of
// every loaded segment at boot — and puts a code hook on each one address.
// A code hook limited to one address costs nothing anywhere else; at the
// site it runs before the instruction, so the machine emulates the
// instruction there and moves EIP past it: precise to the instruction.
//
// I/O the sweep missed (code written at run time, or hidden behind data
// the sweep misread) still reaches Unicorn's IN/OUT hook. That safety net
// decodes the block to find the site and hooks it, so the next execution
// is precise, and counts the access as imprecise. It performs an access
// the I/O permission check allows; one it denies (user code's in/out in a
// program loaded at run time) it does not perform, and rewinds to the
// instruction instead, where the new site hook raises #GP (safetyNet).

// IOAccess is one decoded port-I/O instruction.
type IOAccess struct {
	PC, Next uint32
	Port     uint16
	Size     int  // 1, 2 or 4 bytes per element
	In       bool // in/ins (else out/outs)
	String   bool // ins/outs
	Rep      bool
	Inst     x86asm.Inst
}

// Cause is the event cause of the access.
func (a *IOAccess) Cause() string {
	if a.In {
		return CauseIn(a.Port)
	}
	return CauseOut(a.Port)
}

func isIOOp(op x86asm.Op) bool {
	switch op {
	case x86asm.IN, x86asm.OUT, x86asm.INSB, x86asm.INSW, x86asm.INSD,
		x86asm.OUTSB, x86asm.OUTSW, x86asm.OUTSD:
		return true
	}
	return false
}

// sweepIOSites decodes code linearly and remembers every I/O instruction.
func (m *Machine) sweepIOSites(addr uint32, code []byte) {
	for off := 0; off < len(code); {
		inst, err := x86asm.Decode(code[off:], 32)
		if err != nil || inst.Len == 0 {
			off++
			continue
		}
		if isSiteOp(inst.Op) || isDebugRegMove(inst) || isSMSWReg32(inst) {
			m.ioSites[addr+uint32(off)] = true
		}
		if LosesFlagsMidBlock(inst.Op) {
			m.syncSites = append(m.syncSites, addr+uint32(off))
		}
		off += inst.Len
	}
}

// LosesFlagsMidBlock reports the instructions that need the flags' pending
// (lazily computed) state stored before them, which Unicorn 2.1.1 (QEMU
// 5.0's translator) does not do when they sit in the middle of a block
// after an instruction that set the flags: loope and loopne, when they end
// a loop by ECX reaching 0, and cmpxchg8b, whose helper computes the flags
// it keeps from that stale state. The next reader of EFLAGS then gets
// garbage (TF included). A counting pass stores that state before every
// instruction; an uninstrumented run computed other flags than the
// counting pass and QEMU (difftest's branch and misc families). The
// machine puts a C no-op code hook on each such instruction of the image
// (Engine.HookFlagsSync: before any code hook Unicorn stores the flags);
// code loaded at run time is not swept. bt starts a Unicorn block at each
// one it translates, and is not affected.
func LosesFlagsMidBlock(op x86asm.Op) bool {
	return op == x86asm.LOOPE || op == x86asm.LOOPNE || op == x86asm.CMPXCHG8B
}

// isSiteOp: instructions the machine handles at a code hook on their
// address — port I/O (precise devices), hlt (deterministic time skip) and
// sysenter (which Unicorn does not perform: sysenter.go); debug-register
// moves are sites too (isDebugRegMove, debugreg.go).
func isSiteOp(op x86asm.Op) bool {
	return isIOOp(op) || op == x86asm.HLT || op == x86asm.SYSENTER || op == x86asm.RDMSR || op == x86asm.WRMSR
}

// addSite hooks a site found at run time and drops its cached translation.
func (m *Machine) addSite(pc uint32) {
	if m.ioSites[pc] {
		return
	}
	m.ioSites[pc] = true
	if err := m.hookSite(pc); err != nil {
		m.fail(err)
		return
	}
	if m.counterServes(pc) {
		return // the counter instruments every instruction already
	}
	if err := m.DropTranslations(uint64(pc), uint64(pc)+1); err != nil {
		m.fail(err)
	}
}

// hookSite makes the machine get control before the instruction at pc.
//
// Unicorn's code-hook helper walks every code hook for every instruction
// it instruments. In a counting pass the counter instruments every guest
// instruction, so a site as a code hook of its own would cost every
// instruction one more list step: with the hundreds of I/O sites of a
// large kernel, guest code ran a thousand times slower. There the counter
// serves the site from its C table instead (one bit test per instruction).
// Without a counter only the sites are instrumented, and a code hook on
// each one address costs nothing elsewhere.
func (m *Machine) hookSite(pc uint32) error {
	if m.counterServes(pc) {
		if err := m.counter.AddSite(pc); err != nil {
			return fmt.Errorf("vmm: I/O site: %w", err)
		}
		return nil
	}
	if _, err := m.E.HookCodeEager(uint64(pc), uint64(pc), m.onIOSite); err != nil {
		return fmt.Errorf("vmm: hook I/O site %#x: %w", pc, err)
	}
	return nil
}

// counterServes reports whether the machine's instruction counter covers
// pc: it then both syncs EIP before the instruction (so EIP is exact
// there) and serves the machine's sites.
func (m *Machine) counterServes(pc uint32) bool { return m.counter != nil && pc < VMMBase }

// decodeIO decodes an I/O instruction at pc. ok is false if the bytes at pc
// are not an I/O instruction (a site whose code was overwritten).
func (m *Machine) decodeIO(pc uint32) (a IOAccess, ok bool) {
	inst, err := m.Decode(pc)
	if err != nil || !isIOOp(inst.Op) {
		return a, false
	}
	a = IOAccess{PC: pc, Next: pc + uint32(inst.Len), Inst: inst}
	for _, p := range inst.Prefix {
		if p == 0 {
			break
		}
		if p&0xFF == 0xF3 || p&0xFF == 0xF2 {
			a.Rep = true
		}
	}
	switch inst.Op {
	case x86asm.INSB, x86asm.OUTSB:
		a.Size, a.String = 1, true
	case x86asm.INSW, x86asm.OUTSW:
		a.Size, a.String = 2, true
	case x86asm.INSD, x86asm.OUTSD:
		a.Size, a.String = 4, true
	}
	a.In = inst.Op == x86asm.IN || inst.Op == x86asm.INSB || inst.Op == x86asm.INSW || inst.Op == x86asm.INSD
	if !a.String {
		// in %dx/imm8, %al|%ax|%eax  /  out %al|%ax|%eax, %dx/imm8 (Intel operand order in x86asm)
		var data, port x86asm.Arg
		if a.In {
			data, port = inst.Args[0], inst.Args[1]
		} else {
			port, data = inst.Args[0], inst.Args[1]
		}
		switch data {
		case x86asm.AL:
			a.Size = 1
		case x86asm.AX:
			a.Size = 2
		default:
			a.Size = 4
		}
		if imm, isImm := port.(x86asm.Imm); isImm {
			a.Port = uint16(imm)
		} else {
			a.Port = uint16(m.reg(unicorn.EDX))
		}
	} else {
		a.Port = uint16(m.reg(unicorn.EDX))
	}
	return a, true
}

// onIOSite runs before an I/O or hlt instruction found by the sweep.
func (m *Machine) onIOSite(addr uint64, size uint32) {
	if m.rewind.pending {
		return // the rest of a block being rewound: its effects are undone (safetyNet)
	}
	pc := uint32(addr)
	var op [2]byte
	if err := m.ReadMem(pc, op[:]); err == nil && op[0] == 0x0F && op[1] == 0x34 {
		m.onSysenter(pc)
		return
	}
	if op[0] == 0x0F && (op[1] == 0x32 || op[1] == 0x30) {
		m.msrSite(pc, op[1] == 0x30) // rdmsr, wrmsr (msr.go); else Unicorn runs it
		return
	}
	if op[0] == 0x0F && op[1] == 0x01 {
		m.smswSite(pc)
		return
	}
	if err := m.ReadMem(pc, op[:1]); err == nil && op[0] == 0xF4 {
		if m.reg(unicorn.CS)&3 != 0 {
			m.deliverException(x86.VecGP, 0, pc) // hlt is privileged
			return
		}
		m.onHlt(pc)
		return
	}
	// The access lives in the machine (a hook's &a would escape to the
	// heap: one allocation per exit).
	a := &m.ioAccess
	var ok bool
	if *a, ok = m.decodeIO(pc); !ok {
		m.onDebugRegSite(pc) // a debug-register move, or code that changed: let it run
		return
	}
	if m.OnGuestIO != nil && m.OnGuestIO(a) {
		return
	}
	// The I/O permission check Unicorn leaves out: CPL <= IOPL, or the
	// TSS I/O bitmap allows every byte of the access.
	if !m.ioAllowed(a.Port, a.Size) {
		m.deliverException(x86.VecGP, 0, pc)
		return
	}
	m.PerformIO(a, MechMachine)
	m.CompleteIO(a.Next)
}

// CompleteIO finishes an I/O instruction: the PIT may have a new deadline
// and the PIC a new request, which is delivered right after the
// instruction if IF allows.
func (m *Machine) CompleteIO(next uint32) {
	m.schedule()
	if m.PendingIRQ() && m.stop.Kind == StopNone {
		if m.interruptsOpen() {
			m.deliverIRQ(next)
			return
		}
		if m.VirtualIF == nil {
			m.waitForIF()
		}
	}
	m.Complete(next)
}

// PerformIO executes an I/O instruction against the device bus and the
// registers, records its event, and stops the VM if the debug-exit port
// was written. The caller moves EIP (Complete).
func (m *Machine) PerformIO(a *IOAccess, mech Mechanism) {
	m.Record(a.Cause(), mech, a.PC)
	m.Sync()
	if !a.String {
		if a.In {
			v := m.Bus.In(a.Port, a.Size)
			m.armClock(a.Port) // a read of the PM timer starts the clock
			old := m.reg(unicorn.EAX)
			m.setReg(unicorn.EAX, old&^sizeMask(a.Size)|v&sizeMask(a.Size))
		} else {
			m.Bus.Out(a.Port, a.Size, m.reg(unicorn.EAX))
			m.armClock(a.Port)
		}
	} else {
		m.stringIO(a)
	}
	m.checkDebugExit(a.PC)
}

// stringIO performs ins/outs, with a rep prefix as a loop over ECX: outs
// reads DS:ESI (or the segment of an override prefix), ins writes ES:EDI,
// at the segment's base; with a 0x67 prefix SI, DI and CX (16-bit
// addressing, their high halves untouched).
func (m *Machine) stringIO(a *IOAccess) {
	idx, seg := unicorn.ESI, unicorn.DS
	if a.In {
		idx, seg = unicorn.EDI, unicorn.ES
	} else if s, ok := stringSeg(a.Inst); ok {
		seg = s
	}
	mask := uint32(0xFFFFFFFF)
	if a.Inst.AddrSize == 16 {
		mask = 0xFFFF
	}
	count := uint32(1)
	if a.Rep {
		count = m.reg(unicorn.ECX) & mask
	}
	step := int32(a.Size)
	if m.reg(unicorn.EFLAGS)&x86.FlagDF != 0 {
		step = -step
	}
	base := m.segBase(uint16(m.reg(seg)))
	full := m.reg(idx)
	ptr := full & mask
	start, done := base+ptr, uint32(0)
	buf := make([]byte, 4)
	for ; count > 0; count-- {
		lin := base + ptr
		if a.In {
			binary.LittleEndian.PutUint32(buf, m.Bus.In(a.Port, a.Size))
			if err := m.insnIO(lin, buf[:a.Size], true); err != nil {
				m.Crash(a.PC, "ins: write %d bytes at %#x: %v", a.Size, lin, err)
				return
			}
		} else {
			clear(buf)
			if err := m.insnIO(lin, buf[:a.Size], false); err != nil {
				m.Crash(a.PC, "outs: read %d bytes at %#x: %v", a.Size, lin, err)
				return
			}
			m.Bus.Out(a.Port, a.Size, binary.LittleEndian.Uint32(buf)&sizeMask(a.Size))
		}
		ptr = (ptr + uint32(step)) & mask
		done++
		if m.Exit.Written {
			count--
			break
		}
	}
	if a.In {
		// the device's data: code translated from there is stale (dma.go)
		if lo, n := stringRange(start, done, int32(a.Size), step); n > 0 {
			if err := m.DeviceWroteLinear(lo, n); err != nil {
				m.fail(err)
			}
		}
	}
	m.setReg(idx, full&^mask|ptr)
	if a.Rep {
		m.setReg(unicorn.ECX, m.reg(unicorn.ECX)&^mask|count)
	}
}

// stringSeg is the segment register of outs's source operand (DS unless a
// prefix overrides it).
func stringSeg(inst x86asm.Inst) (unicorn.Reg, bool) {
	for _, arg := range inst.Args {
		if mem, ok := arg.(x86asm.Mem); ok && mem.Segment != 0 {
			r, ok := stringSegRegs[mem.Segment]
			return r, ok
		}
	}
	return 0, false
}

var stringSegRegs = map[x86asm.Reg]unicorn.Reg{
	x86asm.ES: unicorn.ES, x86asm.CS: unicorn.CS, x86asm.SS: unicorn.SS,
	x86asm.DS: unicorn.DS, x86asm.FS: unicorn.FS, x86asm.GS: unicorn.GS,
}

// DeviceIn reads a port for a VMM that emulates an I/O instruction.
func (m *Machine) DeviceIn(port uint16, size int) uint32 {
	m.Sync()
	m.armClock(port)
	return m.Bus.In(port, size)
}

// DeviceOut writes a port for a VMM that emulates an I/O instruction; a
// write to the debug-exit port stops the VM after the instruction.
func (m *Machine) DeviceOut(pc uint32, port uint16, size int, v uint32) {
	m.Sync()
	m.Bus.Out(port, size, v)
	m.armClock(port)
	m.checkDebugExit(pc)
}

// ConsoleWrite writes b to COM1 for a VMM that performs a guest's console
// output itself (a paravirtual console hypercall at pc), then stops the VM
// where a port write would (the debug-exit port, --until-output).
func (m *Machine) ConsoleWrite(pc uint32, b []byte) {
	for _, c := range b {
		m.Serial.Out(guest.PortCOM1, 1, uint32(c))
	}
	m.checkDebugExit(pc)
}

func (m *Machine) checkDebugExit(pc uint32) {
	if m.Exit.Written && m.stop.Kind == StopNone {
		m.Halt(Stop{Kind: StopExit, Status: m.Exit.Status, PC: pc})
	}
	if why, ok := m.ResetRequested(); ok && m.stop.Kind == StopNone {
		m.Crash(pc, "%s", why)
	}
	if why, ok := m.ExitReason(); ok && m.stop.Kind == StopNone {
		m.Halt(Stop{Kind: StopExit, Reason: why, PC: pc})
	}
}

// CauseSystemReset begins the stop reason of a guest that reset the
// machine (the keyboard controller's reset line, port 0x92): QEMU resets
// the PC, or with -no-reboot stops, as it does on a triple fault.
const CauseSystemReset = "system reset"

// untilOutput watches the guest's serial output for Config.UntilOutput.
type untilOutput struct {
	want []byte
	tail []byte // the last len(want) bytes written
	hit  bool
	next func(byte)
}

func (u *untilOutput) write(b byte) {
	if len(u.tail) == len(u.want) {
		copy(u.tail, u.tail[1:])
		u.tail = u.tail[:len(u.tail)-1]
	}
	u.tail = append(u.tail, b)
	if !u.hit && string(u.tail) == string(u.want) {
		u.hit = true
	}
	if u.next != nil {
		u.next(b)
	}
}

// ioAllowed applies the protected-mode I/O permission rule.
func (m *Machine) ioAllowed(port uint16, size int) bool {
	cpl := uint8(m.reg(unicorn.CS) & 3)
	if cpl <= x86.IOPL(m.reg(unicorn.EFLAGS)) {
		return true
	}
	tr, err := m.E.MMR(unicorn.TR)
	if err != nil || tr.Limit < 0x67 {
		return false
	}
	var base [2]byte
	if err := m.cpuRead(tr.Base+102, base[:]); err != nil {
		return false
	}
	bitmap := uint32(binary.LittleEndian.Uint16(base[:]))
	for p := uint32(port); p < uint32(port)+uint32(size); p++ {
		byteOff := bitmap + p/8
		if byteOff > tr.Limit {
			return false
		}
		var b [1]byte
		if err := m.cpuRead(tr.Base+byteOff, b[:]); err != nil || b[0]&(1<<(p%8)) != 0 {
			return false
		}
	}
	return true
}

// The safety net: Unicorn's own IN/OUT hooks only fire for I/O at a site
// the sweep did not find.
func (m *Machine) onSafetyNetIn(port uint32, size int) uint32 {
	if !m.safetyNet(port, size, true) {
		return sizeMask(size) // not performed: the site runs it again, precisely
	}
	m.armClock(uint16(port))
	return m.Bus.In(uint16(port), size)
}

func (m *Machine) onSafetyNetOut(port uint32, size int, value uint32) {
	if !m.safetyNet(port, size, false) {
		return
	}
	m.Bus.Out(uint16(port), size, value)
	m.armClock(uint16(port))
	m.checkDebugExit(m.pc())
}

// safetyNet hooks the block's I/O sites for next time and says whether
// the access may be performed here. An access the protected-mode I/O
// permission check denies (user code's in/out, where the CPU raises #GP
// and touches no device) is not performed: the machine takes the
// register state the instruction saw, lets the engine stop at the end of
// the block (the rest of the block still runs: SUBSTRATE.md), puts the
// registers back and resumes at the site, whose hook now checks the
// permission and raises #GP precisely, or, under a VMM, emulates what the
// guest may do (finishRewind). Stores that the rest of the block made
// stay: the one imprecision left.
func (m *Machine) safetyNet(port uint32, size int, in bool) bool {
	if m.rewind.pending {
		return false // a later access of a block being rewound
	}
	m.SafetyNetIO++
	m.Sync()
	block := m.pc() // stale: the start of the translated block
	first := m.hookBlockSites(block)
	if first != 0 && m.SafetyNetIO <= maxSafetyNetIO && !m.ioAllowed(uint16(port), size) {
		if err := m.E.Regs(rewindRegs[:], m.rewind.regs[:]); err == nil {
			m.rewind.pending, m.rewind.site = true, first
			m.IORewinds++
			m.E.Stop()
			return false
		}
	}
	cause := CauseOut(uint16(port))
	if in {
		cause = CauseIn(uint16(port))
	}
	m.Record(cause, MechMachine, block)
	return true
}

// hookBlockSites finds the I/O instructions of the block at pc and hooks
// them for next time; it returns the first I/O instruction's address (0
// if none is found: the block's code changed).
func (m *Machine) hookBlockSites(pc uint32) (first uint32) {
	if m.SafetyNetIO > maxSafetyNetIO {
		return 0
	}
	for i := 0; i < 64; i++ {
		inst, err := m.Decode(pc)
		if err != nil {
			break
		}
		if isSiteOp(inst.Op) || isDebugRegMove(inst) {
			m.addSite(pc)
			if first == 0 && isIOOp(inst.Op) {
				first = pc
			}
		}
		if x86.EndsBlock(inst.Op) {
			break
		}
		pc += uint32(inst.Len)
	}
	return first
}

// rewindRegs are the registers a rewound I/O instruction gets back: all
// that the rest of its block can change (segment registers and EIP aside:
// EIP becomes the site).
var rewindRegs = [...]unicorn.Reg{unicorn.EAX, unicorn.ECX, unicorn.EDX, unicorn.EBX, unicorn.ESP, unicorn.EBP, unicorn.ESI, unicorn.EDI, unicorn.EFLAGS}

// ioRewind is a denied access of the safety net waiting for the engine to
// stop (safetyNet).
type ioRewind struct {
	pending bool
	site    uint32
	regs    [len(rewindRegs)]uint32
}

// finishRewind puts back the registers a denied I/O instruction saw and
// resumes at it, after the engine stopped at the end of its block.
func (m *Machine) finishRewind() {
	if !m.rewind.pending {
		return
	}
	m.rewind.pending = false
	if m.stop.Kind != StopNone {
		return
	}
	if err := m.E.SetRegs(rewindRegs[:], m.rewind.regs[:]); err != nil {
		m.fail(fmt.Errorf("vmm: rewind to the I/O instruction at %#x: %w", m.rewind.site, err))
		return
	}
	m.setReg(unicorn.EIP, m.rewind.site)
}

// isSMSWReg32 reports smsw into a 32-bit register (smswSite).
func isSMSWReg32(inst x86asm.Inst) bool {
	r, ok := inst.Args[0].(x86asm.Reg)
	return inst.Op == x86asm.SMSW && ok && r >= x86asm.EAX && r <= x86asm.EDI
}

// smswSite performs smsw into a 32-bit register under native as QEMU does
// (the machine status word zero-extended): the SDM leaves the high half
// undefined, and Unicorn 2.1 keeps the register's. A VMM's strategies
// leave it to their CPU (trap: a Popek–Goldberg hole, the real CR0).
func (m *Machine) smswSite(pc uint32) {
	if !m.nativeMMU {
		return
	}
	inst, err := m.Decode(pc)
	if err != nil || !isSMSWReg32(inst) {
		return
	}
	m.setGPR(inst.Args[0].(x86asm.Reg), m.reg(unicorn.CR0)&0xFFFF)
	m.Complete(pc + uint32(inst.Len))
}
