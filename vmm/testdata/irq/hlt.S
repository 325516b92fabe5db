# Periodic timer (mode 2): hlt skips guest time to each tick; the handler
# returns after the hlt. Five ticks, then exit.
	.include "common.inc"
main:
	mov $0x34, %al
	out %al, $0x43
	mov $100, %al
	out %al, $0x40
	xor %al, %al
	out %al, $0x40
	sti
1:	hlt
	cmpl $5, irqs
	jb 1b
	cli
	cmpl $5, irqs
	jne bad
	EXIT 0
bad:	EXIT 1
