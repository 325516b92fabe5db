# rtcirq: the CMOS clock's periodic interrupt as a kernel's timer: the 8259s remapped (0x20,
# 0x28), only IRQ 8 (and the cascade) unmasked, register A's rate 6 (1024 Hz), register B's
# PIE, then sti; hlt until five ticks; the handler reads register C (which lowers IRQ 8) and
# sends EOI to both 8259s. Prints register C as the first handler saw it and the tick count.
	.include "corpus.inc"
_start:
	mov $stack_top, %esp
	mov %cs, %ax
	mov %ax, idt + 0x28 * 8 + 2
	mov $rtc_handler, %eax
	mov %ax, idt + 0x28 * 8
	shr $16, %eax
	mov %ax, idt + 0x28 * 8 + 6
	movw $0x8e00, idt + 0x28 * 8 + 4
	lidt idtr
	mov $0x11, %al			# ICW1: edge, cascade, ICW4
	out %al, $0x20
	out %al, $0xa0
	mov $0x20, %al			# ICW2: vector bases
	out %al, $0x21
	mov $0x28, %al
	out %al, $0xa1
	mov $0x04, %al			# ICW3: slave on IR2
	out %al, $0x21
	mov $0x02, %al
	out %al, $0xa1
	mov $0x01, %al			# ICW4: 8086 mode
	out %al, $0x21
	out %al, $0xa1
	mov $0xfb, %al			# master: only the cascade
	out %al, $0x21
	mov $0xfe, %al			# slave: only IRQ 8
	out %al, $0xa1
	mov $0x8a, %al			# register A (NMI masked while we program)
	out %al, $0x70
	mov $0x26, %al			# 32.768 kHz base, rate 6: 1024 Hz
	out %al, $0x71
	mov $0x8b, %al			# register B: PIE on
	out %al, $0x70
	in $0x71, %al
	or $0x40, %al
	mov %al, %ah
	mov $0x8b, %al
	out %al, $0x70
	mov %ah, %al
	out %al, $0x71
	mov $0x0c, %al			# register C: clear anything pending
	out %al, $0x70
	in $0x71, %al
	sti
1:	hlt
	cmpl $5, ticks
	jb 1b
	cli
	mov $0x8b, %al			# PIE off
	out %al, $0x70
	in $0x71, %al
	and $~0x40, %al
	mov %al, %ah
	mov $0x8b, %al
	out %al, $0x70
	mov %ah, %al
	out %al, $0x71
	SAY "first C="
	HEX first_c
	SAY " ticks="
	HEX ticks
	PUTC '\n'
	EXIT 0

rtc_handler:
	push %eax
	mov $0x0c, %al
	out %al, $0x70
	in $0x71, %al
	cmpl $0, ticks
	jne 2f
	movzbl %al, %eax
	mov %eax, first_c
2:	incl ticks
	mov $0x20, %al
	out %al, $0xa0
	out %al, $0x20
	pop %eax
	iret
	.include "lib.inc"
	.data
ticks:	.long 0
first_c: .long 0
idtr:	.word 256 * 8 - 1
	.long idt
	.bss
	.balign 8
idt:	.space 256 * 8
	.space 4096
stack_top:
