# wp0: CR0.WP clear, as i386-era kernels ran (the 386 had no WP): the
# kernel writes a read-only user page (allowed: WP only protects pages
# from supervisor writes when set), then ring-3 code reads it and writes it
# (#PF 7: user, write, present — the kernel's write must not have made
# the page writable for user code), then the kernel sets WP and writes
# it again (#PF 3). The handler prints the error code, CR2 and the page.
	.include "corpus.inc"
_start:
	mov $kstack_top, %esp
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $kstack_top, %esp
	mov $tss, %eax
	mov %ax, gdt+0x28+2
	shr $16, %eax
	mov %al, gdt+0x28+4
	mov %ah, gdt+0x28+7
	mov $0x28, %ax
	ltr %ax
	mov $pf, %eax		# #PF and int $0x80 (DPL 3)
	mov %ax, idt+14*8
	movl $0x8e000008, %ecx
	mov %ecx, idt+14*8+2
	shr $16, %eax
	mov %ax, idt+14*8+6
	mov $sys, %eax
	mov %ax, idt+0x80*8
	movl $0xee000008, %ecx
	mov %ecx, idt+0x80*8+2
	shr $16, %eax
	mov %ax, idt+0x80*8+6
	lidt idtr
	mov $ptab, %edi		# 0-4 MiB identity, user and writable
	mov $7, %eax
	mov $1024, %ecx
2:	mov %eax, (%edi)
	add $4096, %eax
	add $4, %edi
	loop 2b
	mov $ropage, %eax	# but ropage: read-only
	shr $12, %eax
	andl $~2, ptab(,%eax,4)
	movl $ptab+7, pdir
	mov $pdir, %eax
	mov %eax, %cr3
	mov %cr0, %eax		# paging, WP clear
	or $0x80000000, %eax
	and $~0x10000, %eax
	mov %eax, %cr0
	movl $0x11111111, ropage	# allowed with WP=0
	SAY "k: "
	HEX ropage
	PUTC '\n'
	pushl $0x23
	pushl $ustack_top
	pushl $0x002
	pushl $0x1b
	pushl $user
	iret
user:	mov ropage, %eax
	int $0x80		# print it
	movl $0x22222222, ropage	# #PF(7)
	int $0x80
after:	mov %cr0, %eax		# back at ring 0: WP on
	or $0x10000, %eax
	mov %eax, %cr0
	movl $0x33333333, ropage	# #PF(3)
	SAY "done\n"
	EXIT 0

sys:	SAY "u: eax="
	HEX %eax
	SAY " page="
	HEX ropage
	PUTC '\n'
	iret

pf:	mov %esp, %ebp
	SAY "#PF e="
	HEX (%ebp)
	SAY " cr2="
	push %eax
	mov %cr2, %eax
	call put_hex
	pop %eax
	SAY " cs="
	HEX 8(%ebp)
	SAY " page="
	HEX ropage
	PUTC '\n'
	testl $3, 8(%ebp)
	jz 1f
	mov $kstack_top, %esp	# from ring 3: go on at ring 0
	jmp after
1:	SAY "done\n"
	EXIT 0
	.include "lib.inc"

	.data
	.balign 8
gdt:	.quad 0
	.quad 0x00cf9b000000ffff	# 0x08 kernel code
	.quad 0x00cf93000000ffff	# 0x10 kernel data
	.quad 0x00cffb000000ffff	# 0x18 user code
	.quad 0x00cff3000000ffff	# 0x20 user data
	.quad 0x0000890000000067	# 0x28 TSS (base at run time)
gdt_end:
gdtr:	.word gdt_end-gdt-1
	.long gdt
idtr:	.word 0x81*8-1
	.long idt
tss:	.long 0, kstack_top, 0x10
	.space 0x68-12
	.bss
	.balign 4096
pdir:	.space 4096
ptab:	.space 4096
ropage:	.space 4096
	.space 4096
kstack_top:
	.space 4096
ustack_top:
idt:	.space 0x81*8
