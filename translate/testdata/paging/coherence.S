# coherence: translated code under paging (hand-written, not on virtsim's
# runtime). A binary translator keys its translations by linear address;
# this guest changes what a linear address holds in every way paging allows
# and prints what the code there returns each time:
#   1  call the window (0x00800000 -> codeA)                       11111111
#   2  remap the window to codeB (a PTE write, invlpg), call        22222222
#   3  patch codeB through a writable alias (W+0x1000 -> codeB), call 33333333
#   4  switch to a second address space whose window maps codeA     11111111
#   5  and back                                                      33333333
#   6  a store that wrote a page table (a translator's PT site) now
#      writing ordinary memory                                       44444444
	.include "corpus.inc"
	.set WIN, 0x00800000
_start:
	mov $stack_top, %esp
	# pt0: identity 0-4 MiB, user rw
	mov $pt0, %edi
	mov $7, %eax
	mov $1024, %ecx
1:	mov %eax, (%edi)
	add $4, %edi
	add $4096, %eax
	loop 1b
	movl $pt0 + 7, pd
	movl $pt1 + 7, pd + 2 * 4
	movl $pt0 + 7, pd2
	movl $pt2 + 7, pd2 + 2 * 4
	movl $codeA + 7, pt1
	movl $codeA + 7, pt2
	mov $pd, %eax
	mov %eax, %cr3
	mov %cr0, %eax
	or $0x80010000, %eax
	mov %eax, %cr0

	call WIN                        # 1
	HEX %eax
	PUTC ' '
	movl $codeB + 7, pt1            # 2
	invlpg WIN
	call WIN
	HEX %eax
	PUTC ' '
	movl $codeB + 7, pt1 + 4        # 3: an alias of codeB, writable
	invlpg WIN + 0x1000
	movl $0x33333333, WIN + 0x1000 + 1
	call WIN
	HEX %eax
	PUTC ' '
	mov $pd2, %eax                  # 4
	mov %eax, %cr3
	call WIN
	HEX %eax
	PUTC ' '
	mov $pd, %eax                   # 5
	mov %eax, %cr3
	call WIN
	HEX %eax
	PUTC ' '
	mov $pt1 + 8, %edi              # 6: PTE 2 of the window's (traced) table
	mov $codeA + 7, %eax
	call store
	call store
	mov $scratch, %edi
	mov $0x44444444, %eax
	call store
	HEX scratch
	PUTC '\n'
	EXIT 0

store:	mov %eax, (%edi)
	ret

	.include "lib.inc"

	.data
	.balign 4096
pd:	.skip 4096
pd2:	.skip 4096
pt0:	.skip 4096
pt1:	.skip 4096
pt2:	.skip 4096
scratch: .long 0
	.balign 4096
codeA:	mov $0x11111111, %eax
	ret
	.balign 4096
codeB:	mov $0x22222222, %eax
	ret
	.balign 4096
	.skip 4096
stack_top:
