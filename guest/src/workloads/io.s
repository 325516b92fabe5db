# io — n writes to the POST port 0x80, the cheapest I/O exit.
#
#   args:    n=N  outb instructions (default 4000)
#   output:  io: n=N outs=N
#   events per iteration: 1 io/out:0x80
#   descriptor tables: none (runs on the loader's flat segments)

.include "rt.inc"

	WORKLOAD io, 4000

	.text
FUNC main
	ARG n, $DEFAULT_N
	movl %eax, %ebp                 # n
	movl %eax, %ecx                 # remaining
	xorl %ebx, %ebx                 # outs done
	jecxz 2f
LABEL io_loop
1:	movb %bl, %al                   # the value written: low byte of the count
	PV_OUTB $PORT_POST
	incl %ebx
	decl %ecx
	jnz 1b
2:	PRINT "io: n="
	PRINT_DEC %ebp
	PRINT " outs="
	PRINT_DEC %ebx
	PRINT_NL
	xorl %eax, %eax
	ret
ENDFUNC main
