# dpl1: a kernel with ring-1 descriptors it must not be able to use at
# CPL 0 the way it uses its own: a far jump to DPL-1 code and an SS load of
# a DPL-1 stack raise #GP (error code: the selector); DS may hold a DPL-1
# data segment (DPL >= CPL and RPL). (lar of the same descriptors:
# lar.S.) A #GP handler prints the error code
# and resumes at the next step.
	.include "corpus.inc"
_start:
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $stack_top, %esp
	mov $gp_handler, %eax
	mov %ax, idt+13*8
	shr $16, %eax
	mov %ax, idt+13*8+6
	lidt idtr
	movl $s2, resume
	ljmp $0x18, $s2			# DPL-1 code: #GP(0x18)
s2:	movl $s3, resume
	mov $0x21, %si
	mov %si, %ss			# DPL-1 stack, RPL 1: #GP(0x20)
s3:	movl $s4, resume
	mov $0x20, %si
	mov %si, %ss			# RPL 0 != DPL 1: #GP(0x20)
s4:	movl $s5, resume
	mov $0x20, %ax
	mov %ax, %ds			# allowed
	mov %ds, %ax
	SAY "ds="
	HEX %eax
	PUTC '\n'
	mov $0x10, %ax
	mov %ax, %ds
s5:	EXIT 0

gp_handler:
	SAY "#GP "
	mov (%esp), %eax
	call put_hex
	PUTC '\n'
	mov $0x10, %ax
	mov %ax, %ss
	mov $stack_top, %esp
	jmp *resume
	.include "lib.inc"

	.data
resume:	.long 0
	.balign 8
gdt:	.quad 0
	.quad 0x00cf9b000000ffff	# 0x08 code
	.quad 0x00cf93000000ffff	# 0x10 data
	.quad 0x00cfbb000000ffff	# 0x18 DPL-1 code
	.quad 0x00cfb3000000ffff	# 0x20 DPL-1 data
	.quad 0x00cf13000000ffff	# 0x28 data, not present
gdt_end:
gdtr:	.word gdt_end-gdt-1
	.long gdt
idtr:	.word 32*8-1
	.long idt
	.balign 8
idt:	.fill 13, 8, 0
	.word 0, 0x08, 0x8e00, 0	# 13: #GP
	.fill 18, 8, 0
	.bss
	.space 4096
stack_top:
