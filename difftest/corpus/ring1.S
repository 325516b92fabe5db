# ring1: a kernel that runs a driver at ring 1, as OS/2 and some
# microkernels used the middle rings: ring-1 code and stack segments, the
# TSS's SS1:ESP1 unused (nothing calls into ring 1), IOPL 1 so that the
# driver may use ports and cli/sti. Each step iret's from ring 0 to ring 1
# (or ring 2) and ends with int $0x80 (a DPL-3 gate), whose ring-0 handler
# prints the frame (CS, EFLAGS' IF and IOPL, SS:ESP), EAX and the stack
# the handler runs on:
#   - ring 1 with IOPL 1: in from the CMOS index port, cli, pushf (IF=0
#     seen by the driver), sti
#   - ring 1 with IOPL 0: in raises #GP(0); cli raises #GP(0)
#   - ring 2 with IOPL 1: in raises #GP(0)
#   - ring 1 loads a DPL-1 data segment into DS (allowed) and a DPL-0 one
#     (#GP(sel)); popf at ring 1 with IOPL 1 changes IF but not IOPL
	.include "corpus.inc"
_start:
	mov $kstack_top, %esp
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $kstack_top, %esp
	mov $0xff, %al
	out %al, $0x21
	out %al, $0xa1
	mov $tss, %eax
	mov %ax, gdt+0x28+2
	shr $16, %eax
	mov %al, gdt+0x28+4
	mov %ah, gdt+0x28+7
	mov $0x28, %ax
	ltr %ax
	mov $ex_noerr, %eax
	xor %ecx, %ecx
2:	call set_idt
	inc %ecx
	cmp $32, %ecx
	jb 2b
	mov $ex_err, %eax
	mov $10, %ecx
3:	call set_idt
	inc %ecx
	cmp $15, %ecx
	jb 3b
	mov $sys, %eax
	mov $0x80, %ecx
	call set_idt
	movb $0xee, idt+0x80*8+5
	lidt idtr
next:	mov $kstack_top, %esp
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov step, %ebx
	incl step
	shl $4, %ebx
	mov steps(%ebx), %eax
	test %eax, %eax
	jz done
	pushl steps+8(%ebx)	# SS
	pushl $r1stack_top	# ESP
	pushl steps+12(%ebx)	# EFLAGS
	pushl steps+4(%ebx)	# CS
	pushl %eax		# EIP
	mov steps+8(%ebx), %ecx
	mov %cx, %ds
	mov %cx, %es
	xor %eax, %eax
	iret
done:	SAY "done\n"
	EXIT 0

# ring-1/2 steps
s_io:	mov $0x8f, %al		# IOPL 1 at ring 1: the CMOS index port
	out %al, $0x70
	in $0x70, %al
	cli
	pushf
	pop %eax
	sti
	int $0x80
s_noio:	in $0x70, %al		# IOPL 0: #GP(0)
s_nocli: cli			# IOPL 0: #GP(0)
s_r2io:	in $0x70, %al		# ring 2, IOPL 1: #GP(0)
s_ds:	mov $0x39, %ax		# DPL-1 data: allowed
	mov %ax, %ds
	mov $0x10, %ax		# DPL-0 data: #GP(0x10)
	mov %ax, %es
s_popf:	pushl $0x3002		# IOPL 3, IF 0: only IF changes
	popf
	pushf
	pop %eax
	int $0x80
	.data
step:	.long 0
# EIP, CS, SS, EFLAGS
steps:	.long s_io, 0x19, 0x31, 0x1202
	.long s_noio, 0x19, 0x31, 0x0202
	.long s_nocli, 0x19, 0x31, 0x0202
	.long s_r2io, 0x42, 0x4a, 0x1202
	.long s_ds, 0x19, 0x31, 0x1202
	.long s_popf, 0x19, 0x31, 0x1202
	.long 0, 0, 0, 0
	.text

# int $0x80: the frame, EAX, the ring-0 stack
sys:	mov %esp, %ebp
	push %eax
	mov $0x10, %ax
	mov %ax, %ds
	pop %eax
	SAY "u: eax="
	HEX %eax
	SAY " cs="
	HEX 4(%ebp)
	SAY " fl="
	mov 8(%ebp), %eax
	and $0x3200, %eax
	call put_hex
	SAY " ss:esp="
	HEX 16(%ebp)
	PUTC ':'
	HEX 12(%ebp)
	SAY " depth="
	mov $kstack_top, %eax
	sub %ebp, %eax
	call put_hex
	PUTC '\n'
	jmp next

ex_noerr:
	pushl $0xeeee
ex_err:	mov %esp, %ebp
	mov $0x10, %ax
	mov %ax, %ds
	SAY "ex: e="
	HEX (%ebp)
	SAY " cs:eip="
	HEX 8(%ebp)
	PUTC ':'
	HEX 4(%ebp)
	SAY " fl="
	mov 12(%ebp), %eax
	and $0x3200, %eax
	call put_hex
	SAY " ss="
	HEX 20(%ebp)
	PUTC '\n'
	jmp next

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
	.quad 0x00cfbb000000ffff	# 0x18 ring-1 code
	.quad 0x0000000000000000	# 0x20
	.quad 0x0000890000000067	# 0x28 TSS (base at run time)
	.quad 0x00cfb3000000ffff	# 0x30 ring-1 data and stack
	.quad 0x00cfb3000000ffff	# 0x38 ring-1 data
	.quad 0x00cfdb000000ffff	# 0x40 ring-2 code
	.quad 0x00cfd3000000ffff	# 0x48 ring-2 data and stack
gdt_end:
gdtr:	.word gdt_end-gdt-1
	.long gdt
idtr:	.word 0x81*8-1
	.long idt
tss:	.long 0, kstack_top, 0x10
	.space 0x66-12
	.word 0x68		# I/O map base past the limit: IOPL decides
	.bss
	.balign 8
idt:	.space 0x81*8
	.space 4096
kstack_top:
	.space 4096
r1stack_top:
