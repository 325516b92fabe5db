# compute — an ALU loop with no exits: xorshift32 and a rolling checksum.
#
#   args:    n=N  iterations (default 100000)
#   output:  compute: n=N checksum=0xXXXXXXXX
#   events per iteration: none (17 instructions, registers only)
#   descriptor tables: none (runs on the loader's flat segments)
#
# The checksum, for i = 1..N:
#   x ^= x << 13; x ^= x >> 17; x ^= x << 5      (x starts at 0x12345678)
#   sum = rol32(sum * 31 + (x ^ i), 5)            (sum starts at 0)
# guest/qemu_test.go recomputes it in Go.

.include "rt.inc"

	WORKLOAD compute, 100000

	.text
FUNC main
	ARG n, $DEFAULT_N
	pushl %eax
	movl %eax, %ecx                 # remaining
	movl $0x12345678, %esi          # x
	xorl %edi, %edi                 # sum
	xorl %ebx, %ebx                 # i
	jecxz 2f
LABEL compute_loop
1:	incl %ebx
	movl %esi, %eax
	shll $13, %eax
	xorl %eax, %esi
	movl %esi, %eax
	shrl $17, %eax
	xorl %eax, %esi
	movl %esi, %eax
	shll $5, %eax
	xorl %eax, %esi
	imull $31, %edi, %edi
	movl %esi, %eax
	xorl %ebx, %eax
	addl %eax, %edi
	roll $5, %edi
	decl %ecx
	jnz 1b
2:	popl %eax
	PRINT "compute: n="
	PRINT_DEC %eax
	PRINT " checksum="
	PRINT_HEX %edi
	PRINT_NL
	xorl %eax, %eax
	ret
ENDFUNC main
