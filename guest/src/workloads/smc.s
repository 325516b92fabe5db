# smc — self-modifying code: the kernel rewrites its own instructions and
# runs them at once. Every round patches
#
#   (a) fresh:   the immediate of a function that has never run before the
#                round (rounds 0..FRESH_FNS-1; later rounds patch one that
#                ran FRESH_FNS rounds ago), then calls it;
#   (b) chained: the immediate of a function that has just run, reached by
#                a direct call (which a binary translator chains), then
#                calls it again;
#   (c) inblock: the immediate of the instruction right after the store, in
#                the very basic block that makes the store;
#   (d) jump:    the displacement of a direct jump that has already been
#                taken (and chained), retargeting it to the other of two
#                places, then runs it.
#
# An x86 CPU notices stores into instructions it has fetched ahead, so every
# patch is seen by the next instruction fetched: natively, on QEMU and on
# every VMM that runs the code itself. A binary translator must invalidate
# its translations of the written bytes — the running block's included —
# and translate them anew.
#
#   args:    n=N  rounds (default 100)
#   output:  smc: n=N fresh=N chained=N inblock=N jump=N sum=0xSSSSSSSS
#            (fresh, chained, inblock, jump: rounds in which the patched
#            code produced the patched value; sum: a checksum of every
#            value seen)
#   events per round: none (no privileged instruction, no I/O)
#   one-time: the result line's console output
#   self-check: each count must equal N, else `smc: self-check failed` and
#            EXIT_CHECK_FAILED

.include "rt.inc"

	WORKLOAD smc, 100

	.set FRESH_FNS, 4                # a power of two
	.set MOV_EAX_IMM, 1              # offset of the imm32 in `movl $imm32, %eax` (b8 imm32)
	.set JMP_REL, 1                  # offset of the rel32 in `jmp rel32` (e9 rel32)

	.text
FUNC main
	ARG n, $DEFAULT_N
	movl %eax, %ebp                 # N
	xorl %edi, %edi                 # round r
	xorl %esi, %esi                 # checksum
	testl %ebp, %ebp
	jz 9f
LABEL smc_loop
	# (a) fresh: fresh_fn[r mod FRESH_FNS] must return 0x10000 + r
1:	movl %edi, %ebx
	andl $FRESH_FNS - 1, %ebx
	movl fresh_fns(,%ebx,4), %ebx
	leal 0x10000(%edi), %eax
	movl %eax, MOV_EAX_IMM(%ebx)
	call *%ebx
	leal 0x10000(%edi), %edx
	cmpl %edx, %eax
	jne 2f
	incl fresh_ok
2:	addl %eax, %esi
	roll $3, %esi

	# (b) chained: run, patch, run again: 0x20000 + r
	call chained_fn
	addl %eax, %esi
	leal 0x20000(%edi), %eax
	movl %eax, chained_fn + MOV_EAX_IMM
	call chained_fn
	leal 0x20000(%edi), %edx
	cmpl %edx, %eax
	jne 3f
	incl chained_ok
3:	addl %eax, %esi
	roll $3, %esi

	# (c) in the running block: the next instruction must load 0x30000 + r
	leal 0x30000(%edi), %eax
	movl %eax, inblock_site + MOV_EAX_IMM
LABEL inblock_site
	movl $0, %eax
	leal 0x30000(%edi), %edx
	cmpl %edx, %eax
	jne 4f
	incl inblock_ok
4:	addl %eax, %esi
	roll $3, %esi

	# (d) jump: odd rounds reach jump_b (0x50000), even ones jump_a (0x40000)
	movl $jump_a, %eax
	movl $0x40000, %edx
	testl $1, %edi
	jz 5f
	movl $jump_b, %eax
	movl $0x50000, %edx
5:	subl $jump_site + 5, %eax
	movl %eax, jump_site + JMP_REL
	call jump_fn
	cmpl %edx, %eax
	jne 6f
	incl jump_ok
6:	addl %eax, %esi
	roll $3, %esi

	incl %edi
	cmpl %ebp, %edi
	jb 1b

9:	PRINT "smc: n="
	PRINT_DEC %ebp
	PRINT " fresh="
	PRINT_DEC fresh_ok
	PRINT " chained="
	PRINT_DEC chained_ok
	PRINT " inblock="
	PRINT_DEC inblock_ok
	PRINT " jump="
	PRINT_DEC jump_ok
	PRINT " sum="
	PRINT_HEX %esi
	PRINT_NL
	xorl %eax, %eax
	cmpl fresh_ok, %ebp
	jne 7f
	cmpl chained_ok, %ebp
	jne 7f
	cmpl inblock_ok, %ebp
	jne 7f
	cmpl jump_ok, %ebp
	je 8f
7:	PRINT "smc: self-check failed"
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
8:	ret
ENDFUNC main

# The patched functions: `movl $imm32, %eax; ret`, the immediate rewritten
# by main before each call.
FUNC fresh_fn0
	movl $0, %eax
	ret
ENDFUNC fresh_fn0
FUNC fresh_fn1
	movl $0, %eax
	ret
ENDFUNC fresh_fn1
FUNC fresh_fn2
	movl $0, %eax
	ret
ENDFUNC fresh_fn2
FUNC fresh_fn3
	movl $0, %eax
	ret
ENDFUNC fresh_fn3
FUNC chained_fn
	movl $0, %eax
	ret
ENDFUNC chained_fn

# jump_fn — a jump whose displacement main rewrites (the 5-byte form,
# written out so that the assembler cannot shorten it).
FUNC jump_fn
LABEL jump_site
	.byte 0xe9
	.long jump_a - (jump_site + 5)
jump_a:	movl $0x40000, %eax
	ret
jump_b:	movl $0x50000, %eax
	ret
ENDFUNC jump_fn

	.section .rodata
	.balign 4
fresh_fns:
	.long fresh_fn0, fresh_fn1, fresh_fn2, fresh_fn3

	.data
	.balign 4
DATA fresh_ok
	.long 0
ENDDATA fresh_ok
DATA chained_ok
	.long 0
ENDDATA chained_ok
DATA inblock_ok
	.long 0
ENDDATA inblock_ok
DATA jump_ok
	.long 0
ENDDATA jump_ok
