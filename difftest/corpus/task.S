# task: hardware task switching, as 1990s kernels and Linux's i386 #DF
# handler used it: two 32-bit TSSs of the full 0x68-byte layout (an I/O
# map base past the limit), placed at odd addresses, their GDT
# descriptors with the Accessed-style busy bits as the CPU leaves them:
#   - str after ltr; the busy bit ltr sets in the GDT
#   - ljmp to the second TSS: the task runs on its own stack and registers
#     (loaded from its TSS), prints, and ljmps back; the first task
#     resumes after its ljmp with its registers (saved into its TSS)
#   - the back link and the busy bits after the switches
#   - int $0x50 through a task gate, lcall to a TSS, each iret back (NT)
#   - #GP through a task gate (its error code on the new task's stack),
#     and #DF through a task gate (#GP and #NP not present), as Linux's
#     i386 double-fault handler did
#   - with paging on, each task's CR3 from its TSS
	.include "corpus.inc"

# TASK tss, sel, eip, stack: a kernel task starting at eip on its own
# stack (flat kernel segments, IF=0), its descriptor's base set
.macro TASK tss, sel, eip, stack
	mov $\tss, %eax
	mov $\sel, %ebx
	call set_base
	movl $\eip, \tss+0x20
	movl $0x002, \tss+0x24
	movl $\stack, \tss+0x38
	movl $0x10, \tss+0x48
	movl $0x08, \tss+0x4c
	movl $0x10, \tss+0x50
	movl $0x10, \tss+0x54
.endm

_start:
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $kstack_top, %esp
	mov $tss1, %eax
	mov $0x20, %ebx
	call set_base
	mov $tss2, %eax
	mov $0x30, %ebx
	call set_base
	mov $0x20, %ax
	ltr %ax
	SAY "str"
	xor %eax, %eax
	str %ax
	call sp_hex
	mov gdt+0x20+4, %eax	# type 0xb: busy
	call sp_hex
	PUTC '\n'
	# the second task starts at task2 on its own stack, eax=0x22
	movl $task2, tss2+0x20		# EIP
	movl $0x002, tss2+0x24		# EFLAGS
	movl $0x22, tss2+0x28		# EAX
	movl $t2stack_top, tss2+0x38	# ESP
	movl $0x10, tss2+0x48		# ES
	movl $0x08, tss2+0x4c		# CS
	movl $0x10, tss2+0x50		# SS
	movl $0x10, tss2+0x54		# DS
	movl $0x10, tss2+0x58		# FS
	movl $0x10, tss2+0x5c		# GS
	mov $0x11, %eax
	mov $0x1234, %esi
	SAY "jmp"
	ljmp $0x30, $0
	# back in task 1
	call sp_hex		# eax as task 1 left it
	mov %esi, %eax
	call sp_hex
	mov tss2+0x28, %eax	# task 2's eax, saved at its ljmp back
	call sp_hex
	mov gdt+0x20+4, %eax
	call sp_hex
	mov gdt+0x30+4, %eax	# task 2 left: available again
	call sp_hex
	PUTC '\n'
	# int $0x50 through a task gate to a third task, which irets back
	# (NT set, the back link in its TSS)
	movw $0x38, idt+0x50*8+2	# task gate: the TSS selector
	movw $0x8500, idt+0x50*8+4	# present, DPL 0, type 5
	lidt idtr
	TASK tss3, 0x38, task3, t3stack_top
	SAY "gate"
	int $0x50
	mov $0x55, %eax
	call sp_hex
	pushf
	pop %eax
	and $0x4000, %eax	# NT clear again in task 1
	call sp_hex
	PUTC '\n'
	# lcall to a fourth TSS: nested like the gate, iret back
	TASK tss4, 0x40, task4, t4stack_top
	SAY "call"
	lcall $0x40, $0
	mov gdt+0x40+4, %eax	# task 4 after its iret: available
	call sp_hex
	mov tss4, %eax		# its back link: task 1
	call sp_hex
	PUTC '\n'
	# #GP through a task gate: the error code on the handler task's stack,
	# the faulting EIP saved in task 1's TSS
	TASK tss5, 0x48, task5, t5stack_top
	movw $0x48, idt+13*8+2
	movw $0x8500, idt+13*8+4
	SAY "gp"
	mov $0x6c, %ax		# beyond the GDT's limit
fault1:	mov %ax, %gs
	mov gdt+0x48+4, %eax
	call sp_hex
	PUTC '\n'
	# #DF through a task gate, the classic use: #GP's and #NP's IDT
	# entries not present, so delivering #GP raises #NP, and delivering
	# that, #DF
	TASK tss6, 0x50, task6, t6stack_top
	movw $0x50, idt+8*8+2
	movw $0x8500, idt+8*8+4
	movl $0, idt+13*8+4
	SAY "df"
	mov $0x6c, %ax
