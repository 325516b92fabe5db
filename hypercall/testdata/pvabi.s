# pvabi — a PV test guest for the corners of the ABI that the workloads do
# not reach (hypercall/abi_test.go builds it with the runtime, PV build, and
# runs it under pv):
#
#   pvabi: unknown=0xffffffda            a hypercall number with no call: -ENOSYS
#   pvabi: efault=0xfffffff2             console_io with a buffer in the VMM region: -EFAULT
#   pvabi: einval=0xffffffea             set_cr0 without PE: -EINVAL
#   pvabi: multicall=0x00000000 nested=0xffffffea yield=0x00000000
#   pvabi: user-hypercall gp-error=0x00000412   int $0x82 from ring 3: #GP(0x82<<3|2)
#   pvabi: raw-cli if=0 raw-sti if=1     privileged instructions left to trap-and-emulate
#   pvabi: iret-event ticks=1            an event pending when PV_IRET unmasks:
#                                        the iret hypercall delivers it
#   pvabi: n=1

.include "rt.inc"

	WORKLOAD pvabi, 1

	.set USTACK_SIZE, 4096

	.text
FUNC main
	pushal
	call rt_cpu_init
	movl $13, %eax                  # #GP -> gp_handler
	movl $gp_handler, %edx
	movl $GATE_INT_DPL0, %ecx
	call rt_set_gate
	movl $0x20, %eax                # IRQ 0 -> irq0_handler
	movl $irq0_handler, %edx
	call rt_set_gate
	movl $0x30, %eax                # int $0x30 -> wait_handler
	movl $wait_handler, %edx
	call rt_set_gate

	# ---- errors come back in %eax ------------------------------------------
	PV_HCALL 99
	PRINT "pvabi: unknown="
	PRINT_HEX %eax
	PRINT_NL
	movl $CONSOLEIO_WRITE, %ebx
	movl $16, %ecx
	movl $0xFF000000, %edx
	PV_HCALL HC_CONSOLE_IO
	PRINT "pvabi: efault="
	PRINT_HEX %eax
	PRINT_NL
	movl $0x10, %ebx                # CR0.ET alone: PE clear
	PV_HCALL HC_SET_CR0
	PRINT "pvabi: einval="
	PRINT_HEX %eax
	PRINT_NL

	# ---- a multicall: a nested multicall (refused) and a yield ------------
	movl $HC_MULTICALL, mc
	movl $HC_SCHED_OP, mc + MC_ENTRY_SIZE
	movl $SCHEDOP_YIELD, mc + MC_ENTRY_SIZE + 8
	movl $mc, %ebx
	movl $2, %ecx
	PV_HCALL HC_MULTICALL
	PRINT "pvabi: multicall="
	PRINT_HEX %eax
	PRINT " nested="
	PRINT_HEX mc + 4
	PRINT " yield="
	PRINT_HEX mc + MC_ENTRY_SIZE + 4
	PRINT_NL

	# ---- a hypercall from user mode ------------------------------------------
	movl %esp, kernel_esp
	PV_LOAD_DATA_SEGS USER_DS
	pushl $USER_DS
	pushl $user_stack_top
	pushl $EFLAGS_RESERVED1
	pushl $USER_CS
	pushl $user_main
	PV_IRET
LABEL pvabi_back_in_ring0
	PV_LOAD_SEGS KERNEL_CS, KERNEL_DS
	PRINT "pvabi: user-hypercall gp-error="
	PRINT_HEX gp_error
	PRINT_NL

	# ---- raw privileged instructions: trapped and emulated ---------------
	PV_STI
	cli
	PV_PUSHF
	popl %eax
	shrl $9, %eax
	andl $1, %eax
	movl %eax, if_after_cli
	sti
	PV_PUSHF
	popl %eax
	shrl $9, %eax
	andl $1, %eax
	PV_CLI
	PRINT "pvabi: raw-cli if="
	PRINT_DEC if_after_cli
	PRINT " raw-sti if="
	PRINT_DEC %eax
	PRINT_NL

	# ---- an event pending when PV_IRET unmasks -----------------------------
	call pic_init                   # IRQ 0 -> vector 0x20, only IRQ 0 unmasked
	PV_STI
	int $0x30                       # wait_handler: waits with events masked
	PV_CLI
	PRINT "pvabi: iret-event ticks="
	PRINT_DEC ticks
	PRINT_NL

	popal
	xorl %eax, %eax
	ret
ENDFUNC main

# user_main — ring 3: a hypercall, which the VMM turns into #GP.
FUNC user_main
	int $0x82
	ud2
ENDFUNC user_main

# gp_handler — #GP, expected from user_main only: record the error code,
# drop the frame, back to main's stack in ring 0.
FUNC gp_handler
	popl gp_error
	cmpl $user_main, (%esp)
	jne 1f
	movl kernel_esp, %esp
	jmp pvabi_back_in_ring0
1:	PRINT "pvabi: unexpected #GP"
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	jmp rt_exit
ENDFUNC gp_handler

# wait_handler — int $0x30 through an interrupt gate: events are masked.
# Start a one-shot timer and wait until the VMM says the event is pending,
# then return with PV_IRET, whose frame has IF=1: it unmasks, sees the
# pending event and makes the iret hypercall.
FUNC wait_handler
	pushl %eax
	pushl %ecx
	pushl %edx
	movb $0x30, %al                 # channel 0, mode 0, lobyte/hibyte
	PV_OUTB $PORT_PIT_CMD
	movb $100, %al
	PV_OUTB $PORT_PIT_CH0
	xorl %eax, %eax
	PV_OUTB $PORT_PIT_CH0
	movl $0x100000, %ecx
1:	cmpb $0, PV_SI_PENDING
	jne 2f
	loop 1b
2:	popl %edx
	popl %ecx
	popl %eax
	PV_IRET
ENDFUNC wait_handler

FUNC irq0_handler
	pushl %eax
	incl ticks
	movb $0x20, %al
	PV_OUTB $PORT_PIC1_CMD
	popl %eax
	PV_IRET
ENDFUNC irq0_handler

# pic_init — ICW1-ICW4: master base 0x20, slave 0x28; only IRQ 0 unmasked.
FUNC pic_init
	pushl %eax
	movb $0x11, %al
	PV_OUTB $PORT_PIC1_CMD
	PV_OUTB $PORT_PIC2_CMD
	movb $0x20, %al
	PV_OUTB $PORT_PIC1_DATA
	movb $0x28, %al
	PV_OUTB $PORT_PIC2_DATA
	movb $0x04, %al
	PV_OUTB $PORT_PIC1_DATA
	movb $0x02, %al
	PV_OUTB $PORT_PIC2_DATA
	movb $0x01, %al
	PV_OUTB $PORT_PIC1_DATA
	PV_OUTB $PORT_PIC2_DATA
	movb $0xFE, %al
	PV_OUTB $PORT_PIC1_DATA
	movb $0xFF, %al
	PV_OUTB $PORT_PIC2_DATA
	popl %eax
	ret
ENDFUNC pic_init

	.data
	.balign 4
DATA kernel_esp
	.long 0
ENDDATA kernel_esp
DATA gp_error
	.long 0
ENDDATA gp_error
DATA if_after_cli
	.long 0
ENDDATA if_after_cli
DATA ticks
	.long 0
ENDDATA ticks
	.balign 4
DATA mc
	.skip 2 * MC_ENTRY_SIZE
ENDDATA mc

	.bss
	.balign 16
DATA user_stack
	.skip USTACK_SIZE
ENDDATA user_stack
DATA user_stack_top
ENDDATA user_stack_top
