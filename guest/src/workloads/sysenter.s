# sysenter — ring-3 code makes n fast system calls (sysenter/sysexit) to a
# ring-0 handler: the system call a Pentium 4 Linux makes (Adams & Agesen's
# syscall nanobenchmark), beside syscall's int $0x80 + iret.
#
#   args:    n=N  system calls (default 4000)
#   output:  sysenter: n=N calls=N
#   events per iteration: 1 priv/sysenter (the handler returns with sysexit,
#            which runs on the CPU under native and exits where the guest
#            kernel is deprivileged: 1 priv/sysexit under trap and bt)
#   one-time: rt_cpu_init (lgdt, segment loads, lidt, ltr), 3 wrmsr (the
#            SYSENTER MSRs), the data-segment loads and iret into ring 3,
#            the final sysenter back to ring 0 and the kernel segment reload
#   self-check: each call returns the kernel's running count in %eax; ring 3
#            compares it with its own count
#   descriptor tables: the runtime's GDT, whose KERNEL_CS, KERNEL_DS,
#            USER_CS, USER_DS follow one another as sysenter and sysexit
#            require (SYSENTER_CS = KERNEL_CS; SS = +8, user CS = +16, user
#            SS = +24), TSS (ss0:esp0 = KERNEL_DS:rt_kstack_top), IDT of
#            rt_unexpected gates; SYSENTER_ESP = sysenter_stack_top,
#            SYSENTER_EIP = sysenter_entry
#
# Flow: main writes the SYSENTER MSRs, saves its stack pointer, loads the
# user data selectors and irets to user_main at CPL 3 (IF=0, on
# user_stack). user_main makes SYS_COUNT n times, passing its stack in
# %ecx and its return address in %edx, as Linux's vsyscall page does, then
# SYS_DONE, whose handler restores main's stack and kernel segments and
# returns to main. The PV build is refused by pv: virtsim's paravirtual
# ABI has no sysenter callback (Xen's CALLBACKTYPE_sysenter).

.include "rt.inc"

	WORKLOAD sysenter, 4000

	.set SYS_COUNT, 1                # count this call; returns the count
	.set SYS_DONE, 2                 # leave ring 3 for good
	.set USTACK_SIZE, 4096
	.set KSTACK_SIZE, 4096
	.set MSR_SYSENTER_CS, 0x174
	.set MSR_SYSENTER_ESP, 0x175
	.set MSR_SYSENTER_EIP, 0x176

	.text
FUNC main
	pushal
	call rt_cpu_init
	xorl %edx, %edx
	movl $MSR_SYSENTER_CS, %ecx
	movl $KERNEL_CS, %eax
	wrmsr
	movl $MSR_SYSENTER_ESP, %ecx
	movl $sysenter_stack_top, %eax
	wrmsr
	movl $MSR_SYSENTER_EIP, %ecx
	movl $sysenter_entry, %eax
	wrmsr
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

LABEL sysenter_back_in_ring0
	PV_LOAD_SEGS KERNEL_CS, KERNEL_DS
	popal
	PRINT "sysenter: n="
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
1:	PRINT "sysenter: self-check failed"
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
LABEL sysenter_loop
1:	movl $SYS_COUNT, %eax
	movl %esp, %ecx                 # sysexit's ESP
	movl $3f, %edx                  # sysexit's EIP
	sysenter
3:	incl %edi
	cmpl %edi, %eax                 # the kernel's count must equal ours
	je 4f
	incl user_errors
4:	cmpl %ebp, %edi
	jb 1b
2:	movl $SYS_DONE, %eax
	sysenter
	ud2                             # not reached
ENDFUNC user_main

# sysenter_entry — ring 0, entered by sysenter on sysenter_stack with IF=0;
# %ecx and %edx hold the user stack and return address for sysexit.
FUNC sysenter_entry
	cmpl $SYS_COUNT, %eax
	jne 1f
	incl kernel_count
	movl kernel_count, %eax
	sysexit
1:	cmpl $SYS_DONE, %eax
	jne 2f
	movl kernel_esp, %esp           # back to main's stack
	jmp sysenter_back_in_ring0
2:	PRINT "sysenter: self-check failed: unknown call eax="
	PRINT_HEX %eax
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	jmp rt_exit
ENDFUNC sysenter_entry

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
DATA sysenter_stack
	.skip KSTACK_SIZE
ENDDATA sysenter_stack
DATA sysenter_stack_top
ENDDATA sysenter_stack_top
