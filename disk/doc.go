// Package disk is virtsim's block layer seen from the VMM: the virtual
// disk a device model (the emulated ATA controller in package ata, the
// paravirtual ring in package blkring) reads and writes, whatever stores it.
//
// # A virtual disk is an array of sectors behind an interface
//
// A guest sees a disk as numbered 512-byte sectors. Where they live is the
// VMM's business, and the textbook kinds of virtual disk differ only there:
//
//   - an in-memory disk (Mem): the catalogue's default, fresh for every run,
//     so exit counts stay a pure function of image, strategy and config;
//   - an image file in one of QEMU's formats (raw, qcow2 with a chain of
//     backing files), served by QEMU's own block layer — qemu-nbd — over a
//     Unix socket to the small NBD client here (nbd.go). Nothing in virtsim
//     parses qcow2: the disk a VM wrote is the disk qemu-img inspects and
//     qemu-system-i386 boots;
//   - a private disk (OpenPrivate, virtsim run --disk FILE): the VM's writes
//     go to FILE and persist;
//   - a shared disk (OpenShared, --shared-disk FILE): FILE is a read-only
//     base every VM may use at once; each VM writes into its own qcow2
//     overlay (backing file = the base), discarded when the VM stops, so no
//     VM ever sees another's writes — the OS-streaming model;
//   - a snapshot (Image.Snapshot): while the VM runs, the image it writes is
//     frozen as it is and becomes the backing file of a new overlay that
//     takes the VM's further writes; the frozen file is a consistent image
//     another VM or the host can read (qcow2 external snapshots, as
//     libvirt's snapshot-create --disk-only does).
//
// # The write cache and flush
//
// A real drive acknowledges writes into its volatile cache and makes them
// durable on FLUSH CACHE. WriteCache models that: writes wait in memory
// (lost if virtsim dies) until the guest's flush writes them through and
// asks the block layer to flush (NBD_CMD_FLUSH: qemu-nbd fsyncs). So what a
// guest flushed survives `kill -9` of virtsim, and what it did not flush
// does not — tested by killing the process.
package disk
