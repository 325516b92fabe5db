# fpu: a kernel's FPU and SSE bring-up — finit and x87 arithmetic, CR4.OSFXSR and SSE
# arithmetic, fxsave's image, lazy FPU switching (CR0.TS: #NM, the handler's clts, the
# instruction again), CR0.EM (x87 raises #NM, SSE #UD) — with an IDT of its own.
	.include "corpus.inc"
_start:
	mov $stack_top, %esp
	mov %cs, %ax
	mov %ax, idt + 7 * 8 + 2		# #NM -> nm_handler
	mov %ax, idt + 6 * 8 + 2		# #UD -> ud_handler
	mov $nm_handler, %eax
	mov %ax, idt + 7 * 8
	shr $16, %eax
	mov %ax, idt + 7 * 8 + 6
	movw $0x8e00, idt + 7 * 8 + 4
	mov $ud_handler, %eax
	mov %ax, idt + 6 * 8
	shr $16, %eax
	mov %ax, idt + 6 * 8 + 6
	movw $0x8e00, idt + 6 * 8 + 4
	lidt idtr
	mov %cr0, %eax
	and $~0xC, %eax			# EM=0, TS=0
	or $0x22, %eax			# MP, NE
	mov %eax, %cr0
	finit
	fld1
	fadd %st(0), %st(0)
	fld1
	faddp
	fistpl result			# 3
	HEX result
	PUTC '\n'
	fnstcw cw
	HEX cw
	PUTC '\n'
	mov %cr4, %eax
	or $0x600, %eax			# OSFXSR, OSXMMEXCPT
	mov %eax, %cr4
	movups vec_a, %xmm0
	movups vec_b, %xmm1
	addps %xmm1, %xmm0
	movups %xmm0, vec_out
	HEX vec_out
	HEX vec_out + 12
	PUTC '\n'
	cvttss2si %xmm0, %eax
	HEX %eax
	PUTC '\n'
	fxsave fxarea
	movzwl fxarea, %eax		# FCW
	HEX %eax
	HEX fxarea + 24			# MXCSR
	PUTC '\n'
	# lazy switching: TS set, the next x87 instruction raises #NM
	mov %cr0, %eax
	or $8, %eax
	mov %eax, %cr0
	fld1
	fistpl result
	HEX result
	HEX nm_count
	PUTC '\n'
	# and an SSE instruction too
	mov %cr0, %eax
	or $8, %eax
	mov %eax, %cr0
	addps %xmm1, %xmm0
	HEX nm_count
	PUTC '\n'
	# EM: x87 raises #NM, SSE #UD
	mov %cr0, %eax
	or $4, %eax
	mov %eax, %cr0
	movl $0, em_mode
	movl $1, em_mode
	fld1
	addps %xmm1, %xmm0
	HEX nm_count
	HEX ud_count
	PUTC '\n'
	EXIT 0

nm_handler:
	incl nm_count
	cmpl $1, em_mode
	je 1f
	clts
	iret
1:	addl $2, (%esp)			# EM: skip fld1 (d9 e8)
	iret
ud_handler:
	incl ud_count
	addl $3, (%esp)			# skip addps (0f 58 c1)
	iret
	.include "lib.inc"
	.data
	.balign 16
vec_a:	.float 1.5, 2.0, 3.0, 4.25
vec_b:	.float 0.5, 1.0, -1.0, 0.75
vec_out: .space 16
result:	.long 0
cw:	.long 0
nm_count: .long 0
ud_count: .long 0
em_mode: .long 0
idtr:	.word 256 * 8 - 1
	.long idt
	.bss
	.balign 16
fxarea:	.space 512
	.balign 8
idt:	.space 256 * 8
	.space 4096
stack_top:
