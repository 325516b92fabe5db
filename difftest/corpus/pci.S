# pci: PCI configuration space through mechanism #1 (ports 0xCF8/0xCFC) as a kernel enumerates
# bus 0: every function present, its first 64 bytes, and each BAR's size mask (all ones
# written, read back, the old value restored), then byte and word reads of the header.
	.include "corpus.inc"
_start:
	mov $stack_top, %esp
	xor %ebx, %ebx			# bus 0, device 0, function 0, as (dev << 11 | fn << 8)
next_fn:
	mov %ebx, %eax
	call cfg_read
	cmp $0xffff, %ax
	je skip
	mov %ebx, %eax
	shr $8, %eax
	call hex4
	PUTC ':'
	xor %esi, %esi
1:	mov %ebx, %eax
	or %esi, %eax
	call cfg_read
	PUTC ' '
	call put_hex
	add $4, %esi
	cmp $64, %esi
	jb 1b
	PUTC '\n'
	SAY "  bars"
	mov $0x10, %esi
2:	mov %ebx, %eax
	or %esi, %eax
	call cfg_read
	mov %eax, %edi			# the old value
	mov %ebx, %eax
	or %esi, %eax
	mov $0xffffffff, %edx
	call cfg_write
	mov %ebx, %eax
	or %esi, %eax
	call cfg_read
	PUTC ' '
	call put_hex
	mov %ebx, %eax
	or %esi, %eax
	mov %edi, %edx
	call cfg_write
	add $4, %esi
	cmp $0x28, %esi
	jb 2b
	PUTC '\n'
	SAY "  bytes "
	mov %ebx, %eax
	or $0x80000000, %eax
	or $0x08, %eax
	mov $0xcf8, %dx
	out %eax, %dx
	mov $0xcfe, %dx
	xor %eax, %eax
	inw %dx, %ax			# class and subclass, by a word read at offset 2
	call put_hex
	PUTC ' '
	mov $0xcfd, %dx
	xor %eax, %eax
	inb %dx, %al			# the programming interface byte
	call put_hex
	PUTC '\n'
skip:
	add $0x100, %ebx
	cmp $0x10000, %ebx
	jb next_fn
	SAY "address port "
	mov $0xcf8, %dx
	in %dx, %eax
	call put_hex
	PUTC '\n'
	EXIT 0

# cfg_read: %eax = bus/dev/fn/register (low 24 bits) -> %eax = the dword
cfg_read:
	push %edx
	or $0x80000000, %eax
	mov $0xcf8, %dx
	out %eax, %dx
	mov $0xcfc, %dx
	in %dx, %eax
	pop %edx
	ret
# cfg_write: %eax = address as above, %edx = the value
cfg_write:
	push %edx
	or $0x80000000, %eax
	push %edx
	mov $0xcf8, %dx
	out %eax, %dx
	pop %eax
	mov $0xcfc, %dx
	out %eax, %dx
	pop %edx
	ret
# hex4: print %ax's low 16 bits as 4 hex digits
hex4:	push %ecx
	mov $4, %ecx
	call put_hexn
	pop %ecx
	ret
	.include "lib.inc"
	.bss
	.space 4096
stack_top:
