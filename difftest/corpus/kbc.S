# kbc: the PS/2 keyboard controller (i8042, ports 0x60/0x64) and port 0x92 as a kernel's
# keyboard driver meets them: status, self-tests, the configuration byte, the keyboard's
# reset, identify and echo, the output port (A20), with every wait bounded.
	.include "corpus.inc"
_start:
	mov $stack_top, %esp
	SAY "status "
	inb $0x64, %al
	call hexb
	mov $0xAA, %al		# controller self-test
	call cmd
	call show
	mov $0x20, %al		# read the configuration byte
	call cmd
	call show
	mov $0x60, %al		# write it: keyboard interrupt off, translation on
	call cmd
	mov $0x44, %al
	call data
	mov $0x20, %al
	call cmd
	call show
	mov $0xAB, %al		# test the keyboard port
	call cmd
	call show
	mov $0xA9, %al		# test the mouse port
	call cmd
	call show
	mov $0xFF, %al		# keyboard: reset
	call data
	call show
	call show
	mov $0xF2, %al		# keyboard: identify
	call data
	call show
	call show
	call show
	mov $0xEE, %al		# keyboard: echo
	call data
	call show
	mov $0xF4, %al		# keyboard: enable scanning
	call data
	call show
	mov $0xD0, %al		# read the output port
	call cmd
	call show
	SAY "port 0x92 "
	inb $0x92, %al
	call hexb
	SAY "status "
	inb $0x64, %al
	call hexb
	SAY "empty "
	call show
	EXIT 0

# cmd: wait for the input buffer to empty, then write %al to 0x64
cmd:	call wait_in
	outb %al, $0x64
	ret
data:	call wait_in
	outb %al, $0x60
	ret
wait_in: push %ecx
	push %eax
	mov $100000, %ecx
1:	inb $0x64, %al
	test $2, %al
	jz 2f
	loop 1b
	SAY "input-timeout "
2:	pop %eax
	pop %ecx
	ret
# show: wait (bounded) for a byte from 0x60 and print it, or "none"
show:	push %ecx
	mov $100000, %ecx
1:	inb $0x64, %al
	test $1, %al
	jnz 2f
	loop 1b
	SAY "none\n"
	pop %ecx
	ret
2:	inb $0x60, %al
	call hexb
	pop %ecx
	ret
hexb:	push %ecx		# print %al as two hex digits and a newline
	mov $2, %ecx
	call put_hexn
	pop %ecx
	PUTC '\n'
	ret
	.include "lib.inc"
	.bss
	.space 4096
stack_top:
