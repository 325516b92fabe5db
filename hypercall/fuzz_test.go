package hypercall

import (
	"encoding/binary"
	"testing"
)

// FuzzHypercall: whatever a guest passes — any hypercall number, any
// arguments, any bytes where its pointers point — the VMM answers with a
// result or one of the ABI's errors, and never panics or touches memory
// outside guest RAM (a Go panic or an engine failure fails the target).
// Arguments are drawn so pointers often land in a scratch area the fuzzer
// also fills.
func FuzzHypercall(f *testing.F) {
	f.Add(uint32(HcConsoleIO), uint32(0), uint32(5), uint32(scratch), []byte("hello"))
	f.Add(uint32(HcMulticall), uint32(scratch), uint32(3), uint32(0), make([]byte, 3*32))
	f.Add(uint32(HcSetGDT), uint32(scratch), uint32(0), uint32(0), []byte{0xff, 0xff, 0, 0, 0x20, 0})
	f.Add(uint32(HcSetTrapTable), uint32(scratch), uint32(0), uint32(0), []byte{0x80, 0, 3, 0, 8, 0, 0, 0, 0, 0x10, 0, 0})
	f.Add(uint32(HcSchedOp), uint32(2), uint32(0), uint32(0), []byte{})
	f.Add(uint32(HcIOIn), uint32(0x61), uint32(1), uint32(0), []byte{})
	f.Add(uint32(HcMMUExtOp), uint32(0), uint32(0xFFFFF000), uint32(0), []byte{})
	f.Add(uint32(HcStackSwitch), uint32(0x13), uint32(0x1000), uint32(0), []byte{})
	f.Add(uint32(200), uint32(0), uint32(0), uint32(0), []byte{})
	p := bootedVMM(f)
	errs := map[uint32]bool{EPERM.Ret(): true, EFAULT.Ret(): true, EINVAL.Ret(): true, ENOSYS.Ret(): true}
	f.Fuzz(func(t *testing.T, nr, a0, a1, a2 uint32, mem []byte) {
		if len(mem) > 4096 {
			mem = mem[:4096]
		}
		if err := p.WriteMem(scratch, mem); err != nil {
			t.Fatal(err)
		}
		// Multicall entries name hypercalls too: keep them away from
		// sched_op (which may block the run) half of the time.
		for i := 0; i+4 <= len(mem); i += 32 {
			if binary.LittleEndian.Uint32(mem[i:])%2 == 0 {
				binary.LittleEndian.PutUint32(mem[i:], HcEventCheck)
			}
		}
		a := [6]uint32{a0, a1, a2, scratch, scratch + 64, 0}
		out := p.call(nr%64, a, false)
		if out.ret >= 0x80000000 && !errs[out.ret] {
			t.Errorf("hypercall %d%v returned %#x: neither a result nor an ABI error", nr%64, a, out.ret)
		}
		if p.Stopped().Kind != 0 && p.Stopped().Reason != "" && p.Result().Stop.Kind == 0 {
			t.Errorf("inconsistent stop %v", p.Stopped())
		}
	})
}
