# hostile: page tables a VMM must survive (hand-written, not on virtsim's
# runtime). The test assembles one image per case with `.set CASE, n`.
#   CASE 1  a PTE onto physical 0x7FF00000, far beyond guest RAM, then a read
#   CASE 2  a PTE onto the top of the 32-bit physical space (where virtsim's
#           VMM region lives), then a write
#   CASE 3  CR3 outside guest RAM, then paging on
#   CASE 4  a page table that maps itself writable, edited through itself
#           (the guest's own business: must run as on QEMU)
	.include "corpus.inc"
	.set WIN, 0x00400000
_start:
	mov $stack_top, %esp
	# PDE 0: identity 0-4 MiB through pt0; PDE 1: pt1 (the window)
	mov $pt0, %edi
	mov $7, %eax
	mov $1024, %ecx
1:	mov %eax, (%edi)
	add $4, %edi
	add $4096, %eax
	loop 1b
	movl $pt0 + 7, pd
	movl $pt1 + 7, pd + 4
.if CASE == 1
	movl $0x7FF00000 + 7, pt1
.elseif CASE == 2
	movl $0xFFFFF000 + 7, pt1
.elseif CASE == 4
	movl $pt1 + 7, pt1 + 4          # WIN+0x1000 is pt1 itself, writable
	movl $page + 7, pt1
.endif
.if CASE == 3
	mov $0x08000000, %eax
.else
	mov $pd, %eax
.endif
	mov %eax, %cr3
	mov %cr0, %eax
	or $0x80010000, %eax
	mov %eax, %cr0
.if CASE == 1
	mov WIN, %eax
	SAY "read "
	HEX %eax
.elseif CASE == 2
	movl $0x12345678, WIN
	SAY "wrote"
.elseif CASE == 4
	movl $0xabcd, page
	mov WIN, %eax                   # page through the window
	HEX %eax
	movl $page2 + 7, WIN + 0x1000   # edit PTE 0 through the table's own mapping
	invlpg WIN
	movl $0x1234, page2
	mov WIN, %eax
	HEX %eax
	mov WIN + 0x1000, %eax          # the PTE as the guest wrote it (A/D set by the CPU)
	and $0xfff, %eax
	HEX %eax
.endif
	PUTC '\n'
	EXIT 0

	.include "lib.inc"

	.data
	.balign 4096
pd:	.skip 4096
pt0:	.skip 4096
pt1:	.skip 4096
page:	.skip 4096
page2:	.skip 4096
	.skip 4096
stack_top:
