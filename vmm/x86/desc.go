package x86

import (
	"encoding/binary"
	"fmt"
)

// Descriptor is a decoded 8-byte GDT/LDT/IDT entry.
type Descriptor struct {
	Raw     uint64
	Base    uint32
	Limit   uint32 // in bytes, granularity applied
	Type    uint8  // the 4-bit type field
	S       bool   // code/data (true) or system (false)
	DPL     uint8
	Present bool
	DB      bool // default operand size 32 (code) / big (stack)
	G       bool
	// For gates: the target selector and offset.
	Selector uint16
	Offset   uint32
}

// System descriptor and gate types (S = 0).
const (
	TypeTSS16Avail  = 0x1
	TypeLDT         = 0x2
	TypeTSS16Busy   = 0x3
	TypeCallGate16  = 0x4
	TypeTaskGate    = 0x5
	TypeIntGate16   = 0x6
	TypeTrapGate16  = 0x7
	TypeTSS32Avail  = 0x9
	TypeTSS32Busy   = 0xB
	TypeCallGate32  = 0xC
	TypeIntGate32   = 0xE
	TypeTrapGate32  = 0xF
	typeCodeBit     = 0x8 // S=1: executable
	typeConformBit  = 0x4 // S=1 code: conforming
	typeWritableBit = 0x2 // S=1 data: writable
)

// Decode splits the raw 8 bytes of a descriptor into its fields.
func Decode(b []byte) Descriptor {
	raw := binary.LittleEndian.Uint64(b)
	lo, hi := uint32(raw), uint32(raw>>32)
	d := Descriptor{
		Raw:     raw,
		Type:    uint8(hi>>8) & 0xF,
		S:       hi&(1<<12) != 0,
		DPL:     uint8(hi>>13) & 3,
		Present: hi&(1<<15) != 0,
		DB:      hi&(1<<22) != 0,
		G:       hi&(1<<23) != 0,
	}
	d.Base = lo>>16 | (hi&0xFF)<<16 | hi&0xFF000000
	limit := lo&0xFFFF | hi&0x000F0000
	if d.G {
		limit = limit<<12 | 0xFFF
	}
	d.Limit = limit
	if d.IsGate() {
		d.Selector = uint16(lo >> 16)
		d.Offset = lo&0xFFFF | hi&0xFFFF0000
	}
	return d
}

// IsCode reports an executable code segment.
func (d Descriptor) IsCode() bool { return d.S && d.Type&typeCodeBit != 0 }

// IsConforming reports a conforming code segment.
func (d Descriptor) IsConforming() bool { return d.IsCode() && d.Type&typeConformBit != 0 }

// IsWritableData reports a writable data segment.
func (d Descriptor) IsWritableData() bool {
	return d.S && d.Type&typeCodeBit == 0 && d.Type&typeWritableBit != 0
}

// IsGate reports a call, interrupt, trap or task gate.
func (d Descriptor) IsGate() bool {
	if d.S {
		return false
	}
	switch d.Type {
	case TypeCallGate16, TypeTaskGate, TypeIntGate16, TypeTrapGate16,
		TypeCallGate32, TypeIntGate32, TypeTrapGate32:
		return true
	}
	return false
}

func (d Descriptor) String() string {
	if d.IsGate() {
		return fmt.Sprintf("gate{type=%#x dpl=%d p=%v sel=%#x off=%#x}", d.Type, d.DPL, d.Present, d.Selector, d.Offset)
	}
	return fmt.Sprintf("seg{base=%#x limit=%#x type=%#x s=%v dpl=%d p=%v db=%v}", d.Base, d.Limit, d.Type, d.S, d.DPL, d.Present, d.DB)
}

// EncodeSegment builds a code/data segment descriptor (S = 1). limit is in
// bytes; with g set it is stored in 4 KiB units.
func EncodeSegment(base, limit uint32, typ, dpl uint8, db, g bool) uint64 {
	if g {
		limit >>= 12
	}
	lo := limit&0xFFFF | base<<16
	hi := (base>>16)&0xFF | uint32(typ&0xF)<<8 | 1<<12 | uint32(dpl&3)<<13 | 1<<15 |
		limit&0xF0000 | base&0xFF000000
	if db {
		hi |= 1 << 22
	}
	if g {
		hi |= 1 << 23
	}
	return uint64(hi)<<32 | uint64(lo)
}

// EncodeSystem builds a system segment descriptor (TSS, LDT).
func EncodeSystem(base, limit uint32, typ, dpl uint8) uint64 {
	lo := limit&0xFFFF | base<<16
	hi := (base>>16)&0xFF | uint32(typ&0xF)<<8 | uint32(dpl&3)<<13 | 1<<15 |
		limit&0xF0000 | base&0xFF000000
	return uint64(hi)<<32 | uint64(lo)
}

// EncodeGate builds a call, interrupt or trap gate.
func EncodeGate(typ uint8, sel uint16, off uint32, dpl uint8) uint64 {
	lo := off&0xFFFF | uint32(sel)<<16
	hi := off&0xFFFF0000 | uint32(typ&0xF)<<8 | uint32(dpl&3)<<13 | 1<<15
	return uint64(hi)<<32 | uint64(lo)
}

// Selector helpers.
func SelIndex(sel uint16) uint16 { return sel >> 3 }
func SelRPL(sel uint16) uint8    { return uint8(sel & 3) }
func SelTI(sel uint16) bool      { return sel&4 != 0 }

// EFLAGS bits.
const (
	FlagCF   = 1 << 0
	FlagPF   = 1 << 2
	FlagZF   = 1 << 6
	FlagTF   = 1 << 8
	FlagIF   = 1 << 9
	FlagDF   = 1 << 10
	FlagIOPL = 3 << 12
	FlagNT   = 1 << 14
	FlagRF   = 1 << 16
	FlagVM   = 1 << 17
)

// IOPL extracts the I/O privilege level from EFLAGS.
func IOPL(eflags uint32) uint8 { return uint8(eflags>>12) & 3 }

// CR0 bits.
const (
	CR0PE = 1 << 0
	CR0MP = 1 << 1
	CR0EM = 1 << 2
	CR0TS = 1 << 3
	CR0ET = 1 << 4
	CR0NE = 1 << 5
	CR0WP = 1 << 16
	CR0PG = 1 << 31
)

// TSS32 field offsets used for privilege switches.
const (
	TSSESP0 = 4
	TSSSS0  = 8
	TSSESP1 = 12
	TSSSS1  = 16
	TSSESP2 = 20
	TSSSS2  = 24
)