fault2:	mov %ax, %gs
	mov gdt+0x50+4, %eax
	call sp_hex
	PUTC '\n'
	# paging: a task switch loads CR3 from the new TSS (and back from the
	# old one's, which the switch never saves). Both directories map the
	# first 4 MiB one to one; pd_b also maps 0x400000 to the page 'other'.
	mov $pt0, %edi
	mov $0x003, %eax
	mov $1024, %ecx
1:	mov %eax, (%edi)
	add $4096, %eax
	add $4, %edi
	loop 1b
	mov $pt0+3, %eax
	mov %eax, pd_a
	mov %eax, pd_b
	mov $pt1+3, %eax
	mov %eax, pd_b+4
	mov $other+3, %eax
	mov %eax, pt1
	movl $0xabcd1234, other
	TASK tss7, 0x58, task7, t7stack_top
	movl $pd_b, tss7+0x1c
	movl $pd_a, tss1+0x1c
	mov $pd_a, %eax
	mov %eax, %cr3
	mov %cr0, %eax
	or $0x80000000, %eax
	mov %eax, %cr0
	SAY "paging"
	lcall $0x58, $0
	mov %cr3, %eax
	sub $pd_a, %eax
	call sp_hex
	PUTC '\n'
	SAY "done\n"
	EXIT 0

task7:	SAY " task7"
	mov 0x400000, %eax	# through pd_b
	call sp_hex
	mov %cr3, %eax
	sub $pd_b, %eax
	call sp_hex
	iret
	hlt

task4:	SAY " task4"
	mov tss4, %eax		# the back link: task 1
	call sp_hex
	mov gdt+0x20+4, %eax	# task 1 stays busy under a call
	call sp_hex
	iret
	hlt

# an exception handler task: the error code, the faulting EIP's offset
# from the label, then past the 2-byte mov and back
task5:	SAY " task5"
	pop %eax
	call sp_hex
	mov tss1+0x20, %eax
	sub $fault1, %eax
	call sp_hex
	addl $2, tss1+0x20
	iret
	hlt

task6:	SAY " task6"
	pop %eax
	call sp_hex
	mov tss1+0x20, %eax
	sub $fault2, %eax
	call sp_hex
	pushf
	pop %eax
	and $0x4000, %eax
	call sp_hex
	addl $2, tss1+0x20
	iret
	hlt

task3:	SAY " task3"
	mov tss3, %eax		# the back link: task 1
	call sp_hex
	pushf
	pop %eax
	and $0x4000, %eax	# NT set
	call sp_hex
	iret
	hlt

task2:	SAY " task2"
	call sp_hex		# 0x22 from its TSS
	mov %esp, %eax
	call sp_hex
	xor %eax, %eax
	str %ax
	call sp_hex
	mov gdt+0x20+4, %eax	# task 1 after a jmp away: available
	call sp_hex
	mov $0x99, %eax
	ljmp $0x20, $0
	hlt

# eax = base, ebx = GDT offset of a TSS descriptor
set_base:
	mov %ax, gdt+2(%ebx)
	shr $16, %eax
	mov %al, gdt+4(%ebx)
	mov %ah, gdt+7(%ebx)
	ret

sp_hex:	PUTC ' '
	jmp put_hex

	.data
	.balign 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff	# 0x08 code
	.quad 0x00cf92000000ffff	# 0x10 data
	.quad 0
	.quad 0x0000890000000067	# 0x20 TSS 1
	.quad 0
	.quad 0x0000890000000067	# 0x30 TSS 2
	.quad 0x0000890000000067	# 0x38 TSS 3
	.quad 0x0000890000000067	# 0x40 TSS 4 (lcall)
	.quad 0x0000890000000067	# 0x48 TSS 5 (#GP)
	.quad 0x0000890000000067	# 0x50 TSS 6 (#DF)
	.quad 0x0000890000000067	# 0x58 TSS 7 (its own CR3)
gdt_end:
gdtr:	.word gdt_end-gdt-1
	.long gdt
idtr:	.word 256*8-1
	.long idt
	.space 12
tss1:	.space 0x66
	.word 0x68			# I/O map base: none
	.space 20
tss2:	.space 0x66
	.word 0x68
tss3:	.space 0x66
	.word 0x68
tss4:	.space 0x66
	.word 0x68
tss5:	.space 0x66
	.word 0x68
tss6:	.space 0x66
	.word 0x68
tss7:	.space 0x66
	.word 0x68
	.bss
idt:	.space 256*8
	.space 4096
kstack_top:
	.space 4096
t2stack_top:
	.space 4096
t3stack_top:
	.space 4096
t4stack_top:
	.space 4096
t5stack_top:
	.space 4096
t6stack_top:
	.space 4096
t7stack_top:
	.balign 4096
pd_a:	.space 4096
pd_b:	.space 4096
pt0:	.space 4096
pt1:	.space 4096
other:	.space 4096
	.include "lib.inc"
