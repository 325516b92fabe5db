# forkwait — process creation and destruction with copy-on-write: a ring-3
# parent forks a child n times and waits for it (the shape of Adams &
# Agesen's forkwait macrobenchmark: fork, the child runs and exits, the
# parent's wait returns). Each process has its own page directory; the
# kernel switches address spaces on fork and on exit.
#
#   args:    n=N  fork/wait rounds (default 100)
#   output:  forkwait: n=N forks=N switches=2N cows=N reuses=N sum=0x...
#   events per iteration: 3 int/0x80 from ring 3 (fork, exit, wait);
#            2 priv/mov-cr3 (into the child on fork, back on exit);
#            2 exc/#PF, both write+present+user (error code 7): the
#            child's write to the shared data page (the kernel copies the
#            frame: a COW copy) and the parent's next write to it (no one
#            else maps it any more: the kernel makes it writable again, a
#            COW reuse), each with 1 PTE write and 1 invlpg;
#            5 more PTE writes (7 in all): fork write-protects the parent's
#            data page and maps both pages into the child read-only (3),
#            exit unmaps the child's two pages (2)
#   one-time: rt_cpu_init, the directory entries of both address spaces
#            (written before paging is on), rt_paging_on (1025 PTE writes,
#            CR3, CR0), the iret into ring 3 and the final int $0x80
#   self-check: the child computes 3i+1 from the value i it inherited, plus
#            the constant of the read-only page, and exits with it; the
#            parent's wait must return exactly that, and the parent's own
#            copy must still hold i (the child's write stayed private); the
#            counts must be n forks, 2n switches, n copies, n reuses, and the
#            sum of the statuses 3n(n-1)/2 + n(1+CONST) (mod 2^32)
#
# Address spaces (pd: the parent, pd_c: the child):
#   0x00000000-0x003FFFFF  PDE 0: pt0, shared, identity, 4 KiB pages, user rw
#                          (kernel, user code, both stacks; in the PV build
#                          the page-table pages are read-only)
#   0x00800000             PDE 2: the process's own table (pt_p, pt_c):
#     page 0 (DATA)          data, writable until a fork shares it
#     page 1 (RODATA)        read-only, never copied: CONST at word 0
# The user code keeps no state in memory but its pages at 0x00800000 and
# uses no stack (the kernel's entries save its registers on the kernel
# stack), so both processes run the same code at the same addresses.
#
# The kernel: sys_handler (int $0x80, DPL 3) and pf_handler (#PF) on the
# TSS stack. A process's context is the 13 words its entry left there
# (pushal, then EIP, CS, EFLAGS, ESP, SS); fork saves the parent's in
# ctx_parent and lets the child return with eax=0 from the frame as it is;
# exit restores ctx_parent onto the stack and returns into the parent.

.include "rt.inc"
.include "paging.inc"

	WORKLOAD forkwait, 100

	.set UBASE, 0x00800000           # the per-process region (PDE 2)
	.set DATA, UBASE                 # page 0
	.set RODATA, UBASE + 4096        # page 1
	.set NPAGES, 2
	.set CONST, 0x100
	.set PTE_P, 0x001
	.set PTE_W, 0x002
	.set PTE_U, 0x004
	.set PF_COW, 7                   # #PF error code: present | write | user
	.set CTX_WORDS, 13               # pushal + EIP, CS, EFLAGS, ESP, SS
	.set CTX_EAX, 28                 # pushal's slot of %eax
	.set CTX_EBX, 16
	.set CTX_ECX, 24
	.set SYS_FORK, 1                 # -> eax: the child's pid (parent), 0 (child)
	.set SYS_EXIT, 2                 # ebx = status; does not return
	.set SYS_WAIT, 3                 # -> eax: the exited child's status, or -1
	.set SYS_DONE, 4                 # ebx = sum, ecx = errors: back to main

	.text
FUNC main
	pushal
	call rt_cpu_init
	movl $0x80, %eax
	movl $sys_handler, %edx
	movl $GATE_INT_DPL3, %ecx
	call rt_set_gate
	movl $14, %eax
	movl $pf_handler, %edx
	movl $GATE_INT_DPL0, %ecx
	call rt_set_gate
	ARG n, $DEFAULT_N
	movl %eax, nr

	# The directory entries of both address spaces, before paging is on
	# (direct paging validates a write into an unpinned directory as a
	# PTE write, which may not map a page table writable).
	movl $pd + 2 * 4, %edi
	movl $pt_p + PTE_P + PTE_W + PTE_U, %eax
	PV_SET_PTE %edi, %eax
	movl $pd_c, %edi
	movl $pt0 + PTE_P + PTE_W + PTE_U, %eax
	PV_SET_PTE %edi, %eax
	movl $pd_c + 2 * 4, %edi
	movl $pt_c + PTE_P + PTE_W + PTE_U, %eax
	PV_SET_PTE %edi, %eax
	# the parent's pages: DATA writable, RODATA read-only
	movl $pt_p, %edi
	movl $uframes + PTE_P + PTE_W + PTE_U, %eax
	PV_SET_PTE %edi, %eax
	movl $pt_p + 4, %edi
	movl $uframes + 4096 + PTE_P + PTE_U, %eax
	PV_SET_PTE %edi, %eax
	movl $CONST, uframes + 4096     # through the identity map
	movl $pd, %esi
	movl $pt0, %edi
	call rt_paging_on

	# into ring 3: the parent
	movl %esp, kernel_esp
	PV_LOAD_DATA_SEGS USER_DS
	pushl $USER_DS
	pushl $user_stack_top
	pushl $EFLAGS_RESERVED1
	pushl $USER_CS
	pushl $user_main
	PV_IRET

LABEL forkwait_back_in_ring0
	PV_LOAD_SEGS KERNEL_CS, KERNEL_DS
	popal
	PRINT "forkwait: n="
	PRINT_DEC nr
	PRINT " forks="
	PRINT_DEC forks
	PRINT " switches="
	PRINT_DEC switches
	PRINT " cows="
	PRINT_DEC cows
	PRINT " reuses="
	PRINT_DEC reuses
	PRINT " sum="
	PRINT_HEX user_sum
	PRINT_NL
	# sum = 3 * n(n-1)/2 + n * (1 + CONST)
	movl nr, %eax
	leal -1(%eax), %ecx
	mull %ecx
	shrdl $1, %edx, %eax
	leal (%eax,%eax,2), %ecx
	movl nr, %eax
	movl $1 + CONST, %edx
	mull %edx
	addl %eax, %ecx
	movl $EXIT_CHECK_FAILED, %eax
	cmpl user_sum, %ecx
	jne 1f
	cmpl $0, user_errors
	jne 1f
	movl nr, %ecx
	cmpl forks, %ecx
	jne 1f
	cmpl cows, %ecx
	jne 1f
	cmpl reuses, %ecx
	jne 1f
	addl %ecx, %ecx
	cmpl switches, %ecx
	jne 1f
	movl $EXIT_OK, %eax
1:	ret
ENDFUNC main

# user_main — ring 3, the parent first; after each fork also the child.
# Registers: %edi = i, %ebp = the sum of the statuses, %esi = errors.
FUNC user_main
	xorl %edi, %edi
	xorl %ebp, %ebp
	xorl %esi, %esi
	cmpl $0, nr
	je 3f
LABEL forkwait_loop
1:	movl $SYS_FORK, %eax
	int $0x80
	testl %eax, %eax
	jz forkwait_child
	movl $SYS_WAIT, %eax
	int $0x80
	leal 1 + CONST(%edi,%edi,2), %edx
	cmpl %edx, %eax                 # the child's status: 3i+1+CONST
	je 2f
	incl %esi
2:	addl %eax, %ebp
	cmpl %edi, DATA                 # our copy still holds i
	je 2f
	incl %esi
2:	incl %edi
LABEL forkwait_reuse_site
	movl %edi, DATA                 # #PF: write-protected since the fork (reuse)
	cmpl nr, %edi
	jb 1b
3:	movl $SYS_DONE, %eax
	movl %ebp, %ebx
	movl %esi, %ecx
	int $0x80
	ud2

LABEL forkwait_child
	movl DATA, %eax                 # i, through the shared frame
	leal 1(%eax,%eax,2), %eax
LABEL forkwait_cow_site
	movl %eax, DATA                 # #PF: shared with the parent (copy)
	movl DATA, %ebx
	addl RODATA, %ebx
	movl $SYS_EXIT, %eax
	int $0x80
	ud2
ENDFUNC user_main

# sys_handler — int $0x80 from ring 3 (interrupt gate: IF=0), on the TSS
# stack. pushal, then the call number is the saved %eax.
FUNC sys_handler
	pushal
	movl CTX_EAX(%esp), %eax
	cmpl $SYS_FORK, %eax
	je sys_fork
	cmpl $SYS_EXIT, %eax
	je sys_exit
	cmpl $SYS_WAIT, %eax
	je sys_wait
	cmpl $SYS_DONE, %eax
	je sys_done
	PRINT "forkwait: self-check failed: unknown call eax="
	PRINT_HEX %eax
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	jmp rt_exit

# fork: write-protect the parent's writable pages (they become COW in both
# processes), map every page into the child as the parent has it, save the
# parent's context (returning the child's pid) and enter the child.
sys_fork:
	cmpl $0, cur
	jne bad_call
	incl forks
	xorl %ebx, %ebx                 # page k
1:	movl pt_p(,%ebx,4), %eax
	andl $~0x60, %eax               # not the accessed and dirty bits
	testl $PTE_W, %eax
	jz 2f
	andl $~PTE_W, %eax
	leal pt_p(,%ebx,4), %edx
	PV_SET_PTE %edx, %eax
	btsl %ebx, cow_p
	btsl %ebx, cow_c
	btsl %ebx, shared
2:	leal pt_c(,%ebx,4), %edx
	PV_SET_PTE %edx, %eax
	incl %ebx
	cmpl $NPAGES, %ebx
	jb 1b
	movl forks, %eax
	movl %eax, CTX_EAX(%esp)        # the parent's fork returns the pid
	movl %esp, %esi
	movl $ctx_parent, %edi
	movl $CTX_WORDS, %ecx
	rep movsl
	movl $0, CTX_EAX(%esp)          # the child's returns 0
	movl $1, cur
	movl $pd_c, %eax
	PV_WRITE_CR3 %eax
	incl switches
	popal
	PV_IRET

# exit: keep the status for wait, back into the parent's address space,
# tear down the child's (its pages stop being shared), resume the parent.
sys_exit:
	cmpl $1, cur
	jne bad_call
	movl CTX_EBX(%esp), %eax
	movl %eax, child_status
	movl $1, zombie
	movl $0, cur
	movl $pd, %eax
	PV_WRITE_CR3 %eax
	incl switches
	xorl %ebx, %ebx
1:	leal pt_c(,%ebx,4), %edx
	PV_SET_PTE %edx, $0
	incl %ebx
	cmpl $NPAGES, %ebx
	jb 1b
	movl $0, shared
	movl $0, cow_c
	movl $ctx_parent, %esi
	movl %esp, %edi
	movl $CTX_WORDS, %ecx
	rep movsl
	popal
	PV_IRET

# wait: the exited child's status (the child always runs to its exit
# before the parent runs again), or -1 if there is none.
sys_wait:
	movl $-1, %eax
	cmpl $0, zombie
	je 1f
	movl child_status, %eax
	movl $0, zombie
1:	movl %eax, CTX_EAX(%esp)
	popal
	PV_IRET

# done: the parent's results; back to main on the kernel's own stack.
sys_done:
	movl CTX_EBX(%esp), %eax
	movl %eax, user_sum
	movl CTX_ECX(%esp), %eax
	movl %eax, user_errors
	movl kernel_esp, %esp
	jmp forkwait_back_in_ring0

bad_call:
	movl CTX_EAX(%esp), %eax
	PRINT "forkwait: self-check failed: call eax="
	PRINT_HEX %eax
	PRINT " in process "
	PRINT_DEC cur
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	jmp rt_exit
ENDFUNC sys_handler

