# sysenter: fast system calls as a 2000s kernel made them (Linux's
# sysenter path). The kernel writes SYSENTER_CS/ESP/EIP itself (wrmsr), reads
# them back, then runs ring-3 steps (iret, IF=1, PICs masked); each prints
# through int $0x80 or the sysenter entry:
#   - sysenter: the entry's ESP (the MSR's), ECX, EDX and EAX as user code
#     left them, EFLAGS with IF cleared and DF kept; the kernel sti's and
#     sysexits to EDX on ECX's stack: ring 3's CS and SS (MSR CS + 16 and
#     + 24, RPL 3) in the int $0x80 frame that follows
#   - an MSR CS with RPL bits (0x0b): the same selectors
#   - sysexit at ring 3 and sysenter with SYSENTER_CS = 0: #GP(0)
#   - sysenter from ring 0, to an entry that goes back to the kernel
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
	mov $0x08, %eax
	call set_msrs
	SAY "msr:"
	mov $0x174, %ecx
4:	rdmsr
	PUTC ' '
	call put_hex
	inc %ecx
	cmp $0x177, %ecx
	jb 4b
	PUTC '\n'
	# sysenter at ring 0
	mov $k_entry0, %eax
	xor %edx, %edx
	mov $0x176, %ecx
	wrmsr
	mov %esp, saved_esp
	mov $0x0f0f, %eax
	sysenter
k_back:	mov saved_esp, %esp
	mov $k_entry, %eax
	xor %edx, %edx
	mov $0x176, %ecx
	wrmsr
next:	mov $kstack_top, %esp
	mov $0x10, %ax
	mov %ax, %ds
	mov step, %ebx
	incl step
	mov msrcs(,%ebx,4), %eax
	call set_msrs
	mov steps(,%ebx,4), %eax
	test %eax, %eax
	jz done
	mov $0x23, %cx
	mov %cx, %es
	pushl $0x23		# SS
	pushl $ustack_top	# ESP
	pushl $0x202		# EFLAGS: IF=1
	pushl $0x1b		# CS
	pushl %eax		# EIP
	mov %cx, %ds
	iret
done:	SAY "done\n"
	EXIT 0

# eax = SYSENTER_CS; ESP = the entry stack
set_msrs:
	push %ecx
	push %edx
	xor %edx, %edx
	mov $0x174, %ecx
	wrmsr
	mov $entry_top, %eax
	mov $0x175, %ecx
	wrmsr
	pop %edx
	pop %ecx
	ret

# ring-3 steps
u_se:	mov $0x1234, %eax
	mov $u_se_ret, %edx
	mov %esp, %ecx
	sub $16, %ecx
	sysenter
u_se_ret:
	int $0x80
u_df:	std
	mov $0x5678, %eax
	mov $u_df_ret, %edx
	mov %esp, %ecx
	sysenter
u_df_ret:
	int $0x80
u_exit:	mov %esp, %ecx
	mov $u_df_ret, %edx
	sysexit
u_cs0:	mov %esp, %ecx
	mov $u_df_ret, %edx
	sysenter
	.data
step:	.long 0
steps:	.long u_se, u_df, u_se, u_exit, u_cs0, 0
msrcs:	.long 0x08, 0x08, 0x0b, 0x08, 0x00, 0x08
saved_esp: .long 0
	.text

# the sysenter entry: IF clear, on the MSR's stack, user data segments
k_entry:
	mov %esp, %edi
	pushf
	pop %ebx
	cld
	SAY "se: esp="
	HEX %edi
	SAY " eax="
	HEX %eax
	SAY " ecx="
	HEX %ecx
	SAY " edx="
	HEX %edx
	SAY " fl="
	HEX %ebx
	SAY " ds="
	push %eax
	xor %eax, %eax
	mov %ds, %ax
	call put_hex
	pop %eax
	PUTC '\n'
	sti
	sysexit
k_entry0:
	mov %esp, %edi
	pushf
	pop %ebx
	SAY "se0: esp="
	HEX %edi
	SAY " eax="
	HEX %eax
	SAY " fl="
	HEX %ebx
	PUTC '\n'
	jmp k_back

# int $0x80: the user's state
sys:	mov %esp, %ebp
	push %eax
	mov $0x10, %ax
	mov %ax, %ds
	pop %eax
	SAY "u: eax="
	HEX %eax
	SAY " cs:eip="
	HEX 4(%ebp)
	PUTC ':'
	HEX (%ebp)
	SAY " fl="
	HEX 8(%ebp)
	SAY " ss:esp="
	HEX 16(%ebp)
	PUTC ':'
	HEX 12(%ebp)
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
	HEX 12(%ebp)
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
	.quad 0x00cf93000000ffff	# 0x10 kernel data (sysenter's SS)
	.quad 0x00cffb000000ffff	# 0x18 user code (sysexit's CS)
	.quad 0x00cff3000000ffff	# 0x20 user data (sysexit's SS)
	.quad 0x0000890000000067	# 0x28 TSS (base at run time)
gdt_end:
gdtr:	.word gdt_end-gdt-1
	.long gdt
idtr:	.word 256*8-1
	.long idt
tss:	.long 0, kstack_top, 0x10
	.space 0x68-12
	.bss
	.balign 8
idt:	.space 256*8
	.space 4096
kstack_top:
	.space 4096
entry_top:
	.space 4096
ustack_top:
