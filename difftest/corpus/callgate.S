# callgate: call gates, the 286-era way into a kernel that OS/2 and early
# Linux's lcall7 used. Ring-3 steps (iret from the kernel, PICs masked,
# IF=1) reach ring 0 through GDT call gates, which the handler returns
# from with lret $8; each step ends with int $0x80, whose handler prints
# the user's registers and segments:
#   - a DPL-3 gate with two parameters: the stack switch to TSS.SS0:ESP0,
#     the copied parameters, the caller's CS:EIP and SS:ESP on the kernel
#     stack; lret $8 pops the parameters from both stacks and nulls ES and
#     FS, which the gate code loaded with the DPL-0 data segment
#   - the same gate from ring 0 (no stack switch, no copy)
#   - a DPL-0 gate (#GP), a gate not present (#NP), a gate whose target is a
#     data segment (#GP), a jmp through a gate to ring 0 (#GP): the error
#     codes
#   - a DPL-3 gate to ring-3 code (a far call at the same level)
# The gates' offsets are written into the GDT after lgdt and ltr, as a
# kernel filling its table at run time would.
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
	mov $0xff, %al		# mask both 8259s: user steps run with IF=1
	out %al, $0x21
	out %al, $0xa1
	mov $tss, %eax		# the TSS descriptor's base
	mov %ax, gdt+0x28+2
	shr $16, %eax
	mov %al, gdt+0x28+4
	mov %ah, gdt+0x28+7
	mov $0x28, %ax
	ltr %ax
	mov $gate_k, %eax	# the gates' offsets, written into the loaded GDT
	mov $0x30, %ebx
	call set_gate
	mov $0x38, %ebx
	call set_gate
	mov $0x40, %ebx
	call set_gate
	mov $0x50, %ebx
	call set_gate
	mov $user_fn, %eax
	mov $0x48, %ebx
	call set_gate
	# IDT: the exceptions with and without error codes, int $0x80 (DPL 3)
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
	# the gate from ring 0: same privilege, nothing copied
	SAY "k: "
	pushl $0x7777
	pushl $0x6666
	lcall $0x30, $0
	SAY "k: eax="
	HEX %eax
	SAY " esp="
	mov $kstack_top, %eax
	sub %esp, %eax
	call put_hex
	PUTC '\n'
	add $8, %esp
next:	mov $kstack_top, %esp
	mov $0x10, %ax
	mov %ax, %ds
	mov step, %ebx
	mov steps(,%ebx,4), %eax
	incl step
	test %eax, %eax
	jz done
	mov $0x23, %cx
	mov %cx, %es
	mov %cx, %fs
	mov %cx, %gs
	pushl $0x23		# SS
	pushl $ustack_top	# ESP
	pushl $0x202		# EFLAGS: IF=1
	pushl $0x1b		# CS
	pushl %eax		# EIP
	mov %cx, %ds
	xor %eax, %eax
	iret
done:	SAY "done\n"
	EXIT 0

# ring-3 steps
u_gate:	pushl $0x2222
	pushl $0x1111
	mov $0xabcd, %ebx
	lcall $0x33, $0
	int $0x80
u_dpl0:	lcall $0x3b, $0
u_np:	lcall $0x43, $0
u_data:	lcall $0x53, $0
u_jmp:	ljmp $0x33, $0
u_same:	pushl $0x5555
	lcall $0x4b, $0
	int $0x80
u_rpl0:	pushl $0x4444
	pushl $0x3333
	lcall $0x30, $0		# RPL 0 in the selector: max(CPL, RPL) = 3 still <= DPL 3
	int $0x80
user_fn:
	mov %esp, %ecx
	mov 8(%esp), %eax	# the parameter: not copied at the same level, ours
	lret
	.data
step:	.long 0
steps:	.long u_gate, u_dpl0, u_np, u_data, u_jmp, u_same, u_rpl0, 0
	.text

# the gate's ring-0 code: print what the gate left on the stack
gate_k:	push %ebp
	mov %esp, %ebp
	push %ds
	mov $0x10, %ax
	mov %ax, %ds
	SAY "gate: cs="
	HEX 8(%ebp)
	SAY " eip="
	HEX 4(%ebp)
	testl $3, 8(%ebp)
	jz 1f
	SAY " p="
	HEX 12(%ebp)
	PUTC ','
	HEX 16(%ebp)
	SAY " ss:esp="
	HEX 24(%ebp)
	PUTC ':'
	HEX 20(%ebp)
	SAY " depth="
	mov $kstack_top, %eax
	sub %ebp, %eax
	call put_hex
	SAY " fl="
	pushf
	pop %eax
	call put_hex
	PUTC '\n'
	mov $0x10, %ax		# DPL-0 data in ES and FS: the lret to ring 3 nulls them
	mov %ax, %es
	mov %ax, %fs
	mov 12(%ebp), %eax
	add 16(%ebp), %eax
	pop %ds
	pop %ebp
	lret $8
1:	PUTC '\n'
	mov $0x1234, %eax
	pop %ds
	pop %ebp
	lret $8

# int $0x80: the user's state
sys:	push %ds
	mov %esp, %ebp
	push %eax
	mov $0x10, %ax
	mov %ax, %ds
	pop %eax
	SAY "u: eax="
	HEX %eax
	SAY " ebx="
	HEX %ebx
	SAY " ecx="
	HEX %ecx
	SAY " es="
	xor %eax, %eax
	mov %es, %ax
	call put_hex
	SAY " fs="
	mov %fs, %ax
	call put_hex
	SAY " gs="
	mov %gs, %ax
	call put_hex
	SAY " ds="
	HEX (%ebp)
	SAY " cs:eip="
	HEX 8(%ebp)
	PUTC ':'
	HEX 4(%ebp)
	SAY " fl="
	HEX 12(%ebp)
	SAY " ss:esp="
	HEX 20(%ebp)
	PUTC ':'
	HEX 16(%ebp)
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
	SAY " ss:esp="
	HEX 20(%ebp)
	PUTC ':'
	HEX 16(%ebp)
	PUTC '\n'
	jmp next

# eax = offset, ebx = GDT offset of a gate
set_gate:
	mov %ax, gdt(%ebx)
	push %eax
	shr $16, %eax
	mov %ax, gdt+6(%ebx)
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
	.quad 0x00cf9b000000ffff	# 0x08 kernel code (accessed)
	.quad 0x00cf93000000ffff	# 0x10 kernel data
	.quad 0x00cffb000000ffff	# 0x18 user code
	.quad 0x00cff3000000ffff	# 0x20 user data
	.quad 0x0000890000000067	# 0x28 TSS (base at run time)
	.quad 0x0000ec0200080000	# 0x30 call gate, DPL 3, 2 parameters -> 0x08
	.quad 0x00008c0200080000	# 0x38 call gate, DPL 0
	.quad 0x00006c0200080000	# 0x40 call gate, DPL 3, not present
	.quad 0x0000ec01001b0000	# 0x48 call gate, DPL 3, 1 parameter -> 0x1b (ring 3)
	.quad 0x0000ec0200100000	# 0x50 call gate, DPL 3 -> 0x10 (data)
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
ustack_top:
