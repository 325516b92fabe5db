// Package ata is an emulated disk controller: the primary ATA (IDE)
// channel of a PC in PIO mode, on the legacy ports 0x1F0–0x1F7 and 0x3F6,
// with one hard disk as master, as QEMU's `-drive if=ide` presents it.
//
// # Full virtualization of a device: every register access is an event
//
// A guest that was written for real hardware drives a disk through its
// registers. To read a sector it writes six of them (drive/head, sector
// count, LBA low/mid/high, command), reads the status register until the
// drive says DRQ (data request), then reads 256 16-bit words from the data
// port, usually with one `rep insw`. Nothing of this is a privileged
// *instruction* a CPU would catch by itself; the VMM sees it because port
// I/O traps (IOPL and the I/O bitmap deny the port), and then the VMM must
// do what the drive would: this package is that drive.
//
// How many exits one sector costs depends on how the VMM catches I/O:
//
//	trap   the deprivileged guest's every in/out faults, and the emulator
//	       performs one element of a rep string instruction per fault:
//	       6 outs + 1 status in + 256 words = 263 exits per sector read
//	bt     each I/O instruction becomes a callout; a `rep insw` is one
//	       callout that moves all 256 words: 8 per sector
//	kvm    KVM exits to user space per port access, and its emulator
//	       batches a rep string I/O up to a page (one exit for a sector)
//	native no VMM: the machine model is the hardware, no exits
//
// A paravirtual disk (package blkring) replaces all of it with one
// notification per batch of requests.
//
// # What is modelled
//
// IDENTIFY DEVICE (QEMU's layout: model "QEMU HARDDISK", serial "QM00001",
// LBA28 capacity in words 60–61), READ SECTORS and WRITE SECTORS (0x20/0x21,
// 0x30/0x31, LBA28 and CHS addressing, a count of 0 meaning 256), FLUSH
// CACHE (0xE7, and 0xEA), device control (nIEN, SRST), the status, error
// and alternate-status registers, IRQ 14 (cleared by a read of status, not
// of alternate status). Other commands abort (ERR, error ABRT), as do
// accesses beyond the disk. Transfers complete at once: a guest polling
// status never sees BSY, so exit counts do not depend on timing.
package ata
