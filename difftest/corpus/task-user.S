# task-user: a task gate reached from ring 3 — the switch into a kernel
# task raises the privilege level (CS and SS of ring 0 from the new TSS):
#   - ring-3 code (user segments, the kernel's TSS for its ring-0 stack)
#     runs int $0x50 through a DPL-3 task gate
#   - the kernel task it lands in prints the back link, the saved user
#     CS and EIP from the user task's TSS, NT, and ends the run
	.include "corpus.inc"
_start:
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $kstack_top, %esp
	mov $tss1, %eax
	mov $0x28, %ebx
	call set_base
	mov $tss2, %eax
	mov $0x30, %ebx
	call set_base
	movl $kstack_top, tss1+4	# ESP0
	movl $0x10, tss1+8		# SS0
	movl $ktask, tss2+0x20
	movl $0x002, tss2+0x24
	movl $k2stack_top, tss2+0x38
	movl $0x10, tss2+0x48
	movl $0x08, tss2+0x4c
	movl $0x10, tss2+0x50
	movl $0x10, tss2+0x54
	mov $0x28, %ax
	ltr %ax
	movw $0x30, idt+0x50*8+2	# task gate, DPL 3
	movw $0xe500, idt+0x50*8+4
	lidt idtr
	SAY "user"
	pushl $0x23			# SS
	pushl $ustack_top
	pushl $0x002
	pushl $0x1b			# CS
	pushl $user
	iret
user:	mov $0x23, %ax
	mov %ax, %ds
	mov $0x77, %eax
	int $0x50
	hlt				# never: the kernel task ends the run

ktask:	SAY " ktask"
	mov tss2, %eax			# back link: the user's task
	call sp_hex
	mov tss1+0x4c, %eax		# the user's CS, saved
	call sp_hex
	mov tss1+0x20, %eax		# its EIP: after the int
	sub $user, %eax
	call sp_hex
	mov tss1+0x28, %eax		# its EAX
	call sp_hex
	pushf
	pop %eax
	and $0x4000, %eax		# NT
	call sp_hex
	PUTC '\n'
	SAY "done\n"
	EXIT 0

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
	.quad 0x00cf9a000000ffff	# 0x08 kernel code
	.quad 0x00cf92000000ffff	# 0x10 kernel data
	.quad 0x00cffa000000ffff	# 0x18 user code
	.quad 0x00cff2000000ffff	# 0x20 user data
	.quad 0x0000890000000067	# 0x28 TSS 1 (the user's task)
	.quad 0x0000890000000067	# 0x30 TSS 2 (the kernel task)
gdt_end:
gdtr:	.word gdt_end-gdt-1
	.long gdt
idtr:	.word 256*8-1
	.long idt
	.balign 4
tss1:	.space 0x66
	.word 0x68
tss2:	.space 0x66
	.word 0x68
	.bss
idt:	.space 256*8
	.space 4096
kstack_top:
	.space 4096
k2stack_top:
	.space 4096
ustack_top:
	.include "lib.inc"
