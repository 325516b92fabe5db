// Package guest is everything virtsim knows about the programs it runs:
// loading and validating guest images, the multiboot boot protocol, the
// guest ABI (ports, addresses, exit statuses), and the catalogue of
// workloads with their assembly sources.
//
// # What a multiboot kernel is
//
// A guest here is a tiny operating-system kernel: it owns the whole
// (virtual) machine, runs at CPL 0 and talks to devices through port I/O.
// Multiboot v1 is the boot protocol GRUB and QEMU speak, and the one virtsim
// speaks too. A multiboot kernel is an ordinary 32-bit ELF executable with
// one addition: a 12-byte header (magic 0x1BADB002, flags, checksum; the
// three words sum to 0) somewhere in the first 8 KiB of the file, which
// tells the boot loader "this is a kernel, and these are my wishes".
//
// # How a VMM loads it
//
//  1. Validate and load (LoadELF): copy every PT_LOAD segment of the ELF
//     file to its physical address in guest RAM (1 MiB for our workloads)
//     and zero the rest of each segment (.bss). Reject images that are not
//     i386 ELF32, have no valid multiboot header, or do not fit guest RAM.
//  2. Write the multiboot info block (MultibootInfo) at InfoAddr: how much
//     memory there is and the kernel command line, which carries the
//     workload's parameters ("n=5000").
//  3. Set up the entry state the protocol promises: 32-bit protected mode,
//     flat 4 GiB code and data segments, CPL 0, paging off, interrupts off,
//     EAX = 0x2BADB002 (MultibootMagic, "a multiboot loader started you"),
//     EBX = the info block's address, EIP = the ELF entry point.
//  4. Run. The kernel sets up its own GDT, IDT and TSS before it depends on
//     them, prints its result on the serial port (COM1), and stops the
//     machine by writing a status to the debug-exit port 0xF4.
//
// The same image boots unchanged under QEMU (QEMUArgs), which is virtsim's
// oracle: every strategy must print what QEMU prints.
//
// # Memory layout
//
//	0x00000000-0x00000FFF  never loaded (MinLoadAddr)
//	0x00009000-0x000097FF  multiboot info block (InfoAddr), command line at
//	                       CmdlineAddr right after the 88-byte structure,
//	                       memory map at MmapAddr (0x9768), loader name at
//	                       LoaderNameAddr: what QEMU's loader gives a kernel
//	0x00009800-0x00009FFF  VMM scratch for entry-state tables (BootScratchAddr)
//	0x00100000-...         the image (DefaultLoadAddr): code and read-only
//	                       data, then, from the next 4 KiB page, data and bss
//	                       (stacks, GDT, IDT, TSS of the workloads)
//
// # The workloads and the pv_ops macro layer
//
// The workloads (Catalog) live in guest/src/workloads as GNU assembler
// sources on a small runtime (guest/src/lib: entry stub with the multiboot
// header, stacks, line-buffered console, command-line parser, descriptor
// tables) and are built by guest/src/build.sh into guest/images, which is
// embedded into this package. Each takes its iteration count from the
// command line (n=N), prints one result line "NAME: key=value ..." and
// exits with status 0, so per-iteration event counts are checkable:
// events(2N) - events(N) = N x (Workload.ExitsPerIter). One caveat: the
// result line prints N and the counts in decimal, so the console's events
// (io/in:0x3fd and io/out:0x3f8, one each per byte natively) also grow with
// the number of digits. Pick N and 2N with the same number of digits (every
// default does: 1/2, 4000/8000, 100000/200000) or leave the console causes
// out of the difference. ParseResult reads a result line.
//
// Every privileged or sensitive thing a workload does (cli, out, lgdt,
// iret, mov to CR0, pushf, sgdt, writing a string to the console, ...) is
// written as a macro from guest/src/include/pvops.inc: PV_CLI, PV_OUTB,
// PV_LGDT, PV_IRET, PV_WRITE_CR0, PV_PUSHF, PV_SGDT, PV_CONSOLE_WRITE, ...
// This is the idea behind Linux's pv_ops: the kernel is written once
// against an interface of "privileged operations", and the build (or, in
// Linux, the boot) picks the implementation. The native expansion of each
// macro is the plain instruction, so the native image runs on real
// hardware, QEMU and every VMM strategy that virtualizes the real
// instruction set. The paravirtual expansion (assembled with
// --defsym PV=1) asks the hypervisor instead, with a hypercall or a write
// to a page shared with it: PV_CLI becomes a store to the shared virtual
// interrupt flag, PV_CONSOLE_WRITE one hypercall for a whole line instead
// of two port accesses per byte. Students can diff the two images to see
// exactly what paravirtualization changes, and the workloads themselves
// never change.
//
// # Two images per workload
//
// build.sh assembles every workload twice: images/NAME.elf (native) and
// images/NAME.pv.elf (the same source with --defsym PV=1). Workload.Image and
// Workload.PVImage hold them, `virtsim list` shows both, and the pv strategy
// runs the PV build (Workload.LoadFor picks the image a strategy wants). A
// PV image runs only under pv: it calls a hypercall page the VMM fills at
// boot, which is empty memory on bare metal or QEMU. To see what
// paravirtualization changes, disassemble both builds and compare:
//
//	objdump -d guest/images/irq-toggle.elf    > /tmp/native.txt
//	objdump -d guest/images/irq-toggle.pv.elf > /tmp/pv.txt
//	diff /tmp/native.txt /tmp/pv.txt
//
// (binutils 2.36 and later: `objdump -d --no-addresses` hides the address
// shifts). The loop of irq-toggle turns from `cli; sti` into two stores to
// the shared-info page and a test of its pending flag; the console loop of
// every workload into one console_io hypercall per line; lgdt, lidt, the
// port I/O of the timer workload into hypercalls; iret into a plain iret
// that updates the shared virtual IF. The PV runtime (pv_event_callback,
// pv_hypercall_failed) appears once. The ABI is documented in package
// virtsim/hypercall.
//
// # The guest SDK
//
// NewGuest (virtsim new-guest NAME) writes what a student needs to write a
// guest in C without reading virtsim's sources: a Makefile that builds
// NAME.elf and NAME.pv.elf with gcc -m32 -ffreestanding, an example kernel,
// sdk/virtsim.h — console, command line, exit, the interrupt flag, port
// I/O, descriptor tables and C interrupt handlers — and its implementation
// over the same pv_ops macros, runtime and linker script the catalogue is
// built from (embedded from src/, so the SDK cannot drift from them). The
// C face of the macro layer is what lets one C source become both images.
package guest
