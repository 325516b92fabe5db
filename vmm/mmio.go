package vmm

import (
	"fmt"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// Memory-mapped devices: the local APIC and the I/O APIC.
//
// A device register in memory is read and written by ordinary mov
// instructions, anywhere in the guest's code, so the machine cannot find
// them in advance as it finds port I/O. It leaves the device pages
// unmapped instead. A guest access there misses Unicorn's memory map;
// Unicorn 2.1.1 calls the invalid-memory hook with the physical address,
// the size and, for a store, the value, and stops with that instruction not
// executed and every earlier one done — but EIP is only as fresh as the
// start of the translated block (2.1.1 does not restore it; later versions
// do; and a block entered by a chained jump does not even update it). So
// the machine finds the instruction: it decodes the paths from EIP and
// takes the nearest instruction whose memory operand, computed from the
// registers as they are now, has the faulting address's page offset, the
// access's size and direction (and, for a store, the value stored). Then it
// puts a code hook on that instruction, which keeps EIP exact there from
// now on (Unicorn syncs EIP before a hooked instruction), exactly as the
// I/O sites are hooked; the counting pass's per-instruction counter does
// the same for every instruction. Having found it, the machine performs
// the access against the device, writes the destination register (a load)
// and moves EIP past the instruction: trap and emulate, precise to the
// instruction, at no cost to any other memory access. It is what a VMM does with a page it left unmapped on
// purpose, and what KVM does with an MMIO exit; on bare metal the chipset
// does it. So the access is an event with a cause of its own,
// "mmio/lapic:EOI", "mmio/ioapic:IOWIN", whose mechanism the strategy
// chooses (MMIOMech): machine under native, trap where the VMM took a fault.
//
// Emulated instructions: mov to and from memory (8, 16, 32 bits; moffs
// forms included), movzx and movsx loads, and test and cmp of a device
// register (flags only). A read-modify-write of a device register (or,
// and, add to memory, xchg) and string instructions are not emulated: the
// run stops with a crash naming the instruction.

// mmioWindow is one device's page.
type mmioWindow struct {
	base, size uint32
	name       string
	read       func(p *Platform, off uint32) uint32
	// write reports whether the local APIC's timer changed.
	write func(p *Platform, off, v uint32) (timerChanged bool)
	reg   func(off uint32) string
}

var mmioWindows = []mmioWindow{
	{LAPICBase, LAPICSize, "lapic",
		func(p *Platform, off uint32) uint32 { return p.LAPIC.Read(off, p.lapicNow()) },
		func(p *Platform, off, v uint32) bool { return p.LAPIC.Write(off, v, p.lapicNow()) },
		LAPICRegName},
	{IOAPICBase, IOAPICSize, "ioapic",
		func(p *Platform, off uint32) uint32 { return p.IOAPIC.Read(off) },
		func(p *Platform, off, v uint32) bool { p.IOAPIC.Write(off, v); return false },
		IOAPICRegName},
}

// cause is the event cause of an access at physical addr in w.
func (w *mmioWindow) cause(addr uint32) string { return MMIOCause(w.name, w.reg(addr-w.base)) }

// access performs a device access of size bytes at physical addr in w: a
// store writes value, a load returns the bytes read. A narrower access
// than the 32-bit register reads its bytes, or writes them into the
// register with the others 0.
func (w *mmioWindow) access(p *Platform, addr uint32, size int, write bool, value uint32) (val uint32, timerChanged bool) {
	off := addr - w.base
	shift := 8 * (off & 3)
	if write {
		return 0, w.write(p, off&^3, (value&sizeMask(size))<<shift)
	}
	return w.read(p, off&^3) >> shift & sizeMask(size), false
}

// MMIOCauseAt is the event cause of a device access at physical address
// addr ("mmio/lapic:EOI"), or false if no device is there. The device
// pages are fixed, so it is a pure function of the address.
func MMIOCauseAt(addr uint64) (string, bool) {
	w := findMMIO(addr)
	if w == nil {
		return "", false
	}
	return w.cause(uint32(addr)), true
}

// MMIO performs a device access for a VMM that was handed it whole (KVM's
// MMIO exit): size bytes (1, 2 or 4) at physical addr, a store of value or
// a load, whose result it returns. ok is false if no device is there.
// The caller brings the clock up to date first (Sync).
func (p *Platform) MMIO(addr uint64, size int, write bool, value uint32) (val uint32, ok bool) {
	w := findMMIO(addr)
	if w == nil {
		return 0, false
	}
	val, _ = w.access(p, uint32(addr), size, write, value)
	return val, true
}

func findMMIO(addr uint64) *mmioWindow {
	for i := range mmioWindows {
		w := &mmioWindows[i]
		if addr >= uint64(w.base) && addr < uint64(w.base)+uint64(w.size) {
			return w
		}
	}
	return nil
}

// mmioAccess is a device access the invalid-memory hook caught; the
// machine finishes it once the engine has stopped.
type mmioAccess struct {
	win   *mmioWindow
	addr  uint32
	size  int
	write bool
	value uint32
}

// catchMMIO is called from the invalid-memory hook: it notes an access to
// a device page and reports whether it was one. The hook then returns
// false, and Unicorn stops at the instruction.
func (m *Machine) catchMMIO(acc unicorn.MemAccess, addr uint64, size int, value int64) bool {
	w := findMMIO(addr)
	if w == nil || m.mmio != nil {
		return false
	}
	switch acc {
	case unicorn.MemReadUnmapped:
		m.mmio = &mmioAccess{win: w, addr: uint32(addr), size: size}
	case unicorn.MemWriteUnmapped:
		m.mmio = &mmioAccess{win: w, addr: uint32(addr), size: size, write: true, value: uint32(value) & sizeMask(size)}
	default:
		return false
	}
	return true
}

// MMIOCause is the event cause of an access to device dev's register reg.
func MMIOCause(dev, reg string) string { return "mmio/" + dev + ":" + reg }

// hookMMIOSite puts an empty code hook on an instruction found touching a
// device page, so that EIP is exact there next time.
func (m *Machine) hookMMIOSite(pc uint32) error {
	if m.mmioSites[pc] {
		return nil
	}
	if m.mmioSites == nil {
		m.mmioSites = map[uint32]bool{}
	}
	m.mmioSites[pc] = true
	// An empty code hook makes Unicorn sync EIP before the instruction.
	// An instruction counter, where it covers pc, already does (and
	// another code hook would slow every counted instruction: hookSite) —
	// the machine's in guest space, ExtraCounter in bt's translation
	// cache, whose sites (the TC's copy of xv6's lapicw, mycpu's lapic ID
	// read, ...) otherwise piled up one hook each.
	if m.counterServes(pc) || m.ExtraCounter != nil && m.inTC(pc) {
		return nil
	}
	if _, err := m.E.HookCode(uint64(pc), uint64(pc), func(uint64, uint32) {}); err != nil {
		return fmt.Errorf("vmm: hook MMIO site %#x: %w", pc, err)
	}
	return m.DropTranslations(uint64(pc), uint64(pc)+1)
}

// finishMMIO emulates the instruction that touched a device page, after the
// engine stopped there (startErr is the stop's error, which it consumes).
func (m *Machine) finishMMIO(startErr error) error {
	a := m.mmio
	m.mmio = nil
	pc, inst, ok := m.findMMIOSite(a)
	if !ok {
		m.Crash(pc, "MMIO access to %s at %#x: no instruction of the block at %#x makes it (%d bytes, store %v)", a.win.name, a.addr, pc, a.size, a.write)
		return nil
	}
	if err := m.hookMMIOSite(pc); err != nil {
		return err
	}
	m.setReg(unicorn.EIP, pc)
	m.Record(a.win.cause(a.addr), m.MMIOMech, pc)
	m.Sync()
	if a.write {
		if !mmioStore(inst) {
			m.Crash(pc, "MMIO store to %s at %#x by %q: only mov stores to device registers are emulated", a.win.name, a.addr, m.Disasm(pc))
			return nil
		}
		if _, timer := a.win.access(m.Platform, a.addr, a.size, true, a.value); timer {
			m.armAPICTimer()
		}
	} else {
		v, _ := a.win.access(m.Platform, a.addr, a.size, false, 0)
		if why := m.mmioLoad(inst, v, a.size); why != "" {
			m.Crash(pc, "MMIO load from %s at %#x by %q: %s", a.win.name, a.addr, m.Disasm(pc), why)
			return nil
		}
	}
	next := pc + uint32(inst.Len)
	m.setReg(unicorn.EIP, next)
	m.CompleteIO(next)
	return nil
}

// findMMIOSite finds the instruction that made access a: at EIP if EIP is
// exact there (a hooked site), else the first matching instruction on the
// paths from EIP. EIP is the start of the block Unicorn entered last
// through its dispatcher; blocks it chained to since do not update it, so
// the search follows direct jumps, calls and both ways of a conditional
// branch (breadth first, nearest first) up to mmioSearchLimit
// instructions.
func (m *Machine) findMMIOSite(a *mmioAccess) (uint32, x86asm.Inst, bool) {
	start := m.pc()
	if m.counterServes(start) {
		// EIP is exact: the counter synced it before every instruction,
		// so the instruction there made the access (finishMMIO still
		// checks its form). No search, no operand check: xv6's idle loop
		// reads the local APIC's ID a million times.
		if inst, err := m.Decode(start); err == nil {
			return start, inst, true
		}
	}
	seen := map[uint32]bool{}
	queue := []uint32{start}
	for n := 0; len(queue) > 0 && n < mmioSearchLimit; n++ {
		pc := queue[0]
		queue = queue[1:]
		if seen[pc] {
			continue
		}
		seen[pc] = true
		inst, err := m.Decode(pc)
		if err != nil {
			continue
		}
		if m.makesAccess(inst, a) {
			return pc, inst, true
		}
		next := pc + uint32(inst.Len)
		if m.mmioSites[pc] && pc != start {
			continue // a hooked site is exact: the access did not come from beyond it
		}
		if !x86.EndsBlock(inst.Op) {
			queue = append(queue, next)
			continue
		}
		rel, direct := inst.Args[0].(x86asm.Rel)
		switch {
		case !direct:
			// ret, indirect and far transfers, int, hlt: the path is unknown
		case inst.Op == x86asm.JMP || inst.Op == x86asm.CALL:
			queue = append(queue, next+uint32(rel))
		default: // conditional branches and loops: both ways
			queue = append(queue, next, next+uint32(rel))
		}
	}
	return start, x86asm.Inst{}, false
}

// mmioSearchLimit bounds findMMIOSite's search, in instructions.
const mmioSearchLimit = 256

// makesAccess reports whether inst, with the registers as they are, makes
// access a: its memory operand has a's page offset and size, it loads or
// stores as a does, and a store's source holds a's value.
func (m *Machine) makesAccess(inst x86asm.Inst, a *mmioAccess) bool {
	if inst.Op == x86asm.LEA || inst.Op == x86asm.NOP {
		return false
	}
	memAt := -1
	for i, arg := range inst.Args {
		if arg == nil {
			break
		}
		if _, ok := arg.(x86asm.Mem); ok {
			memAt = i
		}
	}
	if memAt < 0 || inst.MemBytes != a.size {
		return false
	}
	if m.effectiveAddr(inst.Args[memAt].(x86asm.Mem))&0xFFF != a.addr&0xFFF {
		return false
	}
	store := mmioStore(inst)
	if store != a.write {
		return false
	}
	if store {
		switch src := inst.Args[1].(type) {
		case x86asm.Imm:
			return uint32(src)&sizeMask(a.size) == a.value
		case x86asm.Reg:
			v, _, ok := m.regVal(src)
			return ok && v == a.value
		}
	}
	return true
}

// effectiveAddr is the linear address of memory operand mem now.
func (m *Machine) effectiveAddr(mem x86asm.Mem) uint32 { return effAddr(mem, machineRegs{m}) }

// mmioStore reports whether inst stores to memory and does nothing else.
func mmioStore(inst x86asm.Inst) bool {
	if inst.Op != x86asm.MOV {
		return false
	}
	_, ok := inst.Args[0].(x86asm.Mem)
	return ok
}

// gprs are the 32-bit registers in x86asm's (the encoding's) order.
var gprs = [8]unicorn.Reg{unicorn.EAX, unicorn.ECX, unicorn.EDX, unicorn.EBX, unicorn.ESP, unicorn.EBP, unicorn.ESI, unicorn.EDI}

// gpr is the Unicorn register, width and bit offset of an x86asm register.
func gpr(r x86asm.Reg) (reg unicorn.Reg, size int, shift uint, ok bool) {
	switch {
	case r >= x86asm.AL && r <= x86asm.BL:
		return gprs[r-x86asm.AL], 1, 0, true
	case r >= x86asm.AH && r <= x86asm.BH:
		return gprs[r-x86asm.AH], 1, 8, true
	case r >= x86asm.AX && r <= x86asm.DI:
		return gprs[r-x86asm.AX], 2, 0, true
	case r >= x86asm.EAX && r <= x86asm.EDI:
		return gprs[r-x86asm.EAX], 4, 0, true
	}
	return 0, 0, 0, false
}

func (m *Machine) regVal(r x86asm.Reg) (uint32, int, bool) {
	reg, size, shift, ok := gpr(r)
	if !ok {
		return 0, 0, false
	}
	return m.reg(reg) >> shift & sizeMask(size), size, true
}

func (m *Machine) setGPR(r x86asm.Reg, v uint32) bool {
	reg, size, shift, ok := gpr(r)
	if !ok {
		return false
	}
	mk := sizeMask(size) << shift
	m.setReg(reg, m.reg(reg)&^mk|(v<<shift)&mk)
	return true
}

// mmioLoad completes a load of v (size bytes) from a device register by
// inst; it returns why not if inst is not emulated.
func (m *Machine) mmioLoad(inst x86asm.Inst, v uint32, size int) string {
	switch inst.Op {
	case x86asm.MOV:
		if r, ok := inst.Args[0].(x86asm.Reg); ok && m.setGPR(r, v) {
			return ""
		}
	case x86asm.MOVZX:
		if r, ok := inst.Args[0].(x86asm.Reg); ok && m.setGPR(r, v) {
			return ""
		}
	case x86asm.MOVSX:
		if r, ok := inst.Args[0].(x86asm.Reg); ok {
			sign := uint32(1) << (8*size - 1)
			if m.setGPR(r, (v^sign)-sign) {
				return ""
			}
		}
	case x86asm.TEST, x86asm.CMP:
		other := inst.Args[1]
		if _, isMem := inst.Args[0].(x86asm.Mem); !isMem {
			other = inst.Args[0]
		}
		var o uint32
		switch x := other.(type) {
		case x86asm.Imm:
			o = uint32(x) & sizeMask(size)
		case x86asm.Reg:
			rv, _, ok := m.regVal(x)
			if !ok {
				return "unsupported operand"
			}
			o = rv
		default:
			return "unsupported operand"
		}
		fl := m.reg(unicorn.EFLAGS) &^ (x86.FlagCF | x86.FlagPF | x86.FlagAF | x86.FlagZF | x86.FlagSF | x86.FlagOF)
		if inst.Op == x86asm.TEST {
			fl |= arithFlags(v&o, size)
		} else {
			a, b := v, o
			if _, isMem := inst.Args[0].(x86asm.Mem); !isMem {
				a, b = o, v
			}
			fl |= subFlags(a, b, size)
		}
		m.setReg(unicorn.EFLAGS, fl)
		return ""
	}
	return "only mov, movzx, movsx, test and cmp loads of device registers are emulated"
}

// arithFlags are ZF, SF and PF of result r (size bytes).
func arithFlags(r uint32, size int) uint32 {
	var f uint32
	r &= sizeMask(size)
	if r == 0 {
		f |= x86.FlagZF
	}
	if r>>(8*size-1)&1 != 0 {
		f |= x86.FlagSF
	}
	p := uint8(r)
	p ^= p >> 4
	p ^= p >> 2
	p ^= p >> 1
	if p&1 == 0 {
		f |= x86.FlagPF
	}
	return f
}

// subFlags are the flags of a - b (size bytes), as cmp sets them.
func subFlags(a, b uint32, size int) uint32 {
	mk := sizeMask(size)
	a, b = a&mk, b&mk
	r := (a - b) & mk
	f := arithFlags(r, size)
	if a < b {
		f |= x86.FlagCF
	}
	if (a^b)&(a^r)>>(8*size-1)&1 != 0 {
		f |= x86.FlagOF
	}
	if (a^b^r)&0x10 != 0 {
		f |= x86.FlagAF
	}
	return f
}

// MMIOWindows lists the device pages (base, size, name), for strategies
// that must leave them reachable in their own page tables.
func MMIOWindows() [][2]uint32 {
	var ws [][2]uint32
	for _, w := range mmioWindows {
		ws = append(ws, [2]uint32{w.base, w.size})
	}
	return ws
}

func (w mmioWindow) String() string { return fmt.Sprintf("%s at %#x", w.name, w.base) }

// IsDeviceFrame reports whether a physical frame is a device page: a shadow
// MMU maps such a frame as the guest does (the access then misses Unicorn's
// memory map and the machine emulates the device).
func IsDeviceFrame(frame uint32) bool { return findMMIO(uint64(frame)) != nil }
