# With IF clear the interrupt never arrives; hlt then sleeps forever.
	.include "common.inc"
main:
	ARM_PIT 2
	WAIT_PIT
	mov $1, %ebx
	hlt
