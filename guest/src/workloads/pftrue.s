# pftrue — n true page faults: each read of a page that is not present is
# handled by the guest's #PF handler, which checks the fault and resumes
# after the faulting read, mapping nothing (Adams & Agesen's pgfault as the
# paper describes it: a test that "targets the overheads for true page
# faults", divzero having "fault semantics similar to those of page
# faults" — quoted, not checked against a copy here). pgfault instead
# maps the page in the handler and unmaps it after each touch.
#
#   args:    n=N  faults (default 1000)
#   output:  pftrue: n=N faults=N
#   events per iteration: 1 exc/#PF (a not-present read, error code 0) whose
#            handler reads CR2 (1 priv/mov-from-cr2) and returns with iret
#   one-time: rt_cpu_init, rt_paging_on (1025 PTE writes, CR3, CR0), the
#            hole's directory entry (its table stays empty)
#   self-check: the handler accepts only a not-present supervisor read at
#            pftrue_site of the expected address; every read faults
#
# Layout: 0-4 MiB identity (rt_paging_on); 0x00800000-0x00BFFFFF (PDE 2)
# the hole, table pt_hole, no entry present. Read i touches HOLE + (i mod
# 256) pages.

.include "rt.inc"
.include "paging.inc"

	WORKLOAD pftrue, 1000

	.set HOLE, 0x00800000
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
	movl $pt_hole + PTE_P + PTE_W, %eax
	PV_SET_PTE %edi, %eax

	xorl %edi, %edi                 # reads made
	cmpl $0, nr
	je 2f
LABEL pftrue_loop
1:	movl %edi, %ebx
	andl $255, %ebx
	shll $12, %ebx
	addl $HOLE, %ebx                # the page to read
	movl %ebx, expect
LABEL pftrue_site
	movl (%ebx), %eax               # #PF: not present
LABEL pftrue_resume
	incl %edi
	cmpl nr, %edi
	jb 1b
2:	PRINT "pftrue: n="
	PRINT_DEC nr
	PRINT " faults="
	PRINT_DEC faults
	PRINT_NL
	movl $EXIT_OK, %eax
	movl nr, %ecx
	cmpl faults, %ecx
	je 3f
	movl $EXIT_CHECK_FAILED, %eax
3:	ret
ENDFUNC main

# pf_handler — #PF. Frame: error code, EIP, CS, EFLAGS. Checks the fault
# and resumes after the faulting read.
FUNC pf_handler
	pushl %eax
	cmpl $0, 4(%esp)                # not present, read, supervisor
	jne 1f
	cmpl $pftrue_site, 8(%esp)
	jne 1f
	PV_READ_CR2 %eax
	cmpl expect, %eax
	jne 1f
	incl faults
	movl $pftrue_resume, 8(%esp)
	popl %eax
	addl $4, %esp                   # drop the error code
	PV_IRET
1:	PRINT "pftrue: self-check failed: unexpected #PF code="
	PRINT_HEX 4(%esp)
	PRINT " eip="
	PRINT_HEX 8(%esp)
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
DATA pt_hole
	.skip 4096
ENDDATA pt_hole
LABEL pt_area_end
