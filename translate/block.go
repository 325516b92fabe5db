package translate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/trap"
	"virtsim/vmm"
	"virtsim/vmm/unicorn"
	"virtsim/vmm/x86"
)

// Translation units and their bookkeeping.

const (
	maxInsns         = 12 // guest instructions per block (one more after a trailing sti)
	maxFallthrough   = 2  // blocks laid out to fall through into each other
	prologueSize     = 32 // a block's return-lookup entry
	maxStubsPerBlock = 64
	maxSlotsPerBlock = 32
)

// stubKind says what a callout stub is for.
type stubKind uint8

const (
	stubRetMiss   stubKind = iota // return/indirect lookup missed: target on the stack
	stubRetResume                 // shadow block's indirect exit: target on the stack
	stubChain                     // a block exit not yet chained
	stubEmulate                   // a privileged or I/O instruction for trap's emulator
	stubResume                    // shadow block's direct exit
	stubResync                    // continue at a guest address (after self-modifying code)
	stubSti                       // an in-TC sti found an interrupt waiting
	stubPopf                      // an in-TC popf may have opened on a waiting interrupt
	stubUD                        // undecodable bytes: #UD
	stubPTStore                   // a store that writes guest page tables (adaptive: see ptstore.go)
	numStubKinds
	numFixedStubs = 2 // stubRetMiss and stubRetResume live at fixed addresses
)

var stubKindNames = [numStubKinds]string{"ret-miss", "ret-resume", "chain", "emulate", "resume", "resync", "sti-irq", "popf-irq", "ud", "pt-store"}

func (k stubKind) String() string { return stubKindNames[k] }

// stub is one callout: the stub's address identifies it.
type stub struct {
	kind  stubKind
	guest uint32 // the instruction (emulate, sti, popf, ud) or the target (chain, resume, resync)
	next  uint32 // the guest address after the instruction
	cont  uint32 // where the block goes on in the TC (emulate, sti, popf); 0 if nowhere
	site  uint32 // chain: the rel32 field of the exit jump
	from  *block
	cause string
	ecx   bool // ECX is in the save slot (restore it first)
}

// pointKind classifies a TC address where the CPU may stand between two
// translated instructions (the start of a Unicorn block, where the clock
// may deliver an interrupt; an instruction that faults; a single step):
// the TC-to-guest map has one for every instruction the translator emits.
type pointKind uint8

const (
	ptBoundary pointKind = iota // the guest is about to execute the instruction at guest; nothing to undo
	ptShadow                    // the same, in the one-instruction shadow of an in-TC sti
	ptRecipe                    // inside a sequence: the recipe rebuilds the guest's state
)

// regMask is a set of scratch registers saved in the guest-owned page.
type regMask uint8

func maskOf(rs ...reg) regMask {
	var m regMask
	for _, r := range rs {
		m |= 1 << r
	}
	return m
}

// point is one entry of the TC-to-guest map. For ptRecipe: take the
// target from ECX (ecxTarget) or guest, run fix, reload the saved
// registers, add esp to ESP, then (pop) take the target from the stack.
type point struct {
	kind      pointKind
	guest     uint32
	restore   regMask
	esp       int32
	pop       bool
	ecxTarget bool
	fix       func(b *BT)
	blk       *block
}

func pB(g uint32) point            { return point{kind: ptBoundary, guest: g} }
func pR(m regMask, g uint32) point { return point{kind: ptRecipe, guest: g, restore: m} }
func pD(n int32, m regMask, g uint32) point {
	return point{kind: ptRecipe, guest: g, restore: m, esp: n}
}
func pPop(m regMask) point { return point{kind: ptRecipe, restore: m, pop: true} }

// unit is the translation of one guest instruction.
type unit struct {
	guest     uint32
	len       int
	raw       [15]byte // the bytes as translated (listed when they have changed since)
	nraw      uint8    // how many of raw were fetched
	class     Class
	fallback  string // why an in-TC instruction became a callout instead
	tc, tcEnd uint32
}

// block is one translated basic block.
type block struct {
	guest, guestEnd uint32
	tc, tcEnd       uint32
	units           []unit
	shadow          bool // one instruction in an sti shadow, exits call out
	dead            bool // invalidated (its code stays until the next flush)
	incoming        []uint32
	prologue        uint32 // entry for the return lookup, 0 until needed
	prologueEnd     uint32
	exitJmp         uint32 // the final jump when the block ended at the size limit
	fallNext        uint32 // its guest target then (the continuation)
	fallTo          *block // the continuation laid out right after it (no jump)
	fallFrom        *block // the block that falls through into this one
	code            []byte // as emitted (kept for listings)
	gen             int
	counters        []*siteCounter
	seq             int
}

// siteCounter counts executions of one in-TC instruction (or lookup hit)
// in C, with no store and no Go call per execution: a counted site of the
// TC's instruction counter (unicorn.Counter.CountSite).
type siteCounter struct {
	cause string // "" for lookup hits
	at    uint32 // its TC address
}

// errTCFull: no room left; the caller flushes and retries.
var errTCFull = errors.New("translation cache full")

// errUnsupported: an instruction form the in-TC rewriter does not handle;
// the instruction becomes a callout.
type errUnsupported string

func (e errUnsupported) Error() string { return string(e) }

// fetch reads up to 15 bytes of guest code at pc, stopping at the end of
// RAM (or, when the guest pages, of what its tables map).
func (b *BT) fetch(pc uint32) []byte {
	n := uint32(15)
	limit := b.codeLimit()
	if pc >= limit {
		return nil
	}
	if limit-pc < n {
		n = limit - pc
	}
	for ; n > 0; n-- {
		buf := make([]byte, n)
		if err := b.ReadMem(pc, buf); err == nil {
			return buf
		}
	}
	return nil
}

// jccCode is the condition nibble of each conditional jump.
var jccCode = map[x86asm.Op]byte{
	x86asm.JO: 0, x86asm.JNO: 1, x86asm.JB: 2, x86asm.JAE: 3, x86asm.JE: 4, x86asm.JNE: 5,
	x86asm.JBE: 6, x86asm.JA: 7, x86asm.JS: 8, x86asm.JNS: 9, x86asm.JP: 0xA, x86asm.JNP: 0xB,
	x86asm.JL: 0xC, x86asm.JGE: 0xD, x86asm.JLE: 0xE, x86asm.JG: 0xF,
}

// prefixLen counts the legacy prefix bytes of an encoded instruction.
func prefixLen(raw []byte) int {
	n := 0
	for n < len(raw) {
		switch raw[n] {
		case 0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3:
			n++
			continue
		}
		break
	}
	return n
}

func hasPrefix(raw []byte, p byte) bool {
	for _, c := range raw[:prefixLen(raw)] {
		if c == p {
			return true
		}
	}
	return false
}

// emitter assembles one block.
type emitter struct {
	b      *BT
	blk    *block
	c      code
	points []tcPoint // in TC order (the code only grows; at most one per address)
	sites  []pendingCounter
	stubs  []uint32 // stubs allocated for this block (to fix up)
}

type tcPoint struct {
	at uint32
	p  point
}

type pendingCounter struct {
	at    uint32
	cause string
}

// at records the guest state for the instruction about to be emitted.
func (e *emitter) at(p point) {
	p.blk = e.blk
	pc := e.c.pc()
	if n := len(e.points); n > 0 && e.points[n-1].at == pc {
		if e.points[n-1].p.kind == ptShadow {
			return // a shadow point stays one
		}
		e.points[n-1].p = p
		return
	}
	e.points = append(e.points, tcPoint{pc, p})
}

// exit emits a block exit to guest target: a jump (or jcc with cc >= 0)
// chained to the target's translation if it exists, else to a stub that
// asks the translator and patches the jump. In a shadow block the exit
// calls out to deliver the waiting interrupt instead.
func (e *emitter) exit(target uint32, cc int) {
	if e.blk.shadow {
		s := e.b.dedupStub(stubResume, target)
		if cc >= 0 {
			e.c.jcc(byte(cc), s)
		} else {
			e.c.jmp(s)
		}
		return
	}
	emit := func(dest uint32) uint32 {
		if cc >= 0 {
			return e.c.jcc(byte(cc), dest)
		}
		return e.c.jmp(dest)
	}
	if tgt := e.b.live(target); tgt != nil {
		// Chained at once; it gets a stub only if tgt is retired (invalidate).
		site := emit(tgt.tc)
		tgt.incoming = append(tgt.incoming, site)
		e.b.stats.chainDirect++
		return
	}
	s := e.b.chainStub(stub{guest: target, from: e.blk})
	site := emit(s)
	e.b.stubs[s-stubBase].site = site
	e.b.siteStub[site] = s
}

// lookup emits the indirect transfer to the guest address on top of the
// stack, through two tables and one scratch register: `mov %ecx,save;
// movzwl 2(%esp),%ecx; mov l1(,%ecx,4),%ecx; mov (%esp),%cx; jmp
// *bias(,%ecx,4)`. The entry for the target's high 16 bits is a quarter
// of the address of the table of its low 16 bits, less the bias (tables
// aligned so that a quarter's low 16 bits are zero): the 16-bit load puts
// the target's low half in their place, and the jump reads that table's
// entry (the bias, VMMBase, makes the operand name the VMM's region, as
// the translator's own: overlay.go), which leads
// to the target block's prologue (which pops the target and restores ECX)
// or to the miss stub. The lookup is exact, so the prologue checks
// nothing. p is the guest state before it (the target on the stack, maybe
// more to undo).
func (e *emitter) lookup(p point) {
	e.at(p)
	e.c.store(rECX, vrwSaveECX)
	p.restore |= maskOf(rECX)
	e.at(p)
	if e.blk.shadow {
		e.c.jmp(stubBase + uint32(stubRetResume))
		return
	}
	e.c.emit(0x0F, 0xB7, 0x4C, 0x24, 0x02) // movzwl 2(%esp), %ecx
	e.at(p)
	e.c.emit(0x8B, 0x0C, 0x8D) // mov l1TabAddr(,%ecx,4), %ecx
	e.c.u32(l1TabAddr)
	e.at(p)
	e.c.emit(0x66, 0x8B, 0x0C, 0x24) // mov (%esp), %cx
	e.at(p)
	e.c.emit(0xFF, 0x24, 0x8D) // jmp *lookupBias(,%ecx,4)
	e.c.u32(lookupBias)
}

