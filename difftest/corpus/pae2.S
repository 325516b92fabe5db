# pae2: PAE address spaces switched by CR3 and edited the way PAE kernels edit them: two
# PDPTs sharing their low directory, each mapping 0xC0000000 (a 2 MiB page) onto frames of
# its own; 64-bit PTEs rewritten by cmpxchg8b and by a high-then-low store pair, each then
# invlpg'd; a PDPTE changed, which takes effect at the next CR3 load; accessed and dirty
# bits of 8-byte entries; a user read of a supervisor page and a supervisor write to a
# read-only page with CR0.WP (#PF, code 5 and 3); the guest's RAM at 0xFF000010 and
# 0xFFFF8000 (where virtsim's VMMs keep pages of their own); and a trip to ring 3 and back.
	.include "corpus.inc"
_start:
	mov $stack_top, %esp
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $pf_handler, %eax
	mov $14, %ecx
	mov $0x8e00, %edx
	call set_gate
	mov $int80, %eax
	mov $0x80, %ecx
	mov $0xee00, %edx
	call set_gate
	lidt idtr
	mov $tss, %eax
	mov %ax, gdt+0x28+2
	shr $16, %eax
	mov %al, gdt+0x28+4
	mov %ah, gdt+0x28+7
	mov $0x28, %ax
	ltr %ax
	# pd0 (shared): 0-2 MiB a large page (user), 2-4 MiB through pt0 (user)
	movl $0x87, pd0
	movl $pt0+7, pd0+8
	xor %ecx, %ecx
2:	mov %ecx, %eax
	shl $12, %eax
	add $0x200007, %eax
	mov %eax, pt0(,%ecx,8)
	inc %ecx
	cmp $512, %ecx
	jb 2b
	movl $0x00380005, pt0+0x180*8	# 0x00380000: user, read-only
	movl $0x00381001, pt0+0x181*8	# 0x00381000: supervisor, read-only
	# space A: 0xC0000000 -> 4 MiB (large page), 0xFF000000 and 0xFFFF8000 -> own pages
	movl $pd0+1, pdptA
	movl $pd3A+1, pdptA+24
	movl $0x400083, pd3A		# 0xC0000000: 2 MiB at 4 MiB
	movl $ptTop+3, pd3A+0x1F8*8	# 0xFF000000
	movl $ptEnd+3, pd3A+0x1FF*8	# 0xFFE00000
	movl $high1+3, ptTop		# 0xFF000000 -> high1
	movl $high2+3, ptEnd+0x1F8*8	# 0xFFFF8000 -> high2
	# space B: 0xC0000000 -> 6 MiB
	movl $pd0+1, pdptB
	movl $pd3B+1, pdptB+24
	movl $0x600083, pd3B
	movl $0x0C0FFEE0, 0x400000	# what A sees at 0xC0000000
	movl $0x0BADF00D, 0x600000	# what B sees
	movl $0x0DEADBEE, 0x800000	# under pd3C (a PDPTE change)
	movl $0x800083, pd3C
	mov %cr4, %eax
	or $0x20, %eax			# PAE
	mov %eax, %cr4
	mov $pdptA, %eax
	mov %eax, %cr3
	mov %cr0, %eax
	or $0x80010000, %eax		# PG, WP
	mov %eax, %cr0
	SAY "paged\n"
	HEX 0xC0000000
	mov $pdptB, %eax
	mov %eax, %cr3
	HEX 0xC0000000
	mov $pdptA, %eax
	mov %eax, %cr3
	HEX 0xC0000000
	PUTC '\n'
	# the guest's RAM where the VMMs keep pages
	movl $0x11223344, 0xFF000010
	movl $0x55667788, 0xFFFF8010
	mov 0xFF000010, %eax
	add 0xFFFF8010, %eax
	HEX %eax
	HEX high1+0x10
	HEX high2+0x10
	PUTC '\n'
	# pt0[1] (0x00201000) onto `magic`'s frame by cmpxchg8b, then by a high-then-low pair
	mov pt0+8, %eax
	mov pt0+12, %edx
	mov $magic, %ebx
	and $0xFFFFF000, %ebx
	or $3, %ebx
	xor %ecx, %ecx
	lock cmpxchg8b pt0+8
	invlpg 0x00201000
	mov $magic, %esi
	and $0xFFF, %esi
	HEX 0x00201000(%esi)
	movl $0, pt0+8+4
	movl $0x00383003, pt0+8
	invlpg 0x00201000
	movl $0x7777, 0x00201000
	HEX 0x00383000
	SAY " A/D: "
	mov pt0+8, %eax
	and $0x60, %eax
	HEX %eax
	mov pd3A+0x1F8*8, %eax
	and $0x60, %eax
	HEX %eax
	PUTC '\n'
	# a PDPTE changed: the old directory stays in force until CR3 is loaded again
	movl $pd3C+1, pdptA+24
	HEX 0xC0000000
	mov $pdptA, %eax
	mov %eax, %cr3
	HEX 0xC0000000
	PUTC '\n'
	# a supervisor write to a read-only page with WP: #PF code 3
	movl $1, 0x00381000
	# ring 3: a read of a supervisor page (#PF code 5 from user mode ends the trip)
	mov %esp, tss+4
	pushl $0x23
	pushl $ustack_top
	pushl $0x2
	pushl $0x1b
	pushl $user
	iret
back:	SAY "back\n"
	EXIT 0

	SET_GATE_FN
pf_handler:
	SAY "#PF cr2="
	mov %cr2, %eax
	HEX %eax
	SAY " code="
	pop %eax
	HEX %eax
	PUTC '\n'
	testl $3, 4(%esp)		# from ring 3: give up the trip
	jnz 3f
	addl $10, (%esp)		# skip the faulting store (c7 05 disp32 imm32)
	iret
3:	mov $0x10, %ax
	mov %ax, %ds
	mov tss+4, %esp
	jmp back
int80:	mov %eax, %ebx
	mov $0x10, %ax
	mov %ax, %ds
	SAY "int 0x80, eax="
	HEX %ebx
	PUTC '\n'
	iret
user:	mov 0x00380000, %eax		# user, read-only: fine
	int $0x80
	mov 0x00381000, %eax		# supervisor: #PF 5
	int $0x80
	.include "lib.inc"
	.data
	.balign 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff
	.quad 0x00cf92000000ffff
	.quad 0x00cffa000000ffff
	.quad 0x00cff2000000ffff
	.quad 0x0000890000000067
gdt_end:
gdtr:	.word gdt_end-gdt-1
	.long gdt
idtr:	.word 256*8-1
	.long idt
magic:	.long 0x12345678
tss:	.long 0, 0, 0x10
	.space 0x68-12
	.bss
	.balign 4096
pd0:	.space 4096
pt0:	.space 4096
pd3A:	.space 4096
pd3B:	.space 4096
pd3C:	.space 4096
ptTop:	.space 4096
ptEnd:	.space 4096
high1:	.space 4096
high2:	.space 4096
pdptA:	.space 32
	.balign 32
pdptB:	.space 32
	.balign 8
idt:	.space 256*8
	.balign 16
	.space 4096
stack_top:
	.space 4096
ustack_top:
