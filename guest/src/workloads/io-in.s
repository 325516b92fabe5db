# io-in — n reads of the POST port 0x80 (Adams & Agesen's `in`).
#
#   args:    n=N  inb instructions (default 4000)
#   output:  io-in: n=N ins=N
#   events per iteration: 1 io/in:0x80
#   self-check: every read returns 0xff (an unclaimed ISA read, as QEMU's
#            port 0x80 gives); any other value exits with EXIT_CHECK_FAILED
#   descriptor tables: none (runs on the loader's flat segments)

.include "rt.inc"

	WORKLOAD io-in, 4000

	.text
FUNC main
	ARG n, $DEFAULT_N
	movl %eax, %ebp                 # n
	movl %eax, %ecx                 # remaining
	xorl %ebx, %ebx                 # reads done
	xorl %edi, %edi                 # reads that were not 0xff
	jecxz 2f
LABEL io_in_loop
1:	PV_INB $PORT_POST
	cmpb $0xff, %al
	je 3f
	incl %edi
3:	incl %ebx
	decl %ecx
	jnz 1b
2:	PRINT "io-in: n="
	PRINT_DEC %ebp
	PRINT " ins="
	PRINT_DEC %ebx
	PRINT_NL
	xorl %eax, %eax
	testl %edi, %edi
	jz 4f
	PRINT "io-in: self-check failed"
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
4:	ret
ENDFUNC main
