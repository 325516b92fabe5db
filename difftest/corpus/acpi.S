# acpi: a kernel that finds its machine through ACPI, as modern hobby
# kernels do: the RSDP by its signature in the BIOS area, the RSDT, the
# FADT (FACP: its PM ports, the SMI command that enables ACPI mode, the
# DSDT, whose \_S5 names the soft-off sleep type) and the MADT (APIC: the
# local APIC, processors, I/O APICs, interrupt source overrides, NMIs).
# It enables ACPI mode and waits for SCI_EN, and checks that the PM timer
# runs. Tables it does not know (QEMU's HPET, which virtsim has not) are
# skipped without a word.
	.include "corpus.inc"
_start:
	mov $stack_top, %esp
	mov $0xE0000, %esi
1:	cmpl $0x20445352, (%esi)	# "RSD "
	jne 2f
	cmpl $0x20525450, 4(%esi)	# "PTR "
	jne 2f
	mov %esi, %edi		# the checksum of its 20 bytes
	xor %eax, %eax
	xor %ecx, %ecx
3:	add (%edi,%ecx), %al
	inc %ecx
	cmp $20, %ecx
	jb 3b
	test %al, %al
	je 4f
2:	add $16, %esi
	cmp $0x100000, %esi
	jb 1b
	SAY "no RSDP\n"
	EXIT 0
4:	SAY "RSDP at "
	HEX %esi
	SAY " rsdt "
	HEX 16(%esi)
	PUTC '\n'
	mov 16(%esi), %ebx
	mov 4(%ebx), %edi
	sub $36, %edi
	shr $2, %edi		# entries
	xor %ecx, %ecx
5:	cmp %edi, %ecx
	jae 19f
	mov 36(%ebx,%ecx,4), %edx
	cmpl $0x50434146, (%edx)	# "FACP"
	jne 6f
	call facp
6:	cmpl $0x43495041, (%edx)	# "APIC"
	jne 7f
	call madt
7:	inc %ecx
	jmp 5b
19:	SAY "done\n"
	EXIT 0

# facp: the FADT at edx
facp:	push %ebx
	push %ecx
	SAY "FACP at "
	HEX %edx
	SAY " sci="
	movzwl 46(%edx), %eax
	call put_hex
	SAY " smi="
	HEX 48(%edx)
	SAY " enable="
	movzbl 52(%edx), %eax
	call put_hex
	SAY " pm1a_evt="
	HEX 56(%edx)
	SAY " pm1a_cnt="
	HEX 64(%edx)
	SAY " tmr="
	HEX 76(%edx)
	SAY " flags="
	HEX 112(%edx)
	PUTC '\n'
	# the DSDT's \_S5: search its AML for "_S5_"
	mov 40(%edx), %ebx
	mov 4(%ebx), %eax
	lea (%ebx,%eax), %eax	# the end
	add $36, %ebx
1:	cmp %eax, %ebx
	jae 2f
	cmpl $0x5f35535f, (%ebx)	# "_S5_"
	je 3f
	inc %ebx
	jmp 1b
2:	SAY "no _S5\n"
	jmp 4f
3:	SAY "_S5 package op="
	movzbl 4(%ebx), %eax
	call put_hex
	SAY " slp_typa="
	movzbl 7(%ebx), %eax
	call put_hex
	PUTC '\n'
4:	# ACPI mode: SMI_CMD <- ACPI_ENABLE, then wait for SCI_EN
	push %edx
	mov 64(%edx), %ebx	# PM1a_CNT
	mov 48(%edx), %eax
	mov 52(%edx), %cl
	mov %eax, %edx
	mov %cl, %al
	outb %al, %dx
	mov %ebx, %edx
	mov $100000, %ecx
5:	inw %dx, %ax
	test $1, %al
	jnz 6f
	loop 5b
	SAY "SCI_EN stays 0\n"
	jmp 7f
6:	SAY "SCI_EN set\n"
7:	pop %edx
	# the PM timer runs
	push %edx
	mov 76(%edx), %edx
	inl %dx, %eax
	mov %eax, %ebx
	mov $100000, %ecx
8:	inl %dx, %eax
	cmp %eax, %ebx
	jne 19f
	loop 8b
	SAY "PM timer stopped\n"
	jmp 1f
19:	SAY "PM timer runs\n"
1:	pop %edx
	pop %ecx
	pop %ebx
	ret

# madt: the MADT at edx, entry by entry
madt:	push %esi
	push %edi
	SAY "APIC at "
	HEX %edx
	SAY " lapic="
	HEX 36(%edx)
	SAY " flags="
	HEX 40(%edx)
	PUTC '\n'
	lea 44(%edx), %esi
	mov 4(%edx), %edi
	add %edx, %edi
1:	cmp %edi, %esi
	jae 2f
	SAY " type="
	movzbl (%esi), %eax
	call put_hex
	SAY " bytes="
	HEX (%esi)
	mov 4(%esi), %eax
	cmpb $8, 1(%esi)
	jae 3f
	and $0xffff, %eax	# a 6-byte entry (NMI): its last 2 bytes only
3:	call put_hex
	PUTC '\n'
	movzbl 1(%esi), %eax
	add %eax, %esi
	jmp 1b
2:	pop %edi
	pop %esi
	ret
	.include "lib.inc"

	.bss
	.space 4096
stack_top:
