# sched: a tiny preemptive kernel in the Minix/early-Linux mould: the PIT
# (channel 0, mode 2, 100 Hz) on IRQ 0 of remapped 8259s switches between
# two ring-3 tasks. Each task has its own page directory (a private page at
# 0x400000 over the shared, user-accessible first 4 MiB), its own kernel
# stack (TSS.ESP0 follows the task) and its own SSE and x87 state, which
# the switch saves with fxsave and restores with fxrstor; its first
# context is built by the kernel. A task spins comparing XMM0 with the
# word its page holds and counting in the page; a mismatch calls int
# $0x81. Every tick prints what does not depend on where the task was
# interrupted: the tick, the task, its page's word (read through the task's
# CR3), XMM0 and ST0 (in the kernel, after the fxsave), the frame's CS, SS
# and IF/IOPL. After eight ticks the kernel prints whether each task ran.
	.include "corpus.inc"
	.set NTICKS, 8
_start:
	mov $kstack0_top, %esp
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $kstack0_top, %esp
	mov $tss, %eax
	mov %ax, gdt+0x28+2
	shr $16, %eax
	mov %al, gdt+0x28+4
	mov %ah, gdt+0x28+7
	mov $0x28, %ax
	ltr %ax
	mov $tick, %eax		# IDT: IRQ 0 at 0x20, int $0x81 (DPL 3)
	mov $0x20, %ecx
	mov $0x8e00, %edx
	call set_idt
	mov $bad, %eax
	mov $0x81, %ecx
	mov $0xee00, %edx
	call set_idt
	mov $unexp, %eax
	xor %ecx, %ecx
	mov $0x8e00, %edx
2:	call set_idt
	inc %ecx
	cmp $20, %ecx
	jb 2b
	lidt idtr
	# SSE on: CR4.OSFXSR, CR0.MP, no EM
	mov %cr4, %eax
	or $0x200, %eax
	mov %eax, %cr4
	mov %cr0, %eax
	and $~4, %eax
	or $2, %eax
	mov %eax, %cr0
	fninit
	# page tables: ptab maps 0-4 MiB (user, writable); each directory adds
	# its task's page at 0x400000
	mov $ptab, %edi
	mov $7, %eax
	mov $1024, %ecx
3:	mov %eax, (%edi)
	add $4096, %eax
	add $4, %edi
	loop 3b
	movl $ptab+7, pdir_a
	movl $ptab+7, pdir_b
	movl $ptab_a+7, pdir_a+4
	movl $ptab_b+7, pdir_b+4
	movl $page_a+7, ptab_a
	movl $page_b+7, ptab_b
	movl $0xaaaa0001, page_a
	movl $0xbbbb0002, page_b
	# each task's first context: an fxsave image with XMM0 = its word and
	# ST0 = its number, and a kernel stack with pusha registers and an
	# iret frame to its entry
	mov $0xaaaa0001, %eax
	mov $1, %ebx
	mov $fx_a, %edi
	call init_fx
	mov $0xbbbb0002, %eax
	mov $2, %ebx
	mov $fx_b, %edi
	call init_fx
	mov $kstack_a_top, %edi
	call init_stack
	mov %edi, ksp_a
	mov $kstack_b_top, %edi
	call init_stack
	mov %edi, ksp_b
	# 8259s: vectors 0x20/0x28, only IRQ 0
	mov $0x11, %al
	out %al, $0x20
	out %al, $0xa0
	mov $0x20, %al
	out %al, $0x21
	mov $0x28, %al
	out %al, $0xa1
	mov $0x04, %al
	out %al, $0x21
	mov $0x02, %al
	out %al, $0xa1
	mov $0x01, %al
	out %al, $0x21
	out %al, $0xa1
	mov $0xfe, %al
	out %al, $0x21
	mov $0xff, %al
	out %al, $0xa1
	# PIT channel 0, mode 2, count 11932 (~10 ms: a task runs between ticks)
	mov $0x34, %al
	out %al, $0x43
	mov $11932 & 0xff, %al
	out %al, $0x40
	mov $11932 >> 8, %al
	out %al, $0x40
	# run task a
	movl $0, cur
	mov $pdir_a, %eax
	mov %eax, %cr3
	mov %cr0, %eax
	or $0x80000000, %eax
	mov %eax, %cr0
	fxrstor fx_a
	movl $kstack_a_top, tss+4
	mov ksp_a, %esp
	jmp resume

# eax = XMM0's word, ebx = ST0, edi = the image
init_fx:
	fxsave (%edi)
	mov %eax, 160(%edi)	# XMM0
	movl $0, 164(%edi)
	movl $0, 168(%edi)
	movl $0, 172(%edi)
	push %ebx
	fildl (%esp)		# ST0 = ebx, saved and popped again
	fxsave (%edi)
	mov %eax, 160(%edi)
	fstp %st(0)
	pop %ebx
	ret

# edi = a kernel stack's top: returns edi = its saved ESP
init_stack:
	sub $20, %edi
	movl $task, 0(%edi)	# EIP
	movl $0x1b, 4(%edi)	# CS
	movl $0x202, 8(%edi)	# EFLAGS: IF
	movl $0x400ff0, 12(%edi)	# ESP: in the task's page
	movl $0x23, 16(%edi)	# SS
	sub $32, %edi		# pusha's eight registers
	mov $8, %ecx
1:	movl $0, -4(%edi,%ecx,4)
	loop 1b
	ret

# the tasks' code (shared): XMM0 must match the page's word
task:	mov $0x23, %ax
	mov %ax, %ds
	mov %ax, %es
1:	movd %xmm0, %eax
	cmp %eax, 0x400000
	jne 2f
	incl 0x400004
	jmp 1b
2:	int $0x81
	jmp 1b

# IRQ 0: print, save the task's FPU state and stack, switch
tick:	pusha
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov $0x20, %al		# EOI
	out %al, $0x20
	incl ticks
	mov %esp, %ebp		# pusha's registers, then the frame at 32(%ebp)
	mov cur, %ebx
	test %ebx, %ebx
	jnz 1f
	fxsave fx_a
	jmp 4f
1:	fxsave fx_b
4:	SAY "t"
	mov ticks, %eax
	mov $2, %ecx
	call put_hexn
	SAY " task="
	mov %ebx, %eax
	mov $1, %ecx
	call put_hexn
	SAY " page="
	HEX 0x400000
	SAY " xmm0="
	movd %xmm0, %eax
	call put_hex
	SAY " st0="
	sub $4, %esp
	fistl (%esp)
	pop %eax
	call put_hex
	SAY " cs="
	HEX 36(%ebp)
	SAY " ss="
	HEX 48(%ebp)
	SAY " fl="
	mov 40(%ebp), %eax
	and $0x3200, %eax
	call put_hex
	PUTC '\n'
	cmpl $NTICKS, ticks
	jae finish
	# switch to the other task
	test %ebx, %ebx
	jnz 2f
	mov %esp, ksp_a
	movl $1, cur
	fxrstor fx_b
	mov $pdir_b, %eax
	mov %eax, %cr3
	movl $kstack_b_top, tss+4
	mov ksp_b, %esp
	jmp resume
2:	mov %esp, ksp_b
	movl $0, cur
	fxrstor fx_a
	mov $pdir_a, %eax
	mov %eax, %cr3
	movl $kstack_a_top, tss+4
	mov ksp_a, %esp
resume:	popa
	iret

finish:	cli
	SAY "ran:"
	mov $pdir_a, %eax
	mov %eax, %cr3
	cmpl $0, 0x400004
	setne %al
	movzbl %al, %eax
	PUTC ' '
	mov $1, %ecx
	call put_hexn
	mov $pdir_b, %eax
	mov %eax, %cr3
	cmpl $0, 0x400004
	setne %al
	movzbl %al, %eax
	PUTC ' '
	mov $1, %ecx
	call put_hexn
	PUTC '\n'
	EXIT 0

bad:	mov %eax, %ebx
	mov $0x10, %ax
	mov %ax, %ds
	SAY "BAD xmm0="
	HEX %ebx
	PUTC '\n'
	EXIT 1
unexp:	mov $0x10, %ax
	mov %ax, %ds
	SAY "unexpected exception\n"
	EXIT 2

# eax = handler, ecx = vector, edx = type word (0x8e00, 0xee00)
set_idt:
	push %eax
	mov %ax, idt(,%ecx,8)
	movw $0x08, idt+2(,%ecx,8)
	mov %dx, idt+4(,%ecx,8)
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
	.quad 0x00cffb000000ffff	# 0x18 user code
	.quad 0x00cff3000000ffff	# 0x20 user data
	.quad 0x0000890000000067	# 0x28 TSS (base at run time)
gdt_end:
gdtr:	.word gdt_end-gdt-1
	.long gdt
idtr:	.word 0x82*8-1
	.long idt
tss:	.long 0, 0, 0x10
	.space 0x68-12
cur:	.long 0
ticks:	.long 0
ksp_a:	.long 0
ksp_b:	.long 0
	.bss
	.balign 4096
pdir_a:	.space 4096
pdir_b:	.space 4096
ptab:	.space 4096
ptab_a:	.space 4096
ptab_b:	.space 4096
page_a:	.space 4096
page_b:	.space 4096
fx_a:	.space 512
fx_b:	.space 512
idt:	.space 0x82*8
	.balign 16
	.space 4096
kstack0_top:
	.space 4096
kstack_a_top:
	.space 4096
kstack_b_top:
