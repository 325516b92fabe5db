# lapictimer: the local APIC's timer as an SMP-era kernel's clock (paging
# off, the APIC at its default 0xFEE00000, the 8259s masked): ID and
# version, the spurious-vector register enabling the APIC, the timer's LVT
# (vector 0x40, periodic), divide configuration and initial count read
# back; five ticks waited for with sti; hlt, each handler writing EOI; the
# in-service and request registers after the last EOI; a one-shot that is
# masked (no interrupt); the error status after a read of the remote-read
# register (QEMU flags it as illegal), written and read twice (QEMU's ESR
# only accumulates: writes neither latch nor clear it).
	.include "corpus.inc"
	.set APIC, 0xfee00000
_start:
	mov $stack_top, %esp
	mov %cs, %ax
	mov %ax, idt+0x40*8+2
	mov $tick, %eax
	mov %ax, idt+0x40*8
	shr $16, %eax
	mov %ax, idt+0x40*8+6
	movw $0x8e00, idt+0x40*8+4
	mov %cs, %ax
	mov %ax, idt+0xff*8+2
	mov $spurious, %eax
	mov %ax, idt+0xff*8
	shr $16, %eax
	mov %ax, idt+0xff*8+6
	movw $0x8e00, idt+0xff*8+4
	lidt idtr
	mov $0xff, %al
	out %al, $0x21
	out %al, $0xa1
	SAY "id="
	HEX APIC+0x20
	SAY " ver="
	HEX APIC+0x30
	SAY " svr="
	HEX APIC+0xf0
	PUTC '\n'
	movl $0x1ff, APIC+0xf0		# enabled, spurious vector 0xff
	movl $0x3, APIC+0x3e0		# divide by 16
	movl $0x20040, APIC+0x320	# periodic, vector 0x40
	movl $0x8000, APIC+0x380	# initial count
	SAY "svr="
	HEX APIC+0xf0
	SAY " lvt="
	HEX APIC+0x320
	SAY " tdcr="
	HEX APIC+0x3e0
	SAY " ticr="
	HEX APIC+0x380
	SAY " tpr="
	HEX APIC+0x80
	SAY " ppr="
	HEX APIC+0xa0
	PUTC '\n'
1:	sti
	hlt
	cli
	cmpl $5, ticks
	jb 1b
	movl $0, APIC+0x380		# stop the timer
	SAY "ticks="
	HEX ticks
	SAY " isr2="
	HEX APIC+0x120			# ISR bits 64-95 (vector 0x40)
	SAY " irr2="
	HEX APIC+0x220
	SAY " ccr="
	HEX APIC+0x390
	PUTC '\n'
	# a masked one-shot: it counts but interrupts nobody
	movl $0x10040, APIC+0x320	# one-shot, masked
	movl $0x100, APIC+0x380
	mov $2000, %ecx
2:	loop 2b
	SAY "masked: ticks="
	HEX ticks
	SAY " irr2="
	HEX APIC+0x220
	PUTC '\n'
	# a reserved register, then the ESR
	movl $0, APIC+0x280
	mov APIC+0x0c0, %eax		# remote read: illegal for QEMU
	movl $0, APIC+0x280		# latch
	SAY "esr="
	HEX APIC+0x280
	movl $0, APIC+0x280		# again: no error since the last write
	PUTC ' '
	HEX APIC+0x280
	PUTC '\n'
	EXIT 0

tick:	incl ticks
	movl $0, APIC+0xb0		# EOI
	iret
spurious:
	incl spur
	iret
	.include "lib.inc"
	.data
idtr:	.word 256*8-1
	.long idt
ticks:	.long 0
spur:	.long 0
	.bss
	.balign 8
idt:	.space 256*8
	.space 4096
stack_top:
