# pae: PAE paging (CR4.PAE, which qemu32's CPUID offers): the first 4 MiB identity-mapped by
# one 2 MiB page and one page table of 4 KiB pages, a higher-half alias at 0xC0000000, then
# paging on; a read through the alias, a write through it read back directly, and a #PF on an
# unmapped address (its CR2 and error code), a PTE rewritten (low and high halves) then
# invlpg and a read through the new mapping, the A/D bits of a 4 KiB PTE, and an int from
# ring 0 through the IDT, then a trip to ring 3 whose int $0x80 comes back through a DPL-3 gate
# (a privilege-raising delivery under PAE).
	.include "corpus.inc"
_start:
	mov $stack_top, %esp
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	# IDT: #PF and vector 0x40
	mov $pf_handler, %eax
	mov %ax, idt+14*8
	movw $0x08, idt+14*8+2
	movw $0x8e00, idt+14*8+4
	shr $16, %eax
	mov %ax, idt+14*8+6
	mov $int40, %eax
	mov %ax, idt+0x40*8
	movw $0x08, idt+0x40*8+2
	movw $0x8e00, idt+0x40*8+4
	shr $16, %eax
	mov %ax, idt+0x40*8+6
	mov $int80, %eax
	mov %ax, idt+0x80*8
	movw $0x08, idt+0x80*8+2
	movw $0xee00, idt+0x80*8+4
	shr $16, %eax
	mov %ax, idt+0x80*8+6
	lidt idtr
	mov $tss, %eax			# the TSS descriptor's base
	mov %ax, gdt+0x28+2
	shr $16, %eax
	mov %al, gdt+0x28+4
	mov %ah, gdt+0x28+7
	mov $0x28, %ax
	ltr %ax
	# PDPT[0] -> pd0, PDPT[3] -> pd3
	movl $pd0+1, pdpt
	movl $pd3+1, pdpt+24
	movl $0x87, pd0			# 0-2 MiB: a 2 MiB page (P, W, U, PS)
	movl $pt0+3, pd0+8		# 2-4 MiB: a page table
	mov $0, %ecx			# pt0: 512 4 KiB pages from 2 MiB
2:	mov %ecx, %eax
	shl $12, %eax
	add $0x200003, %eax
	mov %eax, pt0(,%ecx,8)
	inc %ecx
	cmp $512, %ecx
	jb 2b
	movl $0x83, pd3			# 0xC0000000: the first 2 MiB again
	mov %cr4, %eax
	or $0x20, %eax			# PAE
	mov %eax, %cr4
	mov $pdpt, %eax
	mov %eax, %cr3
	mov %cr0, %eax
	or $0x80000000, %eax
	mov %eax, %cr0
	SAY "paged\n"
	mov $0xC0000000+magic, %eax
	HEX (%eax)
	PUTC '\n'
	movl $0x600dcafe, 0xC0000000+slot
	HEX slot
	PUTC '\n'
	SAY "A/D of pd3[0]: "
	mov pd3, %eax
	and $0x60, %eax
	HEX %eax
	PUTC '\n'
	movl 0x00500000, %eax		# not mapped: #PF
	# remap 0x00201000 (pt0[1]) onto the page of `magic`'s frame, through a PTE store pair
	mov $magic, %eax
	and $0xFFFFF000, %eax
	or $3, %eax
	movl $0, pt0+8+4
	mov %eax, pt0+8
	invlpg 0x00201000
	mov $magic, %eax
	and $0xFFF, %eax
	HEX 0x00201000(%eax)
	PUTC '\n'
	SAY "A/D of pt0[1]: "
	mov pt0+8, %eax
	and $0x60, %eax
	HEX %eax
	PUTC '\n'
	movl $1, 0x00201000(%eax)
	SAY "after a write: "
	mov pt0+8, %eax
	and $0x60, %eax
	HEX %eax
	PUTC '\n'
	int $0x40
	mov %esp, tss+4			# ESP0
	pushl $0x23			# to ring 3
	pushl $ustack_top
	pushl $0x2
	pushl $0x1b
	pushl $user
	iret
back:	SAY "done\n"
	EXIT 0
pf_handler:
	SAY "#PF cr2="
	mov %cr2, %eax
	HEX %eax
	SAY " code="
	pop %eax
	HEX %eax
	PUTC '\n'
	addl $5, (%esp)			# skip the faulting load (a1 disp32)
	iret
int40:	SAY "int 0x40\n"
	iret
int80:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	SAY "int 0x80 from cs="
	HEX 4(%esp)
	PUTC '\n'
	mov tss+4, %esp
	jmp back
user:	int $0x80
	.include "lib.inc"
	.data
	.balign 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff
	.quad 0x00cf92000000ffff
	.quad 0x00cffa000000ffff	# 0x18 user code
	.quad 0x00cff2000000ffff	# 0x20 user data
	.quad 0x0000890000000067	# 0x28 TSS
gdt_end:
gdtr:	.word gdt_end-gdt-1
	.long gdt
idtr:	.word 256*8-1
	.long idt
magic:	.long 0x12345678
slot:	.long 0
tss:	.long 0, 0, 0x10
	.space 0x68-12
	.bss
	.balign 4096
pd0:	.space 4096
pd3:	.space 4096
pt0:	.space 4096
pdpt:	.space 32
	.balign 8
idt:	.space 256*8
	.space 4096
stack_top:
	.space 4096
ustack_top:
