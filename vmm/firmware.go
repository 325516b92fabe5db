package vmm

import "encoding/binary"

// What the firmware leaves in memory for a kernel: the BIOS data area,
// the ACPI tables (acpi_tables.go) and the Intel MultiProcessor
// Specification (1.4) tables, as SeaBIOS builds
// them on QEMU 7.2's i440FX PC with one CPU (read back byte for byte by
// guest/platform's probe and checked against QEMU by its tests).
//
// # The BIOS data area (0x400)
//
// Only the fields a protected-mode kernel reads are filled: the COM and
// LPT port addresses, the EBDA segment (0x40E: 0x9FC0, the EBDA is the
// last KiB of base memory), the equipment word (0x410), the base memory
// size in KiB (0x413: 639, below the EBDA). Timer ticks, keyboard state
// and video fields, which change while SeaBIOS runs, stay 0.
//
// # The MP tables
//
// A kernel finds the MP floating pointer by its signature "_MP_" on a
// 16-byte boundary in the first KiB of the EBDA, the last KiB of base
// memory, or the BIOS ROM 0xF0000-0xFFFFF (xv6's mpsearch, Linux's
// smp_scan_config). SeaBIOS puts it at 0xF5BA0 and the configuration table
// right after it, at 0xF5BB0: a header ("PCMP", spec revision 1.4, OEM
// "BOCHSCPU", product "0.1", the local APIC's address) and 19 entries:
//
//   - one processor: APIC ID 0, APIC version 0x14, enabled, the bootstrap
//     processor, with CPUID leaf 1's signature and feature flags;
//   - two buses: 0 "PCI", 1 "ISA";
//   - one I/O APIC: ID 0, version 0x11, at 0xFEC00000;
//   - I/O interrupt assignments: PCI 0 device 1 INTA -> pin 9 and device 3
//     INTA -> pin 11 (SeaBIOS's ACPI and network slots), ISA IRQ 0 -> pin 2
//     (the PIT; pin 0 carries the 8259), ISA IRQs 1, 3, 4, 6, 7, 8, 12, 13,
//     14, 15 -> the pin of the same number (2, 5, 9, 10, 11 are left to PCI);
//   - local interrupt assignments: ExtINT -> LINT0 of APIC 0 (the 8259's
//     virtual wire), NMI -> LINT1 of every APIC.
//
// The floating pointer's feature bytes are 0: a configuration table
// follows, and the IMCR is absent (the PIC reaches the CPU in virtual-wire
// mode, through LINT0).

// Firmware addresses.
const (
	BDAAddr       = 0x400
	EBDAAddr      = 0x9FC00
	MPFloatAddr   = 0xF5BA0
	MPConfigAddr  = 0xF5BB0
	mpEntryCount  = 19
	mpConfigBytes = 44 + 20 + 18*8
)

// ISAToIOAPICPin is where each ISA IRQ reaches the I/O APIC (-1: nowhere),
// as the MP table says.
var ISAToIOAPICPin = [16]int{2, 1, -1, 3, 4, -1, 6, 7, 8, -1, -1, -1, 12, 13, 14, 15}

// MemBlock is bytes to place at a guest-physical address.
type MemBlock struct {
	Addr uint32
	Data []byte
}

// FirmwareTables returns the BIOS data area, the EBDA's size byte, the
// MP tables and the ACPI tables (acpi_tables.go) for memSize bytes of RAM.
func FirmwareTables(memSize uint32) []MemBlock {
	le := binary.LittleEndian
	bda := make([]byte, 0x20)
	le.PutUint16(bda[0x00:], 0x3F8) // COM1
	le.PutUint16(bda[0x08:], 0x378) // LPT1
	le.PutUint16(bda[0x0E:], EBDAAddr>>4)
	le.PutUint16(bda[0x10:], 0x4227) // equipment word
	le.PutUint16(bda[0x13:], EBDAAddr>>10)
	return append([]MemBlock{
		{BDAAddr, bda},
		{EBDAAddr, []byte{1}}, // the EBDA's size in KiB
		{MPFloatAddr, mpFloatingPointer()},
		{MPConfigAddr, mpConfigTable()},
	}, ACPITables(memSize)...)
}

// checksum makes b's bytes sum to 0 mod 256 by setting b[at].
func checksum(b []byte, at int) {
	var sum byte
	for _, c := range b {
		sum += c
	}
	b[at] -= sum
}

func mpFloatingPointer() []byte {
	f := make([]byte, 16)
	copy(f, "_MP_")
	binary.LittleEndian.PutUint32(f[4:], MPConfigAddr)
	f[8] = 1 // length in 16-byte units
	f[9] = 4 // spec revision 1.4
	checksum(f, 10)
	return f
}

func mpConfigTable() []byte {
	le := binary.LittleEndian
	t := make([]byte, 0, mpConfigBytes)
	hdr := make([]byte, 44)
	copy(hdr, "PCMP")
	le.PutUint16(hdr[4:], mpConfigBytes)
	hdr[6] = 4
	copy(hdr[8:], "BOCHSCPU")
	copy(hdr[16:], "0.1         ")
	le.PutUint16(hdr[34:], mpEntryCount)
	le.PutUint32(hdr[36:], LAPICBase)
	t = append(t, hdr...)
	cpu := make([]byte, 20)
	id := CPUID(1, 0)
	cpu[0], cpu[1], cpu[2], cpu[3] = 0, 0, lapicVersionValue&0xFF, 0x03 // processor, APIC 0, enabled | BSP
	le.PutUint32(cpu[4:], id[0])
	le.PutUint32(cpu[8:], id[3])
	t = append(t, cpu...)
	t = append(t, 1, 0, 'P', 'C', 'I', ' ', ' ', ' ')
	t = append(t, 1, 1, 'I', 'S', 'A', ' ', ' ', ' ')
	t = append(t, 2, 0, 0x11, 1, 0, 0, 0, 0)
	le.PutUint32(t[len(t)-4:], IOAPICBase)
	// I/O interrupt assignments: type 3, INT, flags, bus, IRQ, I/O APIC 0, pin.
	t = append(t, 3, 0, 1, 0, 0, 1<<2, 0, 9)  // PCI 0 device 1 INTA, active high
	t = append(t, 3, 0, 1, 0, 0, 3<<2, 0, 11) // PCI 0 device 3 INTA
	for irq, pin := range ISAToIOAPICPin {
		if pin >= 0 {
			t = append(t, 3, 0, 0, 0, 1, byte(irq), 0, byte(pin))
		}
	}
	// Local interrupt assignments: type 4.
	t = append(t, 4, 3, 0, 0, 1, 0, 0, 0)    // ExtINT, ISA 0 -> APIC 0 LINT0
	t = append(t, 4, 1, 0, 0, 1, 0, 0xFF, 1) // NMI -> every APIC's LINT1
	checksum(t, 7)
	return t
}
