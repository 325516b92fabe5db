package hwassist

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"virtsim/vmm"
)

// fakeRun builds a made-up kvm_run page: exit reason and the union's
// bytes, as KVM would leave them.
type fakeRun []byte

func newRun(reason uint32) fakeRun {
	r := make(fakeRun, 3*4096) // the size KVM_GET_VCPU_MMAP_SIZE reports on x86
	binary.LittleEndian.PutUint32(r[runExitReason:], reason)
	return r
}

func (r fakeRun) u8(off int, v uint8)   { r[runExit+off] = v }
func (r fakeRun) u16(off int, v uint16) { binary.LittleEndian.PutUint16(r[runExit+off:], v) }
func (r fakeRun) u32(off int, v uint32) { binary.LittleEndian.PutUint32(r[runExit+off:], v) }
func (r fakeRun) u64(off int, v uint64) { binary.LittleEndian.PutUint64(r[runExit+off:], v) }

func ioRun(out bool, port uint16, size uint8, count uint32, data []byte) fakeRun {
	r := newRun(exitIO)
	if out {
		r.u8(ioDirection, ioDirOut)
	}
	r.u8(ioSize, size)
	r.u16(ioPort, port)
	r.u32(ioCount, count)
	r.u64(ioDataOffset, 0x1000)
	copy(r[0x1000:], data)
	return r
}

func TestDecideTable(t *testing.T) {
	internal := func(sub uint32, data ...uint64) fakeRun {
		r := newRun(exitInternalError)
		r.u32(internalSuberror, sub)
		r.u32(internalNData, uint32(len(data)))
		for i, d := range data {
			r.u64(internalData+8*i, d)
		}
		return r
	}
	mmio := func(addr uint64, n uint32, write bool) fakeRun {
		r := newRun(exitMMIO)
		r.u64(mmioPhysAddr, addr)
		r.u32(mmioLen, n)
		if write {
			r.u8(mmioIsWrite, 1)
		}
		return r
	}
	fail := newRun(exitFailEntry)
	fail.u64(failEntryReason, 0x80000021)
	fail.u32(failEntryCPU, 1)
	sysev := newRun(exitSystemEvent)
	sysev.u32(systemEventType, 2)
	unknown := newRun(exitUnknown)
	unknown.u64(hwExitReason, 0x30)
	badSize := ioRun(true, 0x80, 3, 1, nil)
	badData := ioRun(true, 0x80, 1, 1, nil)
	badData.u64(ioDataOffset, 1<<40)

	for _, c := range []struct {
		name   string
		run    fakeRun
		errno  unix.Errno
		action action
		cause  string
		mech   vmm.Mechanism
		event  bool
		why    string // substring of the crash reason
	}{
		{"out", ioRun(true, 0x80, 1, 1, []byte{7}), 0, actIO, "io/out:0x80", vmm.MechVMExit, true, ""},
		{"in", ioRun(false, 0x3fd, 1, 1, nil), 0, actIO, "io/in:0x3fd", vmm.MechVMExit, true, ""},
		{"outl", ioRun(true, 0xf4, 4, 1, []byte{1, 0, 0, 0}), 0, actIO, "io/out:0xf4", vmm.MechVMExit, true, ""},
		{"io bad size", badSize, 0, actCrash, "", 0, false, "access size 3"},
		{"io data outside kvm_run", badData, 0, actCrash, "", 0, false, "outside kvm_run"},
		{"hlt", newRun(exitHLT), 0, actHalt, "hlt", vmm.MechVMExit, true, ""},
		{"irq window", newRun(exitIRQWindowOpen), 0, actIRQWindow, CauseIRQWindow, vmm.MechVMExit, true, ""},
		{"debug", newRun(exitDebug), 0, actDebug, "", 0, false, ""},
		{"emulation failure", internal(internalEmulation, 1, 0x80cd02), 0, actEmulate, "", vmm.MechEmulation, true, ""},
		{"delivery internal error", internal(internalDeliveryEv, 0x1234), 0, actCrash, "", 0, false, "KVM_INTERNAL_ERROR_DELIVERY_EV"},
		{"simul ex", internal(internalSimulEx), 0, actCrash, "", 0, false, "SIMUL_EX"},
		{"mmio outside RAM, no device", mmio(0x2000000, 4, true), 0, actCrash, "", 0, false, "write of 4 bytes at physical address 0x2000000: no RAM and no device there"},
		{"mmio above the APICs", mmio(0xFEF00000, 4, false), 0, actCrash, "", 0, false, "read of 4 bytes at physical address 0xfef00000: no RAM and no device"},
		{"mmio lapic EOI", mmio(0xFEE000B0, 4, true), 0, actMMIO, "mmio/lapic:EOI", vmm.MechVMExit, true, ""},
		{"mmio lapic ID", mmio(0xFEE00020, 4, false), 0, actMMIO, "mmio/lapic:ID", vmm.MechVMExit, true, ""},
		{"mmio lapic TPR byte", mmio(0xFEE00080, 1, false), 0, actMMIO, "mmio/lapic:TPR", vmm.MechVMExit, true, ""},
		{"mmio lapic ICR high", mmio(0xFEE00310, 4, true), 0, actMMIO, "mmio/lapic:ICR-HI", vmm.MechVMExit, true, ""},
		{"mmio lapic reserved", mmio(0xFEE00400, 4, false), 0, actMMIO, "mmio/lapic:reserved:0x400", vmm.MechVMExit, true, ""},
		{"mmio ioapic IOREGSEL", mmio(0xFEC00000, 4, true), 0, actMMIO, "mmio/ioapic:IOREGSEL", vmm.MechVMExit, true, ""},
		{"mmio ioapic IOWIN", mmio(0xFEC00010, 4, false), 0, actMMIO, "mmio/ioapic:IOWIN", vmm.MechVMExit, true, ""},
		{"mmio 8 bytes", mmio(0xFEE00080, 8, false), 0, actCrash, "", 0, false, "(mmio/lapic:TPR): device registers take aligned accesses of 1, 2 or 4 bytes"},
		{"mmio across registers", mmio(0xFEE000B2, 4, true), 0, actCrash, "", 0, false, "write of 4 bytes at physical address 0xfee000b2"},
		{"mmio 3 bytes", mmio(0xFEE00080, 3, true), 0, actCrash, "", 0, false, "aligned accesses"},
		{"shutdown", newRun(exitShutdown), 0, actCrash, "", 0, false, "triple fault"},
		{"fail entry", fail, 0, actCrash, "", 0, false, "entry-failure reason 0x80000021 on cpu 1"},
		{"system event", sysev, 0, actCrash, "", 0, false, "reset"},
		{"unknown", unknown, 0, actCrash, "", 0, false, "hardware exit reason 0x30"},
		{"nmi", newRun(exitNMI), 0, actCrash, "", 0, false, "KVM_EXIT_NMI"},
		{"made-up reason", newRun(99), 0, actCrash, "", 0, false, "exit reason 99"},
		{"EINTR", newRun(exitIntr), unix.EINTR, actKick, "", 0, false, ""},
		{"KVM_EXIT_INTR", newRun(exitIntr), 0, actKick, "", 0, false, ""},
		{"EFAULT", newRun(0), unix.EFAULT, actCrash, "", 0, false, "KVM_RUN failed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := decide(decodeExit(c.run, c.errno))
			if d.Action != c.action || d.Cause != c.cause || d.Event != c.event || (c.event && d.Mech != c.mech) {
				t.Errorf("decide = %+v, want action %v cause %q mech %v event %v", d, c.action, c.cause, c.mech, c.event)
			}
			if c.why != "" && !strings.Contains(d.Why, c.why) {
				t.Errorf("reason %q does not mention %q", d.Why, c.why)
			}
			if d.Event && !d.Mech.IsExit() {
				t.Errorf("event mechanism %v is not an exit", d.Mech)
			}
		})
	}
}

func TestDecodeIO(t *testing.T) {
	e := decodeExit(ioRun(true, 0x3f8, 2, 3, []byte{1, 2, 3, 4, 5, 6}), 0)
	if !e.IOOut || e.IOPort != 0x3f8 || e.IOSize != 2 || e.IOCount != 3 || !bytes.Equal(e.IOData, []byte{1, 2, 3, 4, 5, 6}) {
		t.Errorf("decoded %+v", e)
	}
	r := newRun(exitHLT)
	r[runReadyForInjection], r[runIFFlag] = 1, 1
	if e := decodeExit(r, 0); !e.ReadyForInjection || !e.IFFlag {
		t.Errorf("ready/if not decoded: %+v", e)
	}
}

func TestInsnBytes(t *testing.T) {
	// KVM's emulation-failure data as measured on PVM for `int $0x80`:
	// flags=1, then insn_size 15 and the bytes cd 80 f4 ...
	got := insnBytes([]uint64{1, 0x909090fbf480cd0f, 0x0807060504030201})
	want := []byte{0xcd, 0x80, 0xf4, 0xfb, 0x90, 0x90, 0x90, 1, 2, 3, 4, 5, 6, 7, 8}
	if !bytes.Equal(got, want) {
		t.Errorf("insnBytes = % x, want % x", got, want)
	}
	if insnBytes([]uint64{0, 1, 2}) != nil || insnBytes([]uint64{1}) != nil {
		t.Error("insnBytes without the flag or data should be nil")
	}
}

func TestDecideIRQ(t *testing.T) {
	for _, c := range []struct {
		pending, ifSet, shadow bool
		want                   irqChoice
	}{
		{false, false, false, irqNone},
		{false, true, false, irqNone},
		{true, true, false, irqInject},
		{true, false, false, irqWindow},
		{true, true, true, irqWindow}, // sti; <here>: the shadow holds it one more instruction
		{true, false, true, irqWindow},
	} {
		if got := decideIRQ(c.pending, c.ifSet, c.shadow); got != c.want {
			t.Errorf("decideIRQ(pending=%v, if=%v, shadow=%v) = %v, want %v", c.pending, c.ifSet, c.shadow, got, c.want)
		}
	}
}

func TestStepForWindow(t *testing.T) {
	for _, c := range []struct {
		hardware, stiBefore, want bool
	}{
		{false, false, true}, // PVM: always by steps
		{false, true, true},
		{true, false, false}, // hardware assist: KVM's interrupt-window exit
		{true, true, true},   // right after sti with no shadow reported: step past it
	} {
		if got := stepForWindow(c.hardware, c.stiBefore); got != c.want {
			t.Errorf("stepForWindow(hardware=%v, sti before=%v) = %v, want %v", c.hardware, c.stiBefore, got, c.want)
		}
	}
}

func TestRunBytes(t *testing.T) {
	run := make([]byte, 64)
	setRunByte(run, runRequestInterruptWindow, 1)
	setRunByte(run, runImmediateExit, 1)
	if run[0] != 1 || run[1] != 1 || runByte(run, runImmediateExit) != 1 {
		t.Fatalf("bytes % x", run[:4])
	}
	setRunByte(run, runImmediateExit, 0)
	if run[0] != 1 || run[1] != 0 {
		t.Fatalf("clearing immediate_exit touched request_interrupt_window: % x", run[:4])
	}
}
