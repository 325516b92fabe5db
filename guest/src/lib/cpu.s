# cpu.s — the runtime's descriptor tables: GDT, IDT, TSS.
#
# Workloads that depend on descriptor tables (ring changes, exceptions,
# interrupts) call rt_cpu_init first; the others run on the loader's flat
# segments and never load a segment register. All tables live in the
# image's data segment (page-aligned, apart from code: see link.ld).
#
# GDT (selectors in abi.inc):
#   0x00 null
#   0x08 KERNEL_CS  base 0, limit 4 GiB, 32-bit code, DPL 0
#   0x10 KERNEL_DS  base 0, limit 4 GiB, data r/w,    DPL 0
#   0x18 USER_CS    base 0, limit 4 GiB, 32-bit code, DPL 3 (selector 0x1B)
#   0x20 USER_DS    base 0, limit 4 GiB, data r/w,    DPL 3 (selector 0x23)
#   0x28 TSS_SEL    32-bit available TSS rt_tss, limit 103
# Code and data descriptors have the accessed bit preset, so the CPU never
# writes them (and `lar` sees the same value on every machine).
#
# IDT: 256 interrupt gates (DPL 0) to rt_vec_stubs, which report an
# unexpected vector and exit with EXIT_UNEXPECTED; workloads replace the
# gates they handle with rt_set_gate.
#
# TSS: ss0:esp0 = KERNEL_DS:rt_kstack_top, the stack the CPU switches to on
# an interrupt or `int n` from ring 3; no I/O bitmap.

.include "rt.inc"

	.set KSTACK_SIZE, 4096
	.set VEC_STUB_SIZE, 16
	.set TSS_IOMAP_NONE, TSS_SIZE    # I/O bitmap offset past the limit: none

	.text
# rt_cpu_init — load GDT, segments, IDT and TSS. Preserves all registers.
FUNC rt_cpu_init
	pushal
	# the TSS descriptor's base is only known at link time: fill it in
	movl $rt_tss, %eax
	movw %ax, rt_gdt + TSS_SEL + 2
	shrl $16, %eax
	movb %al, rt_gdt + TSS_SEL + 4
	movb %ah, rt_gdt + TSS_SEL + 7
	PV_LGDT rt_gdtr
	PV_LOAD_SEGS KERNEL_CS, KERNEL_DS

	# every vector -> its stub in rt_vec_stubs
	xorl %eax, %eax
	movl $rt_vec_stubs, %edx
	movl $GATE_INT_DPL0, %ecx
1:	call rt_set_gate
	addl $VEC_STUB_SIZE, %edx
	incl %eax
	cmpl $256, %eax
	jb 1b
	PV_LIDT rt_idtr

	movw $TSS_IOMAP_NONE, rt_tss + TSS_IOMAP
	PV_SET_KSTACK rt_tss, $KERNEL_DS, $rt_kstack_top
	movl $TSS_SEL, %eax
	PV_LTR %ax
	popal
	ret
ENDFUNC rt_cpu_init

# rt_set_gate — %eax = vector, %edx = handler, %ecx = type/attribute byte.
FUNC rt_set_gate
	pushl %ebx
	leal rt_idt(,%eax,8), %ebx
	movw %dx, (%ebx)                 # offset 15..0
	movw $KERNEL_CS, 2(%ebx)         # selector
	movb $0, 4(%ebx)
	movb %cl, 5(%ebx)                # P, DPL, type
	pushl %edx
	shrl $16, %edx
	movw %dx, 6(%ebx)                # offset 31..16
	popl %edx
	popl %ebx
	ret
ENDFUNC rt_set_gate

# rt_pic_mask — mask all IRQs at both 8259 PICs. Workloads that set IF call
# it first: under QEMU the firmware leaves the timer IRQ unmasked (and often
# pending) on the BIOS's vectors, which would collide with exception vectors.
FUNC rt_pic_mask
	pushl %eax
	movb $0xff, %al
	PV_OUTB $PORT_PIC1_DATA
	PV_OUTB $PORT_PIC2_DATA
	popl %eax
	ret
ENDFUNC rt_pic_mask

# rt_vec_stubs — 256 stubs of VEC_STUB_SIZE bytes: push the vector, jump to
# rt_unexpected.
	.balign VEC_STUB_SIZE
FUNC rt_vec_stubs
	.set vec, 0
	.rept 256
	.balign VEC_STUB_SIZE
	pushl $vec
	jmp rt_unexpected
	.set vec, vec + 1
	.endr
ENDFUNC rt_vec_stubs

# rt_unexpected — report `NAME: unexpected vector=0xVV [error=0x...] eip=0x...`
# and exit with EXIT_UNEXPECTED. Stack: vector, [error code], EIP, CS, EFLAGS.
FUNC rt_unexpected
	cmpl $0, rt_linelen              # finish a partial line first
	je 1f
	PRINT_NL
1:	movl (%esp), %ebx                # vector
	leal 4(%esp), %ebp               # -> error code or EIP
	pushl %esi
	movl $rt_workload_name, %esi
	call rt_puts
	popl %esi
	PRINT ": unexpected vector="
	PRINT_HEX %ebx, 2
	# vectors 8, 10-14 and 17 push an error code
	cmpl $8, %ebx
	je 2f
	cmpl $17, %ebx
	je 2f
	cmpl $10, %ebx
	jb 3f
	cmpl $14, %ebx
	ja 3f
2:	PRINT " error="
	PRINT_HEX (%ebp)
	addl $4, %ebp
3:	PRINT " eip="
	PRINT_HEX (%ebp)
	PRINT_NL
	movl $EXIT_UNEXPECTED, %eax
	jmp rt_exit
ENDFUNC rt_unexpected

	.data
	.balign 8
DATA rt_gdt
	.quad 0                          # 0x00 null
	.quad 0x00CF9B000000FFFF         # 0x08 kernel code: G D P DPL0 code exec/read accessed
	.quad 0x00CF93000000FFFF         # 0x10 kernel data: G B P DPL0 data r/w accessed
	.quad 0x00CFFB000000FFFF         # 0x18 user code:   DPL3
	.quad 0x00CFF3000000FFFF         # 0x20 user data:   DPL3
	.word TSS_SIZE - 1               # 0x28 TSS: limit 15..0
	.word 0                          #          base 15..0   (rt_cpu_init)
	.byte 0                          #          base 23..16  (rt_cpu_init)
	.byte 0x89                       #          P, DPL0, 32-bit available TSS
	.byte 0                          #          G=0, limit 19..16
	.byte 0                          #          base 31..24  (rt_cpu_init)
ENDDATA rt_gdt
	.balign 4
	.word 0                          # align the pseudo-descriptor's base
DATA rt_gdtr
	.word GDT_ENTRIES * 8 - 1
	.long rt_gdt
ENDDATA rt_gdtr
	.balign 4
	.word 0
DATA rt_idtr
	.word 256 * 8 - 1
	.long rt_idt
ENDDATA rt_idtr

	.bss
	.balign 8
DATA rt_idt
	.skip 256 * 8
ENDDATA rt_idt
	.balign 16
DATA rt_tss
	.skip TSS_SIZE
ENDDATA rt_tss
	.balign 16
DATA rt_kstack
	.skip KSTACK_SIZE
ENDDATA rt_kstack
DATA rt_kstack_top
ENDDATA rt_kstack_top
