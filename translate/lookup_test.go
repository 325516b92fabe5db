package translate

import (
	"encoding/binary"
	"testing"

	"virtsim/guest"
	"virtsim/vmm"
)

// lookupImage: a guest whose returns land in seven different 64 KiB
// regions (more high halves than the lookup has tables, l2Slots), so that
// the tables are taken over in turn and their returns miss and refill.
// main calls f0..f5, each in a region of its own; each fk calls a leaf
// in main's region and returns; every function counts itself in %edi.
// It prints "OK\n" when %edi holds rounds*12, "NO\n" otherwise.
func lookupImage(t *testing.T, rounds uint32) *guest.Image {
	t.Helper()
	const load, leaf, fBase, fStride, nf = 0x100000, 0x100800, 0x110000, 0x10000, 6
	c := &code{base: load}
	putc := func(ch byte) {
		c.emit(0xB0, ch)               // mov $ch, %al
		c.emit(0x66, 0xBA, 0xF8, 0x03) // mov $0x3f8, %dx
		c.emit(0xEE)                   // out %al, (%dx)
	}
	padTo := func(a uint32) {
		for c.pc() < a {
			c.emit(0xCC)
		}
	}
	c.emit(0xBC)
	c.u32(0x90000)     // mov $0x90000, %esp
	c.emit(0x31, 0xFF) // xor %edi, %edi
	c.emit(0xBD)       // mov $rounds, %ebp
	c.u32(rounds)
	loop := c.pc()
	for k := uint32(0); k < nf; k++ {
		c.emit(0xE8) // call fk
		c.rel32(fBase + k*fStride)
	}
	c.emit(0x4D)       // dec %ebp
	c.emit(0x0F, 0x85) // jnz loop
	c.rel32(loop)
	c.emit(0x81, 0xFF) // cmp $rounds*12, %edi
	c.u32(rounds * 2 * nf)
	c.emit(0x75, 3*7+4) // jne no: past three putc and the exit
	putc('O')
	putc('K')
	putc('\n')
	c.emit(0xB0, 0x00, 0xE6, 0xF4) // mov $0, %al; out %al, $0xf4
	putc('N')
	putc('O')
	putc('\n')
	c.emit(0xB0, 0x00, 0xE6, 0xF4)
	padTo(leaf)
	c.emit(0x47, 0xC3) // leaf: inc %edi; ret
	for k := uint32(0); k < nf; k++ {
		padTo(fBase + k*fStride)
		c.emit(0x47) // inc %edi
		c.emit(0xE8) // call leaf
		c.rel32(leaf)
		c.emit(0xC3) // ret
	}
	img, err := guest.LoadFlat(c.b, load, vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	img.Name = "lookup-takeover"
	return img
}

// The lookup's tables are taken over in turn when the returns' targets
// span more high halves than there are tables: the guest still computes
// what native computes, and the returns whose table was taken miss and
// fill their entries again (more misses than distinct targets).
func TestLookupTableTakeover(t *testing.T) {
	const rounds, targets = 20, 12 // six return points in main, one in each fk
	img := lookupImage(t, rounds)
	for _, s := range []string{"native", "bt"} {
		res, inst := runHostile(t, s, img)
		inst.Close()
		if res.Stop.Kind != vmm.StopExit || res.Serial != "OK\n" {
			t.Fatalf("%s: %s, serial %q; want exit and %q", s, res.Stop, res.Serial, "OK\n")
		}
		if s != "bt" {
			continue
		}
		misses := res.Counters["bt/lookup-misses"]
		if misses <= targets {
			t.Errorf("bt: %d lookup misses, want more than the %d distinct targets (tables taken over)", misses, targets)
		}
	}
}

// overlayLookupImage: a paging guest that maps a page of its RAM, filled
// with 0xFF bytes, over the page of the lookup's l1 table that serves its
// returns (mem/vmm-overlay), then runs calls and returns: "AOK\n" when
// they all came back.
func overlayLookupImage(t *testing.T) *guest.Image {
	t.Helper()
	const load, pd, pt0, ptHigh, frame, calls = 0x100000, 0x80000, 0x81000, 0x82000, 0x300000, 50
	over := uint32(l1TabAddr) + (load>>16)*4&^0xFFF // the l1 entries of the image's returns
	c := &code{base: load}
	putc := func(ch byte) {
		c.emit(0xB0, ch)               // mov $ch, %al
		c.emit(0x66, 0xBA, 0xF8, 0x03) // mov $0x3f8, %dx
		c.emit(0xEE)                   // out %al, (%dx)
	}
	movImm := func(r byte, v uint32) { c.emit(0xB8 + r); c.u32(v) } // mov $v, %r
	c.emit(0xBC)
	c.u32(0x90000) // mov $0x90000, %esp
	putc('A')
	c.emit(0xFC)    // cld
	movImm(7, pt0)  // %edi: the first 4 MiB, identity-mapped
	movImm(0, 3)    // present, writable
	movImm(1, 1024) // %ecx
	fill := c.pc()
	c.emit(0xAB) // stos %eax, (%edi)
	c.emit(0x05) // add $0x1000, %eax
	c.u32(0x1000)
	c.emit(0xE2, byte(fill-(c.pc()+2))) // loop fill
	movImmToAbs(c, pd, pt0|3)
	movImmToAbs(c, pd+(over>>22)*4, ptHigh|3)
	movImmToAbs(c, ptHigh+(over>>12&0x3FF)*4, frame|3)
	movImm(7, frame) // the frame: all 0xFF
	movImm(0, 0xFFFFFFFF)
	movImm(1, 1024)
	c.emit(0xF3, 0xAB) // rep stos %eax, (%edi)
	movImm(0, pd)
	c.emit(0x0F, 0x22, 0xD8) // mov %eax, %cr3
	c.emit(0x0F, 0x20, 0xC0) // mov %cr0, %eax
	c.emit(0x0D)             // or $PG, %eax
	c.u32(0x80000000)
	c.emit(0x0F, 0x22, 0xC0) // mov %eax, %cr0
	c.emit(0x31, 0xF6)       // xor %esi, %esi
	movImm(5, calls)         // %ebp
	loop := c.pc()
	c.emit(0xE8) // call f
	callAt := len(c.b)
	c.u32(0)
	c.emit(0x4D)       // dec %ebp
	c.emit(0x0F, 0x85) // jnz loop
	c.rel32(loop)
	c.emit(0x83, 0xFE, calls) // cmp $calls, %esi
	c.emit(0x75, 3*7+4)       // jne no: past three putc and the exit
	putc('O')
	putc('K')
	putc('\n')
	c.emit(0xB0, 0x00, 0xE6, 0xF4) // mov $0, %al; out %al, $0xf4
	putc('N')
	putc('O')
	putc('\n')
	c.emit(0xB0, 0x00, 0xE6, 0xF4)
	f := c.pc()
	binary.LittleEndian.PutUint32(c.b[callAt:], f-(load+uint32(callAt)+4))
	c.emit(0x46, 0xC3) // f: inc %esi; ret
	img, err := guest.LoadFlat(c.b, load, vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	img.Name = "lookup-overlay"
	return img
}

// A guest's RAM mapped over the lookup's l1 table is the guest's to read
// and write, but the translator's lookups there still read its own table
// (overlay.go's ownOperand: an indexed operand in the VMM's region).
func TestLookupUnderGuestOverlay(t *testing.T) {
	img := overlayLookupImage(t)
	for _, s := range []string{"native", "bt"} {
		res, inst := runHostile(t, s, img)
		inst.Close()
		if res.Stop.Kind != vmm.StopExit || res.Serial != "AOK\n" {
			t.Errorf("%s: %s, serial %q; want exit and %q", s, res.Stop, res.Serial, "AOK\n")
		}
	}
}
