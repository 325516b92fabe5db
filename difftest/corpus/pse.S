# pse: 4 MiB pages (CR4.PSE) the way a higher-half kernel maps itself:
# one large page identity-maps 0-4 MiB (the boot code), another maps the
# same memory at 0xC0000000 where the kernel runs on; a third, user and
# read-only, maps it at 0x40000000 for ring-3 code. Printed: the large
# directory entries' Accessed and Dirty bits after reads and writes through
# them (the CPU sets them in the directory entry), a write through the
# read-only large page from ring 3 (#PF 7, CR2) and from ring 0 with
# CR0.WP set (#PF 3), a large entry remapped to 4-8 MiB and invlpg, and a
# 4 KiB table next to the large pages.
	.include "corpus.inc"
	.set HIGH, 0xC0000000
	.set USER, 0x40000000
_start:
	mov $kstack_top, %esp
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $tss, %eax
	mov %ax, gdt+0x28+2
	shr $16, %eax
	mov %al, gdt+0x28+4
	mov %ah, gdt+0x28+7
	mov $0x28, %ax
	ltr %ax
	mov $pf, %eax		# #PF and int $0x80 (DPL 3)
	mov %ax, idt+14*8
	movl $0x8e000008, idt+14*8+2
	shr $16, %eax
	mov %ax, idt+14*8+6
	mov $sys, %eax
	mov %ax, idt+0x80*8
	movl $0xee000008, idt+0x80*8+2
	shr $16, %eax
	mov %ax, idt+0x80*8+6
	lidt idtr
	movl $0x00000083, pdir			# 0-4 MiB: large, writable, supervisor
	movl $0x00000083, pdir+(HIGH>>22)*4	# 0xC0000000: the same
	movl $0x00000085, pdir+(USER>>22)*4	# 0x40000000: user, read-only
	movl $ptab+3, pdir+4			# 4-8 MiB through a 4 KiB table
	movl $0x00500003, ptab			# its first page: 5 MiB
	movl $0x600dcafe, 0x500000
	movl $0x0bad0bad, 0x400000		# (where the remap below points)
	mov %cr4, %eax
	or $0x10, %eax				# PSE
	mov %eax, %cr4
	mov $pdir, %eax
	mov %eax, %cr3
	mov %cr0, %eax
	or $0x80010000, %eax			# PG, WP
	mov %eax, %cr0
	add $HIGH, %esp				# onto the higher half
	ljmp $0x08, $HIGH+high
high:	SAY "pde:"
	call show			# the fetch and stack set A and D on the HIGH entry
	mov USER+word, %eax		# a read through the user entry: A
	call show
	movl $0x12345678, HIGH+word	# a write through HIGH
	call show
	SAY "4k: "
	HEX 0x400000
	PUTC ' '
	HEX ptab
	PUTC '\n'
	# ring 3, running at USER+user: read, then write (#PF 7)
	pushl $0x23
	pushl $USER+ustack_top
	pushl $0x202
	pushl $0x1b
	pushl $USER+user
	iret
user:	mov USER+word, %eax
	int $0x80
	movl $1, USER+word		# #PF(7)
k_again:
	mov $HIGH+kstack_top, %esp
	movl $2, USER+word		# ring 0, WP set: #PF(3)
k_remap:
	mov $HIGH+kstack_top, %esp
	movl $0x00400083, pdir+(USER>>22)*4	# USER -> 4-8 MiB, writable
	invlpg USER
	SAY "remap: "
	HEX USER
	PUTC ' '
	HEX USER+0x100000
	PUTC '\n'
	SAY "done\n"
	EXIT 0

show:	PUTC ' '
	HEX pdir+(HIGH>>22)*4
	PUTC '/'
	HEX pdir+(USER>>22)*4
	PUTC '/'
	HEX pdir
	PUTC '\n'
	ret

sys:	SAY "u: eax="
	HEX %eax
	PUTC '\n'
	iret

pf:	mov %esp, %ebp
	SAY "#PF e="
	HEX (%ebp)
	SAY " cr2="
	mov %cr2, %eax
	call put_hex
	SAY " cs="
	HEX 8(%ebp)
	PUTC '\n'
	call show
	testl $3, 8(%ebp)
	jz 1f
	jmp HIGH+k_again
1:	jmp HIGH+k_remap
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
tss:	.long 0, kstack_top+HIGH, 0x10
	.space 0x68-12
word:	.long 0xfeedf00d
	.bss
	.balign 4096
pdir:	.space 4096
ptab:	.space 4096
	.space 4096
kstack_top:
	.space 4096
ustack_top:
idt:	.space 0x81*8
