# cpuid — prints the CPU model the guest sees, then n cpuid instructions.
#
#   args:    n=N  cpuid (leaf 0) instructions in the timed loop (default 4000)
#   output:  cpuid: leaf=0xLLLLLLLL eax=0x... ebx=0x... ecx=0x... edx=0x...
#              for every basic leaf 0..max and every extended leaf
#              0x80000000..max (subleaf ecx=0 for all of them)
#            cpuid: vendor=VVVVVVVVVVVV
#            cpuid: brand="..."          (when leaf 0x80000004 exists)
#            cpuid: n=N calls=N
#   events per iteration: 1 cpuid
#   self-check: every loop cpuid must return leaf 0's vendor again
#   descriptor tables: none (runs on the loader's flat segments)
#
# virtsim's CPU model is built to print the same as QEMU -cpu qemu32
# (guest/testdata/qemu-cpuid.txt).

.include "rt.inc"

	WORKLOAD cpuid, 4000

	.set MAX_LEAVES, 32              # print at most this many leaves per range

	.text
FUNC main
	# basic leaves
	xorl %eax, %eax
	xorl %ecx, %ecx
	PV_CPUID
	movl %eax, max_basic
	movl %ebx, vendor
	movl %edx, vendor + 4
	movl %ecx, vendor + 8
	xorl %eax, %eax
	movl max_basic, %ebx
	call print_range

	# extended leaves
	movl $0x80000000, %eax
	xorl %ecx, %ecx
	PV_CPUID
	movl %eax, max_ext
	movl %eax, %ebx
	andl $0xffff0000, %ebx
	cmpl $0x80000000, %ebx          # no extended range: max_ext is garbage
	jne 1f
	movl $0x80000000, %eax
	movl max_ext, %ebx
	call print_range
1:
	PRINT "cpuid: vendor="
	movl $vendor, %esi
	call rt_puts
	PRINT_NL

	# brand string (leaves 0x80000002..4)
	cmpl $0x80000004, max_ext
	jb 3f
	cmpl $0x8000ffff, max_ext
	ja 3f
	movl $0x80000002, %eax
	movl $brand, %edi
2:	pushl %eax
	xorl %ecx, %ecx
	PV_CPUID
	movl %eax, (%edi)
	movl %ebx, 4(%edi)
	movl %ecx, 8(%edi)
	movl %edx, 12(%edi)
	addl $16, %edi
	popl %eax
	incl %eax
	cmpl $0x80000004, %eax
	jbe 2b
	PRINT "cpuid: brand="
	movb $'"', %al
	call rt_putc
	movl $brand, %esi
	call rt_puts
	movb $'"', %al
	call rt_putc
	PRINT_NL
3:
	# the loop
	ARG n, $DEFAULT_N
	movl %eax, %ebp
	xorl %edi, %edi                 # calls
	xorl %esi, %esi                 # mismatches
	testl %ebp, %ebp
	jz 5f
LABEL cpuid_loop
4:	xorl %eax, %eax
	xorl %ecx, %ecx
	PV_CPUID
	incl %edi
	cmpl vendor, %ebx
	je 6f
	incl %esi
6:	cmpl %ebp, %edi
	jb 4b
5:	PRINT "cpuid: n="
	PRINT_DEC %ebp
	PRINT " calls="
	PRINT_DEC %edi
	PRINT_NL
	movl $EXIT_OK, %eax
	testl %esi, %esi
	jz 7f
	PRINT "cpuid: self-check failed: vendor changed"
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
7:	ret
ENDFUNC main

# print_range — print leaves %eax..%ebx (at most MAX_LEAVES of them).
FUNC print_range
	pushal
	movl %eax, %ebp                 # current leaf
	movl %ebx, %edi                 # last leaf
	movl $MAX_LEAVES, %esi
1:	cmpl %edi, %ebp
	ja 2f
	movl %ebp, %eax
	xorl %ecx, %ecx
	PV_CPUID
	PRINT "cpuid: leaf="
	PRINT_HEX %ebp
	PRINT " eax="
	PRINT_HEX %eax
	PRINT " ebx="
	PRINT_HEX %ebx
	PRINT " ecx="
	PRINT_HEX %ecx
	PRINT " edx="
	PRINT_HEX %edx
	PRINT_NL
	incl %ebp
	decl %esi
	jnz 1b
2:	popal
	ret
ENDFUNC print_range

	.data
	.balign 4
DATA max_basic
	.long 0
ENDDATA max_basic
DATA max_ext
	.long 0
ENDDATA max_ext
DATA vendor
	.skip 12
	.byte 0
ENDDATA vendor
	.balign 4
DATA brand
	.skip 48
	.byte 0
ENDDATA brand
