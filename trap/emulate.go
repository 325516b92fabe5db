package trap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/vmm"
	"virtsim/vmm/x86"
)

// Emulator emulates one privileged or sensitive guest instruction at a
// time against the virtual CPU (VCPU) and the real CPU (CPU). Its only
// state is per-exit scratch and a cache of decoded instruction sites (so
// an exit allocates nothing and decodes a site once): one Emulator per
// vCPU, not for concurrent use.
type Emulator struct {
	P Platform
	// PassFlags makes the real EFLAGS.IF and IOPL follow the virtual ones.
	// Set it when the real CPU runs the guest kernel at its own privilege
	// (KVM's user-space completion). Under ring compression (false) the
	// real IF and IOPL are the VMM's: cli, sti and popf leave them as they
	// are, and iret sets IF=1 (the VMM takes real interrupts and queues
	// them for the virtual IF) and IOPL=0 (every I/O instruction of the
	// deprivileged guest traps).
	PassFlags bool
	// RepPerExit bounds the elements one Emulate of a rep string I/O
	// instruction moves (0: MaxRepIterations); the instruction then
	// resumes where it stopped and, I/O being denied, faults again. The
	// trap strategy sets 1: one exit per element, as a deprivileged guest's
	// rep insw costs when every access is caught.
	RepPerExit int

	// Per-exit scratch, reused so that an exit allocates nothing.
	decoded vmm.DecodeCache // each instruction site decoded once
	code    [maxInsn]byte   // the bytes fetched for the current instruction
	m       emu
	out     Outcome
}

// maxInsn is the longest x86 instruction.
const maxInsn = 15

// Outcome is the result of emulating one instruction.
type Outcome struct {
	Cause string      // event cause ("priv/cli", "io/out:0x80", "priv/mov-cr3", "priv/iret", "priv/mov-ss", ...)
	Inst  x86asm.Inst // what was decoded
	// Next is EIP after the instruction, already written to the CPU unless
	// Fault != nil. Next equals the instruction's own address when a rep
	// string I/O instruction stopped after MaxRepIterations: the
	// instruction resumes where it stopped, as an interrupted rep does.
	Next uint32
	// Fault: the instruction raises this exception in the guest instead,
	// and the VMM reflects it through the guest's IDT. The CPU and the VCPU
	// are as they were before the instruction (EIP included), except for a
	// rep string instruction, whose registers reflect the iterations done,
	// and a #PF, which sets the virtual CR2. A software interrupt (Soft)
	// is the exception: Next is after the instruction, which has completed.
	Fault *Fault
	// Halt: hlt — the VMM decides what halting means (wait for an interrupt).
	Halt bool
	// IFChanged: the virtual IF changed (sti, popf, iret): the VMM may have
	// an interrupt to inject.
	IFChanged bool
	// Shadow: interrupts stay inhibited until after the next instruction
	// (sti with IF=0 before it, a load of SS), so that "sti; hlt" and
	// "mov %ax,%ss; mov %ebx,%esp" are not split by an injected interrupt.
	Shadow bool
	// Inner: lcall from guest user code through a call gate into the
	// kernel's ring. The new frame is on the kernel stack and the virtual
	// CPL is 0, but the real CPU cannot be moved to an inner ring by a
	// register write: the VMM completes the switch (CS, SS:ESP, EIP).
	Inner *InnerCall
	// Outer: a far return from the guest kernel to user code that the real
	// CPU at CPL 1 cannot perform by register writes (a binary
	// translator's callout for lret): the VMM returns through a real iret
	// to CS:EIP on SS:ESP (the virtual CPL is 3 already).
	Outer *OuterReturn
}

// OuterReturn is where a far return to user code goes: the guest's
// selectors, the return EIP and the user stack.
type OuterReturn struct {
	CS, SS   uint16
	EIP, ESP uint32
}

// InnerCall is where a privilege-raising far call from user code lands:
// the guest's code selector and descriptor, the stack it switched to (the
// frame already pushed) and the entry point.
type InnerCall struct {
	CS, SS         uint16
	CSDesc, SSDesc x86.Descriptor
	ESP, EIP       uint32
}

// Fault is an exception the emulated instruction raises in the guest.
type Fault struct {
	Vector  uint8
	Code    uint32
	HasCode bool
	// Soft marks a software interrupt (int n, int3, into with OF=1): the
	// VMM delivers Vector through the guest's IDT with the return address
	// after the instruction, and must first check the gate's DPL against
	// the virtual CPL (#GP(Vector*8+2) when DPL < CPL) — that check belongs
	// to the reflection, not to the instruction.
	Soft bool
	Why  string
}

// Error makes a Fault an error so the emulation helpers can return it.
func (f *Fault) Error() string {
	s := x86.VectorName(f.Vector)
	if f.HasCode {
		s += fmt.Sprintf("(%#x)", f.Code)
	}
	if f.Soft {
		s = "int " + s
	}
	if f.Why != "" {
		s += ": " + f.Why
	}
	return s
}

func (f *Fault) String() string { return f.Error() }

// MemFault is an error a CPU's ReadLinear or WriteLinear may return
// (possibly wrapped) when the access raises an exception in the guest —
// a #PF with its error code — rather than failing inside the VMM. The
// emulator turns it into Outcome.Fault (and sets the virtual CR2 for a
// #PF). Any other memory error is an internal failure.
type MemFault struct {
	Addr   uint32
	Write  bool
	Vector uint8 // normally x86.VecPF
	Code   uint32
}

func (m *MemFault) Error() string {
	op := "read"
	if m.Write {
		op = "write"
	}
	return fmt.Sprintf("%s(%#x) on %s of %#x", x86.VectorName(m.Vector), m.Code, op, m.Addr)
}

// Errors wrapped by EmulationError.
var (
	ErrUndecodable = errors.New("undecodable instruction")
	ErrUnsupported = errors.New("instruction not emulated")
	ErrInternal    = errors.New("internal emulator failure")
)

// EmulationError is Emulate's error: the instruction could not be decoded
// or emulated, or the VMM failed. It says where and what, for the guest
// crash report.
type EmulationError struct {
	PC    uint32
	Bytes []byte // the bytes fetched at PC (the instruction's, when decoded)
	Text  string // AT&T text of the decoded instruction, "" if undecodable
	Err   error
}

func (e *EmulationError) Error() string {
	text := e.Text
	if text == "" {
		text = "(undecodable)"
	}
	return fmt.Sprintf("trap: eip %#08x: bytes [% x] %s: %v", e.PC, e.Bytes, text, e.Err)
}

func (e *EmulationError) Unwrap() error { return e.Err }

// MaxRepIterations bounds the iterations of one rep string I/O
// instruction per Emulate call; the instruction then resumes (Next is its
// own address) with ECX, ESI and EDI updated, as after an interrupt.
const MaxRepIterations = 1 << 16

// emu is the state of one emulation.
type emu struct {
	e    *Emulator
	cpu  CPU
	v    *VCPU
	pc   uint32
	inst x86asm.Inst
	next uint32
	out  *Outcome
}

// Emulate decodes the instruction at guest EIP pc (in CS, 32-bit code)
// and emulates it. It returns an error only when the instruction cannot
// be decoded or is not emulated, or on an internal failure; it never
// panics. A guest-visible exception is Outcome.Fault, not an error.
func (e *Emulator) Emulate(cpu CPU, v *VCPU, pc uint32) (out Outcome, err error) {
	var (
		code []byte
		inst x86asm.Inst
	)
	// text renders the instruction for error reports only (never on the
	// exit path).
	text := func() string {
		if inst.Len == 0 {
			return ""
		}
		return x86asm.GNUSyntax(inst, uint64(pc), nil)
	}
	defer func() {
		if r := recover(); r != nil {
			out = Outcome{}
			err = &EmulationError{PC: pc, Bytes: code, Text: text(), Err: fmt.Errorf("%w: panic: %v\n%s", ErrInternal, r, debug.Stack())}
		}
	}()
	if e.P == nil || cpu == nil || v == nil {
		return Outcome{}, &EmulationError{PC: pc, Err: fmt.Errorf("%w: nil platform, CPU or VCPU", ErrInternal)}
	}
	lin := cpu.Seg(CS).Desc.Base + pc
	code, ferr := fetch(cpu, lin, e.code[:])
	if ferr != nil {
		var mf *MemFault
		if errors.As(ferr, &mf) {
			return e.memFaultOutcome(v, pc, mf), nil
		}
		return Outcome{}, &EmulationError{PC: pc, Err: fmt.Errorf("%w: fetching the instruction: %v", ErrInternal, ferr)}
	}
	inst, derr := e.decoded.Decode(lin, code)
	if derr != nil || inst.Op == 0 || inst.Len == 0 {
		if derr == nil {
			derr = errors.New("truncated or invalid")
		}
		return Outcome{}, &EmulationError{PC: pc, Bytes: append([]byte(nil), code...), Err: fmt.Errorf("%w: %v", ErrUndecodable, derr)}
	}
	code = code[:inst.Len]
	m := &e.m
	*m = emu{e: e, cpu: cpu, v: v, pc: pc, inst: inst, next: pc + uint32(inst.Len)}
	o := &e.out
	*o = Outcome{Inst: inst, Cause: Classify(inst).Cause}
	m.out = o
	if xerr := m.dispatch(); xerr != nil {
		var f *Fault
		var mf *MemFault
		switch {
		case errors.As(xerr, &f):
			o.Fault = f
			if f.Soft {
				o.Next = m.next
			} else {
				o.Next = pc
			}
			return *o, nil
		case errors.As(xerr, &mf):
			mo := e.memFaultOutcome(v, pc, mf)
			mo.Inst, mo.Cause = o.Inst, o.Cause
			return mo, nil
		}
		return Outcome{}, &EmulationError{PC: pc, Bytes: append([]byte(nil), code...), Text: text(), Err: xerr}
	}
	o.Next = m.next
	cpu.SetReg(EIP, m.next)
	return *o, nil
}

func (e *Emulator) memFaultOutcome(v *VCPU, pc uint32, mf *MemFault) Outcome {
	if mf.Vector == x86.VecPF {
		v.CR2 = mf.Addr
	}
	exc, _ := x86.ExceptionFor(mf.Vector)
	return Outcome{Next: pc, Fault: &Fault{Vector: mf.Vector, Code: mf.Code, HasCode: exc.ErrorCode, Why: mf.Error()}}
}

// fetch reads up to 15 instruction bytes at linear address addr into buf,
// fewer when the rest is unreadable (the decoder then says "truncated").
func fetch(cpu CPU, addr uint32, buf []byte) ([]byte, error) {
	b := buf[:maxInsn]
	if err := cpu.ReadLinear(addr, b); err == nil {
		return b, nil
	}
	n := 0
	var first error
	for ; n < len(b); n++ {
		if err := cpu.ReadLinear(addr+uint32(n), b[n:n+1]); err != nil {
			first = err
			break
		}
	}
	if n == 0 {
		return nil, first
	}
	return b[:n], nil
}

// errUnsupported is an ErrUnsupported with a reason.
func errUnsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// ---- faults ------------------------------------------------------------------

func gp(code uint32, format string, args ...any) error {
	return &Fault{Vector: x86.VecGP, Code: code, HasCode: true, Why: fmt.Sprintf(format, args...)}
}

func gpSel(sel uint16, format string, args ...any) error {
	return gp(x86.SelErrorCode(sel), format, args...)
}

func np(sel uint16, format string, args ...any) error {
	return &Fault{Vector: x86.VecNP, Code: x86.SelErrorCode(sel), HasCode: true, Why: fmt.Sprintf(format, args...)}
}

func ssFault(code uint32, format string, args ...any) error {
	return &Fault{Vector: x86.VecSS, Code: code, HasCode: true, Why: fmt.Sprintf(format, args...)}
}

func ud(format string, args ...any) error {
	return &Fault{Vector: x86.VecUD, Why: fmt.Sprintf(format, args...)}
}

// needCPL0 is the privileged-instruction check against the virtual CPL.
func (m *emu) needCPL0() error {
	if m.v.CPL != 0 {
		return gp(0, "%s at virtual CPL %d", m.inst.Op, m.v.CPL)
	}
	return nil
}

// ---- memory ------------------------------------------------------------------

func (m *emu) read(addr uint32, n int) ([]byte, error) {
	b := make([]byte, n)
	if err := m.cpu.ReadLinear(addr, b); err != nil {
		return nil, m.memErr(err, "read", addr)
	}
	return b, nil
}

func (m *emu) write(addr uint32, b []byte) error {
	if err := m.cpu.WriteLinear(addr, b); err != nil {
		return m.memErr(err, "write", addr)
	}
	return nil
}

func (m *emu) memErr(err error, op string, addr uint32) error {
	var mf *MemFault
	if errors.As(err, &mf) {
		return mf
	}
	return fmt.Errorf("%w: %s of guest linear %#x: %v", ErrInternal, op, addr, err)
}

