# serialinit: the serial driver most hobby kernels copy (OSDev's
# init_serial): 38400 baud through the divisor latch, 8N1, FIFO on, then
# the chip test in loopback mode (MCR 0x1E: send 0xAE, expect it back),
# then normal mode (MCR 0x0F). A UART without loopback fails the test and
# such a kernel stays silent. It also prints what loopback shows in MSR
# and LSR, and that nothing of the test reached the line.
	.include "corpus.inc"
	.set COM1, 0x3f8
_start:
	mov $stack_top, %esp
	mov $COM1+1, %dx
	xor %al, %al
	out %al, %dx		# no interrupts
	mov $COM1+3, %dx
	mov $0x80, %al
	out %al, %dx		# DLAB
	mov $COM1+0, %dx
	mov $3, %al
	out %al, %dx		# divisor 3: 38400 baud
	mov $COM1+1, %dx
	xor %al, %al
	out %al, %dx
	mov $COM1+3, %dx
	mov $3, %al
	out %al, %dx		# 8N1, DLAB off
	mov $COM1+2, %dx
	mov $0xc7, %al
	out %al, %dx		# FIFO on, cleared, 14-byte threshold
	mov $COM1+4, %dx
	mov $0x0b, %al
	out %al, %dx		# RTS/DSR set, IRQs enabled
	mov $COM1+4, %dx
	mov $0x1e, %al
	out %al, %dx		# loopback
	mov $COM1+0, %dx
	mov $0xae, %al
	out %al, %dx
	mov $COM1+5, %dx
	in %dx, %al
	movzbl %al, %ebx	# LSR in loopback
	mov $COM1+6, %dx
	in %dx, %al
	movzbl %al, %esi	# MSR in loopback
	mov $COM1+0, %dx
	in %dx, %al
	movzbl %al, %edi	# what came back
	mov $COM1+4, %dx
	mov $0x0f, %al
	out %al, %dx		# normal operation
	cmp $0xae, %edi
	jne 1f
	SAY "serial ok: loopback lsr="
	HEX %ebx
	SAY " msr="
	HEX %esi
	SAY " msr now="
	mov $COM1+6, %dx
	in %dx, %al
	movzbl %al, %eax
	call put_hex
	PUTC '\n'
	EXIT 0
1:	SAY "serial faulty\n"
	EXIT 1
	.include "lib.inc"
	.bss
	.space 4096
stack_top:
