# recursive: a kernel that edits its page tables through a recursive page-directory entry
# (slot 1023 maps the directory itself, so the table for directory entry i appears at
# 0xFFC00000 + i*4096 and the directory at 0xFFFFF000), as many hobby kernels and
# 32-bit Windows do. Its tables for 0xF8000000, 0xFC000000, 0xFE000000 and 0xFE400000
# show at 0xFFFE0000, 0xFFFF0000, 0xFFFF8000 and 0xFFFF9000: where virtsim's machine
# keeps its privilege trampoline. It maps pages by writing PTEs through the window,
# reads them back with the accessed and dirty bits the CPU set, unmaps one and takes the
# #PF, remaps another and sees the new frame after invlpg, and goes to ring 3 and back
# while its tables sit over the trampoline.
	.include "corpus.inc"
_start:
	mov $stack_top, %esp
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $pf_handler, %eax
	mov $14, %ecx
	mov $0x8e00, %edx
	call set_gate
	mov $int80, %eax
	mov $0x80, %ecx
	mov $0xee00, %edx
	call set_gate
	lidt idtr
	mov $tss, %eax
	mov %ax, gdt+0x28+2
	shr $16, %eax
	mov %al, gdt+0x28+4
	mov %ah, gdt+0x28+7
	mov $0x28, %ax
	ltr %ax
	movl $0x87, pd			# 0-4 MiB: identity, one large page (user too)
	movl $pd+3, pd+1023*4		# the recursive entry
	movl $pts+0x0000+7, pd+0x3E0*4	# 0xF8000000
	movl $pts+0x1000+7, pd+0x3F0*4	# 0xFC000000
	movl $pts+0x2000+7, pd+0x3F8*4	# 0xFE000000
	movl $pts+0x3000+7, pd+0x3F9*4	# 0xFE400000
	mov %cr4, %eax
	or $0x10, %eax
	mov %eax, %cr4
	mov $pd, %eax
	mov %eax, %cr3
	mov %cr0, %eax
	or $0x80010000, %eax		# PG, WP
	mov %eax, %cr0
	SAY "paged\n"
	# map page k of each window onto frame k through the recursive mapping
	xor %ecx, %ecx
2:	mov wins(,%ecx,4), %ebx		# the table's linear address in the window
	mov %ecx, %eax
	shl $12, %eax
	add $frames+3, %eax
	mov %eax, 4*5(%ebx)		# PTE 5 of that table
	mov vas(,%ecx,4), %edi
	add $5*4096, %edi		# the page it maps
	invlpg (%edi)
	lea 0x70000000(%ecx), %eax
	mov %eax, 0x40(%edi)		# a store through the new mapping
	mov %ecx, %edx
	shl $12, %edx
	HEX frames+0x40(%edx)		# where it landed: frame k
	mov 4*5(%ebx), %eax		# the PTE as the CPU left it: A and D set
	and $0xfff, %eax
	HEX %eax
	PUTC ' '
	inc %ecx
	cmp $4, %ecx
	jb 2b
	PUTC '\n'
	SAY "pd[0x3f0] through 0xfffff000: "
	mov 0xFFFFF000+0x3F0*4, %eax
	sub $pts, %eax
	HEX %eax
	PUTC '\n'
	# unmap page 5 of 0xFC000000 through the window: a #PF on the next read
	movl $0, 0xFFFF0000+4*5
	invlpg 0xFC005000
	movl 0xFC005040, %eax
	# remap it onto frame 3 with a read-only PTE: reads give frame 3's word
	movl $frames+3*4096+1, 0xFFFF0000+4*5
	invlpg 0xFC005000
	HEX 0xFC005040
	PUTC '\n'
	# a table word changed by or and xchg through the window (not a mov)
	orl $0x800, 0xFFFF8000+4*5	# an available bit
	mov $0, %eax
	xchg %eax, 0xFFFF9000+4*5	# unmapped, old value back
	and $0xfff, %eax
	HEX %eax
	mov 0xFFFF8000+4*5, %eax
	and $0xfff, %eax
	HEX %eax
	PUTC '\n'
	# ring 3 and back while the tables lie over the trampoline
	mov %esp, tss+4
	pushl $0x23
	pushl $ustack_top
	pushl $0x2
	pushl $0x1b
	pushl $user
	iret
back:	SAY "back\n"
	EXIT 0

	SET_GATE_FN
pf_handler:
	SAY "#PF cr2="
	mov %cr2, %eax
	HEX %eax
	SAY " code="
	pop %eax
	HEX %eax
	PUTC '\n'
	addl $5, (%esp)			# skip the faulting load (a1 disp32)
	iret
int80:	mov %eax, %ebx
	mov $0x10, %ax
	mov %ax, %ds
	SAY "int 0x80 from ring 3, eax="
	HEX %ebx
	PUTC '\n'
	mov tss+4, %esp
	jmp back
user:	mov $0x1234, %eax
	int $0x80
	.include "lib.inc"
	.data
	.balign 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff
	.quad 0x00cf92000000ffff
	.quad 0x00cffa000000ffff
	.quad 0x00cff2000000ffff
	.quad 0x0000890000000067
gdt_end:
gdtr:	.word gdt_end-gdt-1
	.long gdt
idtr:	.word 256*8-1
	.long idt
vas:	.long 0xF8000000, 0xFC000000, 0xFE000000, 0xFE400000
wins:	.long 0xFFFE0000, 0xFFFF0000, 0xFFFF8000, 0xFFFF9000
tss:	.long 0, 0, 0x10
	.space 0x68-12
	.bss
	.balign 4096
pd:	.space 4096
pts:	.space 4*4096
frames:	.space 4*4096
idt:	.space 256*8
	.balign 16
	.space 4096
stack_top:
	.space 4096
ustack_top:
