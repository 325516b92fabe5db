# divzero — n divisions by zero, each handled by the guest's own #DE handler.
#
#   args:    n=N  divisions by zero (default 4000)
#   output:  divzero: n=N faults=N
#   events per iteration: 1 exc/#DE (the handler returns with iret)
#   one-time: rt_cpu_init (lgdt, segment loads, lidt, ltr)
#   self-check: the handler accepts #DE only from the known `div` (divzero_site)
#            and resumes after it; a #DE anywhere else exits with
#            EXIT_CHECK_FAILED
#   descriptor tables: the runtime's (lib/cpu.s); vector 0 -> de_handler

.include "rt.inc"

	WORKLOAD divzero, 4000

	.text
FUNC main
	call rt_cpu_init
	xorl %eax, %eax                 # vector 0: #DE
	movl $de_handler, %edx
	movl $GATE_INT_DPL0, %ecx
	call rt_set_gate
	ARG n, $DEFAULT_N
	movl %eax, %ebp
	xorl %edi, %edi                 # divisions attempted
	testl %ebp, %ebp
	jz 2f
1:	movl $1, %eax
	xorl %edx, %edx
	xorl %ecx, %ecx
LABEL divzero_site
	divl %ecx                       # #DE: a fault, saved EIP = this div
LABEL divzero_resume
	incl %edi
	cmpl %ebp, %edi
	jb 1b
2:	PRINT "divzero: n="
	PRINT_DEC %ebp
	PRINT " faults="
	PRINT_DEC faults
	PRINT_NL
	movl $EXIT_OK, %eax
	cmpl faults, %ebp
	je 3f
	movl $EXIT_CHECK_FAILED, %eax
3:	ret
ENDFUNC main

# de_handler — #DE: count it and resume after the faulting div.
# Frame (same privilege, no error code): EIP, CS, EFLAGS.
FUNC de_handler
	cmpl $divzero_site, (%esp)
	jne 1f
	incl faults
	movl $divzero_resume, (%esp)
	PV_IRET
1:	PRINT "divzero: self-check failed: #DE at eip="
	PRINT_HEX (%esp)
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	jmp rt_exit
ENDFUNC de_handler

	.data
	.balign 4
DATA faults
	.long 0
ENDDATA faults