// translate translates the basic block at guest address g. A block that
// ends only because it reached the instruction limit falls through into
// the translation of its continuation, placed right after it, so that the
// CPU runs both as one (up to maxFallthrough blocks in a row).
func (b *BT) translate(g uint32, shadow bool) (*block, error) {
	gen := b.gen
	first, err := b.translate1(g, shadow, false)
	if err != nil || shadow {
		return first, err
	}
	gen = b.gen
	prev := first
	for n := 1; n < maxFallthrough && prev.fallNext != 0; n++ {
		next := prev.fallNext
		if b.live(next) != nil || b.tcNext != align16(prev.tcEnd) {
			break
		}
		// Overwrite prev's final jump: the continuation starts there.
		b.tcNext = prev.exitJmp
		blk, err := b.translate1(next, false, true)
		if err != nil {
			return nil, err
		}
		b.byGuest[next] = blk
		if b.gen != gen {
			// A flush intervened: the blocks before it are gone.
			return b.translate1(g, false, false)
		}
		prev.fallTo, blk.fallFrom = blk, prev
		prev.tcEnd = blk.tc
		prev = blk
	}
	return first, nil
}

// flatCode checks the code segment the guest kernel runs in: the
// translator decodes 32-bit code and places blocks by linear address, so a
// code segment with a base or a 16-bit one stops the run with that reason
// (rather than running its code at the wrong addresses).
func (b *BT) flatCode(g uint32) error {
	cs := uint16(b.Reg(unicorn.CS))
	if x86.SelIndex(cs) == 0 && !x86.SelTI(cs) {
		return nil // the flat entry state
	}
	d, err := b.Descriptor(cs)
	if err != nil || (d.Base == 0 && d.DB) {
		return nil
	}
	bits := 16
	if d.DB {
		bits = 32
	}
	return &guestStop{fmt.Sprintf("bt: guest kernel code at %#x runs in code segment %#x (base %#x, %d-bit): the translator handles flat 32-bit kernel code only", g, trap.GuestView(cs), d.Base, bits)}
}

// translate1 translates one block at b.tcNext.
func (b *BT) translate1(g uint32, shadow, ft bool) (*block, error) {
	if g >= b.codeLimit() {
		if _, mapped := b.frameOf(g, false); mapped && g >= vmm.VMMBase {
			return nil, &guestStop{fmt.Sprintf("the guest's kernel code at %#x lies on its own page in the VMM's top 16 MiB: guest code there is not supported (a documented limit; its loads and stores there are emulated)", g)}
		}
		return nil, &outsideRAM{addr: g, what: "fetch"}
	}
	if _, ok := b.frameOf(g, false); !ok && b.ShadowOn() {
		return nil, fmt.Errorf("bt: guest kernel code at %#x is not mapped by the guest's page tables (reflecting the fetch's #PF is not implemented)", g)
	}
	if err := b.flatCode(g); err != nil {
		return nil, err
	}
	if err := b.reserve(0, maxStubsPerBlock, maxSlotsPerBlock); err != nil {
		return nil, err
	}
	b.seq++
	blk := &block{guest: g, shadow: shadow, seq: b.seq, gen: b.gen, units: make([]unit, 0, 4)}
	e := &emitter{b: b, blk: blk, c: code{base: b.tcNext, b: make([]byte, 0, 128)}}
	pc := g
	for n := 0; ; n++ {
		u := unit{guest: pc, tc: e.c.pc()}
		raw := b.fetch(pc)
		inst, err := decodeGuest(raw)
		if len(raw) == 0 || err != nil || inst.Len == 0 || inst.Op == 0 {
			u.len = 1
			u.class = Class{Kind: Undecodable, EndsBlock: true}
			u.nraw = uint8(copy(u.raw[:1], raw))
			e.at(pB(pc))
			e.c.jmp(b.newStub(stub{kind: stubUD, guest: pc}))
			u.tcEnd = e.c.pc()
			blk.units = append(blk.units, u)
			pc++
			break
		}
		raw = raw[:inst.Len]
		u.len = inst.Len
		u.nraw = uint8(copy(u.raw[:], raw)) // its text is made only for a listing (GNUSyntax was 12% of a short run)
		u.class = Classify(inst)
		next := pc + uint32(inst.Len)
		mark := len(e.c.b)
		nsites, nstubs, nspare, npoints := len(e.sites), len(b.stubs), len(b.spare), len(e.points)
		e.at(pB(pc))
		if b.ptSites[pc] && isPTStore(inst) {
			// A store that wrote a traced page table before: the VMM does
			// it in a callout, without the page fault.
			u.class = Class{Kind: Callout, Cause: trap.CausePTWrite}
			e.calloutKind(&u, pc, next, stubPTStore)
		} else if err := e.unit(&u, inst, raw, pc, next); err != nil {
			var un errUnsupported
			if !errors.As(err, &un) {
				return nil, err
			}
			// Fall back to trap's emulator, which handles every
			// sensitive instruction against the virtual CPU.
			e.c.b = e.c.b[:mark]
			e.sites = e.sites[:nsites]
			b.stubs = b.stubs[:nstubs]
			b.spare = b.spare[:nspare] // nothing retires a stub while a block is translated
			for len(e.points) > npoints && e.points[len(e.points)-1].at > u.tc {
				e.points = e.points[:len(e.points)-1]
			}
			u.fallback = un.Error()
			u.class.Kind = Callout
			if u.class.Cause == "" {
				u.class.Cause = "priv/" + strings.ToLower(inst.Op.String())
			}
			e.at(pB(pc))
			e.callout(&u, pc, next)
		}
		u.tcEnd = e.c.pc()
		blk.units = append(blk.units, u)
		pc = next
		if u.class.EndsBlock {
			break
		}
		if shadow {
			e.at(pB(pc))
			e.exit(pc, -1)
			break
		}
		if (n+1 >= maxInsns && inst.Op != x86asm.STI) || pc >= b.codeLimit() {
			e.at(pB(pc))
			blk.exitJmp = e.c.pc()
			e.exit(pc, -1)
			if e.b.live(pc) == nil {
				blk.fallNext = pc
			}
			break
		}
	}
	blk.guestEnd = pc
	blk.tc, blk.tcEnd = e.c.base, e.c.pc()
	if blk.tcEnd+prologueSize > b.tcEnd {
		// It does not fit: flush and translate again (what this attempt
		// allocated belongs to the flushed generation).
		if b.tcNext == tcBase {
			return nil, fmt.Errorf("bt: the translation cache (%d bytes) cannot hold the %d-byte block at %#x", b.tcSize, len(e.c.b), g)
		}
		if err := b.flush(); err != nil {
			return nil, err
		}
		return b.translate1(g, shadow, false)
	}
	if err := b.writeTC(e.c.base, e.c.b); err != nil {
		return nil, err
	}
	if b.keep {
		blk.code = append([]byte(nil), e.c.b...)
	}
	b.tcNext = align16(blk.tcEnd)
	b.stats.blocks++
	b.stats.insns += uint64(len(blk.units))
	b.stats.tcBytes += uint64(len(e.c.b))
	if shadow {
		b.stats.shadowBlocks++
	}
	if ft {
		b.stats.fallthroughs++
	}
	for _, tp := range e.points {
		b.points[tp.at] = tp.p
	}
	b.blocks = append(b.blocks, blk)
	if n := len(b.blocks); n > 1 && b.blocks[n-2].tc > blk.tc {
		sort.Slice(b.blocks, func(i, j int) bool { return b.blocks[i].tc < b.blocks[j].tc })
	}
	for _, s := range e.sites {
		if err := b.addCounter(blk, s.at, s.cause); err != nil {
			return nil, err
		}
	}
	if err := b.registerPages(blk); err != nil {
		return nil, err
	}
	if b.keep {
		b.history = append(b.history, blk)
	}
	return blk, nil
}

func align16(a uint32) uint32 { return (a + 15) &^ 15 }

// decodeGuest decodes the guest instruction at the start of raw, also
// those x86asm does not know (undecoded): a NOP stands for them in the
// decoded form, and bt copies them like any instruction that touches no
// memory and no control flow (an Ident unit). Without it bt raised #UD
// where native, trap and QEMU run them (difftest's misc family).
func decodeGuest(raw []byte) (x86asm.Inst, error) {
	if _, n, ok := undecoded(raw); ok {
		return x86asm.Inst{Op: x86asm.NOP, Len: n}, nil
	}
	return x86asm.Decode(raw, 32)
}

// undecoded names the instruction at the start of raw and gives its
// length if it is one that every x86 (and QEMU) runs but x86asm does not
// decode: salc (0xD6: AL = CF ? 0xFF : 0, undocumented), the hint NOPs
// 0F 0D and 0F 18-0F 1F with a ModRM operand (any reg field: x86asm takes
// 0F 1F with reg 0 only, 0F 18 with reg 0-3), and the 8087/80287
// leftovers feni, fdisi and fsetpm (DB E0, DB E1, DB E4), no-ops since.
// The translator and its listings (listing.go) both read them here.
func undecoded(raw []byte) (name string, n int, ok bool) {
	switch p := prefixLen(raw); {
	case len(raw) > 0 && raw[0] == 0xD6:
		return "salc", 1, true
	case len(raw) >= 2 && raw[0] == 0xDB && (raw[1] == 0xE0 || raw[1] == 0xE1 || raw[1] == 0xE4):
		return [...]string{0: "feni", 1: "fdisi", 4: "fsetpm"}[raw[1]-0xE0], 2, true
	case len(raw) > p+1 && raw[p] == 0x0F && (raw[p+1] == 0x0D || raw[p+1] >= 0x18 && raw[p+1] <= 0x1F):
		if inst, err := x86asm.Decode(raw, 32); err == nil && inst.Op != 0 {
			return "", 0, false // x86asm knows this one
		}
		// The length: the same prefixes and ModRM operand after a
		// one-byte opcode that takes any ModRM (mov r32, r/m32), plus one.
		alt := append(append(append([]byte(nil), raw[:p]...), 0x8B), raw[p+2:]...)
		if inst, err := x86asm.Decode(alt, 32); err == nil && inst.Op != 0 {
			return fmt.Sprintf("nop (hint %02x %02x)", raw[p], raw[p+1]), inst.Len + 1, true
		}
	}
	return "", 0, false
}

