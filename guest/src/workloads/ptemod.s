# ptemod — n page-table updates, each followed by invlpg and a use of the
# page (Adams & Agesen's ptemod microbenchmark).
#
#   args:    n=N  updates (default 1000)
#   output:  ptemod: n=N sum=0x...
#   events per iteration: 1 PTE write, 1 priv/invlpg, then a read through
#            the new mapping
#   one-time: rt_cpu_init, rt_paging_on, the window's directory entry
#   self-check: update i maps the window onto frame (i mod 2), whose first
#            word is 1 or 2; the sum of the reads is exact
#
# Layout: 0-4 MiB identity (rt_paging_on); the window at 0x00800000 (PDE 2,
# table pt_win), remapped on every iteration.

.include "rt.inc"
.include "paging.inc"

	WORKLOAD ptemod, 1000

	.set WIN, 0x00800000
	.set PTE_P, 0x001
	.set PTE_W, 0x002

	.text
FUNC main
	call rt_cpu_init
	ARG n, $DEFAULT_N
	movl %eax, nr
	movl $pd, %esi
	movl $pt0, %edi
	call rt_paging_on
	movl $pd + 2 * 4, %edi
	movl $pt_win + PTE_P + PTE_W, %eax
	PV_SET_PTE %edi, %eax
	movl $1, frames
	movl $2, frames + 4096

	xorl %edi, %edi
	movl $pt_win, %ebx
	cmpl $0, nr
	je 2f
LABEL ptemod_loop
1:	movl %edi, %eax
	andl $1, %eax
	shll $12, %eax
	addl $frames + PTE_P, %eax
	PV_SET_PTE %ebx, %eax
	PV_INVLPG WIN
	movl WIN, %eax
	addl %eax, sum
	incl %edi
	cmpl nr, %edi
	jb 1b
2:	PRINT "ptemod: n="
	PRINT_DEC nr
	PRINT " sum="
	PRINT_HEX sum
	PRINT_NL
	# sum = n + n/2 (frames 1,2,1,2,...: n/2 twos and n - n/2 ones)
	movl nr, %eax
	movl %eax, %ecx
	shrl $1, %ecx
	addl %ecx, %eax
	movl $EXIT_CHECK_FAILED, %ecx
	cmpl sum, %eax
	jne 3f
	movl $EXIT_OK, %ecx
3:	movl %ecx, %eax
	ret
ENDFUNC main

	.data
	.balign 4
DATA nr
	.long 0
ENDDATA nr
DATA sum
	.long 0
ENDDATA sum

	.bss
	.balign 4096
LABEL pt_area
DATA pd
	.skip 4096
ENDDATA pd
DATA pt0
	.skip 4096
ENDDATA pt0
DATA pt_win
	.skip 4096
ENDDATA pt_win
LABEL pt_area_end
DATA frames
	.skip 2 * 4096
ENDDATA frames
