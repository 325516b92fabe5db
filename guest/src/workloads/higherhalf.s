# higherhalf — a paging kernel: runs in the higher half, aliases pages,
# switches address spaces and takes system calls from ring 3 with paging on.
#
#   args:    n=N  rounds (default 100)
#   output:  higherhalf: n=N alias=0x... pte=0x... pde=0x... big=0x...
#            flip=0x... spaces=S calls=N
#   events per iteration: 2 priv/mov-cr3 (one into each address space),
#            2 PTE writes with 2 invlpg (the alias redirected and restored),
#            1 int/0x80 from ring 3
#   one-time: rt_cpu_init, the page tables (1024 + a few PTE writes), CR4.PSE,
#            CR3, CR0.PG|WP, the iret into ring 3 and the final int $0x80
#   self-check: every value read back through an alias equals the one written
#            through the other; the kernel's call count equals ring 3's
#
# Address space A (page directory pd):
#   0x00000000-0x003FFFFF  PDE 0: page table pt0, identity, 4 KiB pages, user rw
#   0xC0000000-0xC03FFFFF  PDE 768: one 4 MiB page onto physical 0 (CR4.PSE),
#                          supervisor rw: the kernel's higher-half alias
#   0xC0400000             PDE 769: page table pt1, PTE 0 -> page_a (not identity)
#   0xFFC00000-0xFFFFFFFF  PDE 1023: the directory itself (a recursive entry), so
#                          0xFFC00000 + 769*4096 is pt1 and 0xFFFFF000 is pd
# Address space B (pd2): the same, but 0xC0400000 -> page_b through pt2.
#
# The kernel jumps to its higher-half alias (KBASE + address) and runs its
# paging tests there; ring 3 runs at identity addresses, and its int $0x80
# raises privilege with paging on (the machine's trampoline must not depend on
# the guest mapping anything at the top of the address space, which here is
# the guest's recursive mapping).

.include "rt.inc"

	WORKLOAD higherhalf, 100

	.set KBASE, 0xC0000000
	.set ALIAS, 0xC0400000
	.set RECUR, 0xFFC00000
	.set PTE_P, 0x001
	.set PTE_W, 0x002
	.set PTE_U, 0x004
	.set PTE_PS, 0x080
	.set CR0_PG_WP, 0x80010000
	.set CR4_PSE, 0x10
	.set SYS_COUNT, 1
	.set SYS_DONE, 2

	.text
FUNC main
	pushal
	call rt_cpu_init
	movl $0x80, %eax
	movl $sys_handler, %edx
	movl $GATE_INT_DPL3, %ecx
	call rt_set_gate
	ARG n, $DEFAULT_N
	movl %eax, nr_rounds

	# pt0: identity 0-4 MiB, user rw
	movl $pt0, %edi
	movl $(PTE_P | PTE_W | PTE_U), %ebx
	movl $1024, %ecx
1:	PV_SET_PTE %edi, %ebx
	addl $4, %edi
	addl $4096, %ebx
	loop 1b
	movl $pt1, %edi
	movl $page_a + PTE_P + PTE_W, %ebx
	PV_SET_PTE %edi, %ebx
	movl $pt2, %edi
	movl $page_b + PTE_P + PTE_W, %ebx
	PV_SET_PTE %edi, %ebx
	# the two directories
	movl $pd, %esi
	movl $pt1, %edx
	call build_pd
	movl $pd2, %esi
	movl $pt2, %edx
	call build_pd

	PV_READ_CR4 %eax
	orl $CR4_PSE, %eax
	PV_WRITE_CR4 %eax
	movl $pd, %eax
	PV_WRITE_CR3 %eax
	PV_READ_CR0 %eax
	orl $CR0_PG_WP, %eax
	PV_WRITE_CR0 %eax

	# into the higher half: code and stack through the 4 MiB alias
	movl $1f + KBASE, %eax
	jmp *%eax
1:	addl $KBASE, %esp

	# an alias that is not the identity
	movl $0x1234abcd, ALIAS
	movl page_a, %eax
	movl %eax, r_alias
	# hardware's accessed and dirty bits, read through the recursive entry
	movl RECUR + 769 * 4096, %eax
	andl $0xfff, %eax
	movl %eax, r_pte
	movl RECUR + 1023 * 4096 + 769 * 4, %eax
	andl $0xfff, %eax
	movl %eax, r_pde
	movl RECUR + 1023 * 4096 + 768 * 4, %eax
	andl $0xfff, %eax
	movl %eax, r_big

	# rounds: switch address spaces, write through each, redirect an alias
	xorl %edi, %edi
	cmpl $0, nr_rounds
	je 3f
LABEL higherhalf_loop
2:	movl $pd2, %eax
	PV_WRITE_CR3 %eax
	leal (%edi,%edi,2), %eax
	movl %eax, ALIAS                # page_b = 3i
	movl $pd, %eax
	PV_WRITE_CR3 %eax
	movl %edi, ALIAS                # page_a = i
	movl page_a, %eax
	addl page_b, %eax               # 4i
	addl %eax, r_sum
	# redirect A's alias to page_b through the recursive mapping, use it, restore
	movl $RECUR + 769 * 4096, %ebx
	movl $page_b + PTE_P + PTE_W, %ecx
	PV_SET_PTE %ebx, %ecx
	PV_INVLPG ALIAS
	movl ALIAS, %eax                # 3i
	addl %eax, r_flip
	movl $page_a + PTE_P + PTE_W, %ecx
	PV_SET_PTE %ebx, %ecx
	PV_INVLPG ALIAS
	incl %edi
	cmpl nr_rounds, %edi
	jb 2b
3:
	# system calls from ring 3, paging on
	movl %esp, kernel_esp
	PV_LOAD_DATA_SEGS USER_DS
	pushl $USER_DS
	pushl $user_stack_top
	pushl $EFLAGS_RESERVED1
	pushl $USER_CS
	pushl $user_main
	PV_IRET

LABEL higherhalf_back_in_ring0
	PV_LOAD_SEGS KERNEL_CS, KERNEL_DS
	subl $KBASE, %esp               # back to identity addresses for the return
	movl $4f, %eax
	jmp *%eax
4:	popal
	PRINT "higherhalf: n="
	PRINT_DEC nr_rounds
	PRINT " alias="
	PRINT_HEX r_alias
	PRINT " pte="
	PRINT_HEX r_pte, 3
	PRINT " pde="
	PRINT_HEX r_pde, 3
	PRINT " big="
	PRINT_HEX r_big, 3
	PRINT " flip="
	PRINT_HEX r_flip
	PRINT " spaces="
	PRINT_HEX r_sum
	PRINT " calls="
	PRINT_DEC kernel_count
	PRINT_NL
	# self-check: sum 4i and flip 3i over i < n, calls = n
	movl nr_rounds, %ecx
	xorl %eax, %eax
	xorl %edx, %edx
	xorl %ebx, %ebx
5:	cmpl %ecx, %edx
	jae 6f
	leal (%eax,%edx,4), %eax
	leal (%edx,%edx,2), %esi
	addl %esi, %ebx
	incl %edx
	jmp 5b
6:	movl $EXIT_CHECK_FAILED, %esi
	cmpl r_sum, %eax
	jne 7f
	cmpl r_flip, %ebx
	jne 7f
	cmpl $0x1234abcd, r_alias
	jne 7f
	cmpl kernel_count, %ecx
	jne 7f
	cmpl $0, user_errors
	jne 7f
	movl $EXIT_OK, %esi
7:	movl %esi, %eax
	ret
ENDFUNC main

# build_pd — %esi = directory, %edx = its page table for 0xC0400000.
FUNC build_pd
	pushl %eax
	pushl %edi
	movl %esi, %edi
	movl $pt0 + PTE_P + PTE_W + PTE_U, %eax
	PV_SET_PTE %edi, %eax
	leal 768 * 4(%esi), %edi
	movl $PTE_P + PTE_W + PTE_PS, %eax
	PV_SET_PTE %edi, %eax
	leal 769 * 4(%esi), %edi
	leal PTE_P + PTE_W + PTE_U(%edx), %eax
	PV_SET_PTE %edi, %eax
	leal 1023 * 4(%esi), %edi
	leal PTE_P + PTE_W(%esi), %eax
	PV_SET_PTE %edi, %eax
	popl %edi
	popl %eax
	ret
ENDFUNC build_pd

# user_main — ring 3, identity addresses: nr_rounds SYS_COUNT calls, SYS_DONE.
FUNC user_main
	movl nr_rounds, %ebp
	xorl %edi, %edi
	testl %ebp, %ebp
	jz 2f
1:	movl $SYS_COUNT, %eax
	int $0x80
	incl %edi
	cmpl %edi, %eax
	je 3f
	incl user_errors
3:	cmpl %ebp, %edi
	jb 1b
2:	movl $SYS_DONE, %eax
	int $0x80
	ud2
ENDFUNC user_main

# sys_handler — ring 0 through the DPL-3 gate, on the TSS stack.
FUNC sys_handler
	cmpl $SYS_COUNT, %eax
	jne 1f
	incl kernel_count
	movl kernel_count, %eax
	PV_IRET
1:	movl kernel_esp, %esp
	movl $higherhalf_back_in_ring0 + KBASE, %eax
	jmp *%eax
ENDFUNC sys_handler

	.data
	.balign 4
DATA nr_rounds
	.long 0
ENDDATA nr_rounds
DATA kernel_count
	.long 0
ENDDATA kernel_count
DATA kernel_esp
	.long 0
ENDDATA kernel_esp
DATA user_errors
	.long 0
ENDDATA user_errors
DATA r_alias
	.long 0
ENDDATA r_alias
DATA r_pte
	.long 0
ENDDATA r_pte
DATA r_pde
	.long 0
ENDDATA r_pde
DATA r_big
	.long 0
ENDDATA r_big
DATA r_sum
	.long 0
ENDDATA r_sum
DATA r_flip
	.long 0
ENDDATA r_flip

	.bss
	.balign 4096
DATA pd
	.skip 4096
ENDDATA pd
DATA pd2
	.skip 4096
ENDDATA pd2
DATA pt0
	.skip 4096
ENDDATA pt0
DATA pt1
	.skip 4096
ENDDATA pt1
DATA pt2
	.skip 4096
ENDDATA pt2
DATA page_a
	.skip 4096
ENDDATA page_a
DATA page_b
	.skip 4096
ENDDATA page_b
DATA user_stack
	.skip 4096
ENDDATA user_stack
DATA user_stack_top
ENDDATA user_stack_top
