# segments: data segmentation as 16-bit-era and OS/2-style kernels used
# it, at ring 0 without paging, and what QEMU's TCG (the oracle, and
# Unicorn under every strategy) makes of it:
#   - a data segment with a non-zero base and a byte-granular limit: loads
#     through it, and a dword that crosses the limit
#   - an expand-down 32-bit stack whose base puts offsets
#     0xfffff000-0xffffffff on the page below stk_top: ESP wraps from 0,
#     the pushes land there; pushes past the lower bound
#   - an expand-down 16-bit segment (valid offsets limit+1..0xffff): a
#     store, a read back through the flat segment, a read below the bound
#   - a read-only data segment written, a null DS used
#   - rep outsb from a based segment through an FS override, with 32- and
#     16-bit addressing, and rep insb into a based ES (port I/O each
#     strategy performs itself: the machine under native, trap's emulator)
# TCG checks none of these limits, types or null selectors on data
# accesses (the SDM's #GP(0) and #SS(0) do not come): the guest prints
# what QEMU does, and a fault handler (vector, error code, then the step's
# recovery label) would show any fault a strategy raised on its own.
	.include "corpus.inc"
_start:
	mov $kstack_top, %esp
	# bases filled in before lgdt: data, expand-down stacks, code segments
	mov $dbuf, %eax
	mov $0x18, %ebx
	call set_base
	mov $stk_top, %eax	# + 0xfffff000 wraps to stk_top - 0x1000
	mov $0x20, %ebx
	call set_base
	mov $ebuf, %eax
	mov $0x28, %ebx
	call set_base
	mov $dbuf, %eax
	mov $0x30, %ebx
	call set_base
	lgdt gdtr
	ljmp $0x08, $1f
1:	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $kstack_top, %esp
	mov $0, %ecx
2:	call set_idt
	inc %ecx
	cmp $32, %ecx
	jb 2b
	lidt idtr
	mov $0x11223344, %eax	# dbuf's and ebuf's contents
	mov $dbuf, %edi
	mov $64, %ecx
3:	mov %eax, (%edi)
	add $0x01010101, %eax
	add $4, %edi
	loop 3b

	# data with a base and a byte limit
	movl $r_lim, resume
	mov $0x18, %ax
	mov %ax, %fs
	SAY "lim:"
	HEX %fs:0
	PUTC ' '
	HEX %fs:0xfc
	PUTC ' '
	mov %fs:0xfd, %eax	# bytes 0xfd-0x100: past the limit
	call put_hex
r_lim:	PUTC '\n'

	# read-only data, written
	movl $r_ro, resume
	mov $0x30, %ax
	mov %ax, %gs
	SAY "ro: "
	HEX %gs:8
	movl $0, %gs:8
r_ro:	PUTC '\n'

	# a null DS
	movl $r_null, resume
	SAY "null:"
	xor %eax, %eax
	mov %ax, %ds
	mov (%eax), %eax
r_null:	mov $0x10, %ax
	mov %ax, %ds
	PUTC '\n'

	# the expand-down 32-bit stack
	movl $r_ed, resume
	SAY "ed32:"
	mov %esp, saved_esp
	mov $0x20, %ax
	mov %ax, %ss
	xor %esp, %esp
	pushl $0xcafe0001
	pushl $0xcafe0002
	mov %esp, %eax
	PUTC ' '
	call put_hex
	mov stk_top-4, %eax
	PUTC ' '
	call put_hex
	mov stk_top-8, %eax
	PUTC ' '
	call put_hex
	mov $0xfffff008, %esp
	pushl $1
	pushl $2
	pushl $3		# below the lower bound: #SS(0)
r_ed:	PUTC '\n'

	# the expand-down 16-bit data segment: offsets 0x8000-0xffff
	movl $r_ed16, resume
	SAY "ed16:"
	mov $0x28, %ax
	mov %ax, %es
	movl $0xabcd1234, %es:0x8000
	PUTC ' '
	HEX ebuf+0x8000
	PUTC ' '
	HEX %es:0xfffc
	mov %es:0x7ffe, %eax	# below the bound
r_ed16:	PUTC '\n'

	# string output from based segments: rep outsb with an FS override,
	# then with 16-bit addressing (SI and CX; their high halves ignored)
	movl $r_outs, resume
	movl $0x0a4b4f20, dbuf+0x80	# " OK\n"
	SAY "outs:"
	mov $0x18, %ax
	mov %ax, %fs
	mov $0x80, %esi
	mov $4, %ecx
	mov $0x3f8, %dx
	cld
	rep outsb %fs:(%esi), (%dx)
	mov %esi, %eax
	call put_hex
	mov $0xabcd0080, %esi
	mov $0x12340004, %ecx
	addr16 rep outsb %fs:(%si), (%dx)
	mov %esi, %eax
	call put_hex
	PUTC ' '
	mov %ecx, %eax
	call put_hex
	# rep insb into ES (based): the UART's line status, twice
	mov $0x18, %ax
	mov %ax, %es
	mov $0x90, %edi
	mov $2, %ecx
	mov $0x3fd, %dx
	rep insb (%dx), %es:(%edi)
	PUTC ' '
	HEX %edi
	PUTC ' '
	movzwl dbuf+0x90, %eax
	call put_hex
	mov $0x10, %ax
	mov %ax, %es
r_outs:	PUTC '\n'
	EXIT 0

# a fault: print vector and error code, go on at resume on the kernel stack
	.macro FSTUB v
fs\v:	.if (\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17)
	.else
	pushl $0xeeee
	.endif
	pushl $\v
	jmp fault_common
	.endm
fault_common:
	mov (%esp), %ebx	# vector and error code, from whatever stack faulted
	mov 4(%esp), %ecx
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $kstack_top, %esp
	SAY " #"
	HEX %ebx
	PUTC '('
	HEX %ecx
	PUTC ')'
	jmp *resume

# eax = base, ebx = GDT offset
set_base:
	push %eax
	mov %ax, gdt+2(%ebx)
	shr $16, %eax
	mov %al, gdt+4(%ebx)
	mov %ah, gdt+7(%ebx)
	pop %eax
	ret
# ecx = vector (< 32): its stub, an interrupt gate
set_idt:
	push %eax
	mov fstubs(,%ecx,4), %eax
	mov %ax, idt(,%ecx,8)
	movw $0x08, idt+2(,%ecx,8)
	movw $0x8e00, idt+4(,%ecx,8)
	shr $16, %eax
	mov %ax, idt+6(,%ecx,8)
	pop %eax
	ret
	.altmacro
	.macro FSTUBS from, to
	FSTUB %\from
	.if \to-\from
	FSTUBS %(\from+1), \to
	.endif
	.endm
	FSTUBS 0, 31
	.macro FENT v
	.long fs\v
	.endm
	.macro FENTS from, to
	FENT %\from
	.if \to-\from
	FENTS %(\from+1), \to
	.endif
	.endm
	.include "lib.inc"

	.data
fstubs:	FENTS 0, 31
	.balign 8
gdt:	.quad 0
	.quad 0x00cf9b000000ffff	# 0x08 kernel code
	.quad 0x00cf93000000ffff	# 0x10 kernel data
	.quad 0x004093000000ffff	# 0x18 data, base dbuf, limit 0xff (bytes)
	.quad 0x00cf97000000fffe	# 0x20 expand-down 32-bit stack, limit 0xffffefff
	.quad 0x0000970000007fff	# 0x28 expand-down 16-bit data, limit 0x7fff
	.quad 0x004091000000ffff	# 0x30 read-only data, base dbuf
gdt_end:
gdtr:	.word gdt_end-gdt-1
	.long gdt
idtr:	.word 256*8-1
	.long idt
resume:	.long 0
saved_esp: .long 0
	.bss
	.balign 8
idt:	.space 256*8
	.space 4096
kstack_top:
dbuf:	.space 256
	.balign 4096
	.space 4096
stk_top:
ebuf:	.space 0x10000
