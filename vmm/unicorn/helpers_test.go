package unicorn

import (
	"bytes"
	"testing"
)

// Guest layout used by the tests: code at 0x1000, data page at 0x5000,
// stack below 0x9000, everything in [0x1000, 0x10000) mapped rwx.
const (
	codeAddr = 0x1000
	dataAddr = 0x5000
	stackTop = 0x9000
	memBase  = 0x1000
	memSize  = 0xf000
)

// cat concatenates instruction byte strings.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// newVM returns an engine with the test layout and code at codeAddr.
func newVM(t testing.TB, code []byte) *Engine {
	t.Helper()
	e, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := e.MemMap(memBase, memSize, ProtAll); err != nil {
		t.Fatal(err)
	}
	if err := e.MemWrite(codeAddr, code); err != nil {
		t.Fatal(err)
	}
	if err := e.SetReg(ESP, stackTop); err != nil {
		t.Fatal(err)
	}
	return e
}

// runAll runs the code from codeAddr to its end.
func runAll(t testing.TB, e *Engine, code []byte) {
	t.Helper()
	if err := e.Start(codeAddr, codeAddr+uint64(len(code)), 0, 0); err != nil {
		t.Fatalf("Start: %v", err)
	}
}

func reg(t testing.TB, e *Engine, r Reg) uint32 {
	t.Helper()
	v, err := e.Reg(r)
	if err != nil {
		t.Fatalf("Reg(%v): %v", r, err)
	}
	return v
}

func setReg(t testing.TB, e *Engine, r Reg, v uint32) {
	t.Helper()
	if err := e.SetReg(r, v); err != nil {
		t.Fatalf("SetReg(%v, %#x): %v", r, v, err)
	}
}

// setupGDT installs a flat GDT at 0x3000: null, code 0x08 (DPL 0), data
// 0x10 (DPL 0), and points GDTR at it.
func setupGDT(t testing.TB, e *Engine) {
	t.Helper()
	gdt := []byte{
		0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff, 0, 0, 0, 0x9a, 0xcf, 0, // code: base 0, limit 4G, exec/read, DPL 0
		0xff, 0xff, 0, 0, 0, 0x92, 0xcf, 0, // data: base 0, limit 4G, read/write, DPL 0
	}
	if err := e.MemWrite(0x3000, gdt); err != nil {
		t.Fatal(err)
	}
	if err := e.SetMMR(GDTR, MMR{Base: 0x3000, Limit: uint32(len(gdt) - 1)}); err != nil {
		t.Fatal(err)
	}
}

// Instructions (AT&T syntax in the comments).
var (
	insNop      = []byte{0x90}                                  // nop
	insXorECX   = []byte{0x31, 0xc9}                            // xor %ecx,%ecx
	insDivECX   = []byte{0xf7, 0xf1}                            // div %ecx
	insInt80    = []byte{0xcd, 0x80}                            // int $0x80
	insInt13    = []byte{0xcd, 0x0d}                            // int $0xd
	insUD2      = []byte{0x0f, 0x0b}                            // ud2
	insCPUID    = []byte{0x0f, 0xa2}                            // cpuid
	insMovAx    = []byte{0x66, 0xb8, 0x30, 0x12}                // mov $0x1230,%ax
	insMovDS    = []byte{0x8e, 0xd8}                            // mov %ax,%ds
	insJmpSelf  = []byte{0xeb, 0xfe}                            // 1: jmp 1b
	insStore    = []byte{0xc7, 0x05, 0, 0x50, 0, 0, 1, 0, 0, 0} // movl $1,0x5000
	insMovEAX1  = []byte{0xb8, 1, 0, 0, 0}                      // mov $1,%eax
	insIncEAX   = []byte{0x40}                                  // inc %eax
	insOutAl80  = []byte{0xe6, 0x80}                            // out %al,$0x80
	insLoopBack = []byte{0xe2, 0xfc}                            // loop .-2 (back over a 2-byte instruction)
)
