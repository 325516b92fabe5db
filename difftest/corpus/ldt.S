# ldt: a kernel that keeps its segments in an LDT, as 1990s systems did
# (Minix, early Linux's per-process LDT, Windows' 16-bit descriptors): the
# GDT holds only a flat code segment, a data segment and the LDT's
# descriptor (at an odd index, Accessed bits clear); the LDT holds a data
# segment with a non-zero base, a code segment and ring-3 code and data.
#   - lldt, sldt, lar/lsl/verr/verw of LDT selectors (TI=1)
#   - a data load through an LDT selector whose base is not 0
#   - a far jump into an LDT code segment and back
#   - the Accessed bits the loads set in the LDT
#   - ring 3 on LDT segments, int $0x80 back, the frame's selectors
#   - a TI=1 selector past the LDT's limit: #GP(selector)
	.include "corpus.inc"
_start:
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $kstack_top, %esp
	# the LDT descriptor's and the TSS descriptor's bases, at run time
	mov $ldt, %eax
	mov %ax, gdt+0x38+2
	shr $16, %eax
	mov %al, gdt+0x38+4
	mov %ah, gdt+0x38+7
	mov $tss, %eax
	mov %ax, gdt+0x20+2
	shr $16, %eax
	mov %al, gdt+0x20+4
	mov %ah, gdt+0x20+7
	mov $0x20, %ax
	ltr %ax
	# the LDT data segment's base: 'based' - 0x10, so offset 0x10 reads it
	mov $based-0x10, %eax
	mov %ax, ldt+0x08+2
	shr $16, %eax
	mov %al, ldt+0x08+4
	mov %ah, ldt+0x08+7
	# IDT: #GP and int $0x80 (DPL 3)
	mov $gp_handler, %eax
	mov %ax, idt+13*8
	movl $0x8e000008, %eax
	mov %eax, idt+13*8+2
	mov $gp_handler, %eax
	shr $16, %eax
	mov %ax, idt+13*8+6
	mov $sys_handler, %eax
	mov %ax, idt+0x80*8
	movl $0xee000008, %eax
	mov %eax, idt+0x80*8+2
	mov $sys_handler, %eax
	shr $16, %eax
	mov %ax, idt+0x80*8+6
	lidt idtr
	mov $0x38, %ax
	lldt %ax
	SAY "sldt"
	xor %eax, %eax
	sldt %ax
	call sp_hex
	PUTC '\n'
	# queries: 0x0c LDT data (DPL 0), 0x14 LDT code, 0x1f LDT user code,
	# 0x27 LDT user data, 0x3c past the limit, 0x38 the LDT in the GDT
	SAY "lar"
	mov $qsels, %esi
2:	movzwl (%esi), %ecx
	test %ecx, %ecx
	jz 3f
	mov $0xdeadbeef, %eax
	lar %cx, %eax
	call zf_hex
	mov $0xdeadbeef, %eax
	lsl %cx, %eax
	call zf_hex
	verr %cx
	call zf
	verw %cx
	call zf
	add $2, %esi
	jmp 2b
3:	PUTC '\n'
	# a load through the based LDT segment
	SAY "based"
	mov $0x0c, %ax
	mov %ax, %fs
	mov %fs:0x10, %eax
	call sp_hex
	movl $0x600df00d, %fs:0x14
	mov based+4, %eax
	call sp_hex
	mov %fs, %eax
	call sp_hex
	PUTC '\n'
	# far jump into LDT code and back
	ljmp $0x14, $ldt_code
back:	SAY "accessed"
	mov ldt+0x08+4, %eax	# the access byte and flags of each LDT entry
	call sp_hex
	mov ldt+0x10+4, %eax
	call sp_hex
	PUTC '\n'
	# a selector past the LDT's limit: #GP(0x44)
	SAY "past"
	mov $0x44, %ax
	mov %ax, %gs
	PUTC '\n'
	# ring 3 on LDT segments
	SAY "ring3"
	pushl $0x27		# SS: LDT user data
	pushl $ustack_top
	pushl $0x002
	pushl $0x1f		# CS: LDT user code
	pushl $user
	iret
user:	mov $0x27, %ax
	mov %ax, %ds
	mov %cs, %eax
	mov $0x11, %eax
	int $0x80
	hlt			# never: the handler does not return to ring 3

ldt_code:
	SAY "ldtcode"
	mov %cs, %eax
	call sp_hex
	PUTC '\n'
	ljmp $0x08, $back

# int $0x80: [eip][cs][eflags][esp][ss]
sys_handler:
	mov $0x10, %bx
	mov %bx, %ds
	call sp_hex		# eax from ring 3
	mov 4(%esp), %eax
	call sp_hex
	mov 16(%esp), %eax
	call sp_hex
	PUTC '\n'
	SAY "done\n"
	EXIT 0

# #GP: [error code][eip]...; skip the faulting mov (2 bytes)
gp_handler:
	push %eax
	SAY " #GP("
	mov 4(%esp), %eax
	call put_hex
	PUTC ')'
	pop %eax
	add $4, %esp
	addl $2, (%esp)
	iret

sp_hex:	PUTC ' '
	jmp put_hex
zf_hex:	jz 1f
	SAY " nz"
	ret
1:	jmp sp_hex
zf:	jz 1f
	SAY " n"
	ret
1:	SAY " z"
	ret

	.data
	.balign 8
	.space 40
gdt:	.quad 0
	.quad 0x00cf9a000000ffff	# 0x08 code, Accessed clear
	.quad 0x00cf92000000ffff	# 0x10 data
	.quad 0
	.quad 0x0000890000000067	# 0x20 TSS
	.quad 0
	.quad 0
	.quad 0x0000820000000027	# 0x38 LDT, 5 entries
gdt_end:
	.balign 8
ldt:	.quad 0
	.quad 0x0040920000000fff	# 0x0c data, byte-granular 4 KiB, base set at run time
	.quad 0x00cf9a000000ffff	# 0x14 code
	.quad 0x00cffa000000ffff	# 0x1f user code (DPL 3)
	.quad 0x00cff2000000ffff	# 0x27 user data (DPL 3)
gdtr:	.word gdt_end-gdt-1
	.long gdt
idtr:	.word 256*8-1
	.long idt
qsels:	.word 0x0c, 0x14, 0x1f, 0x27, 0x3c, 0x38, 0
based:	.long 0x1234abcd, 0
tss:	.long 0, kstack_top, 0x10
	.space 0x68-12
	.bss
	.balign 8
idt:	.space 256*8
	.space 4096
kstack_top:
	.space 4096
ustack_top:
	.include "lib.inc"
