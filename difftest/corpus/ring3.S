# ring3: a kernel in the classic style — GDT with user segments and a TSS,
# an IDT built at run time with interrupt gates (DPL 0) for the
# exceptions and a DPL-3 gate for int $0x80 — that runs small steps at
# ring 3 and prints the frame of each event its handler receives:
#   - int $0x80 after an iret to ring 3 with IF=0 (the frame's EFLAGS keep IF=0)
#   - int $0x0d and int $0x00 through DPL-0 gates: #GP(vector*8+2), not #DF
#   - cli, hlt, a load of a DPL-0 data segment, in: #GP
#   - a store into the page of the (translated) kernel code, then segment
#     loads (bt write-protects that page: its fault must not make the next
#     #GP a double fault)
	.ifndef RUNTIME_COPY	# ring3io.S sets it: the steps run from a copy (see there)
	.set RUNTIME_COPY, 0
	.endif
	.ifndef IOBITMAP	# iobitmap.S sets it: user I/O through the TSS's bitmap (see there)
	.set IOBITMAP, 0
	.endif
	.include "corpus.inc"
_start:
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $kstack_top, %esp
	# the TSS descriptor (base filled in at run time)
	mov $tss, %eax
	mov %ax, gdt+0x28+2
	shr $16, %eax
	mov %al, gdt+0x28+4
	mov %ah, gdt+0x28+7
	mov $0x28, %ax
	ltr %ax
	# IDT: vector v -> stub v (interrupt gate, DPL 0); 0x80 DPL 3
	xor %ecx, %ecx
2:	mov stubs(,%ecx,4), %eax
	mov %ax, idt(,%ecx,8)
	movw $0x08, idt+2(,%ecx,8)
	movw $0x8e00, idt+4(,%ecx,8)
	shr $16, %eax
	mov %ax, idt+6(,%ecx,8)
	inc %ecx
	cmp $256, %ecx
	jb 2b
	movb $0xee, idt+0x80*8+5
	lidt idtr
	.if RUNTIME_COPY
	mov $u_start, %esi	# load the user program: all steps at once
	mov $rtbuf, %edi
	mov $u_end-u_start, %ecx
	cld
	rep movsb
	.endif
	mov $0, %ebx
next:	mov $kstack_top, %esp
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov steps(,%ebx,4), %eax
	inc %ebx
	test %eax, %eax
	jz done
	.if RUNTIME_COPY
	sub $u_start, %eax	# the step's copy in rtbuf
	add $rtbuf, %eax
	.endif
	pushl $0x23		# SS
	pushl $ustack_top	# ESP
	pushl $0x002		# EFLAGS: IF=0, IOPL 0
	pushl $0x1b		# CS
	pushl %eax		# EIP
	iret
done:	SAY "done\n"
	EXIT 0

	.if RUNTIME_COPY
# ring-3 steps (run from their copy in rtbuf)
u_start:
u_rtc:		mov $0x09, %al
		out %al, $0x70
		in $0x71, %al
		movl $0x5a5a5a5a, marker
		int $0x80
u_post:		in $0x80, %al
		movl $0xa5a5a5a5, marker
		int $0x80
u_hlt:		out %al, $0x80
		hlt
u_end:
	.data
steps:	.long u_rtc, u_post, u_rtc, u_hlt, 0
	.text
	.elseif IOBITMAP
# ring-3 steps: port 0x80 allowed by the bitmap, 0x81 not
u_in80:		in $0x80, %al
		int $0x80
u_in81:		in $0x81, %al
u_inw80:	inw $0x80, %ax
u_out80:	out %al, $0x80
		int $0x80
u_dx80:		mov $0x80, %dx
		in (%dx), %al
		int $0x80
u_outsb:	mov $0x81, %dx
		mov $kstack_top-4096, %esi
		outsb
	.data
steps:	.long u_in80, u_in81, u_inw80, u_out80, u_dx80, u_outsb, 0
	.text
	.else
# ring-3 steps
u_int80:	int $0x80
u_int0d:	int $0x0d
u_int00:	int $0x00
u_cli:		cli
u_hlt:		hlt
u_ds0:		mov $0x10, %ax
		mov %ax, %ds
u_in:		in $0x80, %al
u_ss1:		mov $0x33, %ax
		mov %ax, %ss
u_smc:		movl $0x12345678, patchme	# a store into the kernel's code page
		mov $0x2b, %bx
		mov %bx, %fs
	.data
steps:	.long u_int80, u_int0d, u_int00, u_cli, u_hlt, u_ds0, u_in, u_ss1, u_smc, 0
	.text
	.endif
	.data
marker:	.long 0		# ring3io's steps store here
	.text

# handler: [vector][error code][eip][cs][eflags][esp][ss]
common:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %esp, %ebp
	SAY "v="
	HEX 0(%ebp)
	SAY " e="
	HEX 4(%ebp)
	SAY " eip="
	HEX 8(%ebp)
	SAY " cs="
	HEX 12(%ebp)
	SAY " fl="
	HEX 16(%ebp)
	.if RUNTIME_COPY
	SAY " m="
	HEX marker
	movl $0, marker
	.endif
	PUTC '\n'
	jmp next
patchme: .long 0

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
	STUBS 0, 40
	STUBS 41, 80
	STUBS 81, 120
	STUBS 121, 160
	STUBS 161, 200
	STUBS 201, 255
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
stubs:	ENTS 0, 80
	ENTS 81, 160
	ENTS 161, 255
	.text
	.include "lib.inc"

	.data
	.balign 8
gdt:	.quad 0
	.quad 0x00cf9a000000ffff	# 0x08 kernel code
	.quad 0x00cf92000000ffff	# 0x10 kernel data
	.quad 0x00cffa000000ffff	# 0x18 user code
	.quad 0x00cff2000000ffff	# 0x20 user data
	.if IOBITMAP
	.quad 0x0000890000000088	# 0x28 TSS (base at run time), its I/O bitmap included
	.else
	.quad 0x0000890000000067	# 0x28 TSS (base at run time)
	.endif
	.quad 0x00cfb2000000ffff	# 0x30 DPL-1 data
gdt_end:
gdtr:	.word gdt_end-gdt-1
	.long gdt
idtr:	.word 256*8-1
	.long idt
tss:	.long 0, kstack_top, 0x10
	.if RUNTIME_COPY
	.space 0x66-12
	.word 0x68		# I/O map base past the limit: every port denied at CPL 3
	.elseif IOBITMAP
	.space 0x66-12
	.word 0x68		# the I/O bitmap right after: ports 0-255
	.fill 16, 1, 0xff
	.byte 0xfe		# ports 0x80-0x87: only 0x80 allowed
	.fill 15, 1, 0xff
	.byte 0xff		# the byte past the bitmap
	.else
	.space 0x68-12
	.endif
	.bss
	.balign 8
idt:	.space 256*8
	.if RUNTIME_COPY
	.balign 4096
rtbuf:	.space 256
	.endif
	.space 4096
kstack_top:
	.space 4096
ustack_top:
