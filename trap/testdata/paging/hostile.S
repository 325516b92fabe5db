# hostile: page tables a VMM must survive (hand-written, not on virtsim's
# runtime). The test assembles one image per case with `.set CASE, n`.
#   CASE 1  a PTE onto physical 0x7FF00000, far beyond guest RAM, then a read
#   CASE 2  a PTE onto the top of the 32-bit physical space (where virtsim's
#           VMM region lives), then a write
#   CASE 3  CR3 outside guest RAM, then paging on
#   CASE 4  a page table that maps itself writable, edited through itself
#           (the guest's own business: must run as on QEMU)
#   CASE 5  the guest's own pages mapped where virtsim's VMM region lies
#           (0xFFE00000-0xFFE01FFF, 0xFFF00000, 0xFFFFF000: pages every
#           strategy leaves absent there), written
#           and read through there by mov, a string store and a read-modify-
#           write: the guest must get its own memory, as on QEMU
#   CASE 6  page-table entries written by other than mov: or to memory,
#           xchg, a rep stos clearing two entries, a push onto a stack that
#           lives in a page table's frame
#   CASE 7  the local APIC's page mapped at 0x00800000 (PDE 2) and its
#           version register read through it
#   CASE 9  the guest's own page mapped at 0xFF000000, where trap keeps its
#           GDT (a page the CPU itself must reach): read through there
#   CASE 8  a PTE changed while paging is off, then paging on again with the
#           same CR3: the new mapping must be the one used (no stale shadow)
#   CASE 11 the guest's own code on its page mapped at 0xFF000000 (where trap
#           keeps its GDT), called there: QEMU runs it; trap and bt stop with
#           a report (guest code in the VMM's top 16 MiB is not supported)
#   CASE 12 the same at 0xFFFF8000, the machine's trampoline stub (code the
#           VMM runs there itself)
#   CASE 10 a read-only supervisor page written with CR0.WP=0 (allowed), then
#           WP set and the page written again: #PF (no shadow entry filled
#           under the old rule survives the CR0 write; found by difftest)
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
.if CASE == 5
	movl $pt3 + 7, pd + 1023 * 4     # 0xFFC00000: pt3
	movl $page + 7, pt3 + 512 * 4    # 0xFFE00000 -> page
	movl $page2 + 7, pt3 + 513 * 4   # 0xFFE01000 -> page2
	movl $page + 7, pt3 + 1023 * 4   # 0xFFFFF000 -> page
	movl $page2 + 7, pt3 + 768 * 4   # 0xFFF00000 -> page2
.elseif CASE == 6
	movl $pt1 + 7, pt1 + 4          # WIN+0x1000 is pt1 itself, writable
	movl $page + 7, pt1
	movl $page2 + 7, pt1 + 8
.elseif CASE == 8
	movl $page + 7, pt1
.elseif CASE == 9
	movl $pt2 + 7, pd + 1020 * 4
	movl $page + 7, pt2
.elseif CASE == 11 || CASE == 12
	movl $pt2 + 7, pd + 1020 * 4
	movl $page + 7, pt2
	movl $pt3 + 7, pd + 1023 * 4
	movl $page2 + 7, pt3 + 0x3F8 * 4 # 0xFFFF8000 -> page2
.elseif CASE == 10
	movl $page + 1, pt1             # WIN: present, read-only, supervisor
.elseif CASE == 7
	movl $pt2 + 7, pd + 2 * 4
	movl $0xFEE00000 + 0x13, pt2    # present, writable, cache-disabled
.endif
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
.if CASE == 10
	or $0x80000000, %eax            # paging on, WP still clear
.else
	or $0x80010000, %eax
.endif
	mov %eax, %cr0
.if CASE == 1
	mov WIN, %eax
	SAY "read "
	HEX %eax
.elseif CASE == 2
	movl $0x12345678, WIN
	SAY "wrote"
.elseif CASE == 5
	movl $0x11112222, 0xFFE00000    # mov through an alias
	HEX page
	HEX 0xFFFFF000                  # the same page through a second alias
	mov $0xFFFFF010, %edi
	mov $0x33334444, %eax
	mov $3, %ecx
	rep stosl                       # a string store through an alias
	HEX page + 0x10
	HEX page + 0x18
	addl $5, 0xFFE00000             # read-modify-write through an alias
	HEX page
	movl $0x5555, page2
	HEX 0xFFF00000
	movl $0x77, 0xFFF00000          # page2's first word
	mov 0xFFE00ffe, %eax            # a load across two aliased pages: page, then page2
	HEX %eax
.elseif CASE == 6
	movl $0xabcd, page
	movl $0x1234, page2
	HEX WIN
	xchg %eax, %eax
	mov $page2 + 7, %eax
	xchg %eax, WIN + 0x1000          # PTE 0 -> page2, by xchg
	invlpg WIN
	HEX WIN
	HEX %eax
	andl $~2, WIN + 0x1000 + 8       # PTE 2 read-only, by and to memory
	invlpg WIN + 0x2000
	HEX WIN + 0x2000
	HEX WIN + 0x1000 + 8
	mov $WIN + 0x1000 + 12, %edi     # clear PTEs 3 and 4 with rep stos
	xor %eax, %eax
	mov $2, %ecx
	rep stosl
	HEX WIN + 0x1000 + 12
	mov %esp, %ebp
	mov $WIN + 0x1000 + 0x800, %esp  # a stack inside the table's frame
	push $0x5678
	push $page + 7
	mov %ebp, %esp
	HEX pt1 + 0x7fc
	HEX pt1 + 0x7f8
.elseif CASE == 8
	movl $0xaaaa, page
	movl $0xbbbb, page2
	HEX WIN                         # page
	mov %cr0, %eax
	and $0x7fffffff, %eax
	mov %eax, %cr0                  # paging off
	movl $page2 + 7, pt1            # unseen by any shadow
	or $0x80000000, %eax
	mov %eax, %cr0                  # paging on, the same CR3
	HEX WIN                         # page2
.elseif CASE == 9
	movl $0x9999, page
	HEX 0xFF000000                  # 0x9999: the guest's page (trap and bt emulate the load)
.elseif CASE == 11 || CASE == 12
	movl $0x515151b8, page          # mov $0x51515151, %eax; ret
	movl $0x90c3c351, page + 4
	movl $0x626262b8, page2         # mov $0xc3626262, %eax; inc %eax; ret
	movl $0x90c340c3, page2 + 4
.if CASE == 11
	mov $0xFF000000, %ebx
.else
	mov $0xFFFF8000, %ebx
.endif
	call *%ebx
	HEX %eax
.elseif CASE == 10
	mov %cs, %ax                    # #PF (vector 14) -> pf10, an interrupt gate
	mov %ax, idt10 + 14 * 8 + 2
	mov $pf10, %eax
	mov %ax, idt10 + 14 * 8
	shr $16, %eax
	mov %ax, idt10 + 14 * 8 + 6
	movw $0x8e00, idt10 + 14 * 8 + 4
	lidt idtr10
	movl $0x1111, WIN               # WP=0: the kernel may write a read-only page
	HEX page
	mov %cr0, %eax
	or $0x10000, %eax
	mov %eax, %cr0                  # WP=1
	movl $0x2222, WIN               # #PF (present, write)
	SAY " no fault"
.elseif CASE == 7
	mov 0x00800030, %eax            # the APIC's version register
	and $0xff, %eax
	HEX %eax
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

	.if CASE == 10
pf10:	SAY " #PF "
	HEX (%esp)
	HEX page
	PUTC '\n'
	EXIT 0
	.endif
	.include "lib.inc"

	.data
	.if CASE == 10
idtr10:	.word 256 * 8 - 1
	.long idt10
	.balign 8
idt10:	.space 256 * 8
	.endif
	.balign 4096
pd:	.skip 4096
pt0:	.skip 4096
pt1:	.skip 4096
page:	.skip 4096
page2:	.skip 4096
pt2:	.skip 4096
pt3:	.skip 4096
	.skip 4096
stack_top:
