# irq-toggle — n cli/sti pairs.
#
#   args:    n=N  pairs (default 4000)
#   output:  irq-toggle: n=N pairs=N
#   events per iteration: 1 priv/cli + 1 priv/sti
#   one-time: rt_cpu_init (lgdt, segment loads, lidt, ltr) and rt_pic_mask
#            (io/out:0x21, io/out:0xa1): with IF=1 a pending timer IRQ
#            from the firmware (QEMU) would otherwise arrive
#   descriptor tables: the runtime's (lib/cpu.s)

.include "rt.inc"

	WORKLOAD irq-toggle, 4000

	.text
FUNC main
	call rt_cpu_init
	call rt_pic_mask
	ARG n, $DEFAULT_N
	movl %eax, %ecx
	xorl %ebx, %ebx                 # pairs done
	jecxz 2f
LABEL irq_toggle_loop
1:	PV_CLI
	PV_STI
	incl %ebx
	decl %ecx
	jnz 1b
	PV_CLI
2:	PRINT "irq-toggle: n="
	PRINT_DEC %eax
	PRINT " pairs="
	PRINT_DEC %ebx
	PRINT_NL
	xorl %eax, %eax
	ret
ENDFUNC main
