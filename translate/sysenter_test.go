package translate

import (
	"encoding/binary"
	"testing"

	"virtsim/guest"
	"virtsim/vmm"
)

// A sysenter the guest kernel makes (CPL 0 to CPL 0) enters SYSENTER_EIP
// on SYSENTER_ESP under every Unicorn strategy: the machine performs it
// natively, trap at its site hook (an exit), bt by a callout from the
// translated kernel code.
func TestKernelSysenter(t *testing.T) {
	const base, stack = 0x100000, 0x180000
	var code []byte
	wrmsr := func(idx, val uint32) {
		code = append(code, 0xB9) // mov $idx, %ecx
		code = binary.LittleEndian.AppendUint32(code, idx)
		code = append(code, 0xB8) // mov $val, %eax
		code = binary.LittleEndian.AppendUint32(code, val)
		code = append(code, 0x31, 0xD2, 0x0F, 0x30) // xor %edx, %edx; wrmsr
	}
	// 3 × 14 bytes of wrmsr, then sysenter at +42, ud2 at +44; the target
	// at +46 checks ESP and writes 42 to the debug-exit port.
	wrmsr(vmm.MSRSysenterCS, 0x08) // the entry GDT: flat code 0x08, data 0x10
	wrmsr(vmm.MSRSysenterESP, stack)
	wrmsr(vmm.MSRSysenterEIP, base+46)
	code = append(code, 0x0F, 0x34, 0x0F, 0x0B) // sysenter; ud2
	code = append(code, 0x81, 0xFC)             // cmp $stack, %esp
	code = binary.LittleEndian.AppendUint32(code, stack)
	code = append(code, 0x75, 0x04, 0xB0, 0x2A, 0xE6, 0xF4, 0x0F, 0x0B) // jne ud2; mov $42, %al; out %al, $0xf4; ud2
	if len(code) != 46+14 {
		t.Fatalf("code is %d bytes", len(code))
	}
	img, err := guest.LoadFlat(code, base, vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	for s, mech := range map[string]vmm.Mechanism{"native": vmm.MechMachine, "trap": vmm.MechTrap, "bt": vmm.MechCallout} {
		res := run(t, s, img, "")
		if res.Stop.Kind != vmm.StopExit || res.Stop.Status != 42 {
			t.Errorf("%s: %s, want exit 42", s, res.Stop)
		}
		if n := res.Counts[vmm.Key{Cause: vmm.CauseSysenter, Mech: mech}]; n != 1 {
			t.Errorf("%s: %d priv/sysenter %s, want 1\n%s", s, n, mech, res.Counts.Format())
		}
	}
}
