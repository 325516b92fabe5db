package guest

// The guest ABI: ports, boot protocol values and the low-memory layout that
// the VMM and the workloads agree on. guest/src/include/abi.inc holds the
// assembly side of the same values (TestABIIncMatchesGo keeps them equal).

// Devices (port I/O).
const (
	PortCOM1      = 0x3F8 // COM1 16550 base: THR on write; LSR at PortCOM1+5
	PortCOM1LSR   = PortCOM1 + 5
	LSRTHREmpty   = 0x20 // LSR bit 5: the transmit holding register is empty
	PortDebugExit = 0xF4 // a write of v stops the VM with status v (QEMU: (v<<1)|1)
	PortPOST      = 0x80 // POST sink: writes ignored, the cheapest I/O
	PortPIC1Cmd   = 0x20 // master 8259 command (ICW1, OCW2 EOI, OCW3); reads IRR, ISR or poll
	PortPIC1Data  = 0x21 // master 8259 IMR (irq-toggle and pgprobe mask all IRQs once)
	PortPIC2Cmd   = 0xA0 // slave 8259 command
	PortPIC2Data  = 0xA1 // slave 8259 IMR
	PortPITCh0    = 0x40 // 8254 channel 0 counter; its OUT drives IRQ 0 (the timer workload)
	PortPITCmd    = 0x43 // 8254 control word and read-back command
)

// Multiboot v1.
const (
	MultibootMagic = 0x2BADB002 // EAX at entry
	// EntryESP is ESP at entry: the multiboot specification leaves it
	// undefined, but QEMU 7.2's loader leaves a usable stack there
	// (measured), and kernels that push before loading their own stack
	// work under QEMU; under virtsim ESP 0 made them fault at 0xFFFFFFFC.
	EntryESP             = 0x6F08
	MultibootHeaderMagic = 0x1BADB002 // first word of the kernel's multiboot header
	// MultibootSearchLimit: the header must lie, 4-byte aligned, in the
	// first 8 KiB of the file.
	MultibootSearchLimit = 8192

	// Info block flags (the ones this VMM sets).
	InfoFlagMemory     = 1 << 0 // mem_lower and mem_upper are valid
	InfoFlagBootDevice = 1 << 1 // boot_device is valid
	InfoFlagCmdline    = 1 << 2 // cmdline is valid
	InfoFlagModules    = 1 << 3 // mods_count and mods_addr are valid
	InfoFlagMemoryMap  = 1 << 6 // mmap_length and mmap_addr are valid
	InfoFlagLoaderName = 1 << 9 // boot_loader_name is valid
)

// Memory layout.
const (
	// DefaultLoadAddr is where workload images (and, by convention, flat
	// binaries) are loaded: 1 MiB.
	DefaultLoadAddr = 0x100000

	// MinLoadAddr: nothing is loaded into the first 4 KiB (real-mode IVT
	// and BIOS data area on a PC; a null-pointer guard here).
	MinLoadAddr = 0x1000

	// InfoAddr is where the VMM writes the multiboot info block, with the
	// NUL-terminated command line right after it: low memory, below the
	// 640 KiB line and far below images at 1 MiB (QEMU's loader uses the
	// same neighbourhood, 0x9500). The VMM reserves the 4 KiB page
	// [InfoAddr, InfoAddr+InfoSize); no image segment may overlap it.
	InfoAddr = 0x9000
	// InfoSize is the size of the reserved region at InfoAddr.
	InfoSize = 0x1000
	// InfoMaxBlock bounds the info block plus command line: they occupy
	// [InfoAddr, InfoAddr+InfoMaxBlock).
	InfoMaxBlock = 0x800
	// BootScratchAddr is the second half of the reserved page, free for the
	// VMM's own entry-state tables (for example a boot GDT like the one
	// QEMU's loader leaves behind). Guests never rely on its contents.
	BootScratchAddr = InfoAddr + InfoMaxBlock

	// InfoStructSize is the size of the multiboot v1 info structure as this
	// VMM writes it (up to and including the VBE fields).
	InfoStructSize = 88
	// CmdlineAddr is where the command line starts.
	CmdlineAddr = InfoAddr + InfoStructSize
	// MmapAddr is where MultibootInfo puts the memory map (MmapEntries
	// entries of 24 bytes) and, after it at LoaderNameAddr, the boot
	// loader's name: the end of the info block, after the command line's
	// room.
	MmapAddr       = InfoAddr + InfoMaxBlock - MmapEntries*24 - 8
	MmapEntries    = 6
	LoaderNameAddr = MmapAddr + MmapEntries*24
	// MaxCmdlineLen is the longest command line MultibootInfo keeps (bytes,
	// without the NUL); longer ones are truncated. See CheckCmdline.
	MaxCmdlineLen = MmapAddr - CmdlineAddr - 1

	// MemLowerKiB is the multiboot mem_lower value: conventional memory
	// below 640 KiB minus the 1 KiB EBDA, as QEMU's firmware reports it.
	MemLowerKiB = 639
	// FirmwareReservedKiB is how much less than "RAM above 1 MiB" QEMU's
	// firmware reports in mem_upper (SeaBIOS keeps the top 128 KiB of RAM
	// for itself; measured with QEMU 7.2 for -m 2M..128M). MultibootInfo
	// reports the same, so a guest sees the same numbers under virtsim and
	// under QEMU.
	FirmwareReservedKiB = 128
)

// Exit statuses the workloads write to PortDebugExit.
const (
	ExitOK          = 0 // success
	ExitCheckFailed = 1 // the workload's self-check failed
	ExitBadArgs     = 2 // malformed command-line argument
	ExitUnexpected  = 3 // unexpected exception or interrupt (the runtime's default IDT handler)
)

// Selectors of the runtime GDT (guest/src/lib/cpu.s), for workloads that
// call rt_cpu_init (irq-toggle, divzero, syscall, pgprobe). The others run
// on the loader's entry segments and never load a segment register.
const (
	KernelCS = 0x08 // ring-0 flat code
	KernelDS = 0x10 // ring-0 flat data and stack
	UserCS   = 0x1B // ring-3 flat code
	UserDS   = 0x23 // ring-3 flat data and stack
	TSSSel   = 0x28 // 32-bit TSS (ss0:esp0 = KernelDS:rt_kstack_top)
)

// QEMUArgs returns the arguments that boot image file path under QEMU the
// way virtsim's oracle does (DESIGN.md section 1), with cmdline as the
// multiboot command line (-append).
func QEMUArgs(path, cmdline string) []string {
	return []string{
		"-accel", "tcg", "-cpu", "qemu32", "-m", "16M",
		"-kernel", path, "-append", cmdline,
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-serial", "stdio", "-display", "none", "-no-reboot",
	}
}
