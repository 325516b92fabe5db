package vmm

// PortPM1aCnt is the ACPI PM1a control register of QEMU's i440FX PC: the
// PIIX4's power-management I/O block, which SeaBIOS places at 0x600
// (PM1a_CNT at offset 4). Kernels written for QEMU power it off by writing
// SLP_EN with sleep type 0 there (outw $0x2000, $0x604) instead of using
// the isa-debug-exit port.
const PortPM1aCnt = 0x604

// PM1 control bits (ACPI 6.4, table 4.13).
const (
	pm1SCIEn   = 1 << 0  // SCI_EN
	pm1SlpEn   = 1 << 13 // SLP_EN: enter the sleep state SLP_TYP names
	pm1SlpType = 7 << 10 // SLP_TYPx
)

// The SMI command port's values that switch ACPI mode (FACP).
const (
	acpiEnable  = 0xF1
	acpiDisable = 0xF0
)

// ACPIPM is the PIIX4's ACPI power-management ports as QEMU has them,
// which the FACP names (acpi_tables.go):
//
//   - PM1a_CNT (0x604): a write with SLP_EN set and sleep type 0 (soft
//     off, \_S5 in the DSDT) powers the machine off; virtsim stops the run
//     with status 0, as QEMU exits. Other sleep types (suspend) are not
//     modelled and ignored. Reads return the register, SLP_EN reading as
//     0 (it is write-only); SCI_EN is 0 until ACPI mode is enabled.
//   - the SMI command port (0xB2): 0xF1 enables ACPI mode (SCI_EN reads
//     1), 0xF0 disables it, as QEMU's PIIX4 does at once.
//   - PM1a_EVT (0x600: status, 0x602: enable): no event is ever raised;
//     status reads 0, enable keeps what was written.
//   - the PM timer (0x608): a 24-bit count at 3.579545 MHz, exactly three
//     times the PIT's input clock, from the platform's clock (Now).
//   - GPE0 (0xAFE0, 4 bytes): no general-purpose event; reads 0.
type ACPIPM struct {
	cnt, en uint16
	// Off: the guest powered the machine off.
	Off bool
	// Now is the guest clock in PIT input ticks.
	Now func() uint64
}

func (a *ACPIPM) Name() string { return "acpi-pm" }

func (a *ACPIPM) In(port uint16, size int) uint32 {
	var reg uint32 // the 4 bytes from port's aligned base
	base := port &^ 3
	switch base {
	case PortPM1aEvt:
		reg = uint32(a.en) << 16
	case PortPM1aCnt:
		reg = uint32(a.cnt &^ pm1SlpEn)
	case PortPMTimer:
		if a.Now != nil {
			reg = uint32(a.Now()*3) & 0xFFFFFF
		}
	case PortSMICmd &^ 3:
		return 0
	}
	return reg >> (8 * uint32(port-base)) & sizeMask(size)
}

func (a *ACPIPM) Out(port uint16, size int, v uint32) {
	switch {
	case port == PortSMICmd:
		switch v & 0xFF {
		case acpiEnable:
			a.cnt |= pm1SCIEn
		case acpiDisable:
			a.cnt &^= pm1SCIEn
		}
		return
	case port >= PortPM1aEvt+2 && port < PortPM1aCnt:
		a.en = write16(a.en, port-(PortPM1aEvt+2), size, v)
		return
	case port < PortPM1aCnt || port > PortPM1aCnt+1:
		return // status (nothing to clear), the timer, GPE0
	}
	a.cnt = write16(a.cnt, port-PortPM1aCnt, size, v)
	if a.cnt&pm1SlpEn != 0 && a.cnt&pm1SlpType == 0 {
		a.Off = true
	}
}

// write16 is a 16-bit register after a write of size bytes of v at byte
// off of it (0 or 1).
func write16(r uint16, off uint16, size int, v uint32) uint16 {
	if off == 0 && size >= 2 {
		return uint16(v)
	}
	if off == 0 {
		return r&0xFF00 | uint16(v&0xFF)
	}
	return r&0x00FF | uint16(v&0xFF)<<8
}
