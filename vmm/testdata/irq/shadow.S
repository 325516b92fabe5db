# sti shadows one instruction: the pending interrupt is taken after
# `mov $1,%ebx`, before `mov $2,%ebx`.
	.include "common.inc"
main:
	ARM_PIT 2
	WAIT_PIT
	sti
	mov $1, %ebx
	.globl expect
expect:
	mov $2, %ebx
	cmpl $expect, saved_eip
	jne bad
	cmpl $1, saved_ebx
	jne bad
	cmpl $1, irqs
	jne bad
	EXIT 0
bad:	EXIT 1
