package x86

import (
	"encoding/binary"
	"testing"
)

func decodeRaw(raw uint64) Descriptor {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], raw)
	return Decode(b[:])
}

func TestDescriptorPredicates(t *testing.T) {
	tests := []struct {
		name                                  string
		raw                                   uint64
		data, readable, tss, accessed, isGate bool
		rights                                uint32
	}{
		{"kernel code", 0x00CF9B000000FFFF, false, true, false, true, false, 0x00C09B00},
		{"kernel data", 0x00CF93000000FFFF, true, true, false, true, false, 0x00C09300},
		{"user code", 0x00CFFB000000FFFF, false, true, false, true, false, 0x00C0FB00},
		{"exec-only code", EncodeSegment(0, 0xFFFFF, 0x8, 3, true, false), false, false, false, false, false, 0x0040F800},
		{"read-only data", EncodeSegment(0x1234, 0xFFFF, 0x0, 0, false, false), true, true, false, false, false, 0x00009000},
		{"tss32", EncodeSystem(0x3000, 103, TypeTSS32Avail, 0), false, false, true, false, false, 0x00008900},
		{"tss32 busy", EncodeSystem(0x3000, 103, TypeTSS32Busy, 0), false, false, true, false, false, 0x00008B00},
		{"tss16", EncodeSystem(0x3000, 43, TypeTSS16Avail, 0), false, false, true, false, false, 0x00008100},
		{"ldt", EncodeSystem(0x3000, 0xFF, TypeLDT, 0), false, false, false, false, false, 0x00008200},
		{"call gate", EncodeGate(TypeCallGate32, 8, 0x1000, 3), false, false, false, false, true, 0x0000EC00},
	}
	for _, tt := range tests {
		d := decodeRaw(tt.raw)
		if d.IsData() != tt.data || d.IsReadable() != tt.readable || d.IsTSS() != tt.tss ||
			d.Accessed() != tt.accessed || d.IsGate() != tt.isGate || d.AccessRights() != tt.rights {
			t.Errorf("%s (%v): data=%v readable=%v tss=%v accessed=%v gate=%v rights=%#x; want %v %v %v %v %v %#x",
				tt.name, d, d.IsData(), d.IsReadable(), d.IsTSS(), d.Accessed(), d.IsGate(), d.AccessRights(),
				tt.data, tt.readable, tt.tss, tt.accessed, tt.isGate, tt.rights)
		}
	}
}

func TestWithDPL(t *testing.T) {
	d := decodeRaw(0x00CF9B000000FFFF)
	e := d.WithDPL(1)
	if e.DPL != 1 || e.Raw != 0x00CFBB000000FFFF {
		t.Fatalf("WithDPL(1) = dpl %d raw %#x", e.DPL, e.Raw)
	}
	if back := decodeRaw(e.Raw); back != e {
		t.Errorf("raw and fields disagree: %+v vs %+v", back, e)
	}
	if e.WithDPL(0) != d {
		t.Errorf("WithDPL(0) does not undo WithDPL(1)")
	}
}

func TestSelectorHelpers(t *testing.T) {
	if SelErrorCode(0x2B) != 0x28 || SelErrorCode(0x0F) != 0x0C {
		t.Errorf("SelErrorCode: %#x %#x", SelErrorCode(0x2B), SelErrorCode(0x0F))
	}
	for sel, null := range map[uint16]bool{0: true, 3: true, 4: false, 8: false, 0x13: false} {
		if SelNull(sel) != null {
			t.Errorf("SelNull(%#x) = %v", sel, !null)
		}
	}
}

func TestFlagAndCRConstants(t *testing.T) {
	if FlagsArith != 0x8D5 {
		t.Errorf("FlagsArith = %#x, want 0x8d5", FlagsArith)
	}
	if FlagsPopf&(FlagIF|FlagIOPL|FlagVM|FlagRF|FlagVIF|FlagVIP) != 0 {
		t.Errorf("FlagsPopf includes IF/IOPL/VM/RF/VIF/VIP: %#x", FlagsPopf)
	}
	defined := uint32(CR4VME | CR4PVI | CR4TSD | CR4DE | CR4PSE | CR4PAE | CR4MCE | CR4PGE | CR4PCE |
		CR4OSFXSR | CR4OSXMMEXCPT | CR4UMIP | CR4LA57 | CR4VMXE | CR4SMXE | CR4FSGSBASE | CR4PCIDE |
		CR4OSXSAVE | CR4SMEP | CR4SMAP | CR4PKE)
	if defined&CR4Reserved != 0 || defined|CR4Reserved != 0xFFFFFFFF {
		t.Errorf("CR4 defined %#x and reserved %#x do not partition the register", defined, uint32(CR4Reserved))
	}
}
