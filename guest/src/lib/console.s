# console.s — line-buffered console output.
#
# Characters collect in rt_linebuf; a '\n' (or a full buffer) writes the
# whole line with one PV_CONSOLE_WRITE. Natively that is the polled COM1
# loop (two port accesses per byte); in the PV build it is one hypercall per
# line. Every function preserves all registers.

.include "rt.inc"

	.set LINEBUF_SIZE, 128

	.text
# rt_putc — %al = character.
FUNC rt_putc
	pushl %ecx
	movl rt_linelen, %ecx
	movb %al, rt_linebuf(%ecx)
	incl %ecx
	movl %ecx, rt_linelen
	cmpb $'\n', %al
	je 1f
	cmpl $LINEBUF_SIZE, %ecx
	jb 2f
1:	call rt_flush
2:	popl %ecx
	ret
ENDFUNC rt_putc

# rt_flush — write out whatever the line buffer holds.
FUNC rt_flush
	cmpl $0, rt_linelen
	je 1f
	PV_CONSOLE_WRITE $rt_linebuf, rt_linelen
	movl $0, rt_linelen
1:	ret
ENDFUNC rt_flush

# rt_puts — %esi = NUL-terminated string.
FUNC rt_puts
	pushl %eax
	pushl %esi
1:	lodsb
	testb %al, %al
	jz 2f
	call rt_putc
	jmp 1b
2:	popl %esi
	popl %eax
	ret
ENDFUNC rt_puts

# rt_put_dec — %eax = unsigned value, printed in decimal.
FUNC rt_put_dec
	pushal
	movl $10, %ebx
	xorl %ecx, %ecx                 # digits pushed
1:	xorl %edx, %edx
	divl %ebx
	pushl %edx
	incl %ecx
	testl %eax, %eax
	jnz 1b
2:	popl %eax
	addb $'0', %al
	call rt_putc
	loop 2b
	popal
	ret
ENDFUNC rt_put_dec

# rt_put_hex — print the low %ecx (1..8) hex digits of %eax, lower case.
FUNC rt_put_hex
	pushal
	movl %eax, %edx
	# rotate so that the first digit to print is in the top nibble
	movl $8, %ebx
	subl %ecx, %ebx
	shll $2, %ebx
	xchgl %ebx, %ecx
	roll %cl, %edx
	movl %ebx, %ecx
1:	roll $4, %edx
	movl %edx, %eax
	andl $0xf, %eax
	movb hexdigits(%eax), %al
	call rt_putc
	loop 1b
	popal
	ret
ENDFUNC rt_put_hex

	.section .rodata
DATA hexdigits
	.ascii "0123456789abcdef"
ENDDATA hexdigits

	.data
	.balign 4
DATA rt_linelen
	.long 0
ENDDATA rt_linelen

	.bss
DATA rt_linebuf
	.skip LINEBUF_SIZE
ENDDATA rt_linebuf
