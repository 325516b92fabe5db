# call-ret — n iterations of a nested call: outer calls inner, both return.
#
#   args:    n=N  iterations (default 100000)
#   output:  call-ret: n=N calls=2N result=0xXXXXXXXX
#   events per iteration: none (2 call/ret pairs, one nested; under binary
#            translation each ret is an indirect-branch lookup)
#   descriptor tables: none (runs on the loader's flat segments)
#
# For i = 0..N-1 (acc starts at 0):
#   inner(a, i) = (a ^ i) * 3 + 1
#   outer(a, i) = rol32(inner(a, i), 1)
#   acc = outer(acc, i)
# The calls are counted in a register (%edi) by the callees themselves.
# guest/qemu_test.go recomputes the result in Go.

.include "rt.inc"

	WORKLOAD call-ret, 100000

	.text
FUNC main
	ARG n, $DEFAULT_N
	pushl %eax
	movl %eax, %ebp                 # n
	xorl %eax, %eax                 # acc
	xorl %ecx, %ecx                 # i
	xorl %edi, %edi                 # calls
	testl %ebp, %ebp
	jz 2f
LABEL call_ret_loop
1:	call outer
	incl %ecx
	cmpl %ebp, %ecx
	jb 1b
2:	movl %eax, %ebx
	popl %eax
	PRINT "call-ret: n="
	PRINT_DEC %eax
	PRINT " calls="
	PRINT_DEC %edi
	PRINT " result="
	PRINT_HEX %ebx
	PRINT_NL
	xorl %eax, %eax
	ret
ENDFUNC main

# outer — %eax = acc, %ecx = i; returns %eax; counts itself in %edi.
FUNC outer
	incl %edi
	call inner
	roll $1, %eax
	ret
ENDFUNC outer

# inner — %eax = acc, %ecx = i; returns (acc ^ i) * 3 + 1; counts in %edi.
FUNC inner
	incl %edi
	xorl %ecx, %eax
	leal 1(%eax,%eax,2), %eax
	ret
ENDFUNC inner
