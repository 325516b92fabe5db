# pvops.s — the C interface of sdk/virtsim.h over the runtime (rt/) and the
# pv_ops macro layer (include/pvops.inc). Assembled twice: plainly for
# NAME.elf, with --defsym PV=1 for NAME.pv.elf, where every PV_* macro
# becomes a hypercall or a shared-info access. C calling convention (cdecl):
# arguments on the stack, result in %eax, %ebx %esi %edi %ebp preserved.

.include "rt.inc"

	.text
FUNC putc
	movl 4(%esp), %eax
	call rt_putc
	ret
ENDFUNC putc

FUNC puts
	pushl %esi
	movl 8(%esp), %esi
	call rt_puts
	popl %esi
	ret
ENDFUNC puts

FUNC put_dec
	movl 4(%esp), %eax
	call rt_put_dec
	ret
ENDFUNC put_dec

FUNC put_hex
	movl 4(%esp), %eax
	movl 8(%esp), %ecx
	call rt_put_hex
	ret
ENDFUNC put_hex

FUNC arg
	pushl %esi
	movl 8(%esp), %esi
	movl 12(%esp), %eax
	call rt_arg
	popl %esi
	ret
ENDFUNC arg

FUNC exit
	movl 4(%esp), %eax
	jmp rt_exit
ENDFUNC exit

FUNC cpu_init
	jmp rt_cpu_init
ENDFUNC cpu_init

FUNC pic_mask
	jmp rt_pic_mask
ENDFUNC pic_mask

FUNC cli
	PV_CLI
	ret
ENDFUNC cli

FUNC sti
	PV_STI
	ret
ENDFUNC sti

FUNC hlt
	PV_HLT
	ret
ENDFUNC hlt

FUNC safe_halt
	PV_SAFE_HALT
	ret
ENDFUNC safe_halt

FUNC read_flags
	PV_PUSHF
	popl %eax
	ret
ENDFUNC read_flags

FUNC outb
	pushl %ebx                       # the PV expansion may use it
	movl 8(%esp), %edx
	movl 12(%esp), %eax
	PV_OUTB %dx
	popl %ebx
	ret
ENDFUNC outb

FUNC inb
	pushl %ebx
	movl 8(%esp), %edx
	xorl %eax, %eax
	PV_INB %dx
	movzbl %al, %eax
	popl %ebx
	ret
ENDFUNC inb

FUNC read_cr0
	PV_READ_CR0 %eax
	ret
ENDFUNC read_cr0

FUNC lgdt
	movl 4(%esp), %eax
	PV_LGDT (%eax)
	ret
ENDFUNC lgdt

FUNC lidt
	movl 4(%esp), %eax
	PV_LIDT (%eax)
	ret
ENDFUNC lidt

FUNC sgdt
	movl 4(%esp), %eax
	PV_SGDT (%eax)
	ret
ENDFUNC sgdt

FUNC sidt
	movl 4(%esp), %eax
	PV_SIDT (%eax)
	ret
ENDFUNC sidt

FUNC set_gate
	movl 4(%esp), %eax
	movl 8(%esp), %edx
	movl 12(%esp), %ecx
	jmp rt_set_gate
ENDFUNC set_gate

# sdk_isr_stubs — 256 entries of 16 bytes: make every frame look alike
# (a 0 where the CPU pushes no error code), push the vector, go to the
# common entry.
	.balign 16
FUNC sdk_isr_stubs
	.set vec, 0
	.rept 256
	.balign 16
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17)
	pushl $vec
	.else
	pushl $0
	pushl $vec
	.endif
	jmp sdk_isr_common
	.set vec, vec + 1
	.endr
ENDFUNC sdk_isr_stubs

# sdk_isr_common — save the registers as struct regs, call the C dispatcher
# with a pointer to them, restore (a handler may have changed them) and
# return from the interrupt through the pv_ops layer.
FUNC sdk_isr_common
	pushal
	cld
	pushl %esp
	call sdk_dispatch
	addl $4, %esp
	popal
	addl $8, %esp                    # vector, error code
	PV_IRET
ENDFUNC sdk_isr_common
