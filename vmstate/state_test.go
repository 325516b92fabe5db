package vmstate

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sample() *State {
	ram := make([]byte, 8192)
	for i := range ram {
		ram[i] = byte(i * 7)
	}
	return &State{
		Guest: "hello", Image: ImageID{Name: "hello", SHA256: "abc"}, Args: "n=1", MemSize: 8192,
		Strategy: "trap", Legs: []Leg{{Strategy: "trap", Instructions: 5, Exits: 2, Events: 3}},
		CPU:     CPU{EIP: 0x100000, CPL: 0, MSR: map[uint32]uint64{0x174: 8}},
		Devices: map[string]Fields{"post": {"Writes": json.RawMessage("3")}},
		Serial:  []byte("hi\x00\xff"), Counts: []Count{{"io/out:0x80", "trap", 2}},
		RAMData: ram, DiskData: []byte("disk"),
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := sample()
	if err := Save(dir, s); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.RAMData) != string(s.RAMData) || string(got.DiskData) != "disk" || string(got.Serial) != string(s.Serial) {
		t.Error("blobs or serial output changed in the round trip")
	}
	if got.CPU.MSR[0x174] != 8 || got.Legs[0] != s.Legs[0] || got.Counts[0] != s.Counts[0] {
		t.Errorf("manifest changed in the round trip: %+v", got)
	}
}

// Each damaged state is refused with an error that says what is wrong.
func TestLoadRefusesDamagedStates(t *testing.T) {
	cases := []struct {
		name   string
		damage func(dir string) error
		want   string
	}{
		{"wrong version", editManifest(func(m map[string]any) { m["version"] = 2 }), "version 2; this virtsim reads version 1"},
		{"no version", editManifest(func(m map[string]any) { delete(m, "version") }), "no version"},
		{"wrong format", editManifest(func(m map[string]any) { m["format"] = "qemu-savevm" }), `format "qemu-savevm"`},
		{"unknown field", editManifest(func(m map[string]any) { m["shadow_tables"] = 1 }), "unknown field"},
		{"missing strategy", editManifest(func(m map[string]any) { delete(m, "strategy") }), "lacks strategy"},
		{"ram size", editManifest(func(m map[string]any) { m["mem_size"] = 4096 }), "ram is 8192 bytes"},
		{"not json", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, ManifestFile), []byte("{"), 0o644)
		}, "not JSON"},
		{"damaged ram", func(dir string) error {
			p := filepath.Join(dir, RAMFile)
			b, _ := os.ReadFile(p)
			b[100] ^= 1
			return os.WriteFile(p, b, 0o644)
		}, "ram.bin is damaged"},
		{"short disk", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, DiskFile), []byte("dis"), 0o644)
		}, "disk.bin is 3 bytes"},
		{"blob outside", editManifest(func(m map[string]any) { m["ram"].(map[string]any)["file"] = "../ram.bin" }), "not a file in the state directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Save(dir, sample()); err != nil {
				t.Fatal(err)
			}
			if err := c.damage(dir); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load: %v, want an error containing %q", err, c.want)
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("Load: %v does not wrap ErrFormat", err)
			}
		})
	}
	if _, err := Load(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of an empty directory: %v, want a missing-file error", err)
	}
}

func editManifest(f func(map[string]any)) func(dir string) error {
	return func(dir string) error {
		p := filepath.Join(dir, ManifestFile)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		f(m)
		b, err = json.Marshal(m)
		if err != nil {
			return err
		}
		return os.WriteFile(p, b, 0o644)
	}
}

// A device model: registers (saved), wiring (not).
type chip struct {
	reg    uint8
	wide   uint64
	flags  [3]bool
	buf    [4]byte
	queue  []byte
	inner  struct{ a, b uint16 }
	chans  []struct{ mode uint8 }
	names  [2]string
	Public int
	irq    func(bool)
	peer   *chip
}

func TestFieldsRoundTrip(t *testing.T) {
	a := &chip{reg: 7, wide: 1<<63 + 5, flags: [3]bool{true, false, true}, buf: [4]byte{1, 2, 3, 4},
		queue: []byte("rx"), chans: []struct{ mode uint8 }{{2}, {5}}, names: [2]string{"x", "y"}, Public: -3}
	a.inner.a, a.inner.b = 9, 10
	called := false
	a.irq = func(bool) { called = true }
	f, err := Capture(a)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f["irq"]; ok {
		t.Error("a callback was captured")
	}
	if _, ok := f["peer"]; ok {
		t.Error("a pointer to another device was captured")
	}
	b := &chip{irq: func(bool) {}}
	if err := Apply(b, f); err != nil {
		t.Fatal(err)
	}
	b.irq, b.peer = a.irq, a.peer
	if b.reg != a.reg || b.wide != a.wide || b.flags != a.flags || b.buf != a.buf || string(b.queue) != "rx" ||
		b.inner != a.inner || len(b.chans) != 2 || b.chans[1].mode != 5 || b.names != a.names || b.Public != -3 {
		t.Errorf("Apply gave %+v, want %+v", b, a)
	}
	b.irq(true)
	if !called {
		t.Error("wiring was not kept")
	}
	delete(f, "wide")
	if err := Apply(&chip{}, f); err == nil || !strings.Contains(err.Error(), "field wide missing") {
		t.Errorf("Apply without a field: %v", err)
	}
	f["wide"], f["extra"] = json.RawMessage("1"), json.RawMessage("2")
	if err := Apply(&chip{}, f); err == nil || !strings.Contains(err.Error(), "[extra]") {
		t.Errorf("Apply with an unknown field: %v", err)
	}
}
