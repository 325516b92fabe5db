# accessed-far: as accessed.S, but the code descriptors' Accessed bits are
# clear too, and ljmp and lret enter them. The SDM (vol. 3, 3.4.5.1) says
# every segment load sets the bit; QEMU's TCG does not set it for CS on far
# jmp/ret (and native, TCG too, follows it), and neither do trap's emulator
# and bt, which virtualize that machine.
# ---- (accessed.S's notes:) a GDT written the way most hand-written kernels write it, with
# the data descriptors' Accessed bits clear, at an odd address. Each way of
# loading a data segment sets the bit in the guest's own table (mov: SS and
# DS, pop: ES, lfs: FS); one descriptor is never loaded and must stay clear.
# Prints the access byte of each entry. (Code segments entered by far
# jmp/ret: accessed-far.S.)
	.include "corpus.inc"
_start:
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ss
	mov $stack_top, %esp
	mov $0x18, %bx
	mov %bx, %ds
	pushl $0x20
	pop %es
	lfs fsptr, %eax
	pushl $0x30
	pushl $2f
	lret
2:	SAY "acc"
	mov $1, %ecx
3:	PUTC ' '
	movzbl gdt+5(,%ecx,8), %eax
	call put_hex
	inc %ecx
	cmp $8, %ecx
	jb 3b
	PUTC '\n'
	EXIT 0
	.include "lib.inc"

	.data
	.byte 0, 0, 0			# the GDT at an address that is not 8-aligned
gdt:	.quad 0
	.quad 0x00cf9a000000ffff	# 0x08 code
	.quad 0x00cf92000000ffff	# 0x10 stack
	.quad 0x00cf92000000ffff	# 0x18 DS
	.quad 0x00cf92000000ffff	# 0x20 ES
	.quad 0x00cf92000000ffff	# 0x28 FS
	.quad 0x00cf9a000000ffff	# 0x30 code, entered by lret
	.quad 0x00cf92000000ffff	# 0x38 never loaded
gdt_end:
gdtr:	.word gdt_end-gdt-1
	.long gdt
fsptr:	.long 0
	.word 0x28
	.bss
	.space 4096
stack_top:
