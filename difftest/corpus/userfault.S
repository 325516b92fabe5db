# userfault: exceptions with error codes, most of them raised by ring-3
# code under 32-bit paging, as a Unix kernel's trap handler sees them. The
# pages are identity-mapped user/writable except four: kpage (supervisor
# only), ropage (read-only), nppage (not present) and the user data page
# below it. Each step runs at ring 3 (iret) or ring 0 and faults; the
# handler prints vector, error code, CR2 for #PF, the frame's CS:EIP (as
# an offset from the step's label) and ESP, and some registers:
#   - #PF: user read of kpage (5), user write of ropage (7), user read and
#     write of nppage (4, 6), a push onto nppage (6), rep movsb running into
#     nppage (ECX, ESI, EDI at the fault), kernel write of ropage with
#     CR0.WP=0 (no fault) and WP=1 (3), kernel read of nppage (0)
#   - #UD (ud2), #DE (div by 0), #BR (bound), #OF (into, DPL-3 gate),
#     #BP (int3, DPL-3 gate), #GP(0) from mov to CR0 and from lidt at
#     ring 3, #NP from a not-present DPL-3 data segment, #SS from a
#     not-present stack segment, #GP(sel) from a far jump to kernel code,
#     #GP(vector) from int $0x0e through a DPL-0 gate
#   - #DB from TF set with popf at ring 3: the trap after one instruction
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
	mov $0xff, %al
	out %al, $0x21
	out %al, $0xa1
	mov $tss, %eax
	mov %ax, gdt+0x28+2
	shr $16, %eax
	mov %al, gdt+0x28+4
	mov %ah, gdt+0x28+7
	mov $0x28, %ax
	ltr %ax
	xor %ecx, %ecx		# IDT: the stubs, DPL 0 but #BP and #OF
2:	mov stubs(,%ecx,4), %eax
	mov %ax, idt(,%ecx,8)
	movw $0x08, idt+2(,%ecx,8)
	movw $0x8e00, idt+4(,%ecx,8)
	shr $16, %eax
	mov %ax, idt+6(,%ecx,8)
	inc %ecx
	cmp $20, %ecx
	jb 2b
	movb $0xee, idt+3*8+5
	movb $0xee, idt+4*8+5
	lidt idtr
	# page tables: 0-4 MiB identity, user and writable, but the test pages
	mov $ptab, %edi
	mov $7, %eax
	mov $1024, %ecx
3:	mov %eax, (%edi)
	add $4096, %eax
	add $4, %edi
	loop 3b
	mov $kpage, %eax			# supervisor only
	shr $12, %eax
	andl $~4, ptab(,%eax,4)
	mov $ropage, %eax			# read-only
	shr $12, %eax
	andl $~2, ptab(,%eax,4)
	mov $nppage, %eax			# not present
	shr $12, %eax
	andl $~1, ptab(,%eax,4)
	movl $ptab+7, pdir
	movl $0x5a5a5a5a, kpage		# (before paging: corpus wp0 writes with paging on)
	movl $0xa5a5a5a5, ropage
	mov $pdir, %eax
	mov %eax, %cr3
	mov %cr0, %eax
	or $0x80000000, %eax
	mov %eax, %cr0
next:	mov $kstack_top, %esp
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov step, %ebx
	incl step
	mov steps(,%ebx,8), %eax
	mov %eax, cur
	test %eax, %eax
	jz done
	mov $0x11111111, %ecx	# known registers for every step
	mov $0x22222222, %edx
	mov $0x33333333, %esi
	mov $0x44444444, %edi
	cmpl $0, steps+4(,%ebx,8)
	je 4f
	jmp *%eax		# a ring-0 step
4:	mov $0x23, %bx
	mov %bx, %es
	pushl $0x23		# SS
	pushl $ustack_top	# ESP
	pushl $0x202		# EFLAGS
	pushl $0x1b		# CS
	pushl %eax		# EIP
	mov %bx, %ds
	mov $0x55555555, %ebx
	iret
done:	SAY "done\n"
	EXIT 0

# ring-3 steps
u_kread:	mov kpage, %eax
u_rowrite:	movl $1, ropage
u_npread:	mov nppage, %eax
u_npwrite:	movl $1, nppage+8
u_push:		mov $nppage+4096, %esp
		push %eax
u_movs:		mov $upage+4096-6, %esi
		mov $upage+4096-6, %edi
		sub $16, %edi
		add $16, %esi
		sub $16, %esi		# esi = upage+0xffa, edi = upage+0xfea
		add $16, %edi		# and back: the copy runs into nppage
		mov $64, %ecx
		cld
		rep movsb
u_ud:		ud2
u_de:		xor %edx, %edx
		xor %ecx, %ecx
		mov $7, %eax
		div %ecx
u_br:		mov $9, %eax
		bound %eax, bounds
u_of:		mov $0x7fffffff, %eax
		add $1, %eax
		into
u_bp:		int3
u_cr0:		mov %eax, %cr0
u_lidt:		lidt idtr
u_np:		mov $0x33, %ax
		mov %ax, %ds
u_ss:		mov $0x3b, %ax
		mov %ax, %ss
u_ljmp:		ljmp $0x08, $next
u_int0e:	int $0x0e
u_tf:		pushf
		orl $0x100, (%esp)
		popf
		mov $0x77, %eax	# #DB after this one
		mov $0x88, %eax
# ring-0 steps
k_wp0:		movl $0x12345678, ropage	# CR0.WP=0: allowed
		mov ropage, %eax
		ud2				# into the handler, to print
k_wp1:		mov %cr0, %eax
		or $0x10000, %eax
		mov %eax, %cr0
		movl $0x9abcdef0, ropage	# WP=1: #PF(3)
k_npread:	mov %cr0, %eax
		and $~0x10000, %eax
		mov %eax, %cr0
		mov nppage, %eax		# #PF(0)
	.data
step:	.long 0
cur:	.long 0
steps:	.long u_kread, 0, u_rowrite, 0, u_npread, 0, u_npwrite, 0, u_push, 0
	.long u_movs, 0, u_ud, 0, u_de, 0, u_br, 0, u_of, 0, u_bp, 0
	.long u_cr0, 0, u_lidt, 0, u_np, 0, u_ss, 0, u_ljmp, 0, u_int0e, 0, u_tf, 0
	.long k_wp0, 1, k_wp1, 1, k_npread, 1, 0, 0
bounds:	.long 2, 8
	.text

# handler: [vector][error code][eip][cs][eflags]([esp][ss] from ring 3)
common:	mov %esp, %ebp
	push %eax
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	pop %eax
	SAY "v="
	HEX (%ebp)
	SAY " e="
	HEX 4(%ebp)
	cmpl $14, (%ebp)
	jne 1f
	SAY " cr2="
	push %eax
	mov %cr2, %eax
	call put_hex
	pop %eax
1:	SAY " cs:eip="
	HEX 12(%ebp)
	PUTC ':'
	push %eax
	mov 8(%ebp), %eax
	sub cur, %eax
	call put_hex
	pop %eax
	cmpl $1, (%ebp)
	jne 3f
	SAY " dr6="
	push %eax
	mov %dr6, %eax
	call put_hex
	pop %eax
3:	testl $3, 12(%ebp)
	jz 2f
	SAY " esp="
	HEX 20(%ebp)
2:	SAY " fl="
	HEX 16(%ebp)
	SAY " eax="
	HEX %eax
	SAY " ecx="
	HEX %ecx
	SAY " esi="
	HEX %esi
	SAY " edi="
	HEX %edi
	PUTC '\n'
	jmp next

	.macro STUB v
stub\v:
	.if (\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17)
	.else
	pushl $0xeeee
	.endif
	pushl $\v
	jmp common
	.endm
	.altmacro
	.macro STUBS from, to
	STUB %\from
	.if \to-\from
	STUBS %(\from+1), \to
	.endif
	.endm
	STUBS 0, 19
	.macro ENT v
	.long stub\v
	.endm
	.macro ENTS from, to
	ENT %\from
	.if \to-\from
	ENTS %(\from+1), \to
	.endif
	.endm
	.data
stubs:	ENTS 0, 19
	.text
	.include "lib.inc"

	.data
	.balign 8
gdt:	.quad 0
	.quad 0x00cf9b000000ffff	# 0x08 kernel code
	.quad 0x00cf93000000ffff	# 0x10 kernel data
	.quad 0x00cffb000000ffff	# 0x18 user code
	.quad 0x00cff3000000ffff	# 0x20 user data
	.quad 0x0000890000000067	# 0x28 TSS (base at run time)
	.quad 0x00cf73000000ffff	# 0x30 user data, not present
	.quad 0x00cf73000000ffff	# 0x38 user stack, not present
gdt_end:
gdtr:	.word gdt_end-gdt-1
	.long gdt
idtr:	.word 20*8-1
	.long idt
tss:	.long 0, kstack_top, 0x10
	.space 0x68-12
	.bss
	.balign 4096
pdir:	.space 4096
ptab:	.space 4096
kpage:	.space 4096
ropage:	.space 4096
upage:	.space 4096
nppage:	.space 4096
	.space 4096
kstack_top:
	.space 4096
ustack_top:
idt:	.space 20*8
