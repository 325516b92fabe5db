# apic — the PC platform a 32-bit SMP kernel expects, read back and driven
# with paging off: the MP tables, the CMOS clock, the local APIC (timer,
# TPR, IPIs), the I/O APIC routing an ISA interrupt, and the UART's
# receive interrupt. Checked against QEMU (guest/platform tests):
#
#   qemu-system-i386 -accel tcg -cpu qemu32 -m 16M -kernel apic.elf
#     -rtc base=2006-10-21T12:00:00 ... (see guest/platform/platform_test.go)
#
#   args:    n=K   periodic APIC timer ticks to wait for (default 5)
#            uart=1  also wait for one line of serial input (receive
#                  interrupts through the I/O APIC); give it input
#                  (virtsim run --input FILE; QEMU -chardev input-path=)
#            paging=1  first turn paging on as xv6 does: 4 MiB pages (CR4.PSE)
#                  mapping the first GiB identity and the device window
#                  0xFE000000-4 GiB (cache-disabled) over the top of the
#                  address space, so every APIC access goes through the
#                  guest's page tables (and, under trap and bt, through the
#                  shadow and past the VMM's region)
#   output:  one line per check; a failed check prints
#            `apic: self-check failed: ...` and exits with EXIT_CHECK_FAILED.
#
# Set-up: rt_cpu_init; both 8259s masked (rt_pic_mask), so every interrupt
# comes through the APICs; IDT vectors 0x30 (APIC timer), 0x31 (UART via
# the I/O APIC), 0x32 (the PIT via the I/O APIC), 0x33 (self-IPI), 0xFF
# (the APIC's spurious vector).
#
# Nothing printed depends on speed: waits are bounded polls or hlt loops
# whose handlers count, and every count printed is fixed by the hardware's
# semantics (one-shot: exactly one interrupt; periodic: the handler masks
# the timer on the K-th tick; an edge is one interrupt).

.include "rt.inc"

	WORKLOAD apic, 5

	.set LAPIC,        0xFEE00000
	.set IOAPIC,       0xFEC00000
	.set L_ID,         0x020
	.set L_VER,        0x030
	.set L_TPR,        0x080
	.set L_EOI,        0x0B0
	.set L_SVR,        0x0F0
	.set L_ESR,        0x280
	.set L_ICRLO,      0x300
	.set L_ICRHI,      0x310
	.set L_TIMER,      0x320
	.set L_LINT0,      0x350
	.set L_LINT1,      0x360
	.set L_INIT,       0x380
	.set L_CUR,        0x390
	.set L_DIV,        0x3E0
	.set VEC_TIMER,    0x30
	.set VEC_UART,     0x31
	.set VEC_PIT,      0x32
	.set VEC_IPI,      0x33
	.set VEC_SPUR,     0xFF
	.set MASKED,       0x10000
	.set PERIODIC,     0x20000
	.set TIMER_COUNT,  100000        # 100 us at QEMU's 1 GHz
	.set POLL_LIMIT,   0x1000000
	.set COM1,         0x3F8

	.text
# lapic_w OFF, VALUE / lapic_r OFF -> %eax
.macro LAPIC_W off, val
	movl \val, LAPIC+\off
.endm
.macro LAPIC_R off
	movl LAPIC+\off, %eax
.endm

# ioapic_write: %ecx = register, %eax = value
FUNC ioapic_write
	movl %ecx, IOAPIC
	movl %eax, IOAPIC+0x10
	ret
ENDFUNC ioapic_write
# ioapic_read: %ecx = register -> %eax
FUNC ioapic_read
	movl %ecx, IOAPIC
	movl IOAPIC+0x10, %eax
	ret
ENDFUNC ioapic_read

# paging_on: the page directory apic_pd with 4 MiB pages: PDEs 0-255
# identity (the first GiB), PDEs 1016-1023 identity and cache-disabled
# (the device window 0xFE000000-4 GiB, as xv6 maps it); then CR4.PSE, CR3,
# CR0.PG|WP.
FUNC paging_on
	pushal
	movl $apic_pd, %edi
	xorl %ecx, %ecx
1:	movl %ecx, %eax
	shll $22, %eax
	orl $0x83, %eax                  # P | W | PS
	movl %eax, (%edi,%ecx,4)
	incl %ecx
	cmpl $256, %ecx
	jb 1b
	movl $1016, %ecx
2:	movl %ecx, %eax
	shll $22, %eax
	orl $0x93, %eax                  # P | W | PCD | PS
	movl %eax, (%edi,%ecx,4)
	incl %ecx
	cmpl $1024, %ecx
	jb 2b
	PV_READ_CR4 %eax
	orl $0x10, %eax                  # PSE
	PV_WRITE_CR4 %eax
	PV_WRITE_CR3 %edi
	PV_READ_CR0 %eax
	orl $0x80010000, %eax            # PG | WP
	PV_WRITE_CR0 %eax
	popal
	ret
ENDFUNC paging_on

# fail: print the message at %esi and exit
FUNC fail
	PRINT "apic: self-check failed: "
	call rt_puts
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	jmp rt_exit
ENDFUNC fail
.macro CHECK cond, msg
	.pushsection .rodata
.Lmsg\@:
	.asciz "\msg"
	.popsection
	j\cond 1f
	movl $.Lmsg\@, %esi
	jmp fail
1:
.endm

# ---- handlers: count, EOI, iret ----
FUNC timer_handler
	pushl %eax
	incl timer_irqs
	movl timer_irqs, %eax
	cmpl ticks_wanted, %eax
	jb 1f
	LAPIC_W L_TIMER, $(MASKED | PERIODIC | VEC_TIMER)
1:	LAPIC_W L_EOI, $0
	popl %eax
	iret
ENDFUNC timer_handler

FUNC pit_handler
	incl pit_irqs
	LAPIC_W L_EOI, $0
	iret
ENDFUNC pit_handler

FUNC ipi_handler
	incl ipi_irqs
	LAPIC_W L_EOI, $0
	iret
ENDFUNC ipi_handler

FUNC spurious_handler
	incl spurious_irqs
	iret
ENDFUNC spurious_handler

# uart_handler: drain the receiver into line_buf
FUNC uart_handler
	pushl %eax
	pushl %edx
	pushl %ebx
	incl uart_irqs
1:	movw $COM1+5, %dx
	inb %dx, %al
	testb $1, %al
	jz 2f
	movw $COM1, %dx
	inb %dx, %al
	movl line_len, %ebx
	cmpl $63, %ebx
	jae 1b
	movb %al, line_buf(%ebx)
	incl line_len
	jmp 1b
2:	LAPIC_W L_EOI, $0
	popl %ebx
	popl %edx
	popl %eax
	iret
ENDFUNC uart_handler

# put_bcd: print CMOS register %al's value (BCD) as two digits
FUNC put_cmos
	pushl %ecx
	outb %al, $0x70
	inb $0x71, %al
	movzbl %al, %eax
	movl $2, %ecx
	call rt_put_hex
	popl %ecx
	ret
ENDFUNC put_cmos

FUNC main
	pushl %ebx
	pushl %esi
	pushl %edi
	call rt_cpu_init
	call rt_pic_mask
	ARG "n", $DEFAULT_N
	movl %eax, ticks_wanted
	ARG "paging", $0
	testl %eax, %eax
	jz 1f
	call paging_on
	PRINT "paging: on, 4 MiB pages, device window 0xFE000000-4 GiB"
	PRINT_NL
1:

	# ---- the MP tables ----
	movl $0xF0000, %esi
1:	cmpl $0x5F504D5F, (%esi)         # "_MP_"
	je 2f
	addl $16, %esi
	cmpl $0x100000, %esi
	jb 1b
	movl $0, %esi
	CHECK nz, "no MP floating pointer in 0xF0000-0xFFFFF"
2:	xorl %eax, %eax                  # checksum of the 16-byte pointer
	xorl %ecx, %ecx
3:	addb (%esi,%ecx), %al
	incl %ecx
	cmpl $16, %ecx
	jb 3b
	testb %al, %al
	CHECK z, "MP floating pointer checksum"
	PRINT "mp: spec 1."
	movzbl 9(%esi), %eax
	call rt_put_dec
	PRINT " features "
	PRINT_HEX 12(%esi), 8
	movl 4(%esi), %esi               # the configuration table
	cmpl $0x504D4350, (%esi)         # "PCMP"
	CHECK e, "no PCMP signature"
	PRINT " oem "
	movl 8(%esi), %eax
	movl %eax, oem
	movl 12(%esi), %eax
	movl %eax, oem+4
	pushl %esi
	movl $oem, %esi
	call rt_puts
	popl %esi
	PRINT " lapic "
	PRINT_HEX 36(%esi), 8
	PRINT " entries "
	movzwl 34(%esi), %ecx
	PRINT_DEC %ecx
	PRINT_NL
	leal 44(%esi), %edi              # walk the entries
4:	testl %ecx, %ecx
	jz 9f
	movzbl (%edi), %eax
	cmpb $0, %al
	jne 5f
	PRINT "mp: cpu apic "
	movzbl 1(%edi), %eax
	PRINT_DEC %eax
	PRINT " ver "
	movzbl 2(%edi), %eax
	PRINT_HEX %eax, 2
	PRINT " flags "
	movzbl 3(%edi), %eax
	PRINT_DEC %eax
	PRINT " sig "
	PRINT_HEX 4(%edi), 8
	PRINT_NL
	addl $20, %edi
	decl %ecx
	jmp 4b
5:	cmpb $1, %al
	jne 6f
	PRINT "mp: bus "
	movzbl 1(%edi), %eax
	PRINT_DEC %eax
	movb $' ', %al
	call rt_putc
	movl 2(%edi), %eax
	movl %eax, oem
	movw 6(%edi), %ax
	movw %ax, oem+4
	movb $0, oem+6
	pushl %esi
	movl $oem, %esi
	call rt_puts
	popl %esi
	PRINT_NL
	addl $8, %edi
	decl %ecx
	jmp 4b
6:	cmpb $2, %al
	jne 7f
	PRINT "mp: ioapic "
	movzbl 1(%edi), %eax
	PRINT_DEC %eax
	PRINT " at "
	PRINT_HEX 4(%edi), 8
	PRINT_NL
	addl $8, %edi
	decl %ecx
	jmp 4b
7:	PRINT "mp: int type "         # types 3 and 4: print as bytes
	movzbl (%edi), %eax
	PRINT_DEC %eax
	PRINT " kind "
	movzbl 1(%edi), %eax
	PRINT_DEC %eax
	PRINT " bus "
	movzbl 4(%edi), %eax
	PRINT_DEC %eax
	PRINT " irq "
	movzbl 5(%edi), %eax
	PRINT_DEC %eax
	PRINT " -> "
	movzbl 6(%edi), %eax
	PRINT_HEX %eax, 2
	PRINT ":"
	movzbl 7(%edi), %eax
	PRINT_DEC %eax
	PRINT_NL
	addl $8, %edi
	decl %ecx
	jmp 4b
