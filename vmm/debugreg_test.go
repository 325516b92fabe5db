package vmm

import "testing"

// TestDebugRegisters: a guest that arms a breakpoint in DR7 and reads it
// back through DR5 (DR7's alias while CR4.DE is clear). Before the machine
// kept the debug registers, Unicorn 2.1 killed the process with SIGSEGV at
// the next block (difftest's sys family found it).
func TestDebugRegisters(t *testing.T) {
	code := []byte{
		0xB8, 0x01, 0x04, 0x00, 0x00, // mov $0x401,%eax: L0, breakpoint 0 at DR0 = 0
		0x0F, 0x23, 0xF8, // mov %eax,%dr7
		0x31, 0xC0, // xor %eax,%eax
		0x0F, 0x21, 0xE8, // mov %dr5,%eax
		0x90,             // nop
		0x0F, 0x21, 0xF1, // mov %dr6,%ecx
		0x81, 0xF9, 0xF0, 0x0F, 0xFF, 0xFF, // cmp $0xffff0ff0,%ecx
		0x74, 0x02, // je +2
		0xB0, 0x63, // mov $0x63,%al: DR6 did not read its fixed bits
		0xE6, 0xF4, // out %al,$0xf4
		0xEB, 0xFE, // jmp .
	}
	res := flat(t, code, Config{})
	if res.Stop.Kind != StopExit || res.Stop.Status != 1 {
		t.Fatalf("stop = %+v, want exit 1 (DR7 = 0x401 read back through DR5)", res.Stop)
	}
}
