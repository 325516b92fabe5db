package ata

import "encoding/binary"

// QEMU's IDENTIFY strings for the first IDE hard disk.
const (
	Model    = "QEMU HARDDISK"
	Serial   = "QM00001"
	Firmware = "2.5+" // QEMU_HW_VERSION
)

// identify fills buf with the IDENTIFY DEVICE block as QEMU's ide_identify
// builds it for a hard disk (hw/ide/core.c), word by word.
func (c *Controller) identify() {
	var w [256]uint16
	n := c.Disk.Sectors()
	chs := uint32(c.cyls * c.heads * c.secs)
	set := func(i int, v uint16) { w[i] = v }
	set(0, 0x0040)
	set(1, uint16(c.cyls))
	set(3, uint16(c.heads))
	set(4, uint16(512*c.secs))
	set(5, 512)
	set(6, uint16(c.secs))
	set(20, 3)
	set(21, 512)
	set(22, 4)
	set(47, 0x8000|16) // MAX_MULT_SECTORS
	set(48, 1)
	set(49, 1<<11|1<<9|1<<8)
	set(51, 0x200)
	set(52, 0x200)
	set(53, 1|1<<1|1<<2)
	set(54, uint16(c.cyls))
	set(55, uint16(c.heads))
	set(56, uint16(c.secs))
	set(57, uint16(chs))
	set(58, uint16(chs>>16))
	lba28 := n
	if lba28 > 1<<28-1 {
		lba28 = 1<<28 - 1
	}
	set(60, uint16(lba28))
	set(61, uint16(lba28>>16))
	set(62, 0x07)
	set(63, 0x07)
	set(64, 0x03)
	for i := 65; i <= 68; i++ {
		set(i, 120)
	}
	set(80, 0xF0)
	set(81, 0x16)
	set(82, 1<<14|1<<5|1)
	set(83, 1<<14|1<<13|1<<12|1<<10)
	set(84, 1<<14)
	set(85, 1<<14|1<<5|1)
	set(86, 1<<13|1<<12|1<<10)
	set(87, 1<<14)
	set(88, 0x3F|1<<13)
	set(93, 1|1<<14|0x2000)
	set(100, uint16(n))
	set(101, uint16(n>>16))
	set(102, uint16(n>>32))
	set(103, uint16(n>>48))
	set(106, 0x6000)
	for i, v := range w {
		binary.LittleEndian.PutUint16(c.buf[2*i:], v)
	}
	padATA(c.buf[20:40], Serial)
	padATA(c.buf[46:54], Firmware)
	padATA(c.buf[54:94], Model)
}

// padATA writes s space-padded in ATA string order: the two bytes of each
// word swapped.
func padATA(dst []byte, s string) {
	for i := range dst {
		v := byte(' ')
		if i < len(s) {
			v = s[i]
		}
		dst[i^1] = v
	}
}