func (m *emu) readN(addr uint32, size int) (uint32, error) {
	b, err := m.read(addr, size)
	if err != nil {
		return 0, err
	}
	return leUint(b), nil
}

func (m *emu) writeN(addr uint32, size int, v uint32) error {
	return m.write(addr, putLE(size, v))
}

func leUint(b []byte) uint32 {
	switch len(b) {
	case 1:
		return uint32(b[0])
	case 2:
		return uint32(binary.LittleEndian.Uint16(b))
	}
	return binary.LittleEndian.Uint32(b)
}

func putLE(size int, v uint32) []byte {
	b := make([]byte, size)
	switch size {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	default:
		binary.LittleEndian.PutUint32(b, v)
	}
	return b
}

// ---- registers and operands ---------------------------------------------------

// gpr maps an x86asm general register to the CPU register holding it and
// its width and bit offset (AH..BH live in bits 8..15).
func gpr(r x86asm.Reg) (reg Reg, size int, shift uint, ok bool) {
	switch {
	case r >= x86asm.AL && r <= x86asm.BL:
		return Reg(r - x86asm.AL), 1, 0, true
	case r >= x86asm.AH && r <= x86asm.BH:
		return Reg(r - x86asm.AH), 1, 8, true
	case r >= x86asm.AX && r <= x86asm.DI:
		return Reg(r - x86asm.AX), 2, 0, true
	case r >= x86asm.EAX && r <= x86asm.EDI:
		return Reg(r - x86asm.EAX), 4, 0, true
	}
	return 0, 0, 0, false
}

func mask(size int) uint32 {
	if size >= 4 {
		return 0xFFFFFFFF
	}
	return 1<<(8*uint(size)) - 1
}

func (m *emu) getReg(r x86asm.Reg) (uint32, error) {
	reg, size, shift, ok := gpr(r)
	if !ok {
		return 0, errUnsupported("register operand %v", r)
	}
	return m.cpu.Reg(reg) >> shift & mask(size), nil
}

// setReg writes a general register, preserving the bits outside it.
func (m *emu) setReg(r x86asm.Reg, v uint32) error {
	reg, size, shift, ok := gpr(r)
	if !ok {
		return errUnsupported("register operand %v", r)
	}
	mk := mask(size) << shift
	m.cpu.SetReg(reg, m.cpu.Reg(reg)&^mk|(v<<shift)&mk)
	return nil
}

func regSize(r x86asm.Reg) int {
	_, size, _, _ := gpr(r)
	return size
}

// segOf maps an x86asm segment register.
func segOf(r x86asm.Reg) (SegReg, bool) {
	switch r {
	case x86asm.ES:
		return ES, true
	case x86asm.CS:
		return CS, true
	case x86asm.SS:
		return SS, true
	case x86asm.DS:
		return DS, true
	case x86asm.FS:
		return FS, true
	case x86asm.GS:
		return GS, true
	}
	return 0, false
}

// ea computes the linear address of a memory operand: segment base (the
// override, else DS, or SS for ESP/EBP-based addressing) plus base, scaled
// index and displacement, wrapped to 16 bits under a 16-bit address size.
// Segment limits are not checked (virtsim's guests use flat segments, and
// Unicorn does not enforce limits either).
func (m *emu) ea(mem x86asm.Mem) (uint32, error) {
	var off uint32
	if mem.Base != 0 {
		b, err := m.getReg(mem.Base)
		if err != nil {
			return 0, err
		}
		off += b
	}
	if mem.Index != 0 {
		x, err := m.getReg(mem.Index)
		if err != nil {
			return 0, err
		}
		scale := uint32(mem.Scale)
		if scale == 0 {
			scale = 1
		}
		off += x * scale
	}
	off += uint32(mem.Disp)
	if m.inst.AddrSize == 16 {
		off &= 0xFFFF
	}
	seg := DS
	if mem.Segment != 0 {
		s, ok := segOf(mem.Segment)
		if !ok {
			return 0, errUnsupported("segment %v", mem.Segment)
		}
		seg = s
	} else {
		switch mem.Base {
		case x86asm.ESP, x86asm.EBP, x86asm.SP, x86asm.BP:
			seg = SS
		}
	}
	return m.cpu.Seg(seg).Desc.Base + off, nil
}

// readOperand reads a register, memory or immediate operand of size bytes.
func (m *emu) readOperand(a x86asm.Arg, size int) (uint32, error) {
	switch a := a.(type) {
	case x86asm.Reg:
		if s, ok := segOf(a); ok {
			return uint32(m.guestSel(m.cpu.Seg(s).Sel)), nil
		}
		v, err := m.getReg(a)
		return v & mask(size), err
	case x86asm.Mem:
		addr, err := m.ea(a)
		if err != nil {
			return 0, err
		}
		return m.readN(addr, size)
	case x86asm.Imm:
		return uint32(a) & mask(size), nil
	}
	return 0, errUnsupported("operand %v", a)
}

// writeOperand writes a register or memory operand. A register narrower
// than size is written in full (a 32-bit register receiving a 16-bit
// selector is zero-extended, as P6 and later processors do).
func (m *emu) writeOperand(a x86asm.Arg, size int, v uint32) error {
	switch a := a.(type) {
	case x86asm.Reg:
		return m.setReg(a, v&mask(regSize(a)))
	case x86asm.Mem:
		addr, err := m.ea(a)
		if err != nil {
			return err
		}
		return m.writeN(addr, size, v)
	}
	return errUnsupported("destination operand %v", a)
}

// opSize is the operand size of the instruction in bytes.
func (m *emu) opSize() int {
	if m.inst.DataSize == 16 {
		return 2
	}
	return 4
}

// ---- stack ---------------------------------------------------------------------

// stack16 reports a 16-bit stack (SS is a present data segment with B=0).
// Anything else — including the flat caches a null SS may carry at the
// multiboot entry — counts as a 32-bit stack.
func (m *emu) stack16() bool {
	d := m.cpu.Seg(SS).Desc
	return d.S && d.Present && !d.DB
}

// spAt is ESP + delta, wrapped to the stack width (the upper half of ESP
// is preserved on a 16-bit stack).
func (m *emu) spAt(delta int32) uint32 {
	esp := m.cpu.Reg(ESP)
	if m.stack16() {
		return esp&0xFFFF0000 | uint32(uint16(esp)+uint16(delta))
	}
	return esp + uint32(delta)
}

func (m *emu) stackAddr(delta int32) uint32 {
	sp := m.spAt(delta)
	if m.stack16() {
		sp &= 0xFFFF
	}
	return m.cpu.Seg(SS).Desc.Base + sp
}

// readStack reads size bytes at ESP+delta without popping.
func (m *emu) readStack(delta int32, size int) (uint32, error) {
	return m.readN(m.stackAddr(delta), size)
}

// push writes values (each of size bytes, first pushed first) below ESP
// and moves ESP down.
func (m *emu) push(size int, vals ...uint32) error {
	frame := make([]byte, 0, size*len(vals))
	for i := len(vals) - 1; i >= 0; i-- {
		frame = append(frame, putLE(size, vals[i])...)
	}
	delta := -int32(len(frame))
	if err := m.write(m.stackAddr(delta), frame); err != nil {
		return err
	}
	m.cpu.SetReg(ESP, m.spAt(delta))
	return nil
}

// ---- flags -----------------------------------------------------------------------

// guestFlags is the EFLAGS image the guest believes in: the real flags
// with the virtual IF and IOPL.
func (m *emu) guestFlags() uint32 {
	f := m.cpu.Reg(EFLAGS) &^ (x86.FlagIF | x86.FlagIOPL)
	if m.v.IF {
		f |= x86.FlagIF
	}
	return f | uint32(m.v.IOPL&3)<<12
}

// setRealFlags writes the real EFLAGS: f's other bits, and IF and IOPL
// from the VCPU under PassFlags, else from vmmIF/vmmIOPL (the VMM's).
func (m *emu) setRealFlags(f uint32, vmmIF bool, vmmIOPL uint8) {
	f &^= x86.FlagIF | x86.FlagIOPL
	f |= x86.FlagReserved1
	ifl, iopl := vmmIF, vmmIOPL
	if m.e.PassFlags {
		ifl, iopl = m.v.IF, m.v.IOPL
	}
	if ifl {
		f |= x86.FlagIF
	}
	m.cpu.SetReg(EFLAGS, f|uint32(iopl&3)<<12)
}

// keepRealFlags writes f, keeping the real IF and IOPL as they are.
func (m *emu) keepRealFlags(f uint32) {
	old := m.cpu.Reg(EFLAGS)
	m.setRealFlags(f, old&x86.FlagIF != 0, x86.IOPL(old))
}

func (m *emu) setZF(on bool) {
	f := m.cpu.Reg(EFLAGS) &^ x86.FlagZF
	if on {
		f |= x86.FlagZF
	}
	m.cpu.SetReg(EFLAGS, f)
}

// setIF changes the virtual IF and records the change.
func (m *emu) setIF(on bool) {
	if m.v.IF != on {
		m.out.IFChanged = true
	}
	m.v.IF = on
}

// ---- dispatch --------------------------------------------------------------------

func (m *emu) dispatch() error {
	for _, p := range m.inst.Prefix {
		if p == 0 {
			break
		}
		// None of the instructions emulated here accepts LOCK.
		if p&x86asm.PrefixInvalid != 0 || p&0xFF == x86asm.PrefixLOCK {
			return ud("%v with a LOCK prefix", m.inst.Op)
		}
	}
	switch m.inst.Op {
	case x86asm.CLI, x86asm.STI:
		return m.cliSti()
	case x86asm.HLT:
		return m.hlt()
	case x86asm.MOV:
		return m.mov()
	case x86asm.LGDT, x86asm.LIDT:
		return m.lxdt()
	case x86asm.SGDT, x86asm.SIDT:
		return m.sxdt()
	case x86asm.LLDT:
		return m.lldt()
	case x86asm.LTR:
		return m.ltr()
	case x86asm.SLDT, x86asm.STR:
		return m.storeSysSel()
	case x86asm.SMSW:
		return m.smsw()
	case x86asm.LMSW:
		return m.lmsw()
	case x86asm.CLTS:
		return m.clts()
	case x86asm.INVLPG:
		return m.invlpg()
	case x86asm.WBINVD, x86asm.INVD:
		return m.needCPL0()
	case x86asm.RDMSR:
		return m.rdmsr()
	case x86asm.WRMSR:
		return m.wrmsr()
	case x86asm.CPUID:
		return m.cpuid()
	case x86asm.PUSHF, x86asm.PUSHFD:
		return m.pushf()
	case x86asm.POPF, x86asm.POPFD:
		return m.popf()
	case x86asm.IN, x86asm.OUT:
		return m.inOut()
	case x86asm.INSB, x86asm.INSW, x86asm.INSD, x86asm.OUTSB, x86asm.OUTSW, x86asm.OUTSD:
		return m.stringIO()
	case x86asm.INT, x86asm.INTO:
		return m.softInt()
	case x86asm.LAR, x86asm.LSL:
		return m.larLsl()
	case x86asm.VERR, x86asm.VERW:
		return m.verrVerw()
	case x86asm.PUSH:
		if s, ok := m.inst.Args[0].(x86asm.Reg); ok {
			if _, seg := segOf(s); seg {
				return m.pushSeg(s)
			}
		}
	case x86asm.POP:
		if s, ok := m.inst.Args[0].(x86asm.Reg); ok {
			if _, seg := segOf(s); seg {
				return m.popSeg(s)
			}
		}
	case x86asm.LSS, x86asm.LDS, x86asm.LES, x86asm.LFS, x86asm.LGS:
		return m.lxs()
	case x86asm.LJMP, x86asm.LCALL:
		return m.farJmpCall()
	case x86asm.LRET:
		return m.lret()
	case x86asm.IRET, x86asm.IRETD:
		return m.iret()
	}
	return errUnsupported("%v is not an instruction the emulator handles", m.inst.Op)
}

// mov handles MOV to and from control registers and segment registers.
func (m *emu) mov() error {
	a0, a1 := m.inst.Args[0], m.inst.Args[1]
	switch {
	case isCR(a0):
		return m.movToCR(a0.(x86asm.Reg), a1)
	case isCR(a1):
		return m.movFromCR(a0, a1.(x86asm.Reg))
	case isDR(a0):
		return m.movToDR(a0.(x86asm.Reg), a1)
	case isDR(a1):
		return m.movFromDR(a0, a1.(x86asm.Reg))
	case isSegReg(a0):
		sel, err := m.readOperand(a1, 2)
		if err != nil {
			return err
		}
		return m.loadSegInsn(a0.(x86asm.Reg), uint16(sel))
	case isSegReg(a1):
		return m.movFromSeg(a0, a1.(x86asm.Reg))
	}
	return errUnsupported("mov between %v and %v is not sensitive", a0, a1)
}