9:
	# ---- the BIOS data area ----
	PRINT "bda: com1 "
	movzwl 0x400, %eax
	PRINT_HEX %eax, 4
	PRINT " ebda "
	movzwl 0x40E, %eax
	PRINT_HEX %eax, 4
	PRINT " basemem "
	movzwl 0x413, %eax
	PRINT_DEC %eax
	PRINT_NL

	# ---- the CMOS clock (minutes only: seconds tick on QEMU) ----
	PRINT "rtc: "
	movb $0x32, %al
	call put_cmos
	movb $0x09, %al
	call put_cmos
	PRINT "-"
	movb $0x08, %al
	call put_cmos
	PRINT "-"
	movb $0x07, %al
	call put_cmos
	PRINT " "
	movb $0x04, %al
	call put_cmos
	PRINT ":"
	movb $0x02, %al
	call put_cmos
	PRINT " weekday "
	movb $0x06, %al
	call put_cmos
	PRINT " regb "
	movb $0x0B, %al
	call put_cmos
	PRINT " extmem "
	movb $0x18, %al
	call put_cmos
	movb $0x17, %al
	call put_cmos
	PRINT_NL

	# ---- the local APIC as the firmware left it ----
	PRINT "lapic: id "
	LAPIC_R L_ID
	PRINT_HEX %eax, 8
	PRINT " ver "
	LAPIC_R L_VER
	PRINT_HEX %eax, 8
	PRINT " svr "
	LAPIC_R L_SVR
	PRINT_HEX %eax, 8
	PRINT " lint0 "
	LAPIC_R L_LINT0
	PRINT_HEX %eax, 8
	PRINT " lint1 "
	LAPIC_R L_LINT1
	PRINT_HEX %eax, 8
	PRINT_NL

	# IDT
	movl $VEC_TIMER, %eax
	movl $timer_handler, %edx
	movl $GATE_INT_DPL0, %ecx
	call rt_set_gate
	movl $VEC_UART, %eax
	movl $uart_handler, %edx
	call rt_set_gate
	movl $VEC_PIT, %eax
	movl $pit_handler, %edx
	call rt_set_gate
	movl $VEC_IPI, %eax
	movl $ipi_handler, %edx
	call rt_set_gate
	movl $VEC_SPUR, %eax
	movl $spurious_handler, %edx
	call rt_set_gate

	LAPIC_W L_SVR, $(0x100 | VEC_SPUR)
	LAPIC_W L_TPR, $0
	LAPIC_W L_LINT0, $MASKED
	LAPIC_W L_LINT1, $MASKED

	# ---- (a) the APIC timer, one-shot ----
	LAPIC_W L_DIV, $0x3                  # divide by 16
	LAPIC_W L_TIMER, $VEC_TIMER          # one-shot
	movl $1, ticks_wanted_saved
	LAPIC_W L_INIT, $TIMER_COUNT
	LAPIC_R L_CUR
	cmpl $TIMER_COUNT, %eax
	CHECK be, "current count above the initial count"
	movl $POLL_LIMIT, %ecx
1:	cli
	cmpl $0, timer_irqs
	jne 2f
	sti
	hlt
	loop 1b
2:	sti
	movl $1000, %ecx                     # settle: a second interrupt would show
3:	LAPIC_R L_CUR
	loop 3b
	cli
	PRINT "lapic: oneshot irqs="
	PRINT_DEC timer_irqs
	PRINT " cur="
	LAPIC_R L_CUR
	PRINT_DEC %eax
	PRINT_NL
	cmpl $1, timer_irqs
	CHECK e, "one-shot timer: not exactly one interrupt"

	# ---- (b) periodic: the handler masks the timer on the K-th tick ----
	movl $0, timer_irqs
	LAPIC_W L_DIV, $0xB                  # divide by 1
	LAPIC_W L_TIMER, $(PERIODIC | VEC_TIMER)
	LAPIC_W L_INIT, $TIMER_COUNT
1:	cli
	movl timer_irqs, %eax
	cmpl ticks_wanted, %eax
	jae 2f
	sti
	hlt
	jmp 1b
2:	LAPIC_W L_INIT, $0                   # stop
	PRINT "lapic: periodic k="
	PRINT_DEC ticks_wanted
	# A tick that fired while the handler was masking the timer may still
	# be delivered (QEMU's timer runs in host time): at least K, printed
	# as K, so the output does not depend on the host's speed.
	movl timer_irqs, %eax
	cmpl ticks_wanted, %eax
	CHECK ae, "periodic timer: fewer ticks than asked for"
	PRINT " ticks>="
	PRINT_DEC ticks_wanted
	PRINT " timer-lvt="
	LAPIC_R L_TIMER
	PRINT_HEX %eax, 8
	PRINT_NL

	# ---- (c) IPIs: a self-IPI, TPR holding one back, INIT/SIPI to no one ----
	LAPIC_W L_TPR, $0x40                 # class 4 blocks vector 0x33 (class 3)
	LAPIC_W L_ICRHI, $0
	LAPIC_W L_ICRLO, $(0x40000 | VEC_IPI) # fixed, shorthand self
	sti
	nop
	nop
	cli
	movl ipi_irqs, %ebx
	LAPIC_R 0x200+0x10                   # IRR bits 32-63: vector 0x33 is bit 19
	shrl $19, %eax
	andl $1, %eax
	movl %eax, %edi
	LAPIC_W L_TPR, $0
	sti
	nop
	nop
	cli
	PRINT "lapic: self-ipi tpr=0x40 irqs="
	PRINT_DEC %ebx
	PRINT " irr="
	PRINT_DEC %edi
	PRINT " tpr=0 irqs="
	PRINT_DEC ipi_irqs
	PRINT_NL
	testl %ebx, %ebx
	CHECK z, "self-IPI delivered through TPR 0x40"
	cmpl $1, ipi_irqs
	CHECK e, "self-IPI not delivered after TPR 0"
	LAPIC_W L_ESR, $0
	LAPIC_W L_ICRHI, $0x01000000         # APIC 1: no such CPU
	LAPIC_W L_ICRLO, $0x00004500         # INIT, assert
	LAPIC_R L_ICRLO
	movl %eax, %ebx
	LAPIC_W L_ICRLO, $0x00004610         # SIPI, vector 0x10
	LAPIC_W L_ESR, $0
	PRINT "lapic: init to apic 1: icr="
	PRINT_HEX %ebx, 8
	PRINT " esr="
	LAPIC_R L_ESR
	PRINT_HEX %eax, 2
	PRINT " ipis-here="
	PRINT_DEC ipi_irqs
	PRINT_NL

	# ---- (d) the I/O APIC: the PIT's IRQ 0 on pin 2 ----
	movl $1, %ecx
	call ioapic_read
	PRINT "ioapic: ver "
	PRINT_HEX %eax, 8
	movl $0x10+2*2, %ecx
	call ioapic_read
	PRINT " pin2 "
	PRINT_HEX %eax, 8
	PRINT_NL
	movl $0x10+2*2+1, %ecx
	xorl %eax, %eax                      # destination APIC 0
	call ioapic_write
	movl $0x10+2*2, %ecx
	movl $VEC_PIT, %eax                  # fixed, physical, edge, high, unmasked
	call ioapic_write
	movb $0x30, %al                      # PIT channel 0, mode 0, one-shot
	outb %al, $0x43
	movb $100, %al
	outb %al, $0x40
	xorb %al, %al
	outb %al, $0x40
	movl $POLL_LIMIT, %ecx
1:	cli
	cmpl $0, pit_irqs
	jne 2f
	sti
	hlt
	loop 1b
2:	sti
	movl $1000, %ecx
3:	LAPIC_R L_CUR
	loop 3b
	cli
	movl $0x10+2*2, %ecx                 # mask the pin again
	movl $(MASKED | VEC_PIT), %eax
	call ioapic_write
	PRINT "ioapic: pit via pin 2 irqs="
	PRINT_DEC pit_irqs
	PRINT_NL
	cmpl $1, pit_irqs
	CHECK e, "PIT one-shot through the I/O APIC: not exactly one interrupt"

	# ---- (e) UART receive interrupts through the I/O APIC (uart=1) ----
	ARG "uart", $0
	testl %eax, %eax
	jz 8f
	movl $0x10+2*4+1, %ecx
	xorl %eax, %eax
	call ioapic_write
	movl $0x10+2*4, %ecx
	movl $VEC_UART, %eax
	call ioapic_write
	movw $COM1+1, %dx
	movb $0x01, %al                      # IER: received data available
	outb %al, %dx
1:	cli
	movl line_len, %ebx                  # a full line yet?
	testl %ebx, %ebx
	jz 2f
	cmpb $'\n', line_buf-1(%ebx)
	je 3f
2:	sti
	hlt
	jmp 1b
3:	sti
	movw $COM1+1, %dx
	xorb %al, %al
	outb %al, %dx
	cli
	movb $0, line_buf-1(%ebx)
	PRINT "uart: line \""
	movl $line_buf, %esi
	call rt_puts
	PRINT "\" bytes="
	PRINT_DEC line_len
	PRINT_NL
8:
	PRINT "apic: spurious="
	PRINT_DEC spurious_irqs
	PRINT_NL
	xorl %eax, %eax
	popl %edi
	popl %esi
	popl %ebx
	ret
ENDFUNC main

	.data
	.balign 4
timer_irqs:          .long 0
pit_irqs:            .long 0
ipi_irqs:            .long 0
uart_irqs:           .long 0
spurious_irqs:       .long 0
ticks_wanted:        .long 0
ticks_wanted_saved:  .long 0
line_len:            .long 0
oem:                 .space 16
line_buf:            .space 64
	.balign 4096
apic_pd:             .space 4096
