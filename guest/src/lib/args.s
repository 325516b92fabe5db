# args.s — `key=value` arguments from the multiboot command line.
#
# The command line is split at spaces and tabs. Words without the `key=`
# form are ignored (QEMU puts the kernel's file name first). The first
# `key=` word wins. Values are unsigned 32-bit numbers, decimal or with a
# 0x prefix hexadecimal; anything else (empty, stray characters, overflow)
# prints `NAME: bad value for argument KEY` and exits with EXIT_BAD_ARGS.

.include "rt.inc"

	.text
# rt_arg — %esi = key (NUL-terminated), %eax = default. Returns %eax.
FUNC rt_arg
	pushl %ebx
	pushl %ecx
	pushl %edx
	pushl %edi
	pushl %ebp
	movl %eax, %ebp                 # default
	movl $rt_cmdline, %edi
.Lword:
	movb (%edi), %al                # skip blanks
	cmpb $' ', %al
	je .Lblank
	cmpb $'\t', %al
	je .Lblank
	testb %al, %al
	jz .Lnotfound
	# compare the word with "key="
	movl %esi, %ebx
	movl %edi, %edx
.Lcmp:
	movb (%ebx), %al
	testb %al, %al
	jz .Lkeyend
	cmpb (%edx), %al
	jne .Lskipword
	incl %ebx
	incl %edx
	jmp .Lcmp
.Lkeyend:
	cmpb $'=', (%edx)
	jne .Lskipword
	leal 1(%edx), %edi
	call parse_number               # %edi -> %eax, CF=1 on error
	jc .Lbad
	jmp .Lout
.Lskipword:
	movb (%edi), %al
	testb %al, %al
	jz .Lnotfound
	cmpb $' ', %al
	je .Lword
	cmpb $'\t', %al
	je .Lword
	incl %edi
	jmp .Lskipword
.Lblank:
	incl %edi
	jmp .Lword
.Lnotfound:
	movl %ebp, %eax
.Lout:
	popl %ebp
	popl %edi
	popl %edx
	popl %ecx
	popl %ebx
	ret
.Lbad:
	pushl %esi
	movl $rt_workload_name, %esi
	call rt_puts
	popl %esi
	PRINT ": bad value for argument "
	call rt_puts
	PRINT_NL
	movl $EXIT_BAD_ARGS, %eax
	jmp rt_exit
ENDFUNC rt_arg

# parse_number — parse the value starting at %edi up to a blank or NUL.
# Returns %eax, CF=0; CF=1 if malformed or over 32 bits. Clobbers %ebx,
# %ecx, %edx, %edi.
FUNC parse_number
	xorl %eax, %eax
	movl $10, %ebx                  # base
	cmpb $'0', (%edi)
	jne 1f
	movb 1(%edi), %cl
	orb $0x20, %cl                  # 'X' -> 'x'
	cmpb $'x', %cl
	jne 1f
	movl $16, %ebx
	addl $2, %edi
1:	xorl %ecx, %ecx                 # digits seen
.Ldigit:
	movzbl (%edi), %edx
	testl %edx, %edx
	jz .Lend
	cmpl $' ', %edx
	je .Lend
	cmpl $'\t', %edx
	je .Lend
	subl $'0', %edx
	cmpl $9, %edx
	jbe .Lhave
	cmpl $16, %ebx
	jne .Lerr
	orl $0x20, %edx                 # ('A'-'0')|0x20 == 'a'-'0'
	subl $('a'-'0'), %edx
	cmpl $5, %edx
	ja .Lerr
	addl $10, %edx
.Lhave:
	pushl %edx
	mull %ebx                       # %edx:%eax = value * base
	testl %edx, %edx
	popl %edx
	jnz .Lerr
	addl %edx, %eax
	jc .Lerr
	incl %ecx
	incl %edi
	jmp .Ldigit
.Lend:
	testl %ecx, %ecx
	jz .Lerr
	clc
	ret
.Lerr:
	stc
	ret
ENDFUNC parse_number
