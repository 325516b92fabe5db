# userzero — what xv6 needed of the machine beyond the APICs, in a guest of
# our own (checked against QEMU in guest/platform):
#
#   1. the colour text display's CRT controller (ports 0x3D4/0x3D5): xv6's
#      console reads the cursor position (registers 14, 15) before every
#      character and panics when it is off the screen, as the all-ones of
#      an absent device would be. Written, then read back.
#   2. user code at linear address 0 (xv6's first process starts there).
#   3. with paging on, a fault and an `int` taken at CPL 3 delivered through
#      descriptor tables (IDT, GDT, TSS) that only the kernel may touch: the
#      kernel's pages are supervisor-only, as in xv6. The CPU reads those
#      tables with implicit supervisor accesses whatever the CPL.
#
#   output: the cursor read back, the system call's argument and EIP, the
#           page fault's CR2, error code and EIP; exits with status 0.
#
# Memory: linear 0 -> the user code frame, 0x1000 -> the user stack frame,
# the rest of the first 4 MiB identity-mapped supervisor-only (this image
# at 1 MiB, its tables included).

.include "rt.inc"

	WORKLOAD userzero, 1

	.set CRTC_INDEX,  0x3D4
	.set USER_PHYS,   0x300000        # frame of the user code, mapped at 0
	.set USTACK_PHYS, 0x301000        # frame of the user stack, mapped at 0x1000
	.set PTE_P,       0x001
	.set PTE_W,       0x002
	.set PTE_U,       0x004
	.set CR0_PG,      0x80000000
	.set VEC_SYS,     0x40
	.set VEC_PF,      14

	.text
FUNC main
	call rt_cpu_init
	call rt_pic_mask

	# 1. the CRT controller: cursor := 0x051A, then read it back
	movw $CRTC_INDEX, %dx
	movb $14, %al
	outb %al, %dx
	incw %dx
	movb $0x05, %al
	outb %al, %dx
	decw %dx
	movb $15, %al
	outb %al, %dx
	incw %dx
	movb $0x1A, %al
	outb %al, %dx
	decw %dx
	movb $14, %al
	outb %al, %dx
	incw %dx
	inb %dx, %al
	movzbl %al, %ebx
	shll $8, %ebx
	decw %dx
	movb $15, %al
	outb %al, %dx
	incw %dx
	inb %dx, %al
	movb %al, %bl
	PRINT "userzero: crtc cursor="
	PRINT_HEX %ebx, 4
	PRINT_NL

	# the user program, copied to its frame (paging is still off)
	movl $user_code, %esi
	movl $USER_PHYS, %edi
	movl $user_code_end - user_code, %ecx
	rep movsb

	# page table 0: the user pages, then the identity map, kernel only
	movl $USER_PHYS | PTE_P | PTE_W | PTE_U, pt0
	movl $USTACK_PHYS | PTE_P | PTE_W | PTE_U, pt0 + 4
	movl $2, %ecx
1:	movl %ecx, %eax
	shll $12, %eax
	orl $PTE_P | PTE_W, %eax
	movl %eax, pt0(,%ecx,4)
	incl %ecx
	cmpl $1024, %ecx
	jb 1b
	movl $pt0 + PTE_P + PTE_W + PTE_U, pd   # U here: the table decides
	movl $pd, %eax
	movl %eax, %cr3
	movl %cr0, %eax
	orl $CR0_PG, %eax
	movl %eax, %cr0

	movl $VEC_SYS, %eax
	movl $on_syscall, %edx
	movl $GATE_INT_DPL3, %ecx
	call rt_set_gate
	movl $VEC_PF, %eax
	movl $on_pf, %edx
	movl $GATE_INT_DPL0, %ecx
	call rt_set_gate

	# to ring 3 at linear 0, IF clear
	movw $USER_DS, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	pushl $USER_DS
	pushl $0x2000                     # top of the user stack page
	pushl $0x2
	pushl $USER_CS
	pushl $0
	iret
ENDFUNC main

# int $0x40 from ring 3: print EAX and the return EIP.
FUNC on_syscall
	movl (%esp), %edi                 # return EIP
	movl 4(%esp), %ebp                # return CS
	PRINT "userzero: syscall eax="
	PRINT_HEX %eax, 2
	PRINT " eip="
	PRINT_HEX %edi, 2
	PRINT " cs="
	PRINT_HEX %ebp, 2
	PRINT_NL
	iret
ENDFUNC on_syscall

# #PF from ring 3 reading a kernel page: print CR2, the error code and EIP,
# then exit with success.
FUNC on_pf
	movl %cr2, %ebx
	movl (%esp), %edi                 # error code
	movl 4(%esp), %ebp                # faulting EIP
	PRINT "userzero: #PF cr2="
	PRINT_HEX %ebx
	PRINT " error="
	PRINT_HEX %edi, 2
	PRINT " eip="
	PRINT_HEX %ebp, 2
	PRINT_NL
	movl $EXIT_OK, %eax
	jmp rt_exit
ENDFUNC on_pf

# The user program: position-independent bytes copied to linear 0.
user_code:
	movl $0x11, %eax
	int $VEC_SYS
	movl 0x100000, %eax               # the kernel's first page: #PF, error 5
	jmp .
user_code_end:

	.bss
	.balign 4096
pd:	.skip 4096
pt0:	.skip 4096
