# disk — reads n sectors, writes n sectors, flushes, reads them back.
#
#   args:    n=N     sectors per phase (default 16); at most 64 and half the disk
#            ring=R  0: the emulated ATA disk (PIO on ports 0x1F0-0x1F7);
#                    1: the paravirtual block ring. Default: 0 natively,
#                    1 in the PV build (which has no ATA driver)
#   output:  disk: sectors=S  (the same from either disk: the builds print the same)
#            disk: n=N read=0xRRRRRRRR written=0xWWWWWWWW verify=ok
#   read:    the checksum of sectors 0..n-1 as found on the disk
#   written: the checksum of sectors S-n..S-1 as read back after writing a
#            pattern (a function of each dword's sector and index), flushing
#            and reading them again; verify=ok when they equal the pattern
#            hang=1  then write a second pattern to sectors n..2n-1 without
#                    flushing, print "disk: unflushed n=N" and spin forever
#                    (the test of a VMM killed mid-run: what was flushed must
#                    survive, what was not need not)
#   self-check: a disk error or a mismatch prints "disk: error ..." and
#            exits with EXIT_CHECK_FAILED
#   events:  ide: per sector read 6 io/out + 1 io/in:0x1f7 + 256 io/in:0x1f0
#            (one rep insw); per sector written 6 io/out + 2 io/in:0x1f7 +
#            256 io/out:0x1f0 (one rep outsw); a flush 2 io/out + 1 io/in.
#            Under trap each element of a rep is an exit.
#            ring: one notification per batch of up to 32 requests of up to 8
#            sectors (a hypercall in the PV build, io/out:0xe8 natively);
#            connecting is one hypercall (or 1 io/out + 1 io/in)
#   descriptor tables: none (runs on the loader's flat segments)
#
# The default disk is guest.DiskContents(128); QEMU boots the native image
# with it as -drive file=IMG,format=raw,if=ide and prints the same.

.include "rt.inc"
.include "blkif.inc"

	WORKLOAD disk, 16

	.set MAX_N, 64

	.text
FUNC main
	ARG n, $DEFAULT_N
	movl %eax, n_sectors
	ARG ring, $BLK_DEFAULT_RING
	movl %eax, use_ring
	ARG hang, $0
	movl %eax, hang
	call blk_info
	movl %eax, disk_sectors
	PRINT "disk: sectors="
	PRINT_DEC disk_sectors
	PRINT_NL
	cmpl $0, disk_sectors
	je no_disk
	movl n_sectors, %eax            # 1 <= n <= min(MAX_N, sectors/2)
	testl %eax, %eax
	jz bad_n
	cmpl $MAX_N, %eax
	ja bad_n
	shll $1, %eax
	cmpl disk_sectors, %eax
	ja bad_n

	# phase 1: read sectors 0..n-1 and checksum them
	xorl %eax, %eax
	movl n_sectors, %ecx
	movl $buf_a, %edi
	xorl %edx, %edx
	call blk_rw
	testl %eax, %eax
	jnz io_error
	movl $buf_a, %esi
	call checksum
	movl %eax, sum_read

	# phase 2: write the pattern to sectors S-n..S-1, flush
	movl disk_sectors, %eax
	subl n_sectors, %eax
	movl %eax, first_w
	call fill_pattern
	movl first_w, %eax
	movl n_sectors, %ecx
	movl $buf_b, %edi
	movl $1, %edx
	call blk_rw
	testl %eax, %eax
	jnz io_error
	call blk_flush
	testl %eax, %eax
	jnz io_error

	# phase 3: read them back into buf_a, compare, checksum
	movl first_w, %eax
	movl n_sectors, %ecx
	movl $buf_a, %edi
	xorl %edx, %edx
	call blk_rw
	testl %eax, %eax
	jnz io_error
	movl $buf_a, %esi
	movl $buf_b, %edi
	movl n_sectors, %ecx
	shll $7, %ecx                   # dwords
	cld
	repe cmpsl
	jne mismatch
	movl $buf_a, %esi
	call checksum
	movl %eax, sum_written

	PRINT "disk: n="
	PRINT_DEC n_sectors
	PRINT " read="
	PRINT_HEX sum_read
	PRINT " written="
	PRINT_HEX sum_written
	PRINT " verify=ok"
	PRINT_NL
	cmpl $0, hang
	jne unflushed
	xorl %eax, %eax
	ret

	# hang=1: writes the guest never flushes, then spin
unflushed:
	movl n_sectors, %eax
	movl %eax, first_w
	call fill_pattern
	movl first_w, %eax
	movl n_sectors, %ecx
	movl $buf_b, %edi
	movl $1, %edx
	call blk_rw
	PRINT "disk: unflushed n="
	PRINT_DEC n_sectors
	PRINT_NL
LABEL disk_spin
1:	jmp 1b

no_disk:
	PRINT "disk: error no disk"
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	ret
bad_n:
	PRINT "disk: error n must be 1..64 and at most half the disk"
	PRINT_NL
	movl $EXIT_BAD_ARGS, %eax
	ret
io_error:
	PRINT "disk: error the disk reported an I/O error"
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	ret
mismatch:
	PRINT "disk: error verify mismatch"
	PRINT_NL
	movl $EXIT_CHECK_FAILED, %eax
	ret
ENDFUNC main

# checksum: FNV-1a over the n_sectors*128 dwords at %esi -> %eax.
FUNC checksum
	pushl %ecx
	pushl %edx
	pushl %esi
	movl n_sectors, %ecx
	shll $7, %ecx
	movl $0x811C9DC5, %eax
1:	xorl (%esi), %eax
	imull $16777619, %eax, %eax
	addl $4, %esi
	loop 1b
	popl %esi
	popl %edx
	popl %ecx
	ret
ENDFUNC checksum

# fill_pattern: buf_b = the pattern for sectors first_w.. : dword j of
# sector s is (s << 16 | j) * 2654435761.
FUNC fill_pattern
	movl $buf_b, %edi
	movl first_w, %ebx
	movl n_sectors, %ebp
1:	xorl %ecx, %ecx
2:	movl %ebx, %eax
	shll $16, %eax
	orl %ecx, %eax
	imull $2654435761, %eax, %eax
	stosl
	incl %ecx
	cmpl $128, %ecx
	jne 2b
	incl %ebx
	decl %ebp
	jnz 1b
	ret
ENDFUNC fill_pattern

.include "blk.inc"

	.bss
	.balign 4
n_sectors:   .skip 4
hang:        .skip 4
disk_sectors: .skip 4
first_w:     .skip 4
sum_read:    .skip 4
sum_written: .skip 4
	.balign 4096
buf_a:       .skip MAX_N * 512
buf_b:       .skip MAX_N * 512
