# entry.s — multiboot header, entry point, stacks, exit.
#
# The loader (QEMU, GRUB, virtsim) finds the multiboot header in the first
# 8 KiB of the file (link.ld puts .multiboot at the start of .text), loads
# the ELF segments at their physical addresses (1 MiB up) and jumps to
# _start in 32-bit protected mode with flat segments, CPL 0, paging off,
# IF=0, EAX = MB_BOOT_MAGIC and EBX = the multiboot info block.
#
# _start switches to the runtime's own stack, copies the command line out of
# the info block (so nothing later depends on where the loader put it),
# calls the workload's `main` and exits with main's return value.

.include "rt.inc"

	.section .multiboot, "a"
	.balign 4
DATA mb_header
	.long MB_HEADER_MAGIC
	.long MB_HEADER_FLAGS
	.long -(MB_HEADER_MAGIC + MB_HEADER_FLAGS)
ENDDATA mb_header

	.set CMDLINE_MAX, 256            # bytes kept of the command line, NUL included
	.set STACK_SIZE, 16384

	.text
FUNC _start
	movl $rt_stack_top, %esp
	cld
	movl %eax, rt_mb_magic
	movl %ebx, rt_mb_info
	call rt_copy_cmdline
	call main
	jmp rt_exit
ENDFUNC _start

# rt_copy_cmdline — copy the multiboot command line (when EAX held the boot
# magic and the info block says the cmdline field is valid) into rt_cmdline,
# truncated to CMDLINE_MAX-1 bytes. rt_cmdline stays empty otherwise.
FUNC rt_copy_cmdline
	pushal
	cmpl $MB_BOOT_MAGIC, rt_mb_magic
	jne 9f
	movl rt_mb_info, %ebx
	testl %ebx, %ebx
	jz 9f
	testl $MB_FLAG_CMDLINE, MB_INFO_FLAGS(%ebx)
	jz 9f
	movl MB_INFO_CMDLINE(%ebx), %esi
	testl %esi, %esi
	jz 9f
	movl $rt_cmdline, %edi
	movl $CMDLINE_MAX-1, %ecx
1:	lodsb
	testb %al, %al
	jz 9f
	stosb
	loop 1b
9:	popal
	ret
ENDFUNC rt_copy_cmdline

# rt_exit — %eax = status. Flush the console, then PV_EXIT. Never returns.
FUNC rt_exit
	call rt_flush
	PV_EXIT %eax
ENDFUNC rt_exit

	.data
	.balign 4
DATA rt_mb_magic
	.long 0
ENDDATA rt_mb_magic
DATA rt_mb_info
	.long 0
ENDDATA rt_mb_info

	.bss
	.balign 16
DATA rt_cmdline
	.skip CMDLINE_MAX
ENDDATA rt_cmdline
	.balign 16
DATA rt_stack
	.skip STACK_SIZE
ENDDATA rt_stack
DATA rt_stack_top
ENDDATA rt_stack_top
