package x86

import (
	"encoding/binary"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

func TestExceptionTable(t *testing.T) {
	tests := []struct {
		vec     uint8
		mn      string
		errcode bool
		class   Class
	}{
		{0, "#DE", false, Fault},
		{3, "#BP", false, Trap},
		{6, "#UD", false, Fault},
		{8, "#DF", true, Abort},
		{13, "#GP", true, Fault},
		{14, "#PF", true, Fault},
		{17, "#AC", true, Fault},
	}
	for _, tt := range tests {
		e, ok := ExceptionFor(tt.vec)
		if !ok || e.Mnemonic != tt.mn || e.ErrorCode != tt.errcode || e.Class != tt.class {
			t.Errorf("vector %d: got %+v ok=%v, want %s errcode=%v class=%v", tt.vec, e, ok, tt.mn, tt.errcode, tt.class)
		}
	}
	for _, v := range []uint8{9, 15, 31, 32, 0x80, 255} {
		if _, ok := ExceptionFor(v); ok {
			t.Errorf("vector %#x should not be an exception", v)
		}
	}
	if VectorName(0x80) != "0x80" || VectorName(13) != "#GP" {
		t.Errorf("VectorName: %q %q", VectorName(0x80), VectorName(13))
	}
}

func TestEscalate(t *testing.T) {
	tests := []struct {
		first, second uint8
		want          uint8
		triple        bool
	}{
		{VecDE, VecGP, VecDF, false}, // contributory + contributory
		{VecGP, VecNP, VecDF, false},
		{VecPF, VecPF, VecDF, false},
		{VecPF, VecGP, VecDF, false},
		{VecGP, VecPF, VecPF, false}, // contributory then #PF: handled serially
		{VecBP, VecGP, VecGP, false}, // benign first
		{VecUD, VecGP, VecGP, false},
		{VecDF, VecGP, 0, true}, // fault during #DF delivery: shutdown
		{0x80, VecGP, VecGP, false},
	}
	for _, tt := range tests {
		got, triple := Escalate(tt.first, tt.second)
		if got != tt.want || triple != tt.triple {
			t.Errorf("Escalate(%d,%d) = %d,%v want %d,%v", tt.first, tt.second, got, triple, tt.want, tt.triple)
		}
	}
}

func TestDescriptorRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		raw  uint64
		chk  func(Descriptor) bool
	}{
		{"flat ring-0 code", EncodeSegment(0, 0xFFFFFFFF, 0xA, 0, true, true), func(d Descriptor) bool {
			return d.Base == 0 && d.Limit == 0xFFFFFFFF && d.IsCode() && d.DPL == 0 && d.Present && d.DB && !d.IsConforming()
		}},
		{"ring-3 data", EncodeSegment(0x12345678, 0xFFFFF, 0x2, 3, true, false), func(d Descriptor) bool {
			return d.Base == 0x12345678 && d.Limit == 0xFFFFF && !d.IsCode() && d.IsWritableData() && d.DPL == 3
		}},
		{"known raw: 0x00cf9a000000ffff", 0x00cf9a000000ffff, func(d Descriptor) bool {
			return d.Base == 0 && d.Limit == 0xFFFFFFFF && d.Type == 0xA && d.S && d.DPL == 0 && d.G && d.DB
		}},
		{"tss", EncodeSystem(0x9000, 0x67, TypeTSS32Avail, 0), func(d Descriptor) bool {
			return d.Base == 0x9000 && d.Limit == 0x67 && !d.S && d.Type == TypeTSS32Avail && !d.IsGate()
		}},
		{"int gate dpl3", EncodeGate(TypeIntGate32, 0x08, 0x00101234, 3), func(d Descriptor) bool {
			return d.IsGate() && d.Selector == 0x08 && d.Offset == 0x00101234 && d.DPL == 3 && d.Type == TypeIntGate32
		}},
		{"call gate", EncodeGate(TypeCallGate32, 0x10, 0xFFFF0010, 3), func(d Descriptor) bool {
			return d.IsGate() && d.Selector == 0x10 && d.Offset == 0xFFFF0010 && d.Type == TypeCallGate32
		}},
	}
	for _, tt := range tests {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], tt.raw)
		d := Decode(b[:])
		if !tt.chk(d) {
			t.Errorf("%s: decoded %v", tt.name, d)
		}
	}
}

func TestEndsBlock(t *testing.T) {
	tests := []struct {
		code []byte
		ends bool
	}{
		{[]byte{0xEB, 0xFE}, true},        // jmp .
		{[]byte{0x75, 0x00}, true},        // jne
		{[]byte{0xE8, 0, 0, 0, 0}, true},  // call
		{[]byte{0xC3}, true},              // ret
		{[]byte{0xCF}, true},              // iret
		{[]byte{0xCD, 0x80}, true},        // int $0x80
		{[]byte{0xF4}, true},              // hlt
		{[]byte{0xE2, 0xFE}, true},        // loop
		{[]byte{0x01, 0xC8}, false},       // add %ecx,%eax
		{[]byte{0xE6, 0x80}, false},       // out %al,$0x80
		{[]byte{0xFA}, false},             // cli
		{[]byte{0x0F, 0xA2}, false},       // cpuid
		{[]byte{0x8B, 0x45, 0x08}, false}, // mov 8(%ebp),%eax
	}
	for _, tt := range tests {
		inst, err := x86asm.Decode(tt.code, 32)
		if err != nil {
			t.Fatalf("% x: %v", tt.code, err)
		}
		if got := EndsBlock(inst.Op); got != tt.ends {
			t.Errorf("% x (%v): EndsBlock = %v, want %v", tt.code, inst.Op, got, tt.ends)
		}
	}
}
