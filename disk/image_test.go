package disk

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func need(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
}

func sector(b byte) []byte { return bytes.Repeat([]byte{b}, SectorSize) }

func rawImage(t *testing.T, sectors int, fill byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "base.img")
	if err := os.WriteFile(p, bytes.Repeat([]byte{fill}, sectors*SectorSize), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readSector(t *testing.T, b Backend, s int64) []byte {
	t.Helper()
	p := make([]byte, SectorSize)
	if _, err := b.ReadAt(p, s*SectorSize); err != nil {
		t.Fatal(err)
	}
	return p
}

func write(t *testing.T, b Backend, s int64, v byte) {
	t.Helper()
	if _, err := b.WriteAt(sector(v), s*SectorSize); err != nil {
		t.Fatal(err)
	}
}

func TestPrivateRawPersists(t *testing.T) {
	need(t)
	p := rawImage(t, 16, 0x11)
	im, err := OpenPrivate(p)
	if err != nil {
		t.Fatal(err)
	}
	if im.Format != "raw" || im.Sectors() != 16 {
		t.Fatalf("format %q, %d sectors", im.Format, im.Sectors())
	}
	write(t, im, 0, 0xA0) // sector 0 of a raw image: qemu refuses it unless the format is explicit
	write(t, im, 15, 0xA1)
	if err := im.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := im.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if b[0] != 0xA0 || b[15*SectorSize] != 0xA1 || b[SectorSize] != 0x11 {
		t.Fatalf("file after close: %x %x %x", b[0], b[15*SectorSize], b[SectorSize])
	}
	if _, err := im.ReadAt(make([]byte, SectorSize), 16*SectorSize); err == nil {
		t.Error("read past the end succeeded")
	}
}

// TestQcow2Chain: a qcow2 image with a backing file reads through to the
// backing file, and writes land in the qcow2 file only.
func TestQcow2Chain(t *testing.T) {
	need(t)
	base := rawImage(t, 8, 0x22)
	top := filepath.Join(t.TempDir(), "top.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", top).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	im, err := OpenPrivate(top)
	if err != nil {
		t.Fatal(err)
	}
	if im.Format != "qcow2" || im.Sectors() != 8 {
		t.Fatalf("format %q, %d sectors", im.Format, im.Sectors())
	}
	if got := readSector(t, im, 3); got[0] != 0x22 {
		t.Errorf("read through the backing file: %#x", got[0])
	}
	write(t, im, 3, 0x33)
	im.Flush()
	im.Close()
	if b, _ := os.ReadFile(base); b[3*SectorSize] != 0x22 {
		t.Error("a write reached the backing file")
	}
	im, err = OpenReadOnly(top)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	if got := readSector(t, im, 3); got[0] != 0x33 {
		t.Errorf("the qcow2 file lost its write: %#x", got[0])
	}
}

// TestSharedDisks: two VMs at once on one base each see their own writes
// only; the base never changes; a VM's overlay is gone when it closes.
func TestSharedDisks(t *testing.T) {
	need(t)
	base := rawImage(t, 8, 0x44)
	a, err := OpenShared(base)
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenShared(base)
	if err != nil {
		t.Fatal(err)
	}
	write(t, a, 1, 0xAA)
	write(t, b, 1, 0xBB)
	write(t, b, 2, 0xBC)
	if got := readSector(t, a, 1); got[0] != 0xAA {
		t.Errorf("VM a reads %#x at sector 1, want its own 0xAA", got[0])
	}
	if got := readSector(t, a, 2); got[0] != 0x44 {
		t.Errorf("VM a sees VM b's write: %#x", got[0])
	}
	if got := readSector(t, b, 1); got[0] != 0xBB {
		t.Errorf("VM b reads %#x, want 0xBB", got[0])
	}
	overlay := a.Path
	a.Flush()
	a.Close()
	if _, err := os.Stat(overlay); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("overlay %s survives Close: %v", overlay, err)
	}
	// a "restarts": a fresh overlay, the base as it was
	a, err = OpenShared(base)
	if err != nil {
		t.Fatal(err)
	}
	if got := readSector(t, a, 1); got[0] != 0x44 {
		t.Errorf("after restart VM a reads %#x, want the base's 0x44", got[0])
	}
	a.Close()
	b.Close()
	raw, _ := os.ReadFile(base)
	if !bytes.Equal(raw, bytes.Repeat([]byte{0x44}, 8*SectorSize)) {
		t.Error("the shared base changed")
	}
}

// TestSnapshotWhileWriting: a snapshot taken between writes holds exactly
// the writes before it, while the disk keeps taking writes.
func TestSnapshotWhileWriting(t *testing.T) {
	need(t)
	p := rawImage(t, 8, 0x55)
	im, err := OpenPrivate(p)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	write(t, im, 0, 0x01)
	snap := filepath.Join(t.TempDir(), "snap.qcow2")
	if err := im.Snapshot(snap); err != nil {
		t.Fatal(err)
	}
	write(t, im, 0, 0x02)
	write(t, im, 1, 0x03)
	s, err := OpenReadOnly(snap)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Format != "qcow2" {
		t.Errorf("snapshot format %q", s.Format)
	}
	if got := readSector(t, s, 0); got[0] != 0x01 {
		t.Errorf("snapshot sector 0 = %#x, want 0x01 (the write before it)", got[0])
	}
	if got := readSector(t, s, 1); got[0] != 0x55 {
		t.Errorf("snapshot sees a later write: %#x", got[0])
	}
	if got := readSector(t, im, 0); got[0] != 0x02 {
		t.Errorf("the live disk reads %#x, want 0x02", got[0])
	}
}

func TestOpenErrors(t *testing.T) {
	need(t)
	if _, err := OpenPrivate(filepath.Join(t.TempDir(), "missing.img")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.img")
	os.WriteFile(empty, nil, 0o644)
	im, err := OpenPrivate(empty)
	if err == nil {
		defer im.Close()
		if im.Sectors() != 0 {
			t.Errorf("empty file: %d sectors", im.Sectors())
		}
	}
}
