# pgfault — demand paging: n page faults, each filled in by the guest's own
# #PF handler (Adams & Agesen's pgfault microbenchmark).
#
#   args:    n=N  faults (default 1000)
#   output:  pgfault: n=N faults=N sum=0x...
#   events per iteration: 1 exc/#PF (a not-present write, error code 2) whose
#            handler maps the page (1 PTE write); then the kernel unmaps it
#            again (1 PTE write and 1 invlpg), so the next touch faults
#   one-time: rt_cpu_init, rt_paging_on (1025 PTE writes, CR3, CR0), the
#            demand region's directory entry
#   self-check: the handler accepts only not-present supervisor writes inside
#            the demand region at the expected address; the sum of the values
#            read back is n(n-1)/2 (mod 2^32)
#
# Layout: 0-4 MiB identity (rt_paging_on); 0x00800000-0x00BFFFFF (PDE 2) the
# demand region, table pt_demand, every entry not present until a fault.
# Touch i writes i at DEMAND + (i mod 256) pages; the handler maps that page
# onto frame (i mod 4) of a small pool.

.include "rt.inc"
.include "paging.inc"

	WORKLOAD pgfault, 1000

	.set DEMAND, 0x00800000
	.set PTE_P, 0x001
	.set PTE_W, 0x002

	.text
FUNC main
	call rt_cpu_init
	movl $14, %eax
	movl $pf_handler, %edx
	movl $GATE_INT_DPL0, %ecx
	call rt_set_gate
	ARG n, $DEFAULT_N
	movl %eax, nr
	movl $pd, %esi
	movl $pt0, %edi
	call rt_paging_on
	movl $pd + 2 * 4, %edi
	movl $pt_demand + PTE_P + PTE_W, %eax
	PV_SET_PTE %edi, %eax

	xorl %edi, %edi                 # touches made
	cmpl $0, nr
	je 2f
LABEL pgfault_loop
1:	movl %edi, %ebx
	andl $255, %ebx
	shll $12, %ebx
	addl $DEMAND, %ebx              # the page to touch
	movl %ebx, expect
LABEL pgfault_site
	movl %edi, (%ebx)               # #PF: not present
	movl (%ebx), %eax
	addl %eax, sum
	# unmap it again: its PTE, then the TLB entry
	movl %ebx, %ecx
	shrl $12, %ecx
	andl $1023, %ecx
	leal pt_demand(,%ecx,4), %ecx
	PV_SET_PTE %ecx, $0
	PV_INVLPG (%ebx)
	incl %edi
	cmpl nr, %edi
	jb 1b
2:	PRINT "pgfault: n="
	PRINT_DEC nr
	PRINT " faults="
	PRINT_DEC faults
	PRINT " sum="
	PRINT_HEX sum
	PRINT_NL
	# n(n-1)/2
	movl nr, %eax
	leal -1(%eax), %ecx
	mull %ecx
	shrdl $1, %edx, %eax
	movl $EXIT_CHECK_FAILED, %ecx
	cmpl sum, %eax
	jne 3f
	movl nr, %eax
	cmpl faults, %eax
	jne 3f
	movl $EXIT_OK, %ecx
3:	movl %ecx, %eax
	ret
ENDFUNC main

# pf_handler — #PF. Frame: error code, EIP, CS, EFLAGS. Maps the faulting
# page onto pool frame (faults mod 4), writable, and retries the access.
FUNC pf_handler
	pushl %eax
	pushl %ecx
	pushl %edx
	cmpl $2, 12(%esp)               # not present, write, supervisor
	jne 1f
	cmpl $pgfault_site, 16(%esp)
	jne 1f
	PV_READ_CR2 %eax
	cmpl expect, %eax
	jne 1f
	shrl $12, %eax
	andl $1023, %eax
	leal pt_demand(,%eax,4), %ecx
	movl faults, %eax
	andl $3, %eax
	shll $12, %eax
	addl $pool + PTE_P + PTE_W, %eax
	PV_SET_PTE %ecx, %eax
	incl faults
	popl %edx
	popl %ecx
	popl %eax
	addl $4, %esp                   # drop the error code
	PV_IRET
1:	PRINT "pgfault: self-check failed: unexpected #PF code="
	PRINT_HEX 12(%esp)
	PRINT " eip="
	PRINT_HEX 16(%esp)
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	jmp rt_exit
ENDFUNC pf_handler

	.data
	.balign 4
DATA nr
	.long 0
ENDDATA nr
DATA faults
	.long 0
ENDDATA faults
DATA sum
	.long 0
ENDDATA sum
DATA expect
	.long 0
ENDDATA expect

	.bss
	.balign 4096
LABEL pt_area
DATA pd
	.skip 4096
ENDDATA pd
DATA pt0
	.skip 4096
ENDDATA pt0
DATA pt_demand
	.skip 4096
ENDDATA pt_demand
LABEL pt_area_end
DATA pool
	.skip 4 * 4096
ENDDATA pool