// flagsBarrier emits jmp +0 before an instruction that Unicorn 2.1.1
// runs with the wrong flags in the middle of one of its blocks
// (vmm.LosesFlagsMidBlock: loope, loopne, cmpxchg8b): the jump ends
// Unicorn's block, which stores the flags' pending state, and the
// instruction starts the next. A counting pass never showed it (its
// per-instruction hook stores that state before every instruction);
// difftest's branch and misc families did: pushf read garbage after them,
// TF included, so bt took a #DB in a timing pass.
func (e *emitter) flagsBarrier(inst x86asm.Inst, pc uint32) {
	if vmm.LosesFlagsMidBlock(inst.Op) {
		e.c.emit(0xEB, 0x00)
		e.at(pB(pc))
	}
}

// unit emits the translation of one instruction. The point of its first
// instruction (a boundary at pc) is already recorded.
func (e *emitter) unit(u *unit, inst x86asm.Inst, raw []byte, pc, next uint32) error {
	c := &e.c
	switch u.class.Kind {
	case Ident:
		e.flagsBarrier(inst, pc)
		c.emit(raw...)
	case Callout:
		e.callout(u, pc, next)
	case Jmp:
		e.exit(next+uint32(inst.Args[0].(x86asm.Rel)), -1)
	case Jcc:
		e.exit(next+uint32(inst.Args[0].(x86asm.Rel)), int(jccCode[inst.Op]))
		e.at(pB(next))
		e.exit(next, -1)
	case Loop:
		// [jmp +0;] [prefixes] loop +5; jmp fall-through; jmp target
		// (the jmp before loope and loopne: flagsBarrier)
		e.flagsBarrier(inst, pc)
		p := prefixLen(raw)
		c.emit(raw[:p+1]...)
		c.emit(5)
		e.at(pB(next))
		e.exit(next, -1)
		target := next + uint32(inst.Args[0].(x86asm.Rel))
		e.at(pB(target))
		e.exit(target, -1)
	case Call:
		if hasPrefix(raw, 0x66) {
			return fmt.Errorf("bt: %#x: 16-bit call is not supported", pc)
		}
		target := next + uint32(inst.Args[0].(x86asm.Rel))
		c.pushImm(next)
		e.at(pB(target))
		e.exit(target, -1)
	case Ret:
		if hasPrefix(raw, 0x66) {
			return fmt.Errorf("bt: %#x: 16-bit ret is not supported", pc)
		}
		if imm, ok := inst.Args[0].(x86asm.Imm); ok && imm != 0 {
			// ret $n: move the target over the last argument, drop n bytes.
			n := int32(imm)
			ecx := maskOf(rECX)
			c.store(rECX, vrwSaveECX)
			e.at(pB(pc))
			c.emit(0x8B, 0x0C, 0x24) // mov (%esp), %ecx
			e.at(pR(ecx, pc))
			c.emit(0x89) // mov %ecx, n(%esp)
			c.mem(uint8(rECX), mem{base: rESP, index: rNone, scale: 1, disp: n})
			e.at(pR(ecx, pc))
			c.load(vrwSaveECX, rECX)
			e.at(pB(pc))
			c.lea(rESP, mem{base: rESP, index: rNone, scale: 1, disp: n})
		}
		if len(e.c.b) > 0 && e.c.pc() != u.tc {
			e.lookup(pPop(0))
		} else {
			e.lookup(pB(pc))
		}
	case JmpInd, CallInd:
		if hasPrefix(raw, 0x66) {
			return fmt.Errorf("bt: %#x: 16-bit indirect transfer is not supported", pc)
		}
		if err := e.pushOperand(inst.Args[0]); err != nil {
			return fmt.Errorf("bt: %#x: %w", pc, err)
		}
		if u.class.Kind == CallInd {
			// [target] -> [return address], then push the target again.
			ecx := maskOf(rECX)
			e.at(pD(4, 0, pc))
			c.store(rECX, vrwSaveECX)
			e.at(pD(4, 0, pc))
			c.emit(0x8B, 0x0C, 0x24) // mov (%esp), %ecx
			e.at(pD(4, ecx, pc))
			c.emit(0xC7, 0x04, 0x24) // movl $next, (%esp)
			c.u32(next)
			e.at(point{kind: ptRecipe, ecxTarget: true, restore: ecx})
			c.emit(0x51) // push %ecx
			e.at(pPop(ecx))
			c.load(vrwSaveECX, rECX)
		}
		e.lookup(pPop(0))
	case Iret:
		if hasPrefix(raw, 0x66) {
			e.callout(u, pc, next)
			return nil
		}
		// A return to user mode (the frame's CS has RPL 3) is a real iret
		// from the TC: the CPU itself switches to ring 3 (Unicorn refuses a
		// host load of an RPL-3 SS at CPL 1). A return into the guest
		// kernel calls out to trap's emulator.
		ecx := maskOf(rECX)
		kernel := e.b.newStub(stub{kind: stubEmulate, guest: pc, next: next, cause: u.class.Cause, from: e.blk, ecx: true})
		c.store(rECX, vrwSaveECX)
		e.at(pB(pc))
		c.emit(0x0F, 0xB6, 0x4C, 0x24, 0x04) // movzbl 4(%esp), %ecx
		e.at(pR(ecx, pc))
		c.movzxTab(0xB6, rpl3Tab, rECX, 1, rECX)
		tab := e.b.newTable(kernel, 0)
		e.at(pR(ecx, pc))
		c.emit(0xFF, 0xA1) // jmp *tab(%ecx)
		c.u32(tab)
		e.at(pR(ecx, pc))
		e.b.setTable(tab, 1, c.pc())
		c.load(vrwSaveECX, rECX)
		// The IF the frame gives user mode is the guest's virtual IF while
		// user code runs (the real one stays 1): the VMM reads it back for
		// frames and interrupts. The flags are the frame's after the iret.
		e.at(pB(pc))
		c.emit(0xF6, 0x44, 0x24, 0x09, 0x02) // testb $2, 9(%esp): EFLAGS.IF in the frame
		e.at(pB(pc))
		c.emit(0x0F, 0x95, 0x05) // setne vrwUserIF
		c.u32(vrwUserIF)
		e.at(pB(pc))
		c.emit(raw...)
	case InTC:
		return e.inTC(u, inst, raw, pc, next)
	default:
		return fmt.Errorf("bt: %#x: no translation for kind %v", pc, u.class.Kind)
	}
	return nil
}

// callout emits the jump to an emulate stub; the block goes on after it
// unless the instruction transfers control.
func (e *emitter) callout(u *unit, pc, next uint32) { e.calloutKind(u, pc, next, stubEmulate) }

func (e *emitter) calloutKind(u *unit, pc, next uint32, kind stubKind) {
	s := e.b.newStub(stub{kind: kind, guest: pc, next: next, cause: u.class.Cause, from: e.blk})
	e.c.jmp(s)
	if !u.class.EndsBlock {
		e.b.stubs[s-stubBase].cont = e.c.pc()
	}
}

// pushOperand emits `push op` for a 32-bit register or memory operand.
func (e *emitter) pushOperand(a x86asm.Arg) error {
	switch a := a.(type) {
	case x86asm.Reg:
		r, ok := gpr32(a)
		if !ok {
			return fmt.Errorf("operand %v", a)
		}
		e.c.emit(0x50 + byte(r))
	case x86asm.Mem:
		m, err := memOf(a)
		if err != nil {
			return err
		}
		e.c.withSeg(m)
		e.c.emit(0xFF)
		e.c.mem(6, m)
	default:
		return fmt.Errorf("operand %v", a)
	}
	return nil
}

// count asks for a counter on the instruction about to be emitted.
func (e *emitter) count(cause string) {
	e.sites = append(e.sites, pendingCounter{at: e.c.pc(), cause: cause})
}

// inTC emits the in-place translation of a sensitive instruction.
func (e *emitter) inTC(u *unit, inst x86asm.Inst, raw []byte, pc, next uint32) error {
	c := &e.c
	cause := u.class.Cause
	op16 := hasPrefix(raw, 0x66)
	if hasPrefix(raw, 0xF0) {
		return errUnsupported("lock prefix (#UD)")
	}
	eax, ecx := maskOf(rEAX), maskOf(rECX)
	size := int32(4)
	if op16 {
		size = 2
	}
	switch inst.Op {
	case x86asm.IN:
		// A read of a constant port (inTCPorts): the value goes into AL,
		// AX or EAX, nothing else changes, no device sees it. The guest
		// kernel runs at virtual CPL 0, where every port is allowed.
		v, ok := inTCPortRead(inst)
		if !ok {
			return errUnsupported("in from a port the translation cache does not answer")
		}
		e.count(cause)
		switch inst.Args[0] {
		case x86asm.AL:
			c.emit(0xB0, byte(v)) // mov $v, %al
		case x86asm.AX:
			c.emit(0x66, 0xB8, byte(v), byte(v>>8)) // mov $v, %ax
		default:
			c.emit(0xB8) // mov $v, %eax
			c.u32(v)
		}
	case x86asm.CLI:
		e.count(cause)
		c.storeByteImm(vrwIF, 0)
	case x86asm.STI:
		e.count(cause)
		c.storeByteImm(vrwIF, 2)
		slot, s := e.b.newSlot(stub{kind: stubSti, guest: pc, next: next, from: e.blk})
		e.at(point{kind: ptShadow, guest: next})
		c.jmpInd(slot)
		e.b.setCont(slot, s, c.pc())
		e.at(point{kind: ptShadow, guest: next})
	case x86asm.PUSHF, x86asm.PUSHFD:
		// pushf, then IF and IOPL in the pushed image become the virtual ones.
		e.count(cause)
		c.emit(raw...)
		e.at(pD(size, 0, pc))
		c.store(rEAX, vrwSaveEAX)
		e.at(pD(size, 0, pc))
		c.emit(0x0F, 0xB6, 0x44, 0x24, 0x01) // movzbl 1(%esp), %eax
		e.at(pD(size, eax, pc))
		c.movzxTab(0xB6, pushfTab, rEAX, 1, rEAX)
		e.at(pD(size, eax, pc))
		c.store(rECX, vrwSaveECX)
		e.at(pD(size, eax, pc))
		c.movzx(0xB6, vrwIF, rECX)
		e.at(pD(size, eax|ecx, pc))
		c.lea(rEAX, mem{base: rEAX, index: rECX, scale: 1})
		e.at(pD(size, eax|ecx, pc))
		c.movzx(0xB6, vrwIOPL, rECX)
		e.at(pD(size, eax|ecx, pc))
		c.lea(rEAX, mem{base: rEAX, index: rECX, scale: 1})
		e.at(pD(size, eax|ecx, pc))
		c.emit(0x88, 0x44, 0x24, 0x01) // mov %al, 1(%esp)
		e.at(pR(eax|ecx, next))
		c.load(vrwSaveECX, rECX)
		e.at(pR(eax, next))
		c.load(vrwSaveEAX, rEAX)
	case x86asm.POPF, x86asm.POPFD:
		// The image's IF and IOPL go to the virtual CPU (one 16-bit store);
		// the real popf sets the other flags (IF and IOPL stay the VMM's).
		e.count(cause)
		c.store(rEAX, vrwSaveEAX)
		e.at(pB(pc))
		c.emit(0x0F, 0xB6, 0x44, 0x24, 0x01) // movzbl 1(%esp), %eax
		e.at(pR(eax, pc))
		c.loadTab(popfTab, rEAX, 2, rEAX, true)
		e.at(pR(eax, pc))
		c.emit(0x66) // mov %ax, vrwIF (IF and IOPL bytes)
		c.store(rEAX, vrwIF)
		finish := point{kind: ptRecipe, guest: next, restore: eax, fix: popfFinish(size)}
		e.at(finish)
		c.load(vrwSaveEAX, rEAX)
		finish.restore = 0
		e.at(finish)
		c.emit(raw...)
		e.at(pB(next))
		slot, s := e.b.newSlot(stub{kind: stubPopf, guest: pc, next: next, from: e.blk})
		c.jmpInd(slot)
		e.b.setCont(slot, s, c.pc())
	case x86asm.SGDT, x86asm.SIDT:
		if op16 {
			return errUnsupported("16-bit operand size")
		}
		a, ok := inst.Args[0].(x86asm.Mem)
		if !ok {
			return errUnsupported("register operand (#UD)")
		}
		m, err := memOf(a)
		if err != nil {
			return errUnsupported(err.Error())
		}
		src := uint32(vroGDTR)
		if inst.Op == x86asm.SIDT {
			src = vroIDTR
		}
		s, err := scratch(m.uses)
		if err != nil {
			return errUnsupported(err.Error())
		}
		sm := maskOf(s)
		e.count(cause)
		c.store(s, saveSlot(s))
		e.at(pB(pc))
		c.load(src, s)
		e.at(pR(sm, pc))
		c.withSeg(m)
		c.emit(0x89)
		c.mem(uint8(s), m)
		e.at(pR(sm, pc))
		c.load(src+4, s)
		e.at(pR(sm, pc))
		m4 := m
		m4.disp += 4
		c.withSeg(m4)
		c.emit(0x66, 0x89)
		c.mem(uint8(s), m4)
		e.at(pR(sm, next))
		c.load(saveSlot(s), s)
	case x86asm.SLDT, x86asm.STR, x86asm.SMSW:
		src := map[x86asm.Op]uint32{x86asm.SLDT: vroLDTR, x86asm.STR: vroTR, x86asm.SMSW: vroCR0}[inst.Op]
		// smsw into a 32-bit register zero-extends, as QEMU does (the SDM
		// leaves the high half undefined): like str and sldt.
		return e.storeWord(cause, inst.Args[0], src, op16, pc, next)
	case x86asm.MOV:
		seg, ok := inst.Args[1].(x86asm.Reg)
		if !ok {
			return errUnsupported("mov form")
		}
		return e.movFromSeg(cause, inst.Args[0], seg, op16, pc, next)
	case x86asm.PUSH:
		// push %seg, then show the guest's view in the pushed selector.
		e.count(cause)
		c.emit(raw...)
		e.at(pD(size, 0, pc))
		c.store(rEAX, vrwSaveEAX)
		e.at(pD(size, 0, pc))
		c.emit(0x0F, 0xB7, 0x04, 0x24) // movzwl (%esp), %eax
		e.at(pD(size, eax, pc))
		c.movzxTab(0xB7, selViewAddr, rEAX, 2, rEAX)
		e.at(pD(size, eax, pc))
		c.emit(0x66, 0x89, 0x04, 0x24) // mov %ax, (%esp)
		e.at(pR(eax, next))
		c.load(vrwSaveEAX, rEAX)
	default:
		return errUnsupported(fmt.Sprintf("%v has no in-TC form", inst.Op))
	}
	return nil
}

// popfFinish completes an in-TC popf from Go (the virtual IF and IOPL are
// already stored): the other flags from the image, the pop.
func popfFinish(size int32) func(b *BT) {
	return func(b *BT) {
		esp := b.Reg(unicorn.ESP)
		img := b.guest32(b.stackTop())
		if size == 2 {
			img &= 0xFFFF
		}
		changeable := uint32(x86.FlagsPopf) &^ (x86.FlagIF | x86.FlagIOPL)
		if size == 2 {
			changeable &= 0xFFFF
		}
		fl := b.Reg(unicorn.EFLAGS)
		b.SetReg(unicorn.EFLAGS, fl&^changeable|img&changeable)
		b.SetReg(unicorn.ESP, esp+uint32(size))
	}
}

// storeWord translates sldt/str/smsw: a 16-bit value of the virtual CPU
// into a register (zero-extended for sldt/str r32; smsw writes 16 bits) or
// memory (16 bits).
func (e *emitter) storeWord(cause string, dst x86asm.Arg, src uint32, only16 bool, pc, next uint32) error {
	c := &e.c
	switch d := dst.(type) {
	case x86asm.Reg:
		if r, ok := gpr32(d); ok {
			e.count(cause)
			if only16 {
				c.load16(src, r)
			} else {
				c.movzx(0xB7, src, r)
			}
			return nil
		}
		if r, ok := gpr16(d); ok {
			e.count(cause)
			c.load16(src, r)
			return nil
		}
		return errUnsupported(fmt.Sprintf("operand %v", d))
	case x86asm.Mem:
		m, err := memOf(d)
		if err != nil {
			return errUnsupported(err.Error())
		}
		s, err := scratch(m.uses)
		if err != nil {
			return errUnsupported(err.Error())
		}
		sm := maskOf(s)
		e.count(cause)
		c.store(s, saveSlot(s))
		e.at(pB(pc))
		c.movzx(0xB7, src, s)
		e.at(pR(sm, pc))
		c.withSeg(m)
		c.emit(0x66, 0x89)
		c.mem(uint8(s), m)
		e.at(pR(sm, next))
		c.load(saveSlot(s), s)
		return nil
	}
	return errUnsupported(fmt.Sprintf("operand %v", dst))
}

// movFromSeg translates `mov %seg, dst`: the real selector (its RPL is the
// real CPL) shown as the guest's (RPL 1 read as RPL 0) through selView.
func (e *emitter) movFromSeg(cause string, dst x86asm.Arg, seg x86asm.Reg, op16 bool, pc, next uint32) error {
	c := &e.c
	segNum := byte(seg - x86asm.ES)
	if d, ok := dst.(x86asm.Reg); ok {
		if r, ok := gpr32(d); ok && !op16 && r != rESP {
			e.count(cause)
			c.emit(0x8C, 0xC0|segNum<<3|byte(r)) // mov %seg, %r32 (zero-extends)
			e.at(point{kind: ptRecipe, guest: next, fix: func(b *BT) {
				ur := ucReg[r]
				b.SetReg(ur, uint32(selView(uint16(b.Reg(ur)))))
			}})
			c.movzxTab(0xB7, selViewAddr, r, 2, r)
			return nil
		}
	}
	r16, m, err := rmOperand(dst)
	if err != nil {
		return err
	}
	if r16 == rESP {
		return errUnsupported("operand %esp")
	}
	s, err := scratch(m.uses, func(r reg) bool { return r == r16 })
	if err != nil {
		return errUnsupported(err.Error())
	}
	sm := maskOf(s)
	e.count(cause)
	c.store(s, saveSlot(s))
	e.at(pB(pc))
	c.emit(0x8C, 0xC0|segNum<<3|byte(s)) // mov %seg, %s
	e.at(pR(sm, pc))
	c.movzxTab(0xB7, selViewAddr, s, 2, s)
	e.at(pR(sm, pc))
	if r16 != rNone {
		c.movRR(s, r16, true)
	} else {
		c.withSeg(m)
		c.emit(0x66, 0x89)
		c.mem(uint8(s), m)
	}
	e.at(pR(sm, next))
	c.load(saveSlot(s), s)
	return nil
}

// selView is the guest's view of a real selector (the table's rule).
func selView(s uint16) uint16 {
	if s&3 == 1 {
		return s &^ 3
	}
	return s
}

// writeTC writes code into the translation cache (read-only to the
// guest; the VMM writes it from the host) and drops any stale Unicorn
// translation of those bytes. Bytes at or above tcFresh have no
// translation to drop: nothing has been written there since the TC's
// translations were last dropped as a whole, and the CPU runs only code
// the translator wrote, every piece of which ends in a jump (so no
// Unicorn block runs on past it). A new block is such a write; a patch
// is not.
func (b *BT) writeTC(at uint32, p []byte) error {
	if err := b.E.MemWrite(uint64(at), p); err != nil {
		return fmt.Errorf("bt: write TC at %#x: %w", at, err)
	}
	end := at + uint32(len(p))
	if at < b.tcFresh {
		if err := b.removeCache(at, end); err != nil {
			return fmt.Errorf("bt: drop stale translations at %#x: %w", at, err)
		}
	}
	b.tcFresh = max(b.tcFresh, end)
	return nil
}

func le32(v uint32) []byte {
	var p [4]byte
	binary.LittleEndian.PutUint32(p[:], v)
	return p[:]
}

// rmOperand splits an r/m operand: a general register (16- or 32-bit,
// returned with m unused) or a memory operand (r = rNone).
func rmOperand(a x86asm.Arg) (r reg, m mem, err error) {
	m = mem{base: rNone, index: rNone, scale: 1}
	switch a := a.(type) {
	case x86asm.Reg:
		r, ok := gpr16(a)
		if !ok {
			r, ok = gpr32(a)
		}
		if !ok {
			return rNone, m, errUnsupported(fmt.Sprintf("operand %v", a))
		}
		return r, m, nil
	case x86asm.Mem:
		mm, err := memOf(a)
		if err != nil {
			return rNone, m, errUnsupported(err.Error())
		}
		return rNone, mm, nil
	}
	return rNone, m, errUnsupported(fmt.Sprintf("operand %v", a))
}