# pf_handler — #PF. After pushal: error code at 32(%esp), EIP at 36. Only a
# user write to a COW page of the running process is expected: if the
# frame is still shared (the child writes first) the kernel copies it into
# the child's own frame; if not (the parent, after the child exited) it
# makes the page writable again.
FUNC pf_handler
	pushal
	cmpl $PF_COW, 32(%esp)
	jne 9f
	PV_READ_CR2 %eax
	movl %eax, %ebx
	subl $UBASE, %ebx
	cmpl $NPAGES * 4096, %ebx
	jae 9f
	shrl $12, %ebx                  # page k
	movl $pt_p, %edx
	movl $cow_p, %ecx
	cmpl $0, cur
	je 1f
	movl $pt_c, %edx
	movl $cow_c, %ecx
1:	btrl %ebx, (%ecx)               # COW in this process? (no longer, after this)
	jnc 9f
	leal (%edx,%ebx,4), %edx        # its PTE
	btrl %ebx, shared
	jnc 2f
	# copy: only the child writes while the page is shared
	cmpl $1, cur
	jne 9f
	movl %ebx, %esi
	shll $12, %esi
	leal cframes(%esi), %edi
	addl $uframes, %esi
	movl $1024, %ecx
	rep movsl
	subl $4096, %edi                # the copy
	leal PTE_P + PTE_W + PTE_U(%edi), %ecx
	PV_SET_PTE %edx, %ecx
	incl cows
	jmp 3f
2:	# reuse: the frame is ours alone
	movl (%edx), %ecx
	orl $PTE_W, %ecx
	PV_SET_PTE %edx, %ecx
	incl reuses
3:	PV_INVLPG (%eax)
	popal
	addl $4, %esp                   # drop the error code
	PV_IRET
9:	movl 32(%esp), %ebx
	movl 36(%esp), %ebp
	PRINT "forkwait: self-check failed: unexpected #PF code="
	PRINT_HEX %ebx
	PRINT " eip="
	PRINT_HEX %ebp
	PRINT " process "
	PRINT_DEC cur
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	jmp rt_exit
ENDFUNC pf_handler

	.data
	.balign 4
DATA nr
	.long 0
ENDDATA nr
DATA cur
	.long 0                         # the running process: 0 parent, 1 child
ENDDATA cur
DATA forks
	.long 0
ENDDATA forks
DATA switches
	.long 0
ENDDATA switches
DATA cows
	.long 0
ENDDATA cows
DATA reuses
	.long 0
ENDDATA reuses
DATA cow_p
	.long 0                         # bit k: the parent's page k is COW
ENDDATA cow_p
DATA cow_c
	.long 0                         # bit k: the child's page k is COW
ENDDATA cow_c
DATA shared
	.long 0                         # bit k: the parent's frame k is the child's too
ENDDATA shared
DATA zombie
	.long 0
ENDDATA zombie
DATA child_status
	.long 0
ENDDATA child_status
DATA user_sum
	.long 0
ENDDATA user_sum
DATA user_errors
	.long 0
ENDDATA user_errors
DATA kernel_esp
	.long 0
ENDDATA kernel_esp
DATA ctx_parent
	.skip CTX_WORDS * 4
ENDDATA ctx_parent

	.bss
	.balign 4096
LABEL pt_area
DATA pd
	.skip 4096
ENDDATA pd
DATA pd_c
	.skip 4096
ENDDATA pd_c
DATA pt0
	.skip 4096
ENDDATA pt0
DATA pt_p
	.skip 4096
ENDDATA pt_p
DATA pt_c
	.skip 4096
ENDDATA pt_c
LABEL pt_area_end
DATA uframes
	.skip NPAGES * 4096             # the parent's frames
ENDDATA uframes
DATA cframes
	.skip NPAGES * 4096             # the child's copies
ENDDATA cframes
DATA user_stack
	.skip 16                        # unused: the user code never pushes
ENDDATA user_stack
DATA user_stack_top
ENDDATA user_stack_top
