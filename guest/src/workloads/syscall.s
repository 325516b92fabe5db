# syscall — ring-3 code makes n `int $0x80` system calls to a ring-0 handler.
#
#   args:    n=N  system calls (default 4000)
#   output:  syscall: n=N calls=N
#   events per iteration: 1 int/0x80 (the handler returns with iret)
#   one-time: rt_cpu_init (lgdt, segment loads, lidt, ltr), the data-segment
#            loads and iret into ring 3, the final int $0x80 back to ring 0
#            and the kernel segment reload
#   self-check: each call returns the kernel's running count in %eax; ring 3
#            compares it with its own count
#   descriptor tables: the runtime's GDT (ring-0 and ring-3 code/data), TSS
#            (ss0:esp0 = KERNEL_DS:rt_kstack_top), IDT with vector 0x80 ->
#            sys_handler as a DPL-3 interrupt gate
#
# Flow: main saves its stack pointer, loads the user data selectors and
# irets to user_main at CPL 3 (IF=0, on user_stack). user_main calls
# SYS_COUNT n times, then SYS_DONE, whose handler abandons the interrupt
# frame, restores main's stack and kernel segments, and returns to main.

.include "rt.inc"

	WORKLOAD syscall, 4000

	.set SYS_COUNT, 1                # count this call; returns the count
	.set SYS_DONE, 2                 # leave ring 3 for good
	.set USTACK_SIZE, 4096

	.text
FUNC main
	pushal
	call rt_cpu_init
	movl $0x80, %eax
	movl $sys_handler, %edx
	movl $GATE_INT_DPL3, %ecx
	call rt_set_gate
	ARG n, $DEFAULT_N
	movl %eax, nr_calls

	# enter ring 3: iret frame SS, ESP, EFLAGS, CS, EIP
	movl %esp, kernel_esp
	PV_LOAD_DATA_SEGS USER_DS
	pushl $USER_DS
	pushl $user_stack_top
	pushl $EFLAGS_RESERVED1         # IF=0, IOPL=0
	pushl $USER_CS
	pushl $user_main
	PV_IRET

LABEL syscall_back_in_ring0
	PV_LOAD_SEGS KERNEL_CS, KERNEL_DS
	popal
	PRINT "syscall: n="
	PRINT_DEC nr_calls
	PRINT " calls="
	PRINT_DEC kernel_count
	PRINT_NL
	movl $EXIT_OK, %eax
	cmpl $0, user_errors
	jne 1f
	movl nr_calls, %ecx
	cmpl kernel_count, %ecx
	je 2f
1:	PRINT "syscall: self-check failed"
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
2:	ret
ENDFUNC main

# user_main — ring 3. Makes nr_calls SYS_COUNT calls, then SYS_DONE.
FUNC user_main
	movl nr_calls, %ebp
	xorl %edi, %edi                 # calls made
	testl %ebp, %ebp
	jz 2f
LABEL syscall_loop
1:	movl $SYS_COUNT, %eax
	int $0x80
	incl %edi
	cmpl %edi, %eax                 # the kernel's count must equal ours
	je 3f
	incl user_errors
3:	cmpl %ebp, %edi
	jb 1b
2:	movl $SYS_DONE, %eax
	int $0x80
	ud2                             # not reached
ENDFUNC user_main

# sys_handler — ring 0, entered through the DPL-3 gate from ring 3 on the
# TSS stack. Frame: EIP, CS, EFLAGS, ESP, SS.
FUNC sys_handler
	cmpl $SYS_COUNT, %eax
	jne 1f
	incl kernel_count
	movl kernel_count, %eax
	PV_IRET
1:	cmpl $SYS_DONE, %eax
	jne 2f
	movl kernel_esp, %esp           # drop the frame: back to main's stack
	jmp syscall_back_in_ring0
2:	PRINT "syscall: self-check failed: unknown call eax="
	PRINT_HEX %eax
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	jmp rt_exit
ENDFUNC sys_handler

	.data
	.balign 4
DATA nr_calls
	.long 0
ENDDATA nr_calls
DATA kernel_count
	.long 0
ENDDATA kernel_count
DATA kernel_esp
	.long 0
ENDDATA kernel_esp
DATA user_errors
	.long 0
ENDDATA user_errors

	.bss
	.balign 16
DATA user_stack
	.skip USTACK_SIZE
ENDDATA user_stack
DATA user_stack_top
ENDDATA user_stack_top
