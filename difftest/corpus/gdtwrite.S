# gdtwrite: a kernel that edits descriptors in its loaded GDT, as Linux's
# set_thread_area does for TLS entries (no lgdt afterwards):
#   - a data descriptor's base written after lgdt, then GS loaded: the
#     new base
#   - the base rewritten while GS holds the selector: GS keeps the cached
#     base until it is loaded again, then the new one
	.include "corpus.inc"
_start:
	mov $stack_top, %esp
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $stack_top, %esp
	mov $0x11223344, %eax	# tls's contents
	mov $tls, %edi
	mov $16, %ecx
2:	mov %eax, (%edi)
	add $0x01010101, %eax
	add $4, %edi
	loop 2b
	SAY "tls:"
	mov $tls+0x10, %eax	# a base written into the loaded GDT
	call set_tls
	mov $0x18, %ax
	mov %ax, %gs
	PUTC ' '
	HEX %gs:0
	mov $tls+0x20, %eax	# rewritten: GS keeps its cached base
	call set_tls
	PUTC ' '
	HEX %gs:0
	mov $0x18, %ax		# until it is loaded again
	mov %ax, %gs
	PUTC ' '
	HEX %gs:0
	PUTC '\n'
	EXIT 0

# eax = the TLS descriptor's base
set_tls:
	push %eax
	mov %ax, gdt+0x18+2
	shr $16, %eax
	mov %al, gdt+0x18+4
	mov %ah, gdt+0x18+7
	pop %eax
	ret
	.include "lib.inc"

	.data
	.balign 8
gdt:	.quad 0
	.quad 0x00cf9b000000ffff	# 0x08 kernel code
	.quad 0x00cf93000000ffff	# 0x10 kernel data
	.quad 0x00cf93000000ffff	# 0x18 TLS data (base at run time)
gdt_end:
gdtr:	.word gdt_end-gdt-1
	.long gdt
tls:	.space 64
	.bss
	.space 4096
stack_top:
