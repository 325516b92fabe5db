# timer — the 8254 PIT's channel 0 on IRQ 0, through the 8259 PIC pair the
# workload remaps itself: a one-shot interrupt, K periodic ticks waited for
# with hlt, and a masked request that stays pending until it is unmasked.
#
#   args:    n=N  periodic ticks K to wait for in part (b) (default 10);
#            k=K is the same argument under its own name and wins when both
#            are given (`k=5`, `n=5` and `n=9 k=5` all mean K=5)
#   output:  timer: oneshot irqs=1
#            timer: periodic k=K ticks=K
#            timer: masked irr=1 irqs-while-masked=0 irqs-after-unmask=1
#            timer: n=K ticks=K irqs=K+2
#            (irqs: every IRQ 0 interrupt taken, all parts together)
#   events per iteration (one periodic tick of part b): 1 priv/cli +
#            1 priv/sti + 1 hlt (PV_SAFE_HALT) + 1 irq/0 + 1 io/out:0x20
#            (the handler's EOI; it returns with iret). The loop's final
#            check adds one more priv/cli; the K-th tick's handler also masks
#            IRQ 0 (io/out:0x21).
#   one-time: rt_cpu_init (lgdt, segment loads, lidt, ltr); the PIC remap
#            (ICW1-ICW4 and OCW1 to both chips: io/out:0x20, 0xa0, 0x21,
#            0xa1); PIT programming (io/out:0x43, 0x40); PIT status polls
#            (io/out:0x43 + io/in:0x40 each) and IRR polls (io/in:0x20),
#            whose number depends on the machine's speed and clock (fixed
#            on virtsim, whose time is guest execution); parts (a) and (c):
#            1 irq/0 each
#   self-check: part (a) takes no interrupt before sti and exactly one after;
#            part (b) counts exactly K ticks; part (c) sees IRR bit 0 set,
#            no interrupt while masked and exactly one after the unmask.
#            A failure prints `timer: self-check failed: ...` and exits with
#            EXIT_CHECK_FAILED; a PIT or PIC that never answers a bounded
#            poll (POLL_LIMIT reads) does the same.
#   descriptor tables: the runtime's (lib/cpu.s); vector 0x20 (IRQ 0) ->
#            irq0_handler, 0x27 and 0x2f (the PICs' spurious IRQ 7 and 15)
#            -> spurious_master and spurious_slave
#
# Nothing printed depends on speed. Guest time on virtsim advances with guest
# execution, on QEMU and real hardware with real time, so the workload never
# prints how many polls or instructions something took: it waits, with
# bounded polls, for the events themselves (OUT rising, IRR bit 0 set, the
# handler's count changing) and prints only counts that the hardware's
# semantics fix:
#
#   Set-up. The firmware (SeaBIOS, under QEMU) leaves channel 0 in mode 2
#   with IRQ 0 unmasked at vector 0x08, the double-fault vector. IF is 0 at
#   entry and stays 0 until part (a): first channel 0 is quietened (mode 0,
#   count 65536: no edge for 55 ms), then both PICs get a full ICW1-ICW4
#   sequence (master base 0x20, slave base 0x28, slave on IR2, 8086 mode,
#   edge-triggered, normal EOI) and every line is masked; pic_drain_irq0
#   then discards any request the firmware's timer latched before.
#
#   (a) One-shot. IF=0, only IRQ 0 unmasked. Channel 0 in mode 0 with count
#   ONESHOT_COUNT: OUT drops when the count is written and rises once when
#   it runs out, then stays high. The workload polls the read-back status
#   (bit 7 = OUT) until OUT is high, then IRR until bit 0 is set (on QEMU the
#   IRQ edge is raised by a host timer a moment after the status already
#   reads high), so exactly one request is pending; then sti: exactly one
#   interrupt arrives (right after the instruction following sti), and no
#   second one, as there is no second edge. Proves: IF=0 holds a pending
#   interrupt back, sti lets it in, one edge is one interrupt.
#
#   (b) Periodic. Mode 2 with count PERIOD_COUNT (1193: about 1 ms on a PC,
#   1193 guest blocks on virtsim); the loop is cli; check the count; sti;hlt
#   (PV_SAFE_HALT: the sti shadow makes enabling and halting atomic, so a
#   tick cannot slip in between the check and the hlt and leave the hlt
#   sleeping through it). The handler masks IRQ 0 itself, with IF=0, when
#   it counts the K-th tick, so no tick can arrive between the K-th and the
#   loop's cli however slow the machine is: the count is exactly K by
#   construction, and ticks > K would mean a masked IRQ was delivered.
#   Proves: hlt with IF=1 wakes on the timer, K periodic edges are K
#   interrupts.
#
#   (c) Masked. IRQ 0 masked (OCW1), channel 0 quietened and any request it
#   latched discarded (pic_drain_irq0), then a fresh one-shot and sti: with
#   IF=1 the workload polls OUT high and IRR bit 0 set, spins a while
#   (SETTLE_POLLS status reads), reads IRR through OCW3 (irr= is its bit 0)
#   and counts the interrupts so far (irqs-while-masked); then it unmasks
#   IRQ 0 with IF=1 and exactly one interrupt arrives (irqs-after-unmask):
#   the 8259 latched one edge in IRR and delivers it once unmasked. Proves:
#   masking holds a request back without losing it, and edge-triggered
#   requests do not repeat.
#
# Every wait after an interrupt is expected ends with a settle spin of
# SETTLE_POLLS PIT status reads (fixed work, some real time), so that a
# wrong second interrupt would be seen in the count.

.include "rt.inc"

	WORKLOAD timer, 10

	# vectors the remapped PICs use
	.set IRQ_BASE_MASTER,   0x20     # IRQ 0-7  -> vectors 0x20-0x27
	.set IRQ_BASE_SLAVE,    0x28     # IRQ 8-15 -> vectors 0x28-0x2f

	# 8259A commands
	.set PIC_ICW1,          0x11     # ICW1: edge-triggered, cascade, ICW4 follows
	.set PIC_ICW3_MASTER,   0x04     # ICW3 (master): a slave on IR2
	.set PIC_ICW3_SLAVE,    0x02     # ICW3 (slave): its cascade identity, 2
	.set PIC_ICW4_8086,     0x01     # ICW4: 8086 mode, normal EOI, not buffered, not SFNM
	.set PIC_EOI,           0x20     # OCW2: non-specific EOI
	.set PIC_EOI_IRQ0,      0x60     # OCW2: specific EOI, IR0
	.set PIC_EOI_IRQ2,      0x62     # OCW2: specific EOI, IR2 (the cascade)
	.set PIC_OCW3_READ_IRR, 0x0A     # OCW3: reads of port+0 return IRR
	.set PIC_OCW3_POLL,     0x0C     # OCW3: the next read of port+0 is a poll
	.set PIC_MASK_ALL,      0xFF     # OCW1: every line masked
	.set PIC_MASK_BUT_IRQ0, 0xFE     # OCW1 (master): only IRQ 0 unmasked

	# 8254 commands (channel 0, LSB-then-MSB access, binary)
	.set PIT_CW_MODE0,      0x30     # mode 0: interrupt on terminal count (one-shot)
	.set PIT_CW_MODE2,      0x34     # mode 2: rate generator (periodic)
	.set PIT_RB_STATUS0,    0xE2     # read-back: latch channel 0's status, not its count
	.set PIT_STATUS_OUT,    0x80     # status bit 7: the OUT pin

	# counts, in PIT input-clock ticks (1,193,182 Hz on a PC; one guest
	# basic block each on virtsim)
	.set QUIET_COUNT,       0        # 65536: a one-shot 55 ms away, i.e. "stopped"
	.set ONESHOT_COUNT,     100      # about 84 us
	.set PERIOD_COUNT,      1193     # about 1 ms

	# bounded waits
	.set POLL_LIMIT,        0x100000 # polls before a wait counts as failed
	.set SETTLE_POLLS,      256      # PIT status reads after an expected interrupt

	.text
FUNC main
	PV_CLI                          # IF=0 already (multiboot): nothing may arrive
	call rt_cpu_init
	movl $GATE_INT_DPL0, %ecx
	movl $IRQ_BASE_MASTER, %eax     # IRQ 0
	movl $irq0_handler, %edx
	call rt_set_gate
	movl $IRQ_BASE_MASTER + 7, %eax # spurious IRQ 7
	movl $spurious_master, %edx
	call rt_set_gate
	movl $IRQ_BASE_SLAVE + 7, %eax  # spurious IRQ 15
	movl $spurious_slave, %edx
	call rt_set_gate
	ARG n, $DEFAULT_N
	ARG k, %eax                     # k= wins over n=
	movl %eax, nr_ticks

	# ---- set-up: quieten the firmware's timer, own the PICs ----------
	movb $PIT_CW_MODE0, %al
	movl $QUIET_COUNT, %edx
	call pit_program
	call pic_remap                  # every line masked
	call pic_drain_irq0

	# ---- (a) one-shot ---------------------------------------------------
	movl $0, ticks
	movb $PIC_MASK_BUT_IRQ0, %al
	PV_OUTB $PORT_PIC1_DATA
	movb $PIT_CW_MODE0, %al
	movl $ONESHOT_COUNT, %edx
	call pit_program
	call wait_out_high
	call wait_irr0
	movl ticks, %ebx                # interrupts taken with IF=0: must be 0
LABEL timer_oneshot_sti
	PV_STI
	call wait_tick
	PV_CLI
	movl ticks, %esi
	PRINT "timer: oneshot irqs="
	PRINT_DEC %esi
	PRINT_NL
	testl %ebx, %ebx
	jz 1f
	PRINT "timer: self-check failed: oneshot: "
	PRINT_DEC %ebx
	PRINT " interrupts with IF=0"
	PRINT_NL
	movl $1, failed
1:	cmpl $1, %esi
	je 2f
	PRINT "timer: self-check failed: oneshot: want exactly 1 interrupt after sti"
	PRINT_NL
	movl $1, failed
2:
	# ---- (b) periodic -------------------------------------------------------
	movl $0, ticks
	movl nr_ticks, %eax
	movl %eax, tick_limit           # the handler masks IRQ 0 at the K-th tick
	movb $PIT_CW_MODE2, %al
	movl $PERIOD_COUNT, %edx
	call pit_program
LABEL timer_tick_loop
3:	PV_CLI
	movl ticks, %eax
	cmpl nr_ticks, %eax
	jae 4f
	PV_SAFE_HALT                    # sti; hlt: woken by the next tick
	jmp 3b
4:	movl $-1, tick_limit
	movb $PIC_MASK_ALL, %al         # already masked by the K-th tick (unless K=0)
	PV_OUTB $PORT_PIC1_DATA
	movl ticks, %esi
	movl %esi, periodic_ticks
	PRINT "timer: periodic k="
	PRINT_DEC nr_ticks
	PRINT " ticks="
	PRINT_DEC %esi
	PRINT_NL
	cmpl nr_ticks, %esi
	je 5f
	PRINT "timer: self-check failed: periodic: ticks differ from k"
	PRINT_NL
	movl $1, failed
5:
	# ---- (c) a masked request stays pending ------------------------------
	movl $0, ticks
	movb $PIT_CW_MODE0, %al         # stop the periodic timer ...
	movl $QUIET_COUNT, %edx
	call pit_program
	call pic_drain_irq0             # ... and forget the ticks it latched while masked
	movb $PIT_CW_MODE0, %al
	movl $ONESHOT_COUNT, %edx
	call pit_program
LABEL timer_masked_sti
	PV_STI                          # IF=1 from here: only the mask holds IRQ 0 back
	call wait_out_high
	call wait_irr0
	call settle
	movb $PIC_OCW3_READ_IRR, %al
	PV_OUTB $PORT_PIC1_CMD
	PV_INB $PORT_PIC1_CMD
	movzbl %al, %edi
	andl $1, %edi                   # IRR bit 0: IRQ 0 requested
	movl ticks, %ebx                # interrupts while masked: must be 0
	movb $PIC_MASK_BUT_IRQ0, %al
LABEL timer_unmask
	PV_OUTB $PORT_PIC1_DATA         # unmask IRQ 0 with IF=1
	call wait_tick
	PV_CLI
	movl ticks, %esi
	subl %ebx, %esi                 # interrupts after the unmask: must be 1
	movb $PIC_MASK_ALL, %al
	PV_OUTB $PORT_PIC1_DATA
	PRINT "timer: masked irr="
	PRINT_DEC %edi
	PRINT " irqs-while-masked="
	PRINT_DEC %ebx
	PRINT " irqs-after-unmask="
	PRINT_DEC %esi
	PRINT_NL
	cmpl $1, %edi
	jne 6f
	testl %ebx, %ebx
	jnz 6f
	cmpl $1, %esi
	je 7f
6:	PRINT "timer: self-check failed: masked: want irr=1, no interrupt while masked, exactly 1 after the unmask"
	PRINT_NL
	movl $1, failed
7:
	# ---- result line ----------------------------------------------------------
	PRINT "timer: n="
	PRINT_DEC nr_ticks
	PRINT " ticks="
	PRINT_DEC periodic_ticks
	PRINT " irqs="
	PRINT_DEC irqs_total
	PRINT_NL
	movl $EXIT_OK, %eax
	cmpl $0, failed
	je 8f
	movl $EXIT_CHECK_FAILED, %eax
8:	ret
ENDFUNC main

# irq0_handler — IRQ 0 (vector 0x20), an interrupt gate: IF=0 inside.
# Counts the tick; at the tick_limit-th tick of a part it masks IRQ 0 (so no
# further tick can arrive, however late the part's loop notices); sends a
# non-specific EOI to the master. Frame: EIP, CS, EFLAGS.
FUNC irq0_handler
	pushl %eax
	incl irqs_total
	incl ticks
	movl ticks, %eax
	cmpl tick_limit, %eax
	jb 1f
	movb $PIC_MASK_ALL, %al
	PV_OUTB $PORT_PIC1_DATA
1:	movb $PIC_EOI, %al
	PV_OUTB $PORT_PIC1_CMD
	popl %eax
	PV_IRET
ENDFUNC irq0_handler

# spurious_master — vector 0x27: IRQ 7, which is always masked here, so a
# spurious interrupt (the master raised INT, but no request was left at the
# acknowledge). No EOI: nothing is in service. Counted, never printed (a
# real PC may see one; QEMU and virtsim never do here).
FUNC spurious_master
	incl spurious
	PV_IRET
ENDFUNC spurious_master

# spurious_slave — vector 0x2f: the slave's spurious IRQ 15. The master did
# put its IR2 in service: specific EOI for IR2 to the master only.
FUNC spurious_slave
	pushl %eax
	incl spurious
	movb $PIC_EOI_IRQ2, %al
	PV_OUTB $PORT_PIC1_CMD
	popl %eax
	PV_IRET
ENDFUNC spurious_slave

# pit_program — %al = control word for channel 0, %dx = its count
# (LSB-then-MSB access). Preserves all registers.
FUNC pit_program
	pushl %eax
	PV_OUTB $PORT_PIT_CMD
	movb %dl, %al
	PV_OUTB $PORT_PIT_CH0
	movb %dh, %al
	PV_OUTB $PORT_PIT_CH0
	popl %eax
	ret
ENDFUNC pit_program

# pit_status — %al = channel 0's status byte (read-back command, status
# only): bit 7 is OUT. Clobbers %eax only.
FUNC pit_status
	movb $PIT_RB_STATUS0, %al
	PV_OUTB $PORT_PIT_CMD
	PV_INB $PORT_PIT_CH0
	ret
ENDFUNC pit_status

# pic_remap — initialise both 8259As: ICW1-ICW4 (master base 0x20, slave
# 0x28, cascade on IR2, 8086 mode), then mask every line (ICW1 clears the
# masks). Call with IF=0. Preserves all registers.
FUNC pic_remap
	pushl %eax
	movb $PIC_ICW1, %al
	PV_OUTB $PORT_PIC1_CMD
	PV_OUTB $PORT_PIC2_CMD
	movb $IRQ_BASE_MASTER, %al      # ICW2
	PV_OUTB $PORT_PIC1_DATA
	movb $IRQ_BASE_SLAVE, %al
	PV_OUTB $PORT_PIC2_DATA
	movb $PIC_ICW3_MASTER, %al      # ICW3
	PV_OUTB $PORT_PIC1_DATA
	movb $PIC_ICW3_SLAVE, %al
	PV_OUTB $PORT_PIC2_DATA
	movb $PIC_ICW4_8086, %al        # ICW4
	PV_OUTB $PORT_PIC1_DATA
	PV_OUTB $PORT_PIC2_DATA
	movb $PIC_MASK_ALL, %al         # OCW1
	PV_OUTB $PORT_PIC1_DATA
	PV_OUTB $PORT_PIC2_DATA
	popl %eax
	ret
ENDFUNC pic_remap

# pic_drain_irq0 — discard an IRQ 0 request latched at the master (IRR bit
# 0) without taking the interrupt, leaving every master line masked. Call
# with IF=0 and channel 0 quiet. With only IRQ 0 unmasked, the poll command
# (OCW3 P=1) makes the next read of port 0x20 acknowledge it as INTA would
# (IRR -> ISR; the read returns 0x80 if there was a request), and a
# specific EOI then clears ISR bit 0. Preserves all registers.
FUNC pic_drain_irq0
	pushl %eax
	movb $PIC_MASK_BUT_IRQ0, %al
	PV_OUTB $PORT_PIC1_DATA
	movb $PIC_OCW3_POLL, %al
	PV_OUTB $PORT_PIC1_CMD
	PV_INB $PORT_PIC1_CMD
	movb $PIC_EOI_IRQ0, %al
	PV_OUTB $PORT_PIC1_CMD
	movb $PIC_MASK_ALL, %al
	PV_OUTB $PORT_PIC1_DATA
	popl %eax
	ret
ENDFUNC pic_drain_irq0

# wait_out_high — poll channel 0's status until OUT is high. After
# POLL_LIMIT polls: self-check failure, exit. Preserves all registers.
FUNC wait_out_high
	pushl %eax
	pushl %ecx
	movl $POLL_LIMIT, %ecx
1:	call pit_status
	testb $PIT_STATUS_OUT, %al
	jnz 2f
	loop 1b
	PRINT "timer: self-check failed: channel 0's OUT never rose"
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	jmp rt_exit
2:	popl %ecx
	popl %eax
	ret
ENDFUNC wait_out_high

# wait_irr0 — poll the master's IRR until bit 0 (IRQ 0) is set. After
# POLL_LIMIT polls: self-check failure, exit. Preserves all registers.
FUNC wait_irr0
	pushl %eax
	pushl %ecx
	movb $PIC_OCW3_READ_IRR, %al
	PV_OUTB $PORT_PIC1_CMD
	movl $POLL_LIMIT, %ecx
1:	PV_INB $PORT_PIC1_CMD
	testb $1, %al
	jnz 2f
	loop 1b
	PRINT "timer: self-check failed: IRQ 0 never reached the PIC's IRR"
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	jmp rt_exit
2:	popl %ecx
	popl %eax
	ret
ENDFUNC wait_irr0

# wait_tick — with IF=1: poll until the handler has counted a tick (at most
# POLL_LIMIT PIT status reads), then settle. Returns either way: the caller
# checks the count. Preserves all registers.
FUNC wait_tick
	pushl %eax
	pushl %ecx
	movl $POLL_LIMIT, %ecx
1:	cmpl $0, ticks
	jne 2f
	call pit_status
	loop 1b
2:	call settle
	popl %ecx
	popl %eax
	ret
ENDFUNC wait_tick

# settle — SETTLE_POLLS reads of channel 0's status: a fixed amount of work
# (and of time, on every machine) for a wrong extra interrupt to show up.
# Preserves all registers.
FUNC settle
	pushl %eax
	pushl %ecx
	movl $SETTLE_POLLS, %ecx
1:	call pit_status
	loop 1b
	popl %ecx
	popl %eax
	ret
ENDFUNC settle

	.data
	.balign 4
DATA nr_ticks                           # K
	.long 0
ENDDATA nr_ticks
DATA ticks                              # IRQ 0 interrupts in the current part
	.long 0
ENDDATA ticks
DATA tick_limit                         # the handler masks IRQ 0 at this count
	.long -1
ENDDATA tick_limit
DATA periodic_ticks                     # part (b)'s count
	.long 0
ENDDATA periodic_ticks
DATA irqs_total                         # IRQ 0 interrupts, all parts
	.long 0
ENDDATA irqs_total
DATA spurious                           # spurious IRQ 7/15 (not printed)
	.long 0
ENDDATA spurious
DATA failed                             # a self-check failed
	.long 0
ENDDATA failed
