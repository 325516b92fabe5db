package vmm

import "fmt"

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

// ACPIPM is PM1a_CNT as QEMU's PIIX4 PM has it: a write with SLP_EN set
// and sleep type 0 (soft off, \_S5 in QEMU's tables) powers the machine
// off; virtsim stops the run with status 0, as QEMU exits. Other sleep
// types (suspend) are not modelled and ignored. Reads return the register,
// SLP_EN reading as 0 (it is write-only).
type ACPIPM struct {
	cnt uint16
	// Off: the guest powered the machine off.
	Off bool
}

func (a *ACPIPM) Name() string { return "acpi-pm" }

func (a *ACPIPM) In(port uint16, size int) uint32 {
	v := uint32(a.cnt) &^ pm1SlpEn
	if port == PortPM1aCnt+1 {
		v >>= 8
	}
	return v & sizeMask(size)
}

func (a *ACPIPM) Out(port uint16, size int, v uint32) {
	switch {
	case port == PortPM1aCnt && size >= 2:
		a.cnt = uint16(v)
	case port == PortPM1aCnt:
		a.cnt = a.cnt&0xFF00 | uint16(v&0xFF)
	default: // the high byte alone
		a.cnt = a.cnt&0x00FF | uint16(v&0xFF)<<8
	}
	if a.cnt&pm1SlpEn != 0 && a.cnt&pm1SlpType == 0 {
		a.Off = true
	}
}

// PoweredOff reports whether the guest powered the machine off, and the
// stop's reason.
func (p *Platform) PoweredOff() (string, bool) {
	if !p.PM.Off {
		return "", false
	}
	return fmt.Sprintf("the guest powered the machine off (ACPI PM1a_CNT, port %#x: SLP_EN, sleep type 0), as QEMU exits", PortPM1aCnt), true
}
