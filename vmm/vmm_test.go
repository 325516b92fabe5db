package vmm

import (
	"bytes"
	"strings"
	"testing"

	"virtsim/guest"
)

type fakeDev struct{ name string }

func (f fakeDev) Name() string                    { return f.name }
func (f fakeDev) In(port uint16, size int) uint32 { return uint32(port) }
func (f fakeDev) Out(uint16, int, uint32)         {}

func TestPortBusRejectsOverlap(t *testing.T) {
	var b PortBus
	if err := b.Register(0x3F8, 0x3FF, fakeDev{"com1"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		lo, hi uint16
		ok     bool
	}{
		{0x3F0, 0x3F7, true},
		{0x3FF, 0x400, false}, // shares 0x3FF
		{0x3F0, 0x3F8, false}, // shares 0x3F8
		{0x3FA, 0x3FB, false}, // inside
		{0x300, 0x500, false}, // around
		{0x400, 0x3FF, false}, // empty range
		{0x80, 0x80, true},
	}
	for _, tt := range tests {
		err := b.Register(tt.lo, tt.hi, fakeDev{"x"})
		if (err == nil) != tt.ok {
			t.Errorf("Register(%#x,%#x): err=%v, want ok=%v", tt.lo, tt.hi, err, tt.ok)
		}
	}
	if got := b.In(0x3FD, 1); got != 0x3FD {
		t.Errorf("In(0x3fd) = %#x, want the com1 fake's answer", got)
	}
	if got := b.In(0x1234, 1); got != 0xFF {
		t.Errorf("unclaimed port reads %#x, want 0xff", got)
	}
	if got := b.In(0x1234, 4); got != 0xFFFFFFFF {
		t.Errorf("unclaimed 32-bit port reads %#x", got)
	}
}

func TestSerialAndDebugExit(t *testing.T) {
	var echoed []byte
	s := &Serial{Base: 0x3F8, Echo: func(b byte) { echoed = append(echoed, b) }}
	for _, c := range []byte("hi") {
		s.Out(0x3F8, 1, uint32(c))
	}
	s.Out(0x3F9, 1, 'x') // IER: not output
	if s.Output.String() != "hi" || string(echoed) != "hi" {
		t.Errorf("serial output %q echo %q", s.Output.String(), echoed)
	}
	if s.In(0x3FD, 1)&0x20 == 0 {
		t.Error("LSR does not report THR empty")
	}
	var d DebugExit
	d.Out(0xF4, 1, 7)
	if !d.Written || d.Status != 7 {
		t.Errorf("debug exit: %+v", d)
	}
}

func TestMechanismTable(t *testing.T) {
	exits := map[string]bool{"trap": true, "callout": true, "hypercall": true, "vmexit": true, "kernel": true, "emulation": true}
	for i, mi := range Mechanisms {
		if int(mi.Mech) != i {
			t.Errorf("Mechanisms[%d] holds %v", i, mi.Mech)
		}
		if mi.Exit != exits[mi.Name] {
			t.Errorf("%s: Exit=%v", mi.Name, mi.Exit)
		}
		if m, err := ParseMechanism(mi.Name); err != nil || m != mi.Mech {
			t.Errorf("ParseMechanism(%q) = %v, %v", mi.Name, m, err)
		}
		if mi.Explain == "" {
			t.Errorf("%s has no explanation", mi.Name)
		}
	}
	if _, err := ParseMechanism("teleport"); err == nil {
		t.Error("ParseMechanism accepted an unknown name")
	}
}

func TestCountsExits(t *testing.T) {
	c := Counts{}
	c.Add("io/out:0x80", MechTrap)
	c.Add("io/out:0x80", MechTrap)
	c.Add("priv/cli", MechInTC)
	c.Add("int/0x80", MechMachine)
	if c.Exits() != 2 || c.Total() != 4 {
		t.Errorf("exits %d total %d", c.Exits(), c.Total())
	}
	keys := c.Sorted()
	if keys[0].Cause != "int/0x80" || keys[2].Cause != "priv/cli" {
		t.Errorf("sorted: %v", keys)
	}
}

func TestGoldenRoundTrip(t *testing.T) {
	g := NewGolden()
	g.Put(GoldenRecord{
		Key:  GoldenKey{"io", "n=100", "native"},
		Stop: StopExit, Instructions: 1234,
		Counts: Counts{{"io/out:0x80", MechMachine}: 100, {"io/out:0x3f8", MechMachine}: 12},
	})
	g.Put(GoldenRecord{
		Key:    GoldenKey{"hello", "a=1 b=2", "kvm/pvm"},
		Stop:   StopCrash,
		Counts: Counts{{"io/out:0x3f8", MechVMExit}: 5},
	})
	var buf bytes.Buffer
	if err := g.Write(&buf); err != nil {
		t.Fatal(err)
	}
	g2, err := ParseGolden(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatalf("parse what we wrote: %v\n%s", err, buf.String())
	}
	var buf2 bytes.Buffer
	g2.Write(&buf2)
	if buf.String() != buf2.String() {
		t.Errorf("rewrite differs:\n%s\n---\n%s", buf.String(), buf2.String())
	}
	for k, want := range g.Records {
		if d := Compare(want, g2.Records[k]); len(d) != 0 {
			t.Errorf("%s differs after round trip: %v", k, d)
		}
	}
}

func TestGoldenCompare(t *testing.T) {
	want := GoldenRecord{Key: GoldenKey{"io", "n=1", "trap"}, Stop: StopExit, Instructions: 10,
		Counts: Counts{{"io/out:0x80", MechTrap}: 1, {"priv/cli", MechTrap}: 2}}
	got := GoldenRecord{Key: want.Key, Stop: StopExit, Instructions: 11,
		Counts: Counts{{"io/out:0x80", MechTrap}: 1, {"priv/sti", MechTrap}: 2}}
	d := Compare(want, got)
	var what []string
	for _, x := range d {
		what = append(what, x.What)
	}
	wantWhat := "instructions|event priv/cli trap|event priv/sti trap"
	if strings.Join(what, "|") != wantWhat {
		t.Errorf("diffs %q, want %q", strings.Join(what, "|"), wantWhat)
	}
	if len(Compare(want, want)) != 0 {
		t.Error("a record differs from itself")
	}
}

func TestGoldenParseErrors(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"empty", "", "empty file"},
		{"no header", "run x \"\" native\n", "want header"},
		{"event before run", GoldenHeader + "\n  event a machine 1\n", "before any run"},
		{"bad mechanism", GoldenHeader + "\nrun x \"\" native\n  event a warp 1\n", "unknown mechanism"},
		{"bad count", GoldenHeader + "\nrun x \"\" native\n  event a machine many\n", "count"},
		{"unquoted args", GoldenHeader + "\nrun x n=1 native\n", "quoted"},
		{"duplicate", GoldenHeader + "\nrun x \"\" native\nrun x \"\" native\n", "duplicate"},
		{"unknown directive", GoldenHeader + "\nrun x \"\" native\n  exits 3\n", "unknown directive"},
	}
	for _, tt := range tests {
		_, err := ParseGolden(strings.NewReader(tt.text))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
}

func TestInspectorNative(t *testing.T) {
	img, err := guest.LoadFlat([]byte{0x40, 0x40, 0xB0, 0x00, 0xE6, 0xF4}, guest.DefaultLoadAddr, DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := LookupStrategy("native")
	var events []Event
	inst, err := s.New(img, Config{OnEvent: func(e Event) { events = append(events, e) }})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	ins, ok := inst.(Inspector)
	if !ok {
		t.Fatal("native does not implement Inspector")
	}
	inst.Step()
	inst.Step()
	r := ins.Real()
	if r.EIP != 0x100002 || r.GPR[0] != guest.MultibootMagic+2 || r.CPL != 0 || r.Seg[1] != 0x08 {
		t.Errorf("real state after two incs: %+v", r)
	}
	if _, ok := ins.Virtual(); ok {
		t.Error("native claims a virtual CPU")
	}
	inst.Run()
	if len(events) != 1 || events[0].Cause != "io/out:0xf4" {
		t.Errorf("OnEvent saw %v", events)
	}
}
