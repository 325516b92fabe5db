# mbinfo: a kernel that reads what its multiboot loader told it, as most
# hobby kernels print first: the magic, the info block's flags, mem_lower
# and mem_upper, the boot device, the command line, the modules, the
# memory map (every entry: base, length, type) and the boot loader's name.
	.include "corpus.inc"
_start:
	mov $stack_top, %esp
	mov %ebx, %ebp		# the info block
	SAY "magic="
	HEX %eax
	SAY " flags="
	HEX (%ebp)
	PUTC '\n'
	testl $1, (%ebp)
	jz 1f
	SAY "mem lower="
	HEX 4(%ebp)
	SAY " upper="
	HEX 8(%ebp)
	PUTC '\n'
1:	testl $2, (%ebp)
	jz 1f
	SAY "boot device="
	HEX 12(%ebp)
	PUTC '\n'
1:	testl $4, (%ebp)
	jz 1f
	SAY "cmdline present\n"	# (QEMU's begins with the kernel's file name)
1:	testl $8, (%ebp)
	jz 1f
	SAY "mods="
	HEX 20(%ebp)
	PUTC '\n'
1:	testl $0x40, (%ebp)
	jz 1f
	SAY "mmap length="
	HEX 44(%ebp)
	PUTC '\n'
	mov 48(%ebp), %esi	# mmap_addr
	mov %esi, %edi
	add 44(%ebp), %edi	# its end
2:	cmp %edi, %esi
	jae 1f
	SAY " size="
	HEX (%esi)
	SAY " base="
	HEX 8(%esi)
	HEX 4(%esi)
	SAY " len="
	HEX 16(%esi)
	HEX 12(%esi)
	SAY " type="
	HEX 20(%esi)
	PUTC '\n'
	add (%esi), %esi
	add $4, %esi
	jmp 2b
1:	testl $0x200, (%ebp)
	jz 1f
	SAY "loader="
	PUTC '"'
	mov 64(%ebp), %esi
	call put_str
	PUTC '"'
	PUTC '\n'
1:	SAY "done\n"
	EXIT 0
	.include "lib.inc"

	.bss
	.balign 16
	.space 4096
stack_top:
