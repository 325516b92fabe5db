# pushfpt: a pushf whose stack lies on a page table in use (hand-written,
# not on virtsim's runtime). Under bt pushf is a sequence in the TC: the
# real pushf, then a byte store merging the virtual IF into the pushed
# image. Both write the traced table: the store in the middle of the
# sequence must be stepped on the sequence's own registers, not after the
# CPU was put back to the guest's state before pushf (which left the stack
# 4 bytes short). Prints where the stack ends up, relative to the table:
#   00001000
	.include "corpus.inc"
	.set WIN, 0x00800000
_start:
	mov $stack_top, %esp
	# pt0: identity 0-4 MiB, user rw; pt1 maps the window
	mov $pt0, %edi
	mov $7, %eax
	mov $1024, %ecx
1:	mov %eax, (%edi)
	add $4, %edi
	add $4096, %eax
	loop 1b
	movl $pt0 + 7, pd
	movl $pt1 + 7, pd + 2 * 4
	movl $data + 7, pt1
	mov $pd, %eax
	mov %eax, %cr3
	mov %cr0, %eax
	or $0x80010000, %eax
	mov %eax, %cr0

	mov WIN, %eax                   # pt1 is now a table the shadow derives from
	mov %esp, %ebp
	mov $pt1 + 4096, %esp           # the stack: pt1's last entries (unused)
	clc                             # CF = 0: the pushed image is a not-present entry
	pushf
	pop %eax
	mov %esp, %ebx
	mov %ebp, %esp
	sub $pt1, %ebx
	HEX %ebx
	PUTC '\n'
	EXIT 0

	.include "lib.inc"

	.data
	.balign 4096
pd:	.skip 4096
pt0:	.skip 4096
pt1:	.skip 4096
data:	.long 0x12345678
	.balign 4096
	.skip 4096
stack_top:
