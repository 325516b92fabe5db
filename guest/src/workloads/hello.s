# hello — the smallest workload: prints a greeting line n times.
#
#   args:    n=N  greeting lines (default 1)
#   output:  N x "Hello from a virtsim guest!"
#            hello: n=N greetings=N
#   events per iteration: one 28-byte console line = 28 io/in:0x3fd +
#            28 io/out:0x3f8 natively (one console_write in the PV build)
#   descriptor tables: none (runs on the loader's flat segments)

.include "rt.inc"

	WORKLOAD hello, 1

	.text
FUNC main
	ARG n, $DEFAULT_N
	movl %eax, %ecx
	xorl %ebx, %ebx                 # greetings printed
	jecxz 2f
1:	PRINT "Hello from a virtsim guest!"
	PRINT_NL
	incl %ebx
	loop 1b
2:	PRINT "hello: n="
	PRINT_DEC %eax
	PRINT " greetings="
	PRINT_DEC %ebx
	PRINT_NL
	xorl %eax, %eax                 # EXIT_OK
	ret
ENDFUNC main
