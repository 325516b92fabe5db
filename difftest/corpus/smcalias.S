# smcalias: a kernel that patches code it has run, through a second
# mapping of the same page (as a kernel with a writable alias of its
# read-only text does: Linux's text_poke through a temporary mapping):
# paging on, codepg identity-mapped read-only and mapped again writable at
# 0x800000. The code page never stores into itself (see corpus smcbuf):
#   - run fn (mov $imm, %eax; ret): its immediate
#   - patch the immediate through the identity mapping (WP clear), run
#   - patch it through the alias, run
#   - copy a new body over fn through the alias with rep movsb, run
#   - fn2's jmp displacement rewritten through the alias, and back
# native and trap meet libunicorn 2.1.1's stale-code bug here (known.go's
# staleCode: the second store through the alias's TLB entry is missed);
# bt, which write-protects the pages it translated, agrees with QEMU.
	.include "corpus.inc"
	.set ALIAS, 0x800000
_start:
	mov $stack_top, %esp
	mov $ptab, %edi		# 0-4 MiB identity, writable
	mov $3, %eax
	mov $1024, %ecx
1:	mov %eax, (%edi)
	add $4096, %eax
	add $4, %edi
	loop 1b
	mov $codepg, %eax	# codepg read-only
	shr $12, %eax
	andl $~2, ptab(,%eax,4)
	mov $codepg+3, %eax	# the alias: 0x800000 -> codepg, writable
	mov %eax, ptab2
	movl $ptab+3, pdir
	movl $ptab2+3, pdir+(ALIAS>>22)*4
	mov $pdir, %eax
	mov %eax, %cr3
	mov %cr0, %eax
	or $0x80000000, %eax	# paging, WP clear
	mov %eax, %cr0
	SAY "fn:"
	call show
	movl $0x22222222, fn+1	# through the identity mapping (WP=0)
	call show
	movl $0x33333333, ALIAS+(fn-codepg)+1	# through the alias
	call show
	mov $newbody, %esi	# a new body through the alias
	mov $ALIAS+(fn-codepg), %edi
	mov $newbody_end-newbody, %ecx
	cld
	rep movsb
	call show
	PUTC '\n'
	SAY "fn2:"
	call fn2
	PUTC ' '
	call put_hex
	movb $(two-one), ALIAS+(fn2-codepg)+1	# retarget the jmp
	call fn2
	PUTC ' '
	call put_hex
	movb $0, ALIAS+(fn2-codepg)+1		# and back
	call fn2
	PUTC ' '
	call put_hex
	PUTC '\n'
	EXIT 0

show:	call fn
	PUTC ' '
	call put_hex
	ret

newbody:
	mov $0x4444, %eax
	add $0x4444, %eax
	ret
newbody_end:

	.section .text.codepg, "ax"
	.balign 4096
codepg:
fn:	mov $0x11111111, %eax
	ret
	.space 16, 0x90
fn2:	jmp 1f
1:
one:	mov $1, %eax
	ret
two:	mov $2, %eax
	ret
	.balign 4096
	.text
	.include "lib.inc"
	.bss
	.balign 4096
pdir:	.space 4096
ptab:	.space 4096
ptab2:	.space 4096
	.space 4096
stack_top:
