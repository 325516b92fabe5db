# streaming — boots a program streamed from the disk (the OS-streaming
# model: the boot image is only a loader; the program lives on the disk and
# is read into memory afresh at every boot).
#
#   args:    n=N     boots (default 1): each reads the program from the disk
#                    again, checks it and runs it
#            ring=R  0: the emulated ATA disk (PIO on ports 0x1F0-0x1F7);
#                    1: the paravirtual block ring. Default: 0 natively,
#                    1 in the PV build (which has no ATA driver)
#   disk:    guest.StreamImage: sector 0 a header (stream.inc), sectors
#            1..K the program (guest/src/stream/program.s)
#   output:  streaming: disk sectors=S
#            streaming: program load=0xLLLLLLLL entry=0xEEEEEEEE sectors=K sum=0xCCCCCCCC
#            then, for each boot B, the program's own line
#            streaming: boot=B fresh=1 patched=2 primes=168
#            and at the end
#            streaming: n=N boots=N sectors=K streamed=N*K
#   self-check: a bad header (magic, size, load address, entry), a
#            program that would not fit in RAM or overlap the loader, a
#            checksum mismatch, a disk error or a program that returns
#            nonzero prints "streaming: error ..." and exits with
#            EXIT_CHECK_FAILED
#   events:  per boot, reading the program's K sectors: ide: per sector
#            6 io/out + 1 io/in:0x1f7 + 256 io/in:0x1f0 (one rep insw);
#            under trap each element of the rep is an exit (263 a sector).
#            ring: one notification per batch of up to 256 sectors (a
#            hypercall in the PV build, io/out:0xe8 natively). Then the
#            program's line: 2 port accesses a byte natively, one
#            console_io in the PV build. Once: IDENTIFY (or the ring's
#            connect) and the header sector.
#   descriptor tables: none (runs on the loader's flat segments)

.include "rt.inc"
.include "blkif.inc"
.include "stream.inc"

	WORKLOAD streaming, 1

	.text
FUNC main
	ARG n, $DEFAULT_N
	movl %eax, boots
	ARG ring, $BLK_DEFAULT_RING
	movl %eax, use_ring
	cmpl $0, boots
	je bad_n
	call blk_info
	movl %eax, disk_sectors
	PRINT "streaming: disk sectors="
	PRINT_DEC disk_sectors
	PRINT_NL
	cmpl $0, disk_sectors
	je no_disk

	xorl %eax, %eax                 # the header: sector 0
	movl $1, %ecx
	movl $header, %edi
	xorl %edx, %edx
	call blk_rw
	testl %eax, %eax
	jnz io_error
	call check_header
	testl %eax, %eax
	jnz 9f
	PRINT "streaming: program load="
	PRINT_HEX header + STREAM_HDR_LOAD
	PRINT " entry="
	PRINT_HEX header + STREAM_HDR_ENTRY
	PRINT " sectors="
	PRINT_DEC header + STREAM_HDR_SECTORS
	PRINT " sum="
	PRINT_HEX header + STREAM_HDR_SUM
	PRINT_NL

	movl $1, boot
LABEL stream_boot
1:	movl $1, %eax                   # stream sectors 1..K to the load address
	movl header + STREAM_HDR_SECTORS, %ecx
	movl header + STREAM_HDR_LOAD, %edi
	xorl %edx, %edx
	call blk_rw
	testl %eax, %eax
	jnz io_error
	movl header + STREAM_HDR_LOAD, %esi
	movl header + STREAM_HDR_SECTORS, %ecx
	call checksum
	cmpl header + STREAM_HDR_SUM, %eax
	jne bad_sum
	movl boot, %eax
	movl $stream_services, %ebx
	call *header + STREAM_HDR_ENTRY
	testl %eax, %eax
	jnz program_failed
	movl header + STREAM_HDR_SECTORS, %eax
	addl %eax, streamed
	incl boot
	movl boot, %eax
	cmpl boots, %eax
	jbe 1b

	PRINT "streaming: n="
	PRINT_DEC boots
	PRINT " boots="
	PRINT_DEC boots
	PRINT " sectors="
	PRINT_DEC header + STREAM_HDR_SECTORS
	PRINT " streamed="
	PRINT_DEC streamed
	PRINT_NL
	xorl %eax, %eax
9:	ret

bad_n:
	PRINT "streaming: error n must be at least 1"
	PRINT_NL
	movl $EXIT_BAD_ARGS, %eax
	ret
no_disk:
	PRINT "streaming: error no disk"
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	ret
io_error:
	PRINT "streaming: error the disk reported an I/O error"
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	ret
bad_sum:
	PRINT "streaming: error boot "
	PRINT_DEC boot
	PRINT ": checksum "
	PRINT_HEX %eax
	PRINT " of the program read does not match the header's "
	PRINT_HEX header + STREAM_HDR_SUM
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	ret
program_failed:
	PRINT "streaming: error boot "
	PRINT_DEC boot
	PRINT ": the program returned "
	PRINT_DEC %eax
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	ret
ENDFUNC main

# check_header: %eax = 0 if the header describes a program this loader can
# run, else EXIT_CHECK_FAILED after printing why.
FUNC check_header
	cmpl $STREAM_MAGIC, header + STREAM_HDR_MAGIC
	jne 1f
	movl header + STREAM_HDR_SECTORS, %eax
	testl %eax, %eax
	jz 2f
	cmpl $STREAM_MAX_SECTORS, %eax
	ja 2f
	incl %eax                       # the header sector, then K
	cmpl disk_sectors, %eax
	ja 3f
	movl header + STREAM_HDR_LOAD, %eax
	testl $0xFFF, %eax
	jnz 4f
	cmpl $stream_loader_end, %eax
	jb 4f
	call ram_end                    # load + K*512 <= the end of RAM
	movl %eax, %ecx
	movl header + STREAM_HDR_SECTORS, %eax
	shll $9, %eax
	addl header + STREAM_HDR_LOAD, %eax
	jc 5f
	cmpl %ecx, %eax
	ja 5f
	movl header + STREAM_HDR_ENTRY, %ecx   # load <= entry < load + K*512
	cmpl header + STREAM_HDR_LOAD, %ecx
	jb 6f
	cmpl %eax, %ecx
	jae 6f
	xorl %eax, %eax
	ret
1:	PRINT "streaming: error no program on the disk: sector 0 has magic "
	PRINT_HEX header + STREAM_HDR_MAGIC
	PRINT ", not "
	PRINT_HEX $STREAM_MAGIC
	jmp 8f
2:	PRINT "streaming: error bad program size: "
	PRINT_DEC header + STREAM_HDR_SECTORS
	PRINT " sectors (1 to "
	PRINT_DEC $STREAM_MAX_SECTORS
	PRINT ")"
	jmp 8f
3:	PRINT "streaming: error the program ("
	PRINT_DEC header + STREAM_HDR_SECTORS
	PRINT " sectors after the header) runs past the end of the disk ("
	PRINT_DEC disk_sectors
	PRINT " sectors)"
	jmp 8f
4:	PRINT "streaming: error load address "
	PRINT_HEX header + STREAM_HDR_LOAD
	PRINT " is not page-aligned at or above the loader's end "
	PRINT_HEX $stream_loader_end
	jmp 8f
5:	PRINT "streaming: error the program ("
	PRINT_DEC header + STREAM_HDR_SECTORS
	PRINT " sectors at "
	PRINT_HEX header + STREAM_HDR_LOAD
	PRINT ") does not fit in RAM (which ends at "
	call ram_end
	PRINT_HEX %eax
	PRINT ")"
	jmp 8f
6:	PRINT "streaming: error entry "
	PRINT_HEX header + STREAM_HDR_ENTRY
	PRINT " is outside the program"
8:	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	ret
ENDFUNC check_header

# ram_end: %eax = the end of RAM above 1 MiB as the multiboot info block
# says (mem_upper KiB), or 0 when it does not say.
FUNC ram_end
	xorl %eax, %eax
	cmpl $MB_BOOT_MAGIC, rt_mb_magic
	jne 1f
	movl rt_mb_info, %eax
	testl $1, MB_INFO_FLAGS(%eax)   # bit 0: mem_lower/mem_upper valid
	jz 2f
	movl MB_INFO_MEM_UPPER(%eax), %eax
	shll $10, %eax
	addl $0x100000, %eax
1:	ret
2:	xorl %eax, %eax
	ret
ENDFUNC ram_end

# checksum: FNV-1a over the %ecx sectors at %esi (dwords) -> %eax.
FUNC checksum
	pushl %ecx
	pushl %esi
	shll $7, %ecx
	movl $0x811C9DC5, %eax
1:	xorl (%esi), %eax
	imull $16777619, %eax, %eax
	addl $4, %esi
	loop 1b
	popl %esi
	popl %ecx
	ret
ENDFUNC checksum

# The console services the program uses (stream.inc): the loader's own
# runtime, so the PV loader's program prints through console_io.
FUNC svc_put_hex
	PRINT_HEX %eax
	ret
ENDFUNC svc_put_hex

	.section .rodata
	.balign 4
DATA stream_services
	.long rt_puts                   # SVC_PUTS
	.long rt_put_dec                # SVC_PUT_DEC
	.long svc_put_hex               # SVC_PUT_HEX
ENDDATA stream_services
	.text

.include "blk.inc"

	.bss
	.balign 4
boots:        .skip 4
boot:         .skip 4
disk_sectors: .skip 4
streamed:     .skip 4
	.balign 512
header:       .skip 512
	.balign 4096
# the end of the loader's image: a program must load above it
stream_loader_end:
