# ioapic: the I/O APIC as an SMP-era kernel routes the ISA timer through
# it (paging off, the 8259s masked): the IOAPIC's ID, version and
# arbitration registers and the first redirection entries as firmware left
# them; the PIT's IRQ 0, which QEMU wires to pin 2 (the MP table's
# override), programmed edge-triggered to vector 0x30 for the boot CPU;
# three ticks with hlt and LAPIC EOI; the entry read back (delivery
# status, remote IRR); pin 2 masked again and a write to the read-only
# version register.
	.include "corpus.inc"
	.set IOAPIC, 0xfec00000
	.set APIC, 0xfee00000
_start:
	mov $stack_top, %esp
	mov %cs, %ax
	mov %ax, idt+0x30*8+2
	mov $tick, %eax
	mov %ax, idt+0x30*8
	shr $16, %eax
	mov %ax, idt+0x30*8+6
	movw $0x8e00, idt+0x30*8+4
	lidt idtr
	mov $0xff, %al		# 8259s masked
	out %al, $0x21
	out %al, $0xa1
	movl $0x1ff, APIC+0xf0	# LAPIC on
	SAY "id="
	mov $0, %ecx
	call rd
	SAY " ver="
	mov $1, %ecx
	call rd
	SAY " arb="
	mov $2, %ecx
	call rd
	PUTC '\n'
	SAY "redir:"
	mov $0x10, %ecx
1:	PUTC ' '
	call rd
	inc %ecx
	cmp $0x18, %ecx
	jb 1b
	PUTC '\n'
	mov $0x34, %al		# PIT: mode 2, ~10 ms
	out %al, $0x43
	mov $11932 & 0xff, %al
	out %al, $0x40
	mov $11932 >> 8, %al
	out %al, $0x40
	mov $0x15, %ecx		# pin 2, high word: destination APIC 0
	xor %eax, %eax
	call wr
	mov $0x14, %ecx		# pin 2, low word: vector 0x30, fixed, edge, high
	mov $0x30, %eax
	call wr
2:	sti
	hlt
	cli
	cmpl $3, ticks
	jb 2b
	mov $0x14, %ecx
	mov $0x10030, %eax	# masked again
	call wr
	SAY "ticks="
	HEX ticks
	SAY " pin2="
	mov $0x14, %ecx
	call rd
	PUTC ' '
	mov $0x15, %ecx
	call rd
	PUTC '\n'
	mov $1, %ecx		# the version register is read-only
	mov $0xffffffff, %eax
	call wr
	SAY "ver="
	call rd
	PUTC '\n'
	EXIT 0

# ecx = register: print it
rd:	mov %ecx, IOAPIC
	HEX IOAPIC+0x10
	ret
# ecx = register, eax = value
wr:	mov %ecx, IOAPIC
	mov %eax, IOAPIC+0x10
	ret
tick:	incl ticks
	movl $0, APIC+0xb0
	iret
	.include "lib.inc"
	.data
idtr:	.word 256*8-1
	.long idt
ticks:	.long 0
	.bss
	.balign 8
idt:	.space 256*8
	.space 4096
stack_top:
