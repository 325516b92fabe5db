# entrystack: a kernel that uses the stack its loader left before setting
# up its own (the multiboot specification leaves ESP undefined, but QEMU's
# loader leaves a usable one, and kernels written against QEMU rely on
# it): it pushes the multiboot registers and calls its C-style entry with
# them as arguments, which reports ESP at entry and the magic.
	.include "corpus.inc"
_start:
	mov %esp, %edi		# ESP at entry
	push %ebx		# the info block
	push %eax		# the magic
	call kmain
	add $8, %esp
	SAY "back on the loader's stack\n"
	mov $stack_top, %esp
	EXIT 0

kmain:	SAY "entry esp="
	HEX %edi
	SAY " magic="
	HEX 4(%esp)
	SAY " info="
	HEX 8(%esp)
	PUTC '\n'
	ret
	.include "lib.inc"
	.bss
	.space 4096
stack_top:
