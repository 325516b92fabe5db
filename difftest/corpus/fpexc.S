# fpexc: floating-point exceptions a kernel's math handlers see (ring 0,
# CR0.NE=1, OSFXSR and OSXMMEXCPT set unless a step says otherwise):
#   - x87 division by zero unmasked in the control word: the status word's
#     ZE and ES after fdiv, #MF (16) at the next waiting instruction (fwait),
#     not at the fdiv
#   - x87 stack overflow with IE unmasked: #MF with SF, IE and C1
#   - SSE division by zero unmasked in MXCSR: #XM (19) at the divss,
#     MXCSR's ZE flag; with CR4.OSXMMEXCPT clear: #UD instead
# QEMU 7.2's TCG (the oracle) raises only the first: it signals no x87
# stack fault and no SIMD exception, and virtsim must not either (masked
# invalid operations are left out: Unicorn's QEMU 5.0 does not set x87
# IE for fsqrt of a negative number nor any MXCSR flag, QEMU 7.2 does — a
# substrate difference, the same under every strategy).
# The handler prints the vector, the faulting EIP's offset from the step's
# label, the x87 status word and MXCSR, then clears the exception state
# and goes on at the next step.
	.include "corpus.inc"
_start:
	mov $stack_top, %esp
	mov $6, %ecx
	mov $h_ud, %eax
	call set_idt
	mov $16, %ecx
	mov $h_mf, %eax
	call set_idt
	mov $19, %ecx
	mov $h_xm, %eax
	call set_idt
	lidt idtr
	mov %cr0, %eax
	and $~0xC, %eax			# EM=0, TS=0
	or $0x22, %eax			# MP, NE
	mov %eax, %cr0
	mov %cr4, %eax
	or $0x600, %eax			# OSFXSR, OSXMMEXCPT
	mov %eax, %cr4
	fninit

	SAY "x87 zd:"
	movl $s_zd, cur
	movl $r_zd, resume
	fldcw cw_zd			# ZE unmasked
s_zd:	fld1
	fldz
	fdivrp				# 1/0: ZE and ES set, no fault yet
	fnstsw %ax
	PUTC ' '
	call put_hex4
	fwait				# #MF here
	SAY " no #MF"
r_zd:	PUTC '\n'

	SAY "x87 so:"
	fninit
	fldcw cw_ie			# IE unmasked
	movl $s_so, cur
	movl $r_so, resume
s_so:	fld1
	fld1
	fld1
	fld1
	fld1
	fld1
	fld1
	fld1
	fld1				# the ninth push: stack overflow, #MF at the next
	fwait
	SAY " no #MF"
r_so:	PUTC '\n'

	SAY "sse zd:"
	fninit
	movl $s_xm, cur
	movl $r_xm, resume
	ldmxcsr mx_zd			# ZE unmasked
s_xm:	movss one, %xmm0
	xorps %xmm1, %xmm1
	divss %xmm1, %xmm0		# #XM
	SAY " no #XM"
r_xm:	PUTC '\n'

	SAY "sse zd, no OSXMMEXCPT:"
	mov %cr4, %eax
	and $~0x400, %eax
	mov %eax, %cr4
	movl $s_ud, cur
	movl $r_ud, resume
	ldmxcsr mx_zd
s_ud:	movss one, %xmm0
	xorps %xmm1, %xmm1
	divss %xmm1, %xmm0		# #UD
	SAY " no #UD"
r_ud:	PUTC '\n'

	EXIT 0

h_ud:	pushl $6
	jmp handler
h_mf:	pushl $16
	jmp handler
h_xm:	pushl $19
handler:
	mov %esp, %ebp
	SAY " v="
	HEX (%ebp)
	SAY " at="
	mov 4(%ebp), %eax
	sub cur, %eax
	call put_hex
	SAY " sw="
	fnstsw %ax
	call put_hex4
	SAY " mxcsr="
	stmxcsr mx
	HEX mx
	fnclex
	ldmxcsr mx_default
	fninit
	mov resume, %eax
	mov %eax, 4(%esp)
	add $4, %esp
	iret

put_hex4:
	push %ecx
	mov $4, %ecx
	call put_hexn
	pop %ecx
	ret

# eax = handler, ecx = vector
set_idt:
	push %eax
	mov %ax, idt(,%ecx,8)
	mov %cs, %ax
	mov %ax, idt+2(,%ecx,8)
	movw $0x8e00, idt+4(,%ecx,8)
	pop %eax
	push %eax
	shr $16, %eax
	mov %ax, idt+6(,%ecx,8)
	pop %eax
	ret
	.include "lib.inc"

	.data
idtr:	.word 20*8-1
	.long idt
cw_zd:	.word 0x037b
cw_ie:	.word 0x037e
mx_zd:	.long 0x1d80
mx_default: .long 0x1f80
mx:	.long 0
cur:	.long 0
resume:	.long 0
	.balign 8
one:	.float 1.0
	.bss
	.balign 8
idt:	.space 20*8
	.space 4096
stack_top:
