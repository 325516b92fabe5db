# lar: lar of each descriptor of dpl1.S's GDT at CPL 0 — DPL 0, DPL 1,
# and a not-present one (lar does not check P: ZF=1 and its rights).
# Under trap, lar runs at CPL 1 without trapping and shows the shadow's
# DPL (the x86 hole); bt corrects it in the TC.
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
	mov $0x08, %ebx
2:	SAY "lar "
	HEX %ebx
	mov $0x12345678, %eax
	lar %ebx, %eax
	setz %cl
	PUTC ' '
	HEX %eax
	SAY " zf="
	movzbl %cl, %ecx
	HEX %ecx
	PUTC '\n'
	add $8, %ebx
	cmp $0x30, %ebx
	jb 2b
	EXIT 0

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
