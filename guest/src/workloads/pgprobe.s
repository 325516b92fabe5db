# pgprobe — the Popek-Goldberg probe: what does the kernel observe from the
# sensitive but unprivileged instructions?
#
# At CPL 0 on real hardware (and QEMU, and virtsim's native strategy) every
# probe sees exactly the state the kernel set. A VMM that runs the kernel
# deprivileged (trap: CPL 1) cannot intercept these instructions, so there
# they reveal the VMM's real state instead: that is the output to compare.
#
#   args:    n=N  probe rounds (default 1); results are from the last round
#   output (one line per probe; values are state the workload set itself):
#     pgprobe: cli-if=0                IF seen by pushf right after cli
#     pgprobe: popf-if=1               IF seen by pushf after popf with IF=1
#     pgprobe: cs=0x0008 cs-rpl=0      mov %cs: the RPL is the CPL
#     pgprobe: ss=0x0010 ss-rpl=0      mov %ss
#     pgprobe: sgdt-base=0x... sgdt-limit=0x002f sgdt-match=1   vs its lgdt
#     pgprobe: sidt-base=0x... sidt-limit=0x07ff sidt-match=1   vs its lidt
#     pgprobe: str=0x0028              task register, vs its ltr
#     pgprobe: mov-cr0=0xb smsw=0xb    CR0 bits 3..0 (TS EM MP PE) after it
#                                      wrote PE|MP|TS; mov from CR0 is
#                                      privileged, smsw is not. (Bit 4, ET,
#                                      is hardwired to 1 on QEMU: not shown.)
#                                      trap mirrors the FPU bits (MP EM TS
#                                      NE) into the real CR0, so smsw shows
#                                      the guest's: a leak a VMM can close.
#     pgprobe: lar-cs=0x00c09b00 lar-ok=1   access rights of KERNEL_CS
#     pgprobe: n=N rounds=N
#   events per round: 2 priv/cli (one before each probe of IF, one to undo
#            the popf) + 2 priv/mov-cr0 (write PE|MP|TS, restore) +
#            1 priv/mov-from-cr0 (+1 more once, to save the original) — and
#            the unprivileged pushf x2, popf, mov %cs, mov %ss, sgdt, sidt,
#            str, smsw, lar, which never exit
#   one-time: rt_cpu_init (lgdt, segment loads, lidt, ltr), rt_pic_mask
#            (io/out:0x21, io/out:0xa1; popf really sets IF at CPL 0)
#   self-check: none (what is observed is the result)

.include "rt.inc"

	WORKLOAD pgprobe, 1

	.text
FUNC main
	call rt_cpu_init
	call rt_pic_mask
	PV_READ_CR0 %eax
	movl %eax, cr0_orig
	ARG n, $DEFAULT_N
	movl %eax, %ebp
	xorl %edi, %edi                 # rounds
	testl %ebp, %ebp
	jz 2f
1:	call probe_round
	incl %edi
	cmpl %ebp, %edi
	jb 1b
	call print_results
2:	PRINT "pgprobe: n="
	PRINT_DEC %ebp
	PRINT " rounds="
	PRINT_DEC %edi
	PRINT_NL
	xorl %eax, %eax
	ret
ENDFUNC main

# probe_round — run every probe once, store what was observed.
FUNC probe_round
	pushal

	# IF after cli, seen by pushf
	PV_CLI
LABEL probe_cli_pushf
	PV_PUSHF
	popl %eax
	shrl $9, %eax
	andl $1, %eax
	movl %eax, cli_if

	# popf with IF=1, then pushf: at CPL 0 IF is now set
	PV_PUSHF
	popl %eax
	orl $EFLAGS_IF, %eax
	pushl %eax
LABEL probe_popf
	PV_POPF
	PV_PUSHF
	popl %eax
	PV_CLI                          # undo at once (the PIC is masked anyway)
	shrl $9, %eax
	andl $1, %eax
	movl %eax, popf_if

	# segment selectors
LABEL probe_mov_cs
	PV_READ_CS %eax
	movl %eax, cs_sel
	PV_READ_SS %eax
	movl %eax, ss_sel

	# sgdt / sidt against what rt_cpu_init loaded
LABEL probe_sgdt
	PV_SGDT sgdt_buf
	PV_SIDT sidt_buf

	# str
	xorl %eax, %eax
	PV_STR %ax
	movl %eax, tr_sel

	# CR0: write PE|MP|TS (EM=0) ourselves, read it back both ways
	movl cr0_orig, %eax
	andl $~(CR0_MP | CR0_EM | CR0_TS), %eax
	orl $(CR0_PE | CR0_MP | CR0_TS), %eax
	PV_WRITE_CR0 %eax
	PV_READ_CR0 %eax
	andl $0xf, %eax
	movl %eax, cr0_read
LABEL probe_smsw
	PV_SMSW %eax
	andl $0xf, %eax
	movl %eax, smsw_read
	movl cr0_orig, %eax
	PV_WRITE_CR0 %eax

	# lar of our own code selector
	movl $KERNEL_CS, %ecx
	xorl %eax, %eax
LABEL probe_lar
	PV_LAR %ecx, %eax
	setz %bl
	movzbl %bl, %ebx
	movl %eax, lar_cs
	movl %ebx, lar_ok

	popal
	ret
ENDFUNC probe_round

FUNC print_results
	pushal
	PRINT "pgprobe: cli-if="
	PRINT_DEC cli_if
	PRINT_NL
	PRINT "pgprobe: popf-if="
	PRINT_DEC popf_if
	PRINT_NL

	PRINT "pgprobe: cs="
	PRINT_HEX cs_sel, 4
	movl cs_sel, %eax
	andl $3, %eax
	PRINT " cs-rpl="
	PRINT_DEC %eax
	PRINT_NL
	PRINT "pgprobe: ss="
	PRINT_HEX ss_sel, 4
	movl ss_sel, %eax
	andl $3, %eax
	PRINT " ss-rpl="
	PRINT_DEC %eax
	PRINT_NL

	movl $sgdt_buf, %esi
	movl $rt_gdtr, %edi
	movl $str_sgdt, %edx
	call print_dtr
	movl $sidt_buf, %esi
	movl $rt_idtr, %edi
	movl $str_sidt, %edx
	call print_dtr

	PRINT "pgprobe: str="
	PRINT_HEX tr_sel, 4
	PRINT_NL

	PRINT "pgprobe: mov-cr0="
	PRINT_HEX cr0_read, 1
	PRINT " smsw="
	PRINT_HEX smsw_read, 1
	PRINT_NL

	PRINT "pgprobe: lar-cs="
	PRINT_HEX lar_cs
	PRINT " lar-ok="
	PRINT_DEC lar_ok
	PRINT_NL
	popal
	ret
ENDFUNC print_results

# print_dtr — %esi = stored pseudo-descriptor, %edi = the one loaded,
# %edx = key prefix ("sgdt"/"sidt"). Prints a whole line:
# "pgprobe: P-base=0xBBBBBBBB P-limit=0xLLLL P-match=M".
FUNC print_dtr
	pushal
	PRINT "pgprobe: "
	xchgl %edx, %esi
	call rt_puts
	PRINT "-base="
	PRINT_HEX 2(%edx)
	PRINT " "
	call rt_puts
	PRINT "-limit="
	movzwl (%edx), %eax
	PRINT_HEX %eax, 4
	PRINT " "
	call rt_puts
	PRINT "-match="
	xorl %ebx, %ebx
	movw (%edx), %ax
	cmpw (%edi), %ax
	jne 1f
	movl 2(%edx), %eax
	cmpl 2(%edi), %eax
	jne 1f
	incl %ebx
1:	PRINT_DEC %ebx
	PRINT_NL
	popal
	ret
ENDFUNC print_dtr

	.section .rodata
str_sgdt:
	.asciz "sgdt"
str_sidt:
	.asciz "sidt"

	.data
	.balign 4
DATA cr0_orig
	.long 0
ENDDATA cr0_orig
DATA cli_if
	.long 0
ENDDATA cli_if
DATA popf_if
	.long 0
ENDDATA popf_if
DATA cs_sel
	.long 0
ENDDATA cs_sel
DATA ss_sel
	.long 0
ENDDATA ss_sel
DATA tr_sel
	.long 0
ENDDATA tr_sel
DATA cr0_read
	.long 0
ENDDATA cr0_read
DATA smsw_read
	.long 0
ENDDATA smsw_read
DATA lar_cs
	.long 0
ENDDATA lar_cs
DATA lar_ok
	.long 0
ENDDATA lar_ok
	.balign 4
DATA sgdt_buf
	.skip 8
ENDDATA sgdt_buf
DATA sidt_buf
	.skip 8
ENDDATA sidt_buf
