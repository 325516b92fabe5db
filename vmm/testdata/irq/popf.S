# popf that sets IF opens the window at once: no shadow.
	.include "common.inc"
main:
	ARM_PIT 2
	WAIT_PIT
	pushf
	orl $0x200, (%esp)
	popf
	.globl expect
expect:
	mov $1, %ebx
	cmpl $expect, saved_eip
	jne bad
	cmpl $0, saved_ebx
	jne bad
	EXIT 0
bad:	EXIT 1
