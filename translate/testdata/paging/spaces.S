# spaces: more address spaces than bt's shadow pool holds (hand-written,
# not on virtsim's runtime). Each of N directories maps the code (pt0) and
# two windows (pta, ptb); the guest switches to each in turn and reads
# both windows. Each space costs the shadow a directory and three tables,
# so bt's pool runs out in the middle of a fill: the shadows are flushed
# and the one in force rebuilt in a new directory, which the CPU must be
# given (it kept walking the freed one and faulted forever). Prints the sum
# of what it read: N * (0x11 + 0x22) =
#   000013ec (N = 100)
	.include "corpus.inc"
	.set N, 100
	.set WINA, 0x00800000
	.set WINB, 0x00c00000
_start:
	mov $stack_top, %esp
	mov $pt0, %edi
	mov $7, %eax
	mov $1024, %ecx
1:	mov %eax, (%edi)
	add $4, %edi
	add $4096, %eax
	loop 1b
	movl $dataA + 7, pta
	movl $dataB + 7, ptb
	mov $pds, %edi
	mov $N, %ecx
2:	movl $pt0 + 7, (%edi)
	movl $pta + 7, 2 * 4(%edi)
	movl $ptb + 7, 3 * 4(%edi)
	add $4096, %edi
	loop 2b
	mov $pds, %eax
	mov %eax, %cr3
	mov %cr0, %eax
	or $0x80010000, %eax
	mov %eax, %cr0

	xor %ebx, %ebx
	mov $pds, %esi
	mov $N, %ecx
3:	mov %esi, %cr3
	add WINA, %ebx
	add WINB, %ebx
	add $4096, %esi
	loop 3b
	HEX %ebx
	PUTC '\n'
	EXIT 0

	.include "lib.inc"

	.data
	.balign 4096
pt0:	.skip 4096
pta:	.skip 4096
ptb:	.skip 4096
dataA:	.long 0x11
	.balign 4096
dataB:	.long 0x22
	.balign 4096
pds:	.skip 4096 * N
	.skip 4096
stack_top:
