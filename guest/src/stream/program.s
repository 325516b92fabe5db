# program.s — the program the streaming workload streams from its disk
# (the OS-streaming model: the boot image holds only a loader; what runs
# comes from the disk, fresh at every boot).
#
# Built by build.sh into the flat image guest/images/streaming-disk.bin
# (program.ld: the header sector, then the program); guest.StreamImage adds
# the checksum and makes the raw disk. It runs under the loader's services
# (stream.inc): it does no I/O of its own, so the same sectors run under the
# native loader (ATA PIO) and the PV one (the block ring).
#
#   prints:  streaming: boot=B fresh=1 patched=2 primes=168
#   fresh:   what `version` returns as loaded from the disk (1). The
#            program then patches `version`'s immediate in its own code
#            (patched=2): the next boot must see 1 again, the disk's bytes
#            and not the patched ones (a VMM whose device writes bypass the
#            coherence of its translated code would run the stale patch)
#   primes:  the primes below SIEVE_N, by a sieve in the program's data,
#            which must also come fresh (zeroed) from the disk each boot
#   returns: 0

.include "stream.inc"

	.set SIEVE_N, 1000

	.section .header, "a"
	.long STREAM_MAGIC
	.long stream_load
	.long stream_start
	.long stream_sectors
	.long 0                         # the checksum: guest.StreamImage

	.text
	.globl stream_start
stream_start:
	pushl %ebp
	pushl %esi
	pushl %edi
	movl %eax, boot
	movl $msg_boot, %esi
	call *SVC_PUTS(%ebx)
	movl boot, %eax
	call *SVC_PUT_DEC(%ebx)
	movl $msg_fresh, %esi
	call *SVC_PUTS(%ebx)
	call version
	call *SVC_PUT_DEC(%ebx)
	movl $2, version_imm            # patch our own code
	movl $msg_patched, %esi
	call *SVC_PUTS(%ebx)
	call version
	call *SVC_PUT_DEC(%ebx)
	movl $msg_primes, %esi
	call *SVC_PUTS(%ebx)
	call sieve
	call *SVC_PUT_DEC(%ebx)
	movl $msg_nl, %esi
	call *SVC_PUTS(%ebx)
	xorl %eax, %eax
	popl %edi
	popl %esi
	popl %ebp
	ret

# version: %eax = the immediate at version_imm (1 on the disk).
version:
	.byte 0xB8                      # movl $imm32, %eax
version_imm:
	.long 1
	ret

# sieve: %eax = the primes below SIEVE_N; composite[] must start zeroed.
sieve:
	pushl %ecx
	pushl %edx
	xorl %eax, %eax
	movl $2, %ecx
1:	cmpl $SIEVE_N, %ecx
	jae 4f
	cmpb $0, composite(%ecx)
	jne 3f
	incl %eax
	movl %ecx, %edx                 # mark 2i, 3i, ...
2:	addl %ecx, %edx
	cmpl $SIEVE_N, %edx
	jae 3f
	movb $1, composite(%edx)
	jmp 2b
3:	incl %ecx
	jmp 1b
4:	popl %edx
	popl %ecx
	ret

	.section .rodata
msg_boot:    .asciz "streaming: boot="
msg_fresh:   .asciz " fresh="
msg_patched: .asciz " patched="
msg_primes:  .asciz " primes="
msg_nl:      .asciz "\n"

	.data
	.balign 4
boot:
	.long 0
composite:
	.skip SIEVE_N
