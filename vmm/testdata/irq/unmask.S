# A request that arrives while IRQ 0 is masked at the PIC waits in IRR and
# is delivered right after the out that unmasks it, exactly once.
	.include "common.inc"
main:
	mov $0xff, %al
	out %al, $0x21
	ARM_PIT 2
	WAIT_PIT
	sti
	mov $1, %ebx
	mov $2, %ebx
	cmpl $0, irqs
	jne bad
	mov $0xfe, %al
	out %al, $0x21
	.globl expect
expect:
	mov $3, %ebx
	mov $4, %ebx
	cmpl $expect, saved_eip
	jne bad
	cmpl $2, saved_ebx
	jne bad
	cmpl $1, irqs
	jne bad
	EXIT 0
bad:	EXIT 1
