package difftest

import (
	"fmt"
	"math/rand"
	"strings"
)

// A Stream is one random instruction stream: a family, the seed it was
// generated from, the registers it starts with, and its instructions
// (GNU as, AT&T syntax). Streams are plain data so the shrinker can drop
// instructions and rebuild.
type Stream struct {
	Family Family
	Seed   int64
	Regs   [7]uint32 // eax, ebx, ecx, edx, esi, edi, ebp at the start
	Flags  uint32    // the status flags and DF at the start
	Mem    [ScratchWords]uint32
	Insns  []string
	// FlagMask: the flags the dump keeps — defined at the end of the
	// stream (an instruction that leaves a flag undefined clears its bit
	// until a later instruction defines it again).
	FlagMask uint32
	// FaultFlagMask: the flags a fault's report keeps — defined wherever
	// the stream may stop on a fault (a flag some instruction leaves
	// undefined, anywhere in the stream, is left out).
	FaultFlagMask uint32
	// User: the instructions run at ring 3.
	User bool
}

// ScratchWords is the size of the memory a stream may touch (besides its
// stack), in 32-bit words; its checksum is part of the dump.
const ScratchWords = 64

// Family names a kind of stream.
type Family string

// The families. Each generates what it names; all start from random
// registers, flags and scratch memory and end with a dump.
const (
	FamALU    Family = "alu"    // arithmetic, logic, shifts, bit operations, flags
	FamMem    Family = "mem"    // the same on memory operands, every addressing form
	FamString Family = "string" // movs/stos/lods/cmps/scas, with rep, both directions
	FamStack  Family = "stack"  // push/pop, pushf/popf, call/ret, enter/leave
	FamSys    Family = "sys"    // sensitive and privileged instructions at CPL 0
	FamUser   Family = "user"   // ring-3 code with system calls (int $0x80)
	FamSMC    Family = "smc"    // stores into code that runs next
	FamFault  Family = "fault"  // instructions that fault, and the handler's report
	FamPaging Family = "paging" // page-table edits, invlpg, CR3 loads, CR0.WP, #PF fixed by the handler
	FamFPU    Family = "fpu"    // x87 and SSE arithmetic on small exact values, results stored to scratch
	FamPAE    Family = "pae"    // the paging family's edits under PAE: 8-byte entries, two PDPTs, a directory entry's R/W
	FamBranch Family = "branch" // jcc, loop/loope/loopne/jecxz, indirect call/jmp (register, memory, table), ret imm, far ret, iret, same ring
	FamMisc   Family = "misc"   // BCD adjusts, sign extensions, xlat, bsf/bsr, shld/shrd, cmpxchg, xadd, cmpxchg8b, movsx/movzx
	FamSeg    Family = "seg"    // FS and GS loaded (mov, pop, lfs/lgs) with segments of other bases, limits and types; accesses through them
	FamInt    Family = "int"    // software interrupts whose handlers return: interrupt and trap gates, frames edited, nested
)

// Families lists every family, in a fixed order.
var Families = []Family{FamALU, FamMem, FamString, FamStack, FamSys, FamUser, FamSMC, FamFault, FamPaging, FamFPU, FamPAE, FamBranch, FamMisc, FamSeg, FamInt}

// ParseFamily checks a family name.
func ParseFamily(s string) (Family, error) {
	for _, f := range Families {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("difftest: unknown family %q (have %v)", s, Families)
}

// Status flags: CF PF AF ZF SF OF, and DF.
const (
	fCF      = 1 << 0
	fPF      = 1 << 2
	fAF      = 1 << 4
	fZF      = 1 << 6
	fSF      = 1 << 7
	fDF      = 1 << 10
	fOF      = 1 << 11
	fArith   = fCF | fPF | fAF | fZF | fSF | fOF
	fCompare = fArith | fDF
)

// gen builds one stream.
type gen struct {
	r     *rand.Rand
	s     *Stream
	undef uint32 // flags currently undefined
	// everUndef: flags left undefined at some point of the stream.
	everUndef uint32
	label     int
	pt        int // paging: the page directory loaded (0 or 1)
	// fpu: SSE enabled and the slots loaded; depth is the x87 stack's.
	fpuOn bool
	depth int
	// seg: the selector FS and GS hold (0x10 at the start).
	segSel map[string]int
}

var (
	regs32 = []string{"%eax", "%ebx", "%ecx", "%edx", "%esi", "%edi", "%ebp"}
	regs16 = []string{"%ax", "%bx", "%cx", "%dx", "%si", "%di", "%bp"}
	regs8  = []string{"%al", "%bl", "%cl", "%dl", "%ah", "%bh", "%ch", "%dh"}
	conds  = []string{"o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"}
)

// Generate makes stream number seed of family f with about n instructions.
func Generate(f Family, seed int64, n int) Stream {
	g := &gen{r: rand.New(rand.NewSource(seed ^ int64(len(f))<<56 ^ int64(f[0])<<48)), s: &Stream{Family: f, Seed: seed}}
	for i := range g.s.Regs {
		g.s.Regs[i] = g.val32()
	}
	g.s.Flags = g.r.Uint32() & fArith
	for i := range g.s.Mem {
		g.s.Mem[i] = g.val32()
	}
	g.s.User = f == FamUser
	for len(g.s.Insns) < n {
		switch f {
		case FamALU:
			g.alu(false)
		case FamMem:
			g.alu(true)
		case FamString:
			g.str()
		case FamStack:
			g.stack()
		case FamSys:
			g.sys()
		case FamUser:
			g.user()
		case FamSMC:
			g.smc()
		case FamFault:
			g.fault()
		case FamPaging:
			g.paging()
		case FamPAE:
			g.pae()
		case FamFPU:
			g.fpu()
		case FamBranch:
			g.branch()
		case FamMisc:
			g.misc()
		case FamSeg:
			g.seg()
		case FamInt:
			g.intr()
		}
	}
	if f == FamFPU {
		g.fpuEnd()
	}
	g.s.FlagMask = fCompare &^ g.undef
	g.s.FaultFlagMask = fCompare &^ (g.undef | g.everUndef)
	return *g.s
}

// val32 favours the values that find bugs: 0, ±1, sign bits, small numbers.
func (g *gen) val32() uint32 {
	switch g.r.Intn(8) {
	case 0:
		return 0
	case 1:
		return 0xFFFFFFFF
	case 2:
		return 0x80000000 | uint32(g.r.Intn(4))
	case 3:
		return 0x7FFFFFFF - uint32(g.r.Intn(4))
	case 4:
		return uint32(g.r.Intn(64))
	}
	return g.r.Uint32()
}

func (g *gen) emit(format string, a ...any) { g.s.Insns = append(g.s.Insns, fmt.Sprintf(format, a...)) }

// sets records an instruction's effect on the flags: def are defined by it,
// undef left undefined.
func (g *gen) sets(def, undef uint32) {
	g.undef = g.undef&^def | undef
	g.everUndef |= undef
}

// readsFlags makes the flags an instruction reads defined first.
func (g *gen) readsFlags(mask uint32) {
	if g.undef&mask != 0 {
		g.emit("cmp %s, %s", g.reg32(), g.reg32())
		g.sets(fArith, 0)
	}
}

func (g *gen) pick(xs []string) string { return xs[g.r.Intn(len(xs))] }
func (g *gen) reg32() string           { return g.pick(regs32) }

// operand of width w (8, 16, 32): a register, or with mem a scratch location.
func (g *gen) operand(w int, mem bool) string {
	if mem && g.r.Intn(2) == 0 {
		return g.memOp(w)
	}
	switch w {
	case 8:
		return g.pick(regs8)
	case 16:
		return g.pick(regs16)
	}
	return g.reg32()
}

// memOp is a scratch location of width w in one of the addressing forms;
// an index register is masked into range first.
func (g *gen) memOp(w int) string {
	off := g.r.Intn(ScratchWords*4 - 8)
	switch g.r.Intn(4) {
	case 0:
		return fmt.Sprintf("scratch+%d", off)
	case 1:
		idx := g.pick([]string{"%esi", "%edi", "%ecx"})
		g.emit("and $0x3f, %s", idx)
		g.sets(fArith, fAF)
		return fmt.Sprintf("scratch(,%s,2)", idx)
	case 2:
		idx := g.pick([]string{"%esi", "%edi"})
		g.emit("and $0x1f, %s", idx)
		g.sets(fArith, fAF)
		return fmt.Sprintf("scratch+%d(,%s,4)", g.r.Intn(64), idx)
	}
	g.emit("lea scratch+%d, %%ebp", g.r.Intn(64))
	idx := g.pick([]string{"%esi", "%edi"})
	g.emit("and $0x3f, %s", idx)
	g.sets(fArith, fAF)
	return fmt.Sprintf("%d(%%ebp,%s,1)", g.r.Intn(64), idx)
}

func suffix(w int) string {
	switch w {
	case 8:
		return "b"
	case 16:
		return "w"
	}
	return "l"
}

func (g *gen) imm(w int) uint32 {
	v := g.val32()
	if w < 32 {
		v &= 1<<w - 1
	}
	return v
}

func (g *gen) width() int { return []int{8, 16, 32, 32}[g.r.Intn(4)] }

// alu emits one arithmetic/logic instruction (with mem: on memory too).
func (g *gen) alu(mem bool) {
	w := g.width()
	sx := suffix(w)
	dst := g.operand(w, mem)
	src := g.operand(w, false)
	if strings.HasPrefix(dst, "scratch") || strings.Contains(dst, "(") {
		// one memory operand at most; the source is a register or immediate
	} else if mem && g.r.Intn(3) == 0 {
		src = g.memOp(w)
	}
	switch g.r.Intn(16) {
	case 0, 1:
		op := g.pick([]string{"add", "sub", "and", "or", "xor", "cmp"})
		if g.r.Intn(2) == 0 {
			g.emit("%s%s $%#x, %s", op, sx, g.imm(w), dst)
		} else {
			g.emit("%s%s %s, %s", op, sx, src, dst)
		}
		undef := uint32(0)
		if op == "and" || op == "or" || op == "xor" {
			undef = fAF
		}
		g.sets(fArith, undef)
	case 2:
		g.readsFlags(fCF)
		g.emit("%s%s %s, %s", g.pick([]string{"adc", "sbb"}), sx, src, dst)
		g.sets(fArith, 0)
	case 3:
		g.emit("%s%s %s", g.pick([]string{"inc", "dec"}), sx, dst)
		g.sets(fArith&^fCF, 0)
	case 4:
		g.emit("%s%s %s", g.pick([]string{"neg", "not"}), sx, dst)
		if strings.HasPrefix(g.s.Insns[len(g.s.Insns)-1], "neg") {
			g.sets(fArith, 0)
		}
	case 5:
		op := g.pick([]string{"shl", "shr", "sar", "rol", "ror"})
		if g.r.Intn(2) == 0 {
			n := 1 + g.r.Intn(w-1)
			g.emit("%s%s $%d, %s", op, sx, n, dst)
			undef := uint32(fAF)
			if n != 1 {
				undef |= fOF
			}
			if op == "rol" || op == "ror" {
				g.sets(fCF, undef&fOF)
			} else {
				g.sets(fArith, undef)
			}
		} else {
			// A count in CL: 0 leaves the flags alone, others define some.
			g.emit("%s%s %%cl, %s", op, sx, dst)
			g.sets(0, fArith)
		}
	case 6:
		g.readsFlags(fCF)
		g.emit("%s%s $1, %s", g.pick([]string{"rcl", "rcr"}), sx, dst)
		g.sets(fCF|fOF, 0)
	case 7:
		rs := regs32
		if w == 16 {
			rs = regs16
		} else {
			w = 32
		}
		g.emit("imul%s %s, %s", suffix(w), g.operand(w, mem), g.pick(rs))
		g.sets(fCF|fOF, fSF|fZF|fAF|fPF)
	case 8:
		g.emit("%s%s %s", g.pick([]string{"mul", "imul"}), sx, g.operand(w, mem))
		g.sets(fCF|fOF, fSF|fZF|fAF|fPF)
	case 9:
		g.readsFlags(fArith)
		c := g.pick(conds)
		switch g.r.Intn(3) {
		case 0:
			g.emit("set%s %s", c, g.operand(8, mem))
		case 1:
			g.emit("cmov%s %s, %s", c, g.operand(32, mem), g.reg32())
		default:
			g.label++
			g.emit("j%s 1f", c)
			g.emit("%s $%#x, %s", "xorl", g.imm(32), g.reg32())
			g.emit("1:")
			g.sets(fArith, fAF)
		}
	case 10:
		if w == 8 {
			w = 32
		}
		sx = suffix(w)
		op := g.pick([]string{"bt", "bts", "btr", "btc"})
		g.emit("%s%s $%d, %s", op, sx, g.r.Intn(w), g.operand(w, mem))
		g.sets(fCF, fOF|fSF|fZF|fAF|fPF)
	case 11:
		g.emit("%s%s %s, %s", g.pick([]string{"test", "mov", "xchg"}), sx, src, dst)
		if strings.HasPrefix(g.s.Insns[len(g.s.Insns)-1], "test") {
			g.sets(fArith, fAF)
		}
	case 12:
		g.emit("%s %s, %s", g.pick([]string{"movzbl", "movsbl"}), g.operand(8, mem), g.reg32())
	case 13:
		g.emit("%s %s, %s", g.pick([]string{"movzwl", "movswl"}), g.operand(16, mem), g.reg32())
	case 14:
		switch g.r.Intn(5) {
		case 0:
			g.emit("bswap %s", g.reg32())
		case 1:
			g.emit("lea %d(%s,%s,%d), %s", int32(g.r.Uint32()), g.reg32(), g.reg32(), 1<<g.r.Intn(4), g.reg32())
		case 2:
			g.emit("%s", g.pick([]string{"clc", "stc", "cmc"}))
			g.readsFlags(fCF)
			g.sets(fCF, 0)
		case 3:
			g.emit("%s", g.pick([]string{"cwtl", "cltd", "cbtw", "cwtd"}))
		default:
			g.emit("%s", g.pick([]string{"lahf", "sahf"}))
			g.readsFlags(fArith)
			if strings.HasPrefix(g.s.Insns[len(g.s.Insns)-1], "sahf") {
				g.sets(fArith&^fOF, 0)
			}
		}
	default:
		// Division by a divisor made nonzero and small enough not to overflow.
		d := []string{"%ebx", "%ecx", "%esi", "%edi"}[g.r.Intn(4)]
		g.emit("or $0x10000, %s", d)
		g.emit("xor %%edx, %%edx")
		g.emit("divl %s", d)
		g.sets(0, fArith)
	}
}

// str emits one string instruction with its registers set up in range.
func (g *gen) str() {
	n := 1 + g.r.Intn(8)
	g.emit("%s", g.pick([]string{"cld", "std"}))
	down := strings.HasSuffix(g.s.Insns[len(g.s.Insns)-1], "std")
	mid := ScratchWords * 2
	g.emit("mov $scratch+%d, %%esi", mid+g.r.Intn(16))
	g.emit("mov $scratch+%d, %%edi", mid-8+g.r.Intn(16))
	g.emit("mov $%d, %%ecx", n)
	sz := g.pick([]string{"b", "w", "l"})
	op := g.pick([]string{"movs", "stos", "lods", "cmps", "scas"})
	rep := ""
	switch op {
	case "movs", "stos", "lods":
		if g.r.Intn(2) == 0 {
			rep = "rep "
		}
	default:
		rep = g.pick([]string{"", "repe ", "repne "})
		g.sets(fArith, 0)
	}
	g.emit("%s%s%s", rep, op, sz)
	_ = down
	g.alu(false)
}

// stack emits stack and control-flow instructions, balanced.
func (g *gen) stack() {
	switch g.r.Intn(6) {
	case 0:
		g.emit("push %s", g.reg32())
		g.alu(false)
		g.emit("pop %s", g.reg32())
	case 1:
		g.emit("pushl $%#x", g.val32())
		g.emit("popw %s", g.pick(regs16))
		g.emit("popw %s", g.pick(regs16))
	case 2:
		g.readsFlags(fArith)
		g.emit("pushf")
		g.emit("xorl $%#x, (%%esp)", g.r.Uint32()&fArith)
		g.emit("popf")
		g.sets(fArith, 0)
	case 3:
		g.emit("call 1f")
		g.emit("jmp 2f")
		g.emit("1: add %s, %s", g.reg32(), g.reg32())
		g.sets(fArith, 0)
		g.emit("ret")
		g.emit("2:")
	case 4:
		g.emit("enter $%d, $0", 4*g.r.Intn(8))
		g.emit("movl %s, -4(%%ebp)", g.reg32())
		g.emit("leave")
	default:
		g.emit("pushal")
		g.alu(false)
		g.emit("popal")
	}
}

// branch emits control transfers that a translator must place and
// rewrite (short and near conditional branches, loop and jecxz with their
// 8-bit reach, indirect targets from a register, memory or a table,
// returns that pop arguments, far returns and iret to the same ring);
// every path reaches the next instruction. A skipped instruction may have
// left flags undefined: after a join, a flag is undefined if either path
// left it so.
func (g *gen) branch() {
	// Local numeric labels (8 the join, 9 a target, 3 a table, 4-7 its
	// cases): streams of a batch share one source; alu's own jcc uses 1.
	// body: an ALU step that may or may not run (its flags joined).
	body := func() {
		prev := g.undef
		g.alu(false)
		g.undef |= prev
	}
	switch g.r.Intn(9) {
	case 0: // conditional, forward, short or near
		g.readsFlags(fArith)
		c := g.pick(conds)
		if g.r.Intn(2) == 0 {
			g.emit("j%s 8f", c)
			body()
		} else {
			g.emit("j%s.d32 8f", c) // a rel32 encoding over a short distance
			body()
			body()
		}
		g.emit("8:")
	case 1: // loop, loope, loopne: a bounded backward loop whose body sets ZF
		g.emit("mov $%d, %%ecx", 1+g.r.Intn(5))
		r := g.pick([]string{"%eax", "%ebx", "%edx", "%esi", "%edi", "%ebp"})
		g.emit("8: add $%#x, %s", g.imm(32), r)
		g.sets(fArith, 0)
		g.emit("%s 8b", g.pick([]string{"loop", "loope", "loopne"}))
	case 2: // jecxz and jcxz over a step, ECX as the stream left it
		g.emit("%s 8f", g.pick([]string{"jecxz", "jecxz", "jcxz"}))
		body()
		g.emit("8:")
	case 3: // an indirect call through a register
		r := g.pick([]string{"%eax", "%ebx", "%ecx", "%edx", "%esi", "%edi", "%ebp"})
		g.emit("mov $9f, %s", r)
		g.emit("call *%s", r)
		g.emit("jmp 8f")
		g.emit("9:")
		body()
		g.emit("ret")
		g.emit("8:")
	case 4: // an indirect jump through memory (a scratch word, restored)
		w := 4 * g.r.Intn(ScratchWords)
		g.emit("pushl scratch+%d", w)
		g.emit("movl $9f, scratch+%d", w)
		g.emit("jmp *scratch+%d", w)
		body()
		g.emit("9: popl scratch+%d", w)
	case 5: // a jump table indexed by a register's low bits
		r := g.pick([]string{"%eax", "%ebx", "%ecx", "%edx", "%esi", "%edi", "%ebp"})
		g.emit("push %s", r)
		g.emit("and $3, %s", r)
		g.sets(fArith, fAF)
		g.emit("jmp *3f(,%s,4)", r)
		g.emit("3: .long 4f, 5f, 6f, 7f")
		for i := 0; i < 4; i++ {
			g.emit("%d: addl $%d, (%%esp)", 4+i, i+1)
			g.emit("jmp 8f")
		}
		g.emit("8: pop %s", r)
		g.sets(fArith, 0)
	case 6: // a near return that pops its arguments
		n := g.r.Intn(4)
		for i := 0; i < n; i++ {
			g.emit("pushl $%#x", g.val32())
		}
		g.emit("call 9f")
		g.emit("jmp 8f")
		g.emit("9:")
		body()
		g.emit("ret $%d", 4*n)
		g.emit("8:")
	case 7: // a far return to the same code segment
		g.emit("push %%cs")
		g.emit("call 9f")
		g.emit("jmp 8f")
		g.emit("9:")
		body()
		g.emit("lret")
		g.emit("8:")
	default: // iret to the same ring: the flags come back as pushed
		g.readsFlags(fArith)
		g.emit("pushf")
		g.emit("push %%cs")
		g.emit("pushl $8f")
		body()
		g.emit("iret")
		g.emit("8:")
		g.undef = g.undef &^ fArith // iret restored the flags pushf saved (all defined)
	}
}

// segSels are the harness's selectors the seg family loads: flat data,
// small limit, base 0x100, expand-down, read-only, readable and
// execute-only code, not present, DPL 3 (as RPL 0 and 3), DPL-1 data,
// null, beyond the GDT, LDT.
var segSels = []int{0x10, 0x40, 0x48, 0x50, 0x58, 0x60, 0x68, 0x70, 0x78, 0x7b, 0x30, 0x00, 0x3, 0x800, 0x44}

// seg loads FS or GS and accesses memory through it; a selector the CPU
// refuses, or an access outside the limit or against the type, faults
// and ends the stream with the handler's report.
func (g *gen) seg() {
	if g.segSel == nil {
		g.segSel = map[string]int{"%fs": 0x10, "%gs": 0x10}
	}
	sr := g.pick([]string{"%fs", "%gs"})
	sel := segSels[g.r.Intn(len(segSels))]
	switch g.r.Intn(6) {
	case 0, 1:
		g.emit("mov $%#x, %%ax", sel)
		g.emit("mov %%ax, %s", sr)
		g.segSel[sr] = sel
	case 2:
		g.emit("pushl $%#x", sel)
		g.emit("pop %s", sr)
		g.segSel[sr] = sel
	case 3:
		w := 4 * g.r.Intn(ScratchWords-2)
		g.emit("movl $%#x, scratch+%d", g.val32(), w)
		g.emit("movw $%#x, scratch+%d", sel, w+4)
		g.emit("l%s scratch+%d, %s", sr[1:], w, g.reg32())
		g.segSel[sr] = sel
	default:
		if g.segSel[sr] == 0x40 {
			// segment 0x40 (on segbuf, limit 0xff): offsets inside and
			// just past its limit
			g.emit("movb %s:%#x, %%al", sr, 0xf8+g.r.Intn(16))
			return
		}
		// an access through the segment into segbuf, whichever base (0
		// or 0x100) the segment has: its base decides the address
		disp := fmt.Sprintf("segbuf+%d", 4*g.r.Intn(0x40))
		if g.r.Intn(2) == 0 {
			disp = fmt.Sprintf("segbuf+0x100+%d", 4*g.r.Intn(0x40))
		}
		if g.r.Intn(2) == 0 {
			g.emit("movl %s:%s, %s", sr, disp, g.reg32())
		} else {
			g.emit("addl %s, %s:%s", g.reg32(), sr, disp)
			g.sets(fArith, 0)
		}
	}
}

// intr emits software interrupts to the harness's returning handlers
// (0x83-0x86), between ALU steps: the iret brings the flags back as the
// int pushed them (0x84's with CF set), 0x85 skips a ud2, 0x86 nests two
// more; into with OF clear does nothing.
func (g *gen) intr() {
	switch g.r.Intn(6) {
	case 0, 1:
		g.emit("int $0x83")
	case 2:
		g.readsFlags(fArith)
		g.emit("int $0x84")
		g.sets(fCF, 0)
	case 3:
		g.emit("int $0x85")
		g.emit("ud2")
	case 4:
		g.readsFlags(fArith)
		g.emit("int $0x86")
		g.sets(fCF, 0)
	default:
		g.emit("cmp %s, %s", g.reg32(), g.reg32()) // defines OF
		g.sets(fArith, 0)
		g.emit("jo 1f")
		g.emit("into")
		g.emit("1:")
	}
	g.alu(false)
}

// misc emits the integer instructions alu does not: BCD adjusts, sign
// extensions, xlat, bit scans, double shifts, the exchanges, with the
// flags each leaves undefined marked so.
func (g *gen) misc() {
	switch g.r.Intn(16) {
	case 15:
		// no-ops decoders miss: hint NOPs (0F 0D, 0F 18-0F 1F, any ModRM
		// reg field; register or [reg] operands, never touched) and the
		// 8087's feni/fdisi/fsetpm
		if g.r.Intn(4) == 0 {
			g.emit(".byte 0xdb, %#x", []int{0xe0, 0xe1, 0xe4}[g.r.Intn(3)])
			return
		}
		op := []int{0x0d, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f}[g.r.Intn(9)]
		modrm := 0xc0 | g.r.Intn(64)
		if g.r.Intn(2) == 0 {
			modrm = g.r.Intn(8)<<3 | []int{0, 1, 2, 3, 6, 7}[g.r.Intn(6)] // [reg]
		}
		g.emit(".byte 0x0f, %#x, %#x", op, modrm)
		return
	case 10:
		// enter with a nesting level: it copies frame pointers from the
		// frame EBP points at, so EBP first points into the stack
		g.emit("mov %%esp, %%ebp")
		g.emit("enter $%d, $%d", 4*g.r.Intn(4), 1+g.r.Intn(3))
		g.emit("mov -4(%%ebp), %s", g.pick([]string{"%eax", "%ebx", "%ecx", "%edx", "%esi", "%edi"}))
		g.emit("leave")
		return
	case 11:
		// bt* on memory with a register bit offset: the offset reaches
		// past the operand (a bit string), kept inside scratch
		r := g.pick([]string{"%eax", "%ecx", "%edx"})
		g.emit("and $0x3ff, %s", r)
		g.emit("sub $0x200, %s", r)
		g.sets(fArith, 0)
		g.emit("%sl %s, scratch+128", g.pick([]string{"bt", "bts", "btr", "btc"}), r)
		g.sets(fCF, fArith&^fCF)
		return
	case 12:
		// rotates through carry by counts past the operand's width
		g.readsFlags(fCF)
		w := []int{8, 16}[g.r.Intn(2)]
		g.emit("%s%s $%d, %s", g.pick([]string{"rcl", "rcr"}), suffix(w), 2+g.r.Intn(30), g.operand(w, true))
		g.sets(fCF, fOF)
		return
	case 13:
		// the undocumented salc (0xD6: AL = CF ? 0xFF : 0)
		g.readsFlags(fCF)
		g.emit(".byte 0xd6")
		return
	case 14:
		// imul's three-operand and two-operand forms
		w := []int{16, 32}[g.r.Intn(2)]
		if g.r.Intn(2) == 0 {
			g.emit("imul%s $%d, %s, %s", suffix(w), int16(g.r.Uint32()), g.operand(w, true), g.operand(w, false))
		} else {
			g.emit("imul%s %s, %s", suffix(w), g.operand(w, true), g.operand(w, false))
		}
		g.sets(fCF|fOF, fSF|fZF|fAF|fPF)
		return
	case 0:
		g.readsFlags(fCF | fAF)
		op := g.pick([]string{"daa", "das", "aaa", "aas"})
		g.emit("%s", op)
		if op == "daa" || op == "das" {
			g.sets(fArith&^fOF, fOF)
		} else {
			g.sets(fCF|fAF, fOF|fSF|fZF|fPF)
		}
	case 1:
		g.emit("%s $%d", g.pick([]string{"aam", "aad"}), 1+g.r.Intn(255))
		g.sets(fSF|fZF|fPF, fCF|fOF|fAF)
	case 2:
		g.emit("%s", g.pick([]string{"cbw", "cwde", "cwd", "cdq"}))
	case 3:
		g.emit("and $%d, %%eax", ScratchWords*4-1)
		g.sets(fArith, fAF)
		g.emit("mov $scratch, %%ebx")
		g.emit("xlat")
	case 4:
		// A source of 0 leaves the destination undefined (QEMU 7.2 and
		// Unicorn's QEMU 5.0 differ there): the source gets a bit first.
		w := []int{16, 32}[g.r.Intn(2)]
		src := g.operand(w, true)
		g.emit("or%s $%#x, %s", suffix(w), uint32(1)<<g.r.Intn(w), src)
		g.emit("%s%s %s, %s", g.pick([]string{"bsf", "bsr"}), suffix(w), src, g.operand(w, false))
		g.sets(fZF, fArith&^fZF)
	case 5:
		w := []int{16, 32}[g.r.Intn(2)]
		op := g.pick([]string{"shld", "shrd"})
		if g.r.Intn(2) == 0 {
			n := 1 + g.r.Intn(w-1)
			g.emit("%s%s $%d, %s, %s", op, suffix(w), n, g.operand(w, false), g.operand(w, true))
			undef := uint32(fAF)
			if n != 1 {
				undef |= fOF
			}
			g.sets(fArith&^undef, undef)
		} else {
			g.emit("%s%s %%cl, %s, %s", op, suffix(w), g.operand(w, false), g.operand(w, true))
			g.sets(0, fArith) // a count of 0 (or 16-31 on 16 bits) leaves or undefines them
		}
	case 6:
		w := g.width()
		g.emit("cmpxchg%s %s, %s", suffix(w), g.operand(w, false), g.operand(w, true))
		g.sets(fArith, 0)
	case 7:
		w := g.width()
		g.emit("xadd%s %s, %s", suffix(w), g.operand(w, false), g.operand(w, true))
		g.sets(fArith, 0)
	case 8:
		g.emit("cmpxchg8b scratch+%d", 8*g.r.Intn(ScratchWords/2))
		g.sets(fZF, 0)
	default:
		op := g.pick([]string{"movsbl", "movswl", "movzbl", "movzwl", "movsbw", "movzbw"})
		src := g.operand(8, true)
		if op[4] == 'w' && op[5] == 'l' {
			src = g.operand(16, true)
		}
		dst := g.reg32()
		if op[5] == 'w' {
			dst = g.pick(regs16)
		}
		g.emit("%s %s, %s", op, src, dst)
	}
}

// sys: sensitive and privileged instructions at CPL 0 (the x86 hole and
// the emulator), each kept harmless to the harness.
func (g *gen) sys() {
	switch g.r.Intn(14) {
	case 0:
		g.emit("%s", g.pick([]string{"cli", "sti", "cli"}))
		g.emit("cli")
	case 1:
		g.emit("pushf")
		g.emit("pop %s", g.reg32())
	case 2:
		g.emit("%s scratch+%d", g.pick([]string{"sgdt", "sidt"}), 4*g.r.Intn(ScratchWords-2))
	case 3:
		g.emit("smsw %s", g.reg32())
	case 4:
		g.emit("%s %s", g.pick([]string{"str", "sldt"}), g.reg32())
	case 5:
		sel := []int{0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38, 0x3b, 0x0b, 0x13, 0x800}[g.r.Intn(12)]
		op := g.pick([]string{"lar", "lsl", "verr", "verw"})
		g.emit("mov $%#x, %%ax", sel)
		if op == "verr" || op == "verw" {
			g.emit("%s %%ax", op)
		} else {
			g.emit("%s %%ax, %s", op, g.pick([]string{"%ebx", "%ecx", "%edx"}))
		}
		g.sets(fZF, 0)
	case 6:
		g.emit("mov %s, %s", g.pick([]string{"%cs", "%ds", "%ss", "%es"}), g.pick(regs16))
	case 7:
		g.emit("mov $0x10, %%ax")
		g.emit("mov %%ax, %s", g.pick([]string{"%ds", "%es", "%fs", "%gs", "%ss"}))
	case 8:
		g.emit("mov %%cr0, %%eax")
		g.emit("mov %%eax, %%cr0")
	case 9:
		g.emit("mov $%#x, %%ecx", []uint32{0x1b, 0x174, 0x175, 0x176, 0x277}[g.r.Intn(5)])
		g.emit("rdmsr")
	case 10:
		n := g.pick([]string{"0", "1", "2", "3", "6", "7"})
		if g.r.Intn(2) == 0 {
			g.emit("mov %s, %%db%s", g.reg32(), n)
		} else {
			g.emit("mov %%db%s, %s", n, g.reg32())
		}
	case 11:
		g.emit("mov $%d, %%eax", g.r.Intn(3))
		g.emit("xor %%ecx, %%ecx")
		g.emit("cpuid")
	case 12:
		g.emit("%s $0x80, %s", "in", g.pick([]string{"%al", "%ax", "%eax"}))
	default:
		g.alu(false)
	}
}

// user: ring-3 code with system calls; the harness enters ring 3 first.
func (g *gen) user() {
	switch g.r.Intn(6) {
	case 0:
		g.emit("int $0x80")
	case 1:
		g.emit("pushf")
		g.emit("pop %s", g.reg32())
	case 2:
		g.emit("mov %s, %s", g.pick([]string{"%cs", "%ds", "%ss"}), g.pick(regs16))
	default:
		g.alu(g.r.Intn(2) == 0)
	}
}

// smc: a store into an instruction that runs later in the stream.
func (g *gen) smc() {
	g.label++
	r := g.reg32()
	g.emit("movl $%#x, 9f+1", g.val32())
	g.alu(false)
	g.emit("9: mov $0x11111111, %s", r)
	g.alu(false)
}

// fault: an instruction that may fault; the handler reports it and the
// stream ends there.
func (g *gen) fault() {
	switch g.r.Intn(8) {
	case 0:
		g.emit("divl %s", g.pick([]string{"%ebx", "%ecx", "%esi"}))
		g.sets(0, fArith)
	case 1:
		g.emit("%s", g.pick([]string{"ud2", "int3", "int $0x40"}))
	case 2:
		g.emit("mov $%#x, %%ax", []int{0x18, 0x28, 0x3b, 0x800, 0x0b}[g.r.Intn(5)])
		g.emit("mov %%ax, %s", g.pick([]string{"%ds", "%ss", "%fs"}))
	case 3:
		g.readsFlags(fOF)
		g.emit("into")
	case 4:
		g.emit("bound %s, scratch", g.reg32())
	default:
		g.alu(false)
	}
}

// The paging family's world (the harness builds it; paging_setup resets
// it before each stream and turns paging on): two page directories, each
// mapping 0-4 MiB through its own page table, identity except for the
// window, WindowPages pages at WindowBase whose entries the streams edit.
// Directory 0's window maps frame i at page i, directory 1's the frames in
// reverse; its first two pages (and directory 0's last two) start not
// present. The frames are identity-mapped at FrameBase too, so the dump's
// checksum reads them (their first 16 words), and the window's entries of
// both tables (the A and D bits the CPU sets count) whatever the window
// maps. A #PF in the window is fixed by the handler — the entry of the
// current table made present and writable, invlpg, iret, at most 8 per
// stream — and the count and a hash of CR2 and the error code go into the
// checksum; any other fault ends the stream with its report.
const (
	WindowBase  = 0x380000
	FrameBase   = 0x300000
	WindowPages = 8
)

// paging emits one paging operation. The generator tracks which directory
// is loaded so that an entry it edits in the current one is invalidated
// (invlpg or a CR3 load) before the window is touched again: a stale TLB
// entry is the CPU's choice, not a fact to compare.
func (g *gen) paging() {
	page := g.r.Intn(WindowPages)
	win := fmt.Sprintf("%#x", WindowBase+page*4096+4*g.r.Intn(16))
	switch g.r.Intn(10) {
	case 0, 1, 2:
		g.windowAccess(win)
	case 3, 4:
		dir, v := g.entryEdit()
		g.emit("movl $%#x, pt%d+%#x", v, dir, (WindowBase>>12&0x3FF+page)*4)
		g.invalidate(dir, page)
	case 5:
		g.emit("invlpg %#x", WindowBase+page*4096)
	case 6:
		g.pt = 1 - g.pt
		g.emit("mov $pd%d, %%eax", g.pt)
		g.emit("mov %%eax, %%cr3")
	case 7:
		g.toggleWP()
	default:
		g.alu(false)
	}
}

// windowAccess loads, stores or updates a word of the window at win.
func (g *gen) windowAccess(win string) {
	r := g.reg32()
	switch g.r.Intn(4) {
	case 0:
		g.emit("movl %s, %s", r, win)
	case 1:
		g.emit("movl %s, %s", win, r)
	case 2:
		g.emit("%s %s, %s", g.pick([]string{"addl", "xorl", "subl"}), r, win)
		g.sets(fArith, 0)
	default:
		g.emit("incl %s", win)
		g.sets(fArith&^fCF, 0)
	}
}

// toggleWP sets or clears CR0.WP (read-only pages refuse kernel stores).
func (g *gen) toggleWP() {
	g.emit("mov %%cr0, %%eax")
	if g.r.Intn(2) == 0 {
		g.emit("or $0x10000, %%eax")
	} else {
		g.emit("and $0xfffeffff, %%eax")
	}
	g.sets(fArith, fAF)
	g.emit("mov %%eax, %%cr0")
}

// PAEWindowPTE is the offset of the window's first entry in a PAE page
// table of the pae family's world (the table maps 2-4 MiB).
const PAEWindowPTE = (WindowBase - 0x200000) >> 12 * 8

// pae emits one operation of the pae family: the paging family's world
// under PAE (pae_setup): two PDPTs (pdpts+0, pdpts+32), each naming its own
// directory whose entry 0 maps 0-2 MiB by a large page and entry 1 its own
// page table for 2-4 MiB, where the window lies. Entries are 8 bytes: the
// streams write the low half, sometimes the high half (zero) first.
func (g *gen) pae() {
	page := g.r.Intn(WindowPages)
	switch g.r.Intn(11) {
	case 0, 1, 2:
		g.windowAccess(fmt.Sprintf("%#x", WindowBase+page*4096+4*g.r.Intn(16)))
	case 5:
		g.emit("invlpg %#x", WindowBase+page*4096)
	case 7:
		g.toggleWP()
	case 3, 4:
		dir, v := g.entryEdit()
		at := PAEWindowPTE + page*8
		if g.r.Intn(3) == 0 {
			g.emit("movl $0, ptp%d+%#x", dir, at+4)
		}
		g.emit("movl $%#x, ptp%d+%#x", v, dir, at)
		g.invalidate(dir, page)
	case 6:
		g.pt = 1 - g.pt
		g.emit("mov $pdpts+%d, %%eax", 32*g.pt)
		g.emit("mov %%eax, %%cr3")
	case 10:
		// The directory entry over the window: read-only or writable.
		dir := g.pt
		if g.r.Intn(3) == 0 {
			dir = 1 - dir
		}
		g.emit("movl $ptp%d+%d, pdp%d+8", dir, []int{3, 3, 1}[g.r.Intn(3)], dir)
		if dir == g.pt {
			g.emit("mov %%cr3, %%eax")
			g.emit("mov %%eax, %%cr3")
		}
	default:
		g.alu(false)
	}
}

// entryEdit draws an edit of a window entry: the directory (mostly the
// one in force) and the new value — another frame, read-only, not
// present, A/D preset.
func (g *gen) entryEdit() (dir, v int) {
	dir = g.pt
	if g.r.Intn(4) == 0 {
		dir = 1 - dir
	}
	frame := FrameBase + g.r.Intn(WindowPages)*4096
	flags := []int{0x003, 0x003, 0x001, 0x000, 0x023, 0x063, 0x043}[g.r.Intn(7)]
	return dir, frame | flags
}

// invalidate follows an edit of window page page's entry in directory dir:
// an invlpg or a CR3 load when dir is the one in force.
func (g *gen) invalidate(dir, page int) {
	if dir != g.pt {
		return
	}
	if g.r.Intn(3) == 0 {
		g.emit("mov %%cr3, %%eax")
		g.emit("mov %%eax, %%cr3")
	} else {
		g.emit("invlpg %#x", WindowBase+page*4096)
	}
}

// niceFloats are single-precision values whose sums, differences and
// products stay exact for a while: small integers, halves, quarters, their
// negatives, zero. They keep the fpu family away from rounding, NaN
// payloads and denormals, where softfloat versions (Unicorn's QEMU 5.0,
// the oracle's QEMU 7.2) might legitimately differ.
var niceFloats = []uint32{0x00000000, 0x3f800000, 0x40000000, 0x40400000, 0x3f000000, 0x3e800000,
	0xbf800000, 0xc0000000, 0x40a00000, 0x41200000, 0xc1200000, 0x3fc00000}

// fpu: one x87 or SSE step. The first enables SSE (CR4.OSFXSR), empties the
// x87 stack and fills scratch's first eight words with nice floats; the
// x87 stack depth is tracked so that nothing overflows or underflows.
func (g *gen) fpu() {
	if !g.fpuOn {
		g.fpuOn = true
		g.emit("mov %%cr4, %%eax")
		g.emit("or $0x600, %%eax")
		g.emit("mov %%eax, %%cr4")
		g.sets(fArith, fAF)
		g.emit("fninit")
		for i := 0; i < 8; i++ {
			g.emit("movl $%#x, scratch+%d", niceFloats[g.r.Intn(len(niceFloats))], 4*i)
		}
		g.emit("movups scratch, %%xmm0")
		g.emit("movups scratch+16, %%xmm1")
		g.emit("movups scratch+4, %%xmm2")
		g.emit("xorps %%xmm3, %%xmm3")
		return
	}
	xmm := func() string { return fmt.Sprintf("%%xmm%d", g.r.Intn(4)) }
	// Loads read the nice slots (scratch's first 32 bytes); stores go above
	// them, so that no bit pattern an SSE logic operation made (a NaN, say)
	// reaches the x87 unit: QEMU changed how x87 loads quiet a signalling
	// NaN after the version Unicorn 2.1 is built on.
	slot := func() string { return fmt.Sprintf("scratch+%d", 4*g.r.Intn(8)) }
	out := func() string { return fmt.Sprintf("scratch+%d", 32+4*g.r.Intn(24)) }
	switch g.r.Intn(12) {
	case 0:
		if g.depth < 6 {
			g.emit("%s %s", g.pick([]string{"flds", "fildl"}), slot())
			g.depth++
		}
	case 1:
		if g.depth >= 2 {
			g.emit("%s", g.pick([]string{"faddp", "fsubp", "fmulp", "fsubrp"}))
			g.depth--
		}
	case 2:
		if g.depth >= 2 {
			g.emit("%s %%st(1), %%st", g.pick([]string{"fadd", "fsub", "fmul"}))
		} else if g.depth == 1 {
			op := g.pick([]string{"fchs", "fabs", "fld1", "fldz"})
			g.emit("%s", op)
			if op == "fld1" || op == "fldz" {
				g.depth++
			}
		}
	case 3:
		if g.depth >= 1 {
			g.emit("%s %s", g.pick([]string{"fstps", "fistpl"}), out())
			g.depth--
		}
	case 4:
		if g.depth >= 2 {
			g.emit("fxch %%st(1)")
		}
	case 5, 6:
		g.emit("%s %s, %s", g.pick([]string{"addps", "subps", "mulps", "minps", "maxps", "andps", "orps", "xorps", "unpcklps", "paddd"}), xmm(), xmm())
	case 7:
		g.emit("shufps $%#x, %s, %s", g.r.Intn(256), xmm(), xmm())
	case 8:
		g.emit("%s %s, %s", g.pick([]string{"movss", "addss", "mulss"}), slot(), xmm())
	case 9:
		g.emit("movups %s, scratch+%d", xmm(), 32+16*g.r.Intn(6))
	case 10:
		g.emit("%s %s, %s", g.pick([]string{"cvttss2si", "cvtss2si"}), xmm(), g.reg32())
	default:
		g.emit("%s %s, %s", g.pick([]string{"comiss", "ucomiss"}), xmm(), xmm())
		g.sets(fArith, 0)
	}
}

// fpuEnd stores what the FPU holds where the dump's checksum sees it: the
// XMM registers in scratch's upper half, the x87 stack popped into it.
func (g *gen) fpuEnd() {
	if !g.fpuOn {
		return
	}
	for i := 0; i < 4; i++ {
		g.emit("movups %%xmm%d, scratch+%d", i, 128+16*i)
	}
	for ; g.depth > 0; g.depth-- {
		g.emit("fstps scratch+%d", 192+4*g.depth)
	}
}
