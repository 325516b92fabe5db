# vmmover: a kernel that maps its own RAM where virtsim's VMMs keep the pages the CPU must
# reach (trap's GDT, IDT and TSS, entry stubs and shadow LDT at 0xFF000000; bt's page
# directory, virtual-CPU pages and translation cache from 0xFF100000; the machine's
# privilege trampoline at 0xFFFE0000) and uses them as ordinary memory: stores of every
# width, loads, read-modify-writes, string moves, a stack. Between the passes it takes the
# paths that make the CPU itself read those VMM pages: an int through its IDT, a #PF, a
# segment reload, a trip to ring 3 and back through a DPL-3 gate. On a PC all 4 GiB are the
# guest's: every value read back must be what the guest wrote, whatever lies there in the VMM.
	.include "corpus.inc"
	.set NPAGES, 13
_start:
	mov $stack_top, %esp
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $pf_handler, %eax		# IDT: #PF, 0x40 (DPL 0), 0x80 (DPL 3)
	mov $14, %ecx
	mov $0x8e00, %edx
	call set_gate
	mov $int40, %eax
	mov $0x40, %ecx
	call set_gate
	mov $int80, %eax
	mov $0x80, %ecx
	mov $0xee00, %edx
	call set_gate
	lidt idtr
	mov $tss, %eax			# the TSS descriptor's base
	mov %ax, gdt+0x28+2
	shr $16, %eax
	mov %al, gdt+0x28+4
	mov %ah, gdt+0x28+7
	mov $0x28, %ax
	ltr %ax
	# the first 4 MiB identity-mapped by one large page; PDEs 1020, 1021, 1023 onto tables
	movl $0x87, pd
	movl $pt1020+7, pd+1020*4
	movl $pt1021+7, pd+1021*4
	movl $pt1023+7, pd+1023*4
	xor %ecx, %ecx			# page i: its own frame at linear vas[i]
2:	mov vas(,%ecx,4), %ebx
	mov %ecx, %eax
	shl $12, %eax
	add $frames+7, %eax		# P, W, U
	mov %ebx, %edx
	shr $22, %edx
	mov ptof-1020*4(,%edx,4), %edi
	shr $12, %ebx
	and $0x3ff, %ebx
	mov %eax, (%edi,%ebx,4)
	inc %ecx
	cmp $NPAGES, %ecx
	jb 2b
	mov %cr4, %eax
	or $0x10, %eax			# PSE
	mov %eax, %cr4
	mov $pd, %eax
	mov %eax, %cr3
	mov %cr0, %eax
	or $0x80000000, %eax
	mov %eax, %cr0
	SAY "paged\n"
	# pass 1: through the high mapping, stores of each width, then loads
	xor %ecx, %ecx
3:	mov vas(,%ecx,4), %ebx
	lea 0xA5000000(%ecx), %eax
	mov %eax, 0x10(%ebx)
	movw $0x1234, 0x14(%ebx)
	movb $0x56, 0x16(%ebx)
	movl $0, 0x100(%ebx)
	addl %ecx, 0x100(%ebx)
	addl $0x100, 0x100(%ebx)
	incl 0x10(%ebx)
	mov 0x10(%ebx), %eax		# a load back through the same page
	xor 0x14(%ebx), %eax
	xor 0x100(%ebx), %eax
	mov %ecx, %edx
	shl $12, %edx
	xor frames+0x10(%edx), %eax	# and the frame through the identity map: must agree
	xor frames+0x14(%edx), %eax
	xor frames+0x100(%edx), %eax
	HEX %eax
	inc %ecx
	cmp $NPAGES, %ecx
	jb 3b
	PUTC '\n'
	# pass 2: written through the identity map, read through the high mapping
	xor %ecx, %ecx
4:	mov %ecx, %edx
	shl $12, %edx
	lea 0x3C000000(%ecx), %eax
	mov %eax, frames+0x800(%edx)
	notl %eax
	mov %eax, frames+0xFFC(%edx)
	mov vas(,%ecx,4), %ebx
	mov 0x800(%ebx), %eax
	add 0xFFC(%ebx), %eax
	movzbl 0x801(%ebx), %esi
	add %esi, %eax
	HEX %eax
	inc %ecx
	cmp $NPAGES, %ecx
	jb 4b
	PUTC '\n'
	# a store and a load that span two of the pages (trap's IDT page and its entry page)
	movl $0xA1B2C3D4, 0xFF010FFE
	HEX 0xFF010FFE
	HEX frames+1*4096+0xFFC
	HEX frames+2*4096
	PUTC '\n'
	# the CPU's own reads of descriptor tables: an int, a #PF, a segment reload
	int $0x40
	movl 0x00500000, %eax		# not mapped: #PF
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %fs
	# pass 3: string moves into and out of the high pages, cmpxchg, xchg
	xor %ecx, %ecx
5:	push %ecx
	mov vas(,%ecx,4), %edi
	add $0x200, %edi
	mov $pattern, %esi
	mov $4, %ecx
	cld
	rep movsl
	pop %ecx
	push %ecx
	mov vas(,%ecx,4), %esi
	add $0x200, %esi
	mov $copy, %edi
	mov $4, %ecx
	rep movsl
	pop %ecx
	mov copy, %eax
	add copy+12, %eax
	mov vas(,%ecx,4), %ebx
	mov %eax, %edx
	mov 0x10(%ebx), %eax
	lock cmpxchg %edx, 0x10(%ebx)	# equal: stores %edx
	xchg %ecx, 0x14(%ebx)
	xchg %ecx, 0x14(%ebx)
	mov 0x10(%ebx), %eax
	HEX %eax
	inc %ecx
	cmp $NPAGES, %ecx
	jb 5b
	PUTC '\n'
	# pass 4: a stack in a high page (trap's GDT page), calls and pushes, an int on it
	mov %esp, saved_esp
	mov vas, %esp
	add $0x1000, %esp
	pushl $0x11112222
	call 6f
	jmp 7f
6:	push %ebp
	mov %esp, %ebp
	mov 8(%ebp), %eax
	HEX %eax
	pop %ebp
	ret
7:	int $0x40
	pop %eax
	mov saved_esp, %esp
	HEX frames+0xFFC		# the stack's words, read through the frame
	HEX frames+0xFF8
	PUTC '\n'
	# ring 3 and back (a privilege-raising delivery through the TSS), then every page again
	mov %esp, tss+4			# ESP0
	pushl $0x23
	pushl $ustack_top
	pushl $0x2
	pushl $0x1b
	pushl $user
	iret
back:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	xor %ecx, %ecx
	xor %eax, %eax
8:	mov vas(,%ecx,4), %ebx
	xor %edx, %edx
9:	add (%ebx,%edx,4), %eax
	rol $1, %eax
	inc %edx
	cmp $1024, %edx
	jb 9b
	inc %ecx
	cmp $NPAGES, %ecx
	jb 8b
	HEX %eax
	SAY "\ndone\n"
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
	addl $5, (%esp)			# skip the faulting load (a1 disp32)
	iret
int40:	SAY "int 0x40\n"
	iret
int80:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	SAY "int 0x80 from cs="
	HEX 4(%esp)
	SAY " user read "
	HEX %eax
	PUTC '\n'
	mov tss+4, %esp
	jmp back
user:	mov vas+4*12, %ebx		# a user page high up: read and written from ring 3
	movl $0x77, 0x20(%ebx)
	mov 0x10(%ebx), %eax
	add 0x20(%ebx), %eax
	int $0x80
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
# where the pages go: trap's GDT, IDT+TSS, entry stubs, shadow LDT; bt's page directory,
# read-only and guest-owned virtual-CPU pages, translation cache; the machine's gate GDT,
# stub and landing pages; the last page; and a page bt leaves unmapped (aliased)
vas:	.long 0xFF000000, 0xFF010000, 0xFF011000, 0xFF012000
	.long 0xFF100000, 0xFF501000, 0xFF502000, 0xFF600000
	.long 0xFFFE0000, 0xFFFF8000, 0xFFFF9000, 0xFFFFF000, 0xFF7FF000
ptof:	.long pt1020, pt1021, 0, pt1023
pattern: .long 0x01020304, 0x05060708, 0x090a0b0c, 0x0d0e0f10
copy:	.space 16
saved_esp: .long 0
tss:	.long 0, 0, 0x10
	.space 0x68-12
	.bss
	.balign 4096
pd:	.space 4096
pt1020:	.space 4096
pt1021:	.space 4096
pt1023:	.space 4096
frames:	.space 4096*NPAGES
idt:	.space 256*8
	.balign 16
	.space 4096
stack_top:
	.space 4096
ustack_top:
