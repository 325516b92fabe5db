package trap

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"virtsim/vmm/x86"
)

// Robustness: whatever bytes the guest executes and whatever state it is
// in, Emulate returns an outcome or an error — never a panic — and keeps
// its promises about EIP.

// fuzzState derives a machine from a seed: registers pointing into and out
// of memory, either privilege, odd table registers.
func fuzzState(en *env, r *rand.Rand) {
	pick := func() uint32 {
		switch r.IntN(8) {
		case 0:
			return 0
		case 1:
			return dataAddr + uint32(r.IntN(0x100))
		case 2:
			return kstackTop - uint32(r.IntN(0x40))
		case 3:
			return pfPage - uint32(r.IntN(8))
		case 4:
			return 0xFFFFFFFF - uint32(r.IntN(16))
		case 5:
			return uint32(r.IntN(0x100)) * 8 // selectors, small counts
		case 6:
			return strAddr + uint32(r.IntN(0x10))
		}
		return r.Uint32()
	}
	for _, reg := range []Reg{EAX, EBX, EDX, ESI, EDI, EBP} {
		en.c.regs[reg] = pick()
	}
	en.c.regs[ECX] = uint32(r.IntN(40)) // keep rep loops short
	if r.IntN(4) == 0 {
		en.c.regs[ESP] = pick()
	}
	en.c.regs[EFLAGS] ^= r.Uint32() & (x86.FlagsArith | x86.FlagDF | x86.FlagNT)
	if r.IntN(2) == 0 {
		en.user()
	}
	en.v.IOPL = uint8(r.IntN(4))
	en.v.IF = r.IntN(2) == 0
	switch r.IntN(6) {
	case 0:
		en.v.GDTR = DTR{Base: pick(), Limit: uint16(r.Uint32())}
	case 1:
		en.v.GDTR.Limit = 0
	}
	if r.IntN(3) == 0 {
		en.v.LDTR = selLDT
	}
	if r.IntN(4) == 0 {
		en.v.TR = uint16(r.Uint32())
	}
	if r.IntN(8) == 0 {
		en.c.segs[SS].Desc.DB = false // a 16-bit stack
	}
}

// interesting opcode starts, so random tails reach the emulation paths.
var fuzzHeads = [][]byte{
	{0xfa}, {0xfb}, {0xf4}, {0x0f, 0x22}, {0x0f, 0x20}, {0x0f, 0x01}, {0x0f, 0x00},
	{0x0f, 0x02}, {0x0f, 0x03}, {0x0f, 0x06}, {0x0f, 0x30}, {0x0f, 0x32}, {0x0f, 0xa2},
	{0xe4}, {0xe5}, {0xe6}, {0xe7}, {0xec}, {0xed}, {0xee}, {0xef},
	{0xf3, 0x6c}, {0xf3, 0x6d}, {0xf3, 0x6e}, {0xf3, 0x6f}, {0x66, 0xf3, 0x6d}, {0x67, 0xf3, 0x6e},
	{0x9c}, {0x9d}, {0x66, 0x9d}, {0xcf}, {0x66, 0xcf}, {0xcb}, {0xca}, {0xcd}, {0xcc}, {0xce},
	{0xea}, {0x9a}, {0xff}, {0x8e}, {0x8c}, {0x17}, {0x1f}, {0x07}, {0x0e}, {0x16},
	{0x0f, 0xb2}, {0xc5}, {0xc4}, {0x0f, 0xa1}, {0x0f, 0xa9},
}

func fuzzOnce(t *testing.T, code []byte, seed uint64) {
	t.Helper()
	en := newEnv("")
	copy(en.c.mem[codeAddr:codeAddr+15], code)
	r := rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15))
	fuzzState(en, r)
	out, err := en.run()
	if isPanic(err) {
		t.Fatalf("code % x seed %d: emulator panicked: %v", code, seed, err)
	}
	if err != nil {
		return
	}
	switch {
	case out.Fault == nil:
		if en.c.regs[EIP] != out.Next {
			t.Fatalf("code % x seed %d: EIP %#x != Next %#x", code, seed, en.c.regs[EIP], out.Next)
		}
	case out.Fault.Soft:
		if out.Next != codeAddr+uint32(out.Inst.Len) {
			t.Fatalf("code % x seed %d: soft interrupt Next %#x", code, seed, out.Next)
		}
	default:
		if en.c.regs[EIP] != codeAddr || out.Next != codeAddr {
			t.Fatalf("code % x seed %d: fault %v moved EIP to %#x (Next %#x)", code, seed, out.Fault, en.c.regs[EIP], out.Next)
		}
	}
}

// TestEmulateRandomBytes is the seeded, always-run form of FuzzEmulate.
func TestEmulateRandomBytes(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	r := rand.New(rand.NewPCG(4, 2))
	code := make([]byte, 15)
	for i := 0; i < n; i++ {
		for j := range code {
			code[j] = byte(r.Uint32())
		}
		if i%4 != 0 {
			copy(code, fuzzHeads[r.IntN(len(fuzzHeads))])
		}
		fuzzOnce(t, code, r.Uint64())
	}
}

func FuzzEmulate(f *testing.F) {
	for i, h := range fuzzHeads {
		code := append(append([]byte{}, h...), 0x15, 0x00, 0x20, 0x00, 0x00, 0x08, 0x00)
		f.Add(code, uint64(i))
	}
	f.Add([]byte{0x0f, 0x0f}, uint64(0))
	f.Add([]byte{}, uint64(1))
	var le [8]byte
	binary.LittleEndian.PutUint64(le[:], 0xcf)
	f.Add(le[:], uint64(2))
	f.Fuzz(func(t *testing.T, code []byte, seed uint64) {
		if len(code) > 15 {
			code = code[:15]
		}
		fuzzOnce(t, code, seed)
	})
}
