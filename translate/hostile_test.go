package translate

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"virtsim/guest"
	"virtsim/vmm"
)

// Hostile guests: kernels that write into, or jump into, the VMM region
// (the translation cache, the VMM's descriptor tables, the machine's
// trampoline) or the hole between RAM and it. The behaviour every
// strategy shares is defined as the one native has for an address beyond
// RAM: the run stops with the machine's crash report "guest ACCESS of N
// bytes at unmapped address X (guest RAM is M MiB)". Under
// bt the VMM's page tables enforce it (supervisor-only, read-only TC and
// tables, not-present elsewhere), and the VMM stays intact.

const hostileLoad = 0x100000

// hostileImage: print "A", do the hostile thing, print "B\n", exit 0.
func hostileImage(t *testing.T, act func(c *code)) *guest.Image {
	t.Helper()
	c := &code{base: hostileLoad}
	putc := func(ch byte) {
		c.emit(0xB0, ch)               // mov $ch, %al
		c.emit(0x66, 0xBA, 0xF8, 0x03) // mov $0x3f8, %dx
		c.emit(0xEE)                   // out %al, (%dx)
	}
	c.emit(0xBC)
	c.u32(0x90000) // mov $0x90000, %esp: a stack in RAM
	putc('A')
	act(c)
	putc('B')
	putc('\n')
	c.emit(0xB0, 0x00, 0xE6, 0xF4) // mov $0, %al; out %al, $0xf4
	c.emit(0xEB, 0xFE)             // jmp .
	img, err := guest.LoadFlat(c.b, hostileLoad, vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	img.Name = "hostile"
	return img
}

func movImmToAbs(c *code, addr, v uint32) { c.emit(0xC7, 0x05); c.u32(addr); c.u32(v) }

var hostileCases = []struct {
	name   string
	addr   uint32 // what it touches
	act    func(c *code, addr uint32)
	native bool // native already stops it the same way
}{
	{"write-beyond-ram", 0x02000000, func(c *code, a uint32) { movImmToAbs(c, a, 0xDEADBEEF) }, true},
	{"jump-beyond-ram", 0x02000000, func(c *code, a uint32) { c.jmp(a) }, true},
	{"write-tc", tcBase, func(c *code, a uint32) { movImmToAbs(c, a, 0xDEADBEEF) }, false},
	{"write-lookup-table", retTabAddr, func(c *code, a uint32) { movImmToAbs(c, a, 0xDEADBEEF) }, false},
	{"write-lookup-l1", l1TabAddr, func(c *code, a uint32) { movImmToAbs(c, a, 0xDEADBEEF) }, false},
	{"write-lookup-l2", l2Base, func(c *code, a uint32) { movImmToAbs(c, a, 0xDEADBEEF) }, false},
	{"write-real-gdt", vmm.StrategyBase + 8, func(c *code, a uint32) { movImmToAbs(c, a, 0xDEADBEEF) }, false},
	{"write-trampoline-stub", vmm.TrampolineStubPage, func(c *code, a uint32) { movImmToAbs(c, a, 0xDEADBEEF) }, false},
	{"jump-tc-direct", tcBase, func(c *code, a uint32) { c.jmp(a) }, false},
	{"jump-tc-indirect", tcBase, func(c *code, a uint32) { c.emit(0xB8); c.u32(a); c.emit(0xFF, 0xE0) }, false}, // mov $a,%eax; jmp *%eax
	{"call-stub-area", stubBase, func(c *code, a uint32) { c.emit(0xE8); c.rel32(a) }, false},
}

func runHostile(t *testing.T, strategy string, img *guest.Image) (*vmm.Result, vmm.Instance) {
	t.Helper()
	s, err := vmm.LookupStrategy(strategy)
	if err != nil {
		t.Fatal(err)
	}
	budget := 10 * time.Second
	if strategy == "native" {
		budget = time.Second // it may run the VMM region's zero bytes for ever
	}
	inst, err := s.New(img, vmm.Config{TimeBudget: budget})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inst.Run(); err != nil {
		t.Fatalf("%s: %v", strategy, err)
	}
	return inst.Result(), inst
}

func TestHostileGuest(t *testing.T) {
	for _, hc := range hostileCases {
		t.Run(hc.name, func(t *testing.T) {
			img := hostileImage(t, func(c *code) { hc.act(c, hc.addr) })
			res, inst := runHostile(t, "bt", img)
			defer inst.Close()
			if !outside.MatchString(res.Stop.Reason) || res.Stop.Kind != vmm.StopCrash {
				t.Fatalf("bt: %s (serial %q), want a crash %q", res.Stop, res.Serial, outside)
			}
			if res.Serial != "A" {
				t.Errorf("serial %q, want %q (nothing after the hostile instruction)", res.Serial, "A")
			}
			if want := hostileWant(hc.name, hc.addr); res.Stop.PC != want && want != 0 {
				t.Errorf("crash reported at %#x, want %#x", res.Stop.PC, want)
			}
			if hc.addr < vmm.VMMBase {
				return
			}
			// The VMM is intact: nothing was written there.
			b := inst.(*BT)
			var got [4]byte
			if err := b.E.MemRead(uint64(hc.addr), got[:]); err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(got[:], []byte{0xEF, 0xBE, 0xAD, 0xDE}) {
				t.Errorf("the guest wrote %#x", hc.addr)
			}
		})
	}
}

// TestHostileGuestNative: native stops every hostile access the way bt
// and trap do — the same report at the same PC (the machine guards its VMM region
// under native: vmm.Machine.GuardVMMRegion).
func TestHostileGuestNative(t *testing.T) {
	for _, hc := range hostileCases {
		t.Run(hc.name, func(t *testing.T) {
			img := hostileImage(t, func(c *code) { hc.act(c, hc.addr) })
			res, inst := runHostile(t, "native", img)
			inst.Close()
			crashed := res.Stop.Kind == vmm.StopCrash && outside.MatchString(res.Stop.Reason) &&
				strings.Contains(res.Stop.Reason, fmt.Sprintf("address %#x ", hc.addr))
			switch {
			case crashed && res.Serial == "A":
				for _, strategy := range []string{"bt", "trap"} {
					got, inst := runHostile(t, strategy, img)
					inst.Close()
					if got.Stop.Reason != res.Stop.Reason || got.Stop.PC != res.Stop.PC || got.Serial != "A" {
						t.Errorf("native: %s, %s: %s (serial %q)", res.Stop, strategy, got.Stop, got.Serial)
					}
				}
			case hc.native:
				t.Errorf("native: %s (serial %q), want a crash %q", res.Stop, res.Serial, outside)
			default:
				t.Errorf("native: %s (serial %q), want the same crash as bt: %q", res.Stop, res.Serial, outside)
			}
		})
	}
}

// TestSMEP: the guest kernel cannot run untranslated. Pointing the CPU at
// guest RAM while in ring 1 (what a translator bug would do) faults on the
// fetch, and the VMM says so.
func TestSMEP(t *testing.T) {
	img := load(t, "compute")
	b, err := NewBT(img, vmm.Config{Args: "n=3", TimeBudget: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.SetReg(ucReg[rESP], b.Reg(ucReg[rESP])) // (registers as booted)
	b.SetReg(eipReg, img.Entry)               // the guest's own code, not its translation
	if _, err := b.Run(); err != nil {
		t.Fatal(err)
	}
	res := b.Result()
	if res.Stop.Kind != vmm.StopCrash || !strings.Contains(res.Stop.Reason, "ran untranslated (SMEP") {
		t.Errorf("stop %s, want the SMEP report", res.Stop)
	}
}

var eipReg = ucEIP

// outside is the machine's report of an access beyond guest RAM.
var outside = regexp.MustCompile(`^guest (read|write|fetch)-unmapped of [0-9]+ bytes at unmapped address 0x[0-9a-f]+ \(guest RAM is 16 MiB\)$`)

// hostileWant is where the crash is reported: the store (after the stack
// set-up and one putc), or the fetched address.
func hostileWant(name string, addr uint32) uint32 {
	if strings.HasPrefix(name, "write") {
		return hostileLoad + 12
	}
	return addr
}
