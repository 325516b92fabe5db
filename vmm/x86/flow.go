package x86

import "golang.org/x/arch/x86/x86asm"

// blockEnders are the instructions that end a basic block: every transfer
// of control, plus those that stop the CPU or raise an event.
var blockEnders = map[x86asm.Op]bool{
	x86asm.JMP: true, x86asm.LJMP: true, x86asm.CALL: true, x86asm.LCALL: true,
	x86asm.RET: true, x86asm.LRET: true, x86asm.IRET: true, x86asm.IRETD: true,
	x86asm.INT: true, x86asm.INTO: true, x86asm.HLT: true, x86asm.UD1: true, x86asm.UD2: true,
	x86asm.SYSENTER: true, x86asm.SYSEXIT: true,
	x86asm.JA: true, x86asm.JAE: true, x86asm.JB: true, x86asm.JBE: true, x86asm.JCXZ: true,
	x86asm.JE: true, x86asm.JECXZ: true, x86asm.JG: true, x86asm.JGE: true, x86asm.JL: true,
	x86asm.JLE: true, x86asm.JNE: true, x86asm.JNO: true, x86asm.JNP: true, x86asm.JNS: true,
	x86asm.JO: true, x86asm.JP: true, x86asm.JS: true,
	x86asm.LOOP: true, x86asm.LOOPE: true, x86asm.LOOPNE: true,
}

// EndsBlock reports whether op ends a basic block.
func EndsBlock(op x86asm.Op) bool { return blockEnders[op] }
