# ptestore — n × 4 stores to a page-table entry of a page table in use,
# with no invlpg and no use of the mapping between them: Adams & Agesen's
# ptemod nanobenchmark as the paper describes it ("the native single cycle
# store" of a PTE that the VMM's traces must see — quoted, not checked
# against a copy here). ptemod adds an invlpg and a read through the new
# mapping to each update.
#
#   args:    n=N  iterations of 4 PTE stores (default 1000)
#   output:  ptestore: n=N stores=4N word=0x2
#   events per iteration: 4 PTE writes (native records none: the CPU
#            stores; a VMM that traces the table sees each one)
#   one-time: rt_cpu_init, rt_paging_on, the window's directory entry, one
#            read through the window before the loop (the page table is in
#            use, so a shadowing VMM traces it) and one after (invlpg, then
#            the self-check)
#   self-check: the stores map the window onto frames 1, 2, 1, 2, ...; after
#            the last (frame 2) an invlpg and a read must see frame 2's word
#
# Layout: 0-4 MiB identity (rt_paging_on); the window at 0x00800000 (PDE 2,
# table pt_win), its PTE 0 rewritten by every store.

.include "rt.inc"
.include "paging.inc"

	WORKLOAD ptestore, 1000

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
	movl $pt_win, %ebx
	movl $frames + PTE_P, %eax
	PV_SET_PTE %ebx, %eax
	movl WIN, %eax                  # the table is in use: traced from now on

	movl $frames + PTE_P, %esi              # PTE onto frame 1
	movl $frames + 4096 + PTE_P, %edi       # PTE onto frame 2
	movl nr, %ecx
	testl %ecx, %ecx
	jz 2f
LABEL ptestore_loop
1:	PV_SET_PTE %ebx, %esi
	PV_SET_PTE %ebx, %edi
	PV_SET_PTE %ebx, %esi
	PV_SET_PTE %ebx, %edi
	decl %ecx
	jnz 1b
	PV_INVLPG WIN
2:	movl WIN, %eax
	movl %eax, word
	PRINT "ptestore: n="
	PRINT_DEC nr
	PRINT " stores="
	movl nr, %eax
	shll $2, %eax
	PRINT_DEC %eax
	PRINT " word="
	PRINT_HEX word, 1
	PRINT_NL
	movl $EXIT_OK, %eax
	movl $2, %ecx                   # frame 2 after a loop, frame 1 without one
	cmpl $0, nr
	jne 3f
	movl $1, %ecx
3:	cmpl word, %ecx
	je 4f
	movl $EXIT_CHECK_FAILED, %eax
4:	ret
ENDFUNC main

	.data
	.balign 4
DATA nr
	.long 0
ENDDATA nr
DATA word
	.long 0
ENDDATA word

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
