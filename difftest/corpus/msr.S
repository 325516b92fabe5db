# msr: rdmsr of the MSRs QEMU's qemu32 answers, at CPL 0, with a #GP
# handler that prints "#GP" and skips the 2-byte rdmsr. The values are
# qemu32's reset state (vmm.MSRs is that table; native gets it too: the machine
# serves the MSRs where Unicorn's own model differs, vmm/msr.go).
	.include "corpus.inc"
_start:
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $stack_top, %esp
	mov $gp_handler, %eax
	mov %ax, idt+13*8
	shr $16, %eax
	mov %ax, idt+13*8+6
	lidt idtr
	# MSRs qemu32 implements (and a few it does not)
	mov $msrs, %esi
2:	lodsl
	test %eax, %eax
	jz 3f
	mov %eax, %ecx
	SAY "msr "
	HEX %ecx
	PUTC '='
	mov $0xdead, %eax
	mov $0xbeef, %edx
	rdmsr
	HEX %edx
	PUTC ':'
	HEX %eax
	PUTC '\n'
	jmp 2b
3:	# writes: MISC_ENABLE and BIOS_SIGN_ID take a value and give it back;
	# MTRRCAP and MCG_CAP are read-only (#GP)
	mov $wrs, %esi
4:	lodsl
	test %eax, %eax
	jz 5f
	mov %eax, %ecx
	SAY "wrmsr "
	HEX %ecx
	mov $0x12340001, %eax
	xor %edx, %edx
	wrmsr
	rdmsr
	PUTC '='
	HEX %edx
	PUTC ':'
	HEX %eax
	PUTC '\n'
	jmp 4b
5:	EXIT 0

sp_hex:	PUTC ' '
	call put_hex
	ret

gp_handler:
	SAY "#GP"
	addl $2, 4(%esp)	# skip rdmsr or wrmsr (0f 32, 0f 30)
	add $4, %esp		# the error code
	iret
	.include "lib.inc"

	.data
msrs:	.long 0x1b, 0xfe, 0x8b, 0x1a0, 0x174, 0x175, 0x176, 0x179, 0x17a, 0x277, 0x2ff, 0x3a, 0xc0000080, 0
wrs:	.long 0x1a0, 0x8b, 0xfe, 0x179, 0
	.balign 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff
	.quad 0x00cf92000000ffff
gdt_end:
gdtr:	.word gdt_end-gdt-1
	.long gdt
idtr:	.word 32*8-1
	.long idt
	.balign 8
idt:	.fill 13, 8, 0
	.word 0, 0x08, 0x8e00, 0	# 13: #GP
	.fill 18, 8, 0
	.bss
	.space 4096
stack_top:
