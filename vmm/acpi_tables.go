package vmm

import (
	"encoding/binary"

	"virtsim/guest"
)

// ACPI tables, as SeaBIOS leaves them on QEMU 7.2's i440FX PC with one
// CPU (measured by reading QEMU's memory from a guest: the addresses,
// identifiers and contents below are its; the code that builds them is
// virtsim's). A kernel finds the RSDP by its signature "RSD PTR " on a
// 16-byte boundary in 0xE0000-0xFFFFF (or the EBDA's first KiB); it names
// the RSDT, which lists:
//
//   - FACP (the FADT): the FACS and DSDT addresses, SCI on IRQ 9, the SMI
//     command port 0xB2 (0xF1 enables ACPI mode, 0xF0 disables it), the
//     PM1a event block 0x600, the PM1a control block 0x604 (ACPIPM:
//     SLP_EN with sleep type 0 powers off), the 24-bit PM timer at 0x608
//     (3.579545 MHz, three times the PIT's input clock), GPE0 at 0xAFE0;
//   - APIC (the MADT): the local APIC at 0xFEE00000 with the 8259s present
//     (PCAT_COMPAT), processor 0 with APIC ID 0, the I/O APIC (ID 0) at
//     0xFEC00000 from GSI 0, interrupt source overrides ISA IRQ 0 -> GSI 2
//     and IRQs 5, 9, 10, 11 level-triggered active high, and NMI on LINT1
//     of every processor;
//   - WAET.
//
// QEMU also lists an HPET table; virtsim has no HPET, so it lists none
// (a kernel would use the timer the table announces). The DSDT is
// virtsim's own few bytes of AML: \_S5, the soft-off sleep type (0, as
// QEMU's), which is what kernels search the DSDT for to power off. The
// tables live in the top 128 KiB of RAM that the memory map reserves for
// the firmware (guest.MemoryMap), at the offsets SeaBIOS uses there.

// ACPI addresses: the RSDP in the BIOS ROM area, the rest at offsets from
// the firmware's top of RAM (memSize - 128 KiB).
const (
	RSDPAddr    = 0xF59D0
	acpiFACSOff = 0x0000
	acpiDSDTOff = 0x0040
	acpiFACPOff = 0x198C
	acpiAPICOff = 0x1A00
	acpiWAETOff = 0x1AB0
	acpiRSDTOff = 0x1AD8
	// ACPI's fixed hardware ports (FACP).
	PortSMICmd  = 0xB2
	PortPM1aEvt = 0x600
	PortPMTimer = 0x608
	PortGPE0    = 0xAFE0
)

// acpiTop is where the firmware's reserved top of RAM begins: the region
// the memory map reserves (guest.MemoryMap).
func acpiTop(memSize uint32) uint32 { return memSize - guest.FirmwareReservedKiB*1024 }

// acpiHeader is a system description table's 36-byte header, its
// checksum left for acpiSum.
func acpiHeader(sig string, length int, rev byte) []byte {
	h := make([]byte, length)
	copy(h, sig)
	binary.LittleEndian.PutUint32(h[4:], uint32(length))
	h[8] = rev
	copy(h[10:], "BOCHS ")
	copy(h[16:], "BXPC    ")
	binary.LittleEndian.PutUint32(h[24:], 1)
	copy(h[28:], "BXPC")
	binary.LittleEndian.PutUint32(h[32:], 1)
	return h
}

// acpiSum sets table t's checksum (byte 9) and returns t.
func acpiSum(t []byte) []byte {
	checksum(t, 9)
	return t
}

// ACPITables returns the RSDP and the tables it leads to for memSize
// bytes of RAM.
func ACPITables(memSize uint32) []MemBlock {
	le := binary.LittleEndian
	top := acpiTop(memSize)

	facs := make([]byte, 64)
	copy(facs, "FACS")
	le.PutUint32(facs[4:], 64)

	// DSDT: Name (_S5, Package (4) {0, 0, 0, 0})
	aml := []byte{0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00}
	dsdt := acpiHeader("DSDT", 36+len(aml), 1)
	copy(dsdt[36:], aml)

	facp := acpiHeader("FACP", 116, 1)
	le.PutUint32(facp[36:], top+acpiFACSOff)
	le.PutUint32(facp[40:], top+acpiDSDTOff)
	facp[44] = 1               // INT_MODEL (ACPI 1.0: interrupt model, 1 = multiple APIC)
	le.PutUint16(facp[46:], 9) // SCI_INT
	le.PutUint32(facp[48:], PortSMICmd)
	facp[52], facp[53] = acpiEnable, acpiDisable
	le.PutUint32(facp[56:], PortPM1aEvt)
	le.PutUint32(facp[64:], PortPM1aCnt)
	le.PutUint32(facp[76:], PortPMTimer)
	le.PutUint32(facp[80:], PortGPE0)
	facp[88], facp[89], facp[91] = 4, 2, 4 // PM1_EVT_LEN, PM1_CNT_LEN, PM_TMR_LEN
	facp[92] = 4                           // GPE0_BLK_LEN
	le.PutUint16(facp[96:], 0x0FFF)        // P_LVL2_LAT: C2 not supported
	le.PutUint16(facp[98:], 0x0FFF)        // P_LVL3_LAT: C3 not supported
	facp[108] = 0x32                       // CENTURY: the RTC's register 0x32
	le.PutUint32(facp[112:], 0x80A5)       // WBINVD, PROC_C1, SLP_BUTTON, RTC_S4, RESET_REG_SUP... as QEMU's flags

	madt := acpiHeader("APIC", 120, 1)
	le.PutUint32(madt[36:], LAPICBase)
	le.PutUint32(madt[40:], 1) // PCAT_COMPAT
	e := madt[44:]
	copy(e, []byte{0, 8, 0, 0, 1, 0, 0, 0}) // processor 0, APIC ID 0, enabled
	e = e[8:]
	copy(e, []byte{1, 12, 0, 0}) // I/O APIC 0
	le.PutUint32(e[4:], IOAPICBase)
	e = e[12:]
	for _, o := range []struct {
		irq   byte
		gsi   uint32
		flags uint16
	}{{0, 2, 0}, {5, 5, 0xD}, {9, 9, 0xD}, {10, 10, 0xD}, {11, 11, 0xD}} {
		e[0], e[1], e[2], e[3] = 2, 10, 0, o.irq // interrupt source override, ISA bus
		le.PutUint32(e[4:], o.gsi)
		le.PutUint16(e[8:], o.flags)
		e = e[10:]
	}
	copy(e, []byte{4, 6, 0xFF, 0, 0, 1}) // local APIC NMI: every processor, LINT1

	waet := acpiHeader("WAET", 40, 1)
	le.PutUint32(waet[36:], 2) // the PM timer is good: one read suffices

	rsdt := acpiHeader("RSDT", 36+3*4, 1)
	for i, off := range []uint32{acpiFACPOff, acpiAPICOff, acpiWAETOff} {
		le.PutUint32(rsdt[36+4*i:], top+off)
	}

	rsdp := make([]byte, 20)
	copy(rsdp, "RSD PTR ")
	copy(rsdp[9:], "BOCHS ")
	le.PutUint32(rsdp[16:], top+acpiRSDTOff)
	checksum(rsdp, 8)

	return []MemBlock{
		{RSDPAddr, rsdp},
		{top + acpiFACSOff, facs},
		{top + acpiDSDTOff, acpiSum(dsdt)},
		{top + acpiFACPOff, acpiSum(facp)},
		{top + acpiAPICOff, acpiSum(madt)},
		{top + acpiWAETOff, acpiSum(waet)},
		{top + acpiRSDTOff, acpiSum(rsdt)},
	}
}
