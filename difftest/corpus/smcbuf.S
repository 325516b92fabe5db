# smcbuf: code copied into a buffer at run time that stores into its own page, run, then
# overwritten by other code and run again (a loader reusing a page that holds code and data)
	.include "corpus.inc"
_start:
	mov $stack_top, %esp
	mov $a, %esi
	mov $a_end-a, %ecx
	call load
	call rtbuf
	HEX %eax
	HEX var
	PUTC '\n'
	mov $b, %esi
	mov $b_end-b, %ecx
	call load
	call rtbuf
	HEX %eax
	HEX var
	PUTC '\n'
	EXIT 0
load:	mov $rtbuf, %edi
	cld
	rep movsb
	ret
a:	mov $0x1111, %eax
	movl $0xaaaa, var
	ret
a_end:
b:	mov $0x2222, %eax
	movl $0xbbbb, var
	ret
b_end:
	.include "lib.inc"
	.bss
	.balign 4096
rtbuf:	.space 64
var:	.long 0
	.balign 4096
	.space 4096
stack_top:
