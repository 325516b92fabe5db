package hwassist

import (
	"encoding/binary"
	"strings"
	"testing"

	"virtsim/guest"
	"virtsim/vmm"
	"virtsim/vmm/x86"
)

// deviceVM is a VM with its devices and a made-up kvm_run but no KVM: the
// exit handling that needs no ioctl (MMIO, time, interrupt choice) runs
// against it.
func deviceVM(t *testing.T, cfg vmm.Config) *VM {
	t.Helper()
	v := &VM{Img: &guest.Image{Name: "none"}, Cfg: cfg.WithDefaults(), run: newRun(exitMMIO), vcpuFD: -1}
	v.res = vmm.Result{Counts: vmm.Counts{}, Counters: map[string]uint64{}}
	if err := v.setupDevices(); err != nil {
		t.Fatal(err)
	}
	return v
}

// mmioExit makes KVM_EXIT_MMIO in v's kvm_run, decodes and decides it,
// and handles it as the exit loop does; a load's answer is returned from
// kvm_run's data bytes.
func (v *VM) mmioExit(t *testing.T, addr uint64, n uint32, write bool, val uint32) uint32 {
	t.Helper()
	r := fakeRun(v.run)
	clear(r[runExit : runExit+runExitUnionSize])
	r.u64(mmioPhysAddr, addr)
	r.u32(mmioLen, n)
	if write {
		r.u8(mmioIsWrite, 1)
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], val)
		copy(r[runExit+mmioData:], b[:n])
	}
	e := decodeExit(v.run, 0)
	d := decide(e)
	if d.Action != actMMIO {
		t.Fatalf("%#x: decide = %+v", addr, d)
	}
	v.onMMIO(e, d)
	var b [8]byte
	copy(b[:], v.run[runExit+mmioData:runExit+mmioData+8])
	return binary.LittleEndian.Uint32(b[:4])
}

const (
	lapic  = vmm.LAPICBase
	ioapic = vmm.IOAPICBase
)

// TestMMIOExitsReachTheDeviceModels: made-up MMIO exits read and write the
// user-space local APIC and I/O APIC, loads are answered in kvm_run's
// data, each access is one vmexit event with the register's cause, and
// the interrupts the models raise are the ones the VMM would inject.
func TestMMIOExitsReachTheDeviceModels(t *testing.T) {
	v := deviceVM(t, vmm.Config{})
	if got := v.mmioExit(t, lapic+0x30, 4, false, 0); got != 0x00050014 {
		t.Errorf("LAPIC version = %#x, want 0x00050014", got)
	}
	if got := v.mmioExit(t, lapic+0x32, 1, false, 0); got != 0x05 {
		t.Errorf("byte 2 of the version = %#x, want 0x05 (max LVT)", got)
	}
	v.mmioExit(t, lapic+0x80, 4, true, 0x20)
	if got := v.mmioExit(t, lapic+0x80, 4, false, 0); got != 0x20 {
		t.Errorf("TPR = %#x after writing 0x20", got)
	}
	v.mmioExit(t, lapic+0x80, 4, true, 0)

	// INIT and SIPI to an absent CPU: accepted, idle at once, no error.
	v.mmioExit(t, lapic+0x310, 4, true, 1<<24)
	v.mmioExit(t, lapic+0x300, 4, true, 0x4500)
	v.mmioExit(t, lapic+0x300, 4, true, 0x4608)
	if got := v.mmioExit(t, lapic+0x300, 4, false, 0); got != 0x4608 {
		t.Errorf("ICR = %#x after a SIPI, want 0x4608 (delivery idle)", got)
	}
	if got := v.mmioExit(t, lapic+0x280, 4, false, 0); got != 0 {
		t.Errorf("ESR = %#x after IPIs to an absent CPU", got)
	}
	if v.PendingIRQ() {
		t.Error("an IPI to an absent CPU left an interrupt pending")
	}

	// The I/O APIC routes ISA IRQ 4 (pin 4) to vector 0x24 on APIC 0.
	v.mmioExit(t, ioapic, 4, true, 0x10+2*4)
	v.mmioExit(t, ioapic+0x10, 4, true, 0x24)
	v.mmioExit(t, ioapic, 4, true, 0x10+2*4+1)
	v.mmioExit(t, ioapic+0x10, 4, true, 0)
	v.mmioExit(t, ioapic, 4, true, 0x10+2*4)
	if got := v.mmioExit(t, ioapic+0x10, 4, false, 0); got != 0x24 {
		t.Errorf("redirection entry 4 reads %#x, want 0x24", got)
	}
	v.SetISAIRQ(4, true)
	if vec, ok := v.PendingVector(); !ok || vec != 0x24 {
		t.Fatalf("pending %#x %v after IRQ 4, want vector 0x24", vec, ok)
	}
	if vec, cause, _ := v.AcknowledgeIRQ(); vec != 0x24 || cause != "irq/4" {
		t.Errorf("acknowledged %#x %q, want 0x24 irq/4", vec, cause)
	}
	v.SetISAIRQ(4, false)
	// A self-IPI waits behind the in-service vector's class? 0x40 > 0x24: no.
	v.mmioExit(t, lapic+0x300, 4, true, 0x40040)
	if vec, cause, ok := v.AcknowledgeIRQ(); !ok || vec != 0x40 || cause != "irq/ipi" {
		t.Errorf("self-IPI: %#x %q %v", vec, cause, ok)
	}
	v.mmioExit(t, lapic+0xB0, 4, true, 0)
	v.mmioExit(t, lapic+0xB0, 4, true, 0)
	if got := v.mmioExit(t, lapic+0x100+0x20, 4, false, 0); got != 0 {
		t.Errorf("ISR word 1 = %#x after two EOIs", got)
	}

	want := map[string]uint64{"mmio/lapic:VER": 2, "mmio/lapic:TPR": 3, "mmio/lapic:ICR-HI": 1, "mmio/lapic:ICR-LO": 4,
		"mmio/lapic:ESR": 1, "mmio/ioapic:IOREGSEL": 3, "mmio/ioapic:IOWIN": 3, "mmio/lapic:EOI": 2, "mmio/lapic:ISR": 1}
	var total uint64
	for cause, n := range want {
		if got := v.res.Counts[vmm.Key{Cause: cause, Mech: vmm.MechVMExit}]; got != n {
			t.Errorf("%s: %d vmexit events, want %d", cause, got, n)
		}
		total += n
	}
	if v.res.Counts.Total() != total {
		t.Errorf("events:\n%s", v.res.Counts.Format())
	}
	if v.Now() != total*TicksPerExit {
		t.Errorf("guest time %d after %d exits, want %d", v.Now(), total, total*TicksPerExit)
	}
}

// TestLAPICTimerOnExitTime: the local APIC's timer, programmed through
// MMIO exits, runs on exit time (TicksPerExit PIT ticks per exit, 838 APIC
// ticks per PIT tick), and hlt skips to its expiry.
func TestLAPICTimerOnExitTime(t *testing.T) {
	v := deviceVM(t, vmm.Config{})
	v.mmioExit(t, lapic+0x3E0, 4, true, 0xB)  // divide by 1
	v.mmioExit(t, lapic+0x320, 4, true, 0x30) // one-shot, vector 0x30
	start := v.Now()
	v.mmioExit(t, lapic+0x380, 4, true, 100*vmm.LAPICTicksPerPITTick)
	if at, ok := v.NextTimerEvent(); !ok || at != start+1+100 {
		t.Fatalf("next timer event %d %v, want %d", at, ok, start+1+100)
	}
	// The count read is one exit later than the write.
	if got := v.mmioExit(t, lapic+0x390, 4, false, 0); got != 99*vmm.LAPICTicksPerPITTick {
		t.Errorf("current count %d, want %d", got, 99*vmm.LAPICTicksPerPITTick)
	}
	if !v.timerScheduled() || v.PendingIRQ() {
		t.Fatal("the timer should be armed and not yet expired")
	}
	if why := v.waitForInterrupt(); why != "" {
		t.Fatalf("hlt: %s", why)
	}
	if vec, cause, ok := v.AcknowledgeIRQ(); !ok || vec != 0x30 || cause != "irq/lapic-timer" {
		t.Errorf("after hlt: %#x %q %v, want the timer's 0x30", vec, cause, ok)
	}
	if v.Now() != start+1+100 {
		t.Errorf("hlt woke at %d, want %d", v.Now(), start+1+100)
	}
	if why := v.waitForInterrupt(); why == "" {
		t.Error("hlt with the one-shot spent and nothing else armed should never wake")
	}
}

// TestAnswerMMIO: a load's answer goes into kvm_run's mmio.data, n bytes
// little-endian, and nothing else of kvm_run changes.
func TestAnswerMMIO(t *testing.T) {
	for _, n := range []uint32{1, 2, 4} {
		run := newRun(exitMMIO)
		run.u32(mmioLen, n)
		before := append([]byte(nil), run...)
		answerMMIO(run, 0x11223344, n)
		want := []byte{0x44, 0x33, 0x22, 0x11}[:n]
		for i := range run {
			w := before[i]
			if i >= runExit+mmioData && i < runExit+mmioData+int(n) {
				w = want[i-runExit-mmioData]
			}
			if run[i] != w {
				t.Errorf("n=%d: byte %d = %#x, want %#x", n, i, run[i], w)
			}
		}
	}
}

// TestSerialInputAndUntilOutput: Config.Input reaches the UART's receiver
// and raises IRQ 4 once the guest enables receive interrupts; a port
// write that completes Config.UntilOutput stops the guest.
func TestSerialInputAndUntilOutput(t *testing.T) {
	v := deviceVM(t, vmm.Config{Input: []byte("ls\n"), UntilOutput: "$ "})
	v.Bus.Out(0x21, 1, 0xB8&^0x10)    // unmask IRQ 4 at the PIC (base 8, as SeaBIOS leaves it)
	v.Bus.Out(guest.PortCOM1+1, 1, 1) // IER: receive interrupts
	v.Sync()
	if vec, ok := v.PendingVector(); !ok || vec != 0x0C {
		t.Errorf("pending %#x %v with input queued and receive interrupts on, want the PIC's 0x0c", vec, ok)
	}
	if got := v.Bus.In(guest.PortCOM1, 1); got != 'l' {
		t.Errorf("RBR = %q, want 'l'", rune(got))
	}
	for _, c := range []byte("init: starting sh\n$ ") {
		if v.checkOutputStop(0x1234) {
			t.Fatalf("stopped before %q: %s", c, v.stop)
		}
		v.Bus.Out(guest.PortCOM1, 1, uint32(c))
	}
	if !v.checkOutputStop(0x1234) || v.stop.Kind != vmm.StopExit || v.stop.Status != 0 {
		t.Errorf("stop %s, want an exit with status 0 (--until-output)", v.stop)
	}
}

// TestMMIOStorePC: KVM reports a store's MMIO exit with RIP past the
// instruction; the event's PC is the store that ends there and writes the
// access's page offset — not a shorter suffix of it that decodes as
// another memory access (here `00 00`, add %al,(%eax), with EAX=0).
func TestMMIOStorePC(t *testing.T) {
	v := deviceVM(t, vmm.Config{})
	v.mem = make([]byte, 1<<20)
	for _, c := range []struct {
		name string
		code []byte
		edx  uint32
		addr uint64
		n    uint32
	}{
		{"movl $0, 0xfee000b0", []byte{0xc7, 0x05, 0xb0, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00}, 0, lapic + 0xB0, 4},
		{"mov %eax, (%edx)", []byte{0x89, 0x02}, lapic + 0x80, lapic + 0x80, 4},
		{"movb $0, 0x10(%edx)", []byte{0xc6, 0x42, 0x10, 0x00}, ioapic, ioapic + 0x10, 1},
	} {
		const at = 0x1000
		clear(v.mem[at-16 : at+32])
		copy(v.mem[at:], c.code)
		v.regs = kvmRegs{RIP: at + uint64(len(c.code)), RDX: uint64(c.edx)}
		e := kvmExit{Reason: exitMMIO, MMIOAddr: c.addr, MMIOLen: c.n, MMIOWrite: true}
		if got := v.mmioPC(e); got != at {
			t.Errorf("%s: PC %#x, want %#x", c.name, got, at)
		}
		e.MMIOWrite = false
		v.regs.RIP = at
		if got := v.mmioPC(e); got != at {
			t.Errorf("%s as a load: PC %#x, want RIP %#x", c.name, got, at)
		}
	}
	// With paging on (a higher-half kernel: 0x80000000 mapped to 0 by a
	// 4 MiB page), the instructions are read through the guest's tables.
	v.mmu = x86.MMU{CR0: x86.CR0PE | x86.CR0PG, CR3: 0x3000, CR4: x86.CR4PSE}
	binary.LittleEndian.PutUint32(v.mem[0x3000+0x200*4:], 0x83)                              // present, writable, 4 MiB, frame 0
	copy(v.mem[0x1000:], []byte{0xc7, 0x05, 0xb0, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00}) // movl $0, 0xfee000b0
	v.regs = kvmRegs{RIP: 0x80001000 + 10}
	if got := v.mmioPC(kvmExit{Reason: exitMMIO, MMIOAddr: lapic + 0xB0, MMIOLen: 4, MMIOWrite: true}); got != 0x80001000 {
		t.Errorf("paging on: PC %#x, want 0x80001000", got)
	}
	v.mmu = x86.MMU{}
	// Nothing stores there: the event carries RIP.
	v.regs = kvmRegs{RIP: 0x2000}
	if got := v.mmioPC(kvmExit{Reason: exitMMIO, MMIOAddr: lapic + 0xB0, MMIOLen: 4, MMIOWrite: true}); got != 0x2000 {
		t.Errorf("no store before RIP: PC %#x, want RIP", got)
	}
}

// TestResetStopsTheGuest: a reset through the keyboard controller (command
// 0xFE) stops the guest at the port write, as on the Unicorn machine.
func TestResetStopsTheGuest(t *testing.T) {
	v := deviceVM(t, vmm.Config{})
	v.mem = make([]byte, 1<<20)
	v.Bus.Out(vmm.PortKBCStatus, 1, 0xFE)
	if !v.checkOutputStop(0x1234) || v.stop.Kind != vmm.StopCrash || !strings.HasPrefix(v.stop.Reason, vmm.CauseSystemReset) {
		t.Errorf("stop %s, want a crash: %s", v.stop, vmm.CauseSystemReset)
	}
}
