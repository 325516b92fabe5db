# privileged: a CPL-0 tour of state a VMM must emulate — debug registers,
# unassigned I/O ports, port 0x61 — in flat segments with a one-entry IDT
# of its own (a #GP handler that prints "#GP" and skips 2 bytes).
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
	# debug registers: write, read back; DR6/DR7 reset values
	SAY "dr"
	mov $0x11111111, %eax
	mov %eax, %db0
	mov $0x22222222, %ebp
	mov %ebp, %db1
	mov $0x33333333, %eax
	mov %eax, %db2
	mov $0x44444444, %eax
	mov %eax, %db3
	mov %db0, %eax
	call sp_hex
	mov %db1, %eax
	call sp_hex
	mov %db2, %edx
	HEX %edx
	PUTC ' '
	mov %db3, %eax
	call sp_hex
	mov %db6, %eax
	call sp_hex
	mov %db7, %eax
	call sp_hex
	PUTC '\n'
	# DR7 arming breakpoints (an execution breakpoint and a data watchpoint
	# at addresses nothing touches): read back, through DR5 too (it aliases
	# DR7 while CR4.DE is clear). Unicorn 2.1 dies with SIGSEGV once DR7
	# enables any breakpoint, so the machine keeps the debug registers.
	SAY "dr7"
	mov $0x00ffff00, %eax
	mov %eax, %db0
	mov $0x00fffe00, %eax
	mov %eax, %db1
	mov $0x00d1070f, %eax
	mov %eax, %db7
	nop
	mov %db7, %eax
	call sp_hex
	mov %db5, %eax
	call sp_hex
	xor %eax, %eax
	mov %eax, %db4
	mov %db6, %eax
	call sp_hex
	xor %eax, %eax
	mov %eax, %db7
	PUTC '\n'
	# unassigned ports read as all ones, of the access's width
	SAY "port80"
	mov $0x12345678, %eax
	inb $0x80, %al
	call sp_hex
	mov $0x12345678, %eax
	inw $0x80, %ax
	call sp_hex
	mov $0x12345678, %eax
	inl $0x80, %eax
	call sp_hex
	PUTC '\n'
	# port 0x61 (system control port B: the PC speaker gate, the refresh
	# toggle, timer 2's output), read four times. Bit 5, timer 2's OUT, is
	# not printed: under QEMU the firmware ran timer 2 in wall-clock time.
	SAY "port61"
	mov $4, %ecx
4:	xor %eax, %eax
	inb $0x61, %al
	and $0xdf, %al
	call sp_hex
	loop 4b
	PUTC '\n'
	EXIT 0

sp_hex:	PUTC ' '
	call put_hex
	ret

gp_handler:
	SAY "#GP"
	addl $2, 4(%esp)	# skip rdmsr (0f 32)
	add $4, %esp		# the error code
	iret
	.include "lib.inc"

	.data
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
