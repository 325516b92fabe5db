# code16: kernel code outside the flat 32-bit segment, as Windows 9x's
# thunks, APM and BIOS32 callers had it (ring 0, no paging):
#   - 32-bit code in a segment based at 1 MiB, entered by lcall: a near call
#     (the pushed offset), int $0x30 (the frame's CS and EIP, an offset),
#     lret back to the flat kernel
#   - a 16-bit code segment entered by ljmp: operand- and address-size
#     prefixes, 16-bit addressing modes and their wrap, 16-bit pushes on a
#     32-bit stack, a 16-bit near call and far call (lretw), int $0x31
#     through a 32-bit gate (the frame's CS:IP) and iret back, then a
#     66-prefixed ljmp back to 32-bit code; the 16-bit data segment's
#     contents printed from there
	.include "corpus.inc"
	.set KBASE, 0x100000
_start:
	mov $kstack_top, %esp
	mov $code16, %eax
	mov $0x18, %ebx
	call set_base
	mov $data16, %eax
	mov $0x20, %ebx
	call set_base
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $kstack_top, %esp
	mov $int30, %eax
	mov $0x30, %ecx
	call set_idt
	mov $int31, %eax
	mov $0x31, %ecx
	call set_idt
	lidt idtr

	SAY "based:"
	lcall $0x28, $based_code-KBASE
	PUTC ' '
	call put_hex
	PUTC '\n'

	ljmp $0x18, $0
back32:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	SAY "c16:"
	mov $data16, %esi
	mov $8, %ecx
4:	PUTC ' '
	lodsl
	call put_hex
	loop 4b
	PUTC '\n'
	EXIT 0

based_code:
	call 1f
1:	pop %eax		# the offset of 1b in the based segment
	int $0x30
	lret

int30:	push %ebp
	mov %esp, %ebp
	PUTC ' '
	HEX 8(%ebp)		# CS
	PUTC ':'
	HEX 4(%ebp)		# EIP: an offset in the based segment
	pop %ebp
	iret

	# 16-bit code: offsets from code16
	.code16
code16:
	mov $0x20, %ax
	mov %ax, %ds
	mov $0x12345678, %eax
	mov %eax, 0
	movw $0x1234, 6
	mov $2, %bx
	mov $4, %si
	mov (%bx,%si), %ax		# offset 6
	mov %ax, 4
	addr32 movl $0x89abcdef, 8
	push %ax			# a 32-bit SS: push uses ESP
	pushl $0x55667788
	popl %ecx
	pop %bx
	mov %ecx, 12
	call near16
	mov %ax, 16
	lcallw $0x18, $far16-code16
	mov %eax, 20
	int $0x31
	mov %eax, 24
	mov $0x9000, %bx
	mov $0x8000, %di
	lea 0x7fff(%bx,%di), %ax	# 16-bit address arithmetic wraps
	mov %ax, 28
	ljmpl $0x08, $back32
near16:
	mov %sp, %ax
	ret
far16:
	mov $0x00aa00bb, %eax
	lretw
	.code32

int31:	mov 4(%esp), %eax		# the 16-bit code's CS
	shl $16, %eax
	mov (%esp), %ax			# and IP
	iret

# eax = base, ebx = GDT offset
set_base:
	push %eax
	mov %ax, gdt+2(%ebx)
	shr $16, %eax
	mov %al, gdt+4(%ebx)
	mov %ah, gdt+7(%ebx)
	pop %eax
	ret
# eax = handler, ecx = vector: an interrupt gate, DPL 0
set_idt:
	push %eax
	mov %ax, idt(,%ecx,8)
	movw $0x08, idt+2(,%ecx,8)
	movw $0x8e00, idt+4(,%ecx,8)
	shr $16, %eax
	mov %ax, idt+6(,%ecx,8)
	pop %eax
	ret
	.include "lib.inc"

	.data
	.balign 8
gdt:	.quad 0
	.quad 0x00cf9b000000ffff	# 0x08 kernel code
	.quad 0x00cf93000000ffff	# 0x10 kernel data
	.quad 0x00009b000000ffff	# 0x18 16-bit code, base code16
	.quad 0x000093000000ffff	# 0x20 16-bit data, base data16
	.quad 0x00cf9b100000ffff	# 0x28 32-bit code based at 1 MiB
gdt_end:
gdtr:	.word gdt_end-gdt-1
	.long gdt
idtr:	.word 256*8-1
	.long idt
	.balign 4
data16:	.space 32
	.bss
	.balign 8
idt:	.space 256*8
	.space 4096
kstack_top:
