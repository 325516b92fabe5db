package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"virtsim/disk"
	"virtsim/guest"
	"virtsim/vmm"
)

// The test binary runs virtsim itself when this variable is set, so a test
// can start virtsim as a process and kill it.
const asVirtsim = "VIRTSIM_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asVirtsim) == "1" {
		os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func needDisk(t *testing.T) {
	t.Helper()
	if err := disk.Available(); err != nil {
		t.Skip(err)
	}
}

// pattern is what the disk workload writes to sector s.
func pattern(s uint32) []byte {
	b := make([]byte, disk.SectorSize)
	for j := uint32(0); j < 128; j++ {
		binary.LittleEndian.PutUint32(b[4*j:], (s<<16|j)*2654435761)
	}
	return b
}

func defaultDisk(t *testing.T) string {
	return writeFile(t, "disk.img", guest.DiskContents(128))
}

// TestDiskPrivateSurvivesKill: the guest writes and flushes, writes more
// without flushing, and spins; virtsim is killed (SIGKILL). The flushed
// sectors are in the image file, the unflushed ones are not.
func TestDiskPrivateSurvivesKill(t *testing.T) {
	needDisk(t)
	img := defaultDisk(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	cmd := exec.Command(exe, "run", "--guest", "disk", "--args", "n=4 hang=1", "--disk", img,
		"--max-insns", "1000000000000", "--timeout", "5m")
	cmd.Env = append(os.Environ(), asVirtsim+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(60 * time.Second)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("virtsim ended before the guest's unflushed writes")
			}
			if strings.HasPrefix(l, "disk: unflushed") {
				break wait
			}
		case <-timeout:
			cmd.Process.Kill()
			t.Fatal("no 'disk: unflushed' line within 60 s")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	time.Sleep(200 * time.Millisecond) // qemu-nbd goes with its client
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	orig := guest.DiskContents(128)
	for s := uint32(128 - n); s < 128; s++ {
		if !bytes.Equal(b[s*512:(s+1)*512], pattern(s)) {
			t.Errorf("flushed sector %d is not in the file after the kill", s)
		}
	}
	for s := uint32(n); s < 2*n; s++ {
		if !bytes.Equal(b[s*512:(s+1)*512], orig[s*512:(s+1)*512]) {
			t.Errorf("sector %d: an unflushed write reached the file (the drive's cache is volatile)", s)
		}
	}
}

// TestDiskSharedBase: two runs on one shared base both succeed and leave
// the base as it was; a private run changes its file.
func TestDiskSharedBase(t *testing.T) {
	needDisk(t)
	base := defaultDisk(t)
	for i := 0; i < 2; i++ {
		status, out, errOut := run(t, "run", "--guest", "disk", "--shared-disk", base, "--quiet")
		if status != 0 || !strings.Contains(out, "verify=ok") {
			t.Fatalf("run %d: status %d\n%s\n%s", i, status, out, errOut)
		}
	}
	b, _ := os.ReadFile(base)
	if !bytes.Equal(b, guest.DiskContents(128)) {
		t.Error("a shared base was written")
	}
	priv := defaultDisk(t)
	if status, out, errOut := run(t, "run", "--guest", "disk", "--strategy", "trap", "--disk", priv, "--quiet"); status != 0 {
		t.Fatalf("private: status %d\n%s\n%s", status, out, errOut)
	}
	b, _ = os.ReadFile(priv)
	if !bytes.Equal(b[127*512:], pattern(127)) {
		t.Error("a private disk lost the guest's flushed write")
	}
}

func TestDiskFlagErrors(t *testing.T) {
	needDisk(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--disk", filepath.Join(dir, "missing.img")}, exitNoInput},
		{[]string{"--shared-disk", filepath.Join(dir, "missing.img")}, exitNoInput},
		{[]string{"--disk", "a", "--shared-disk", "b"}, exitUsage},
	} {
		status, _, errOut := run(t, append([]string{"run", "--guest", "disk"}, tc.args...)...)
		if status != tc.want {
			t.Errorf("%v: status %d, want %d\n%s", tc.args, status, tc.want, errOut)
		}
	}
}

// snapAtFlush is a disk that takes a snapshot the first time the guest
// flushes: mid-run, between two of the guest's requests.
type snapAtFlush struct {
	*disk.Image
	dst   string
	taken bool
	err   error
}

func (s *snapAtFlush) Flush() error {
	if err := s.Image.Flush(); err != nil {
		return err
	}
	if !s.taken {
		s.taken = true
		s.err = s.Image.Snapshot(s.dst)
	}
	return nil
}

// TestDiskSnapshotWhileRunning: a VM under trap writes and flushes; the
// snapshot taken at the flush holds those sectors; the VM then keeps
// writing (hang=1: more sectors, straight to the image), and the snapshot
// does not change while the live image does. Then a second VM boots on the
// snapshot as a shared disk and reads what the first had written.
func TestDiskSnapshotWhileRunning(t *testing.T) {
	needDisk(t)
	img := defaultDisk(t)
	im, err := disk.OpenPrivate(img)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	snap := &snapAtFlush{Image: im, dst: filepath.Join(t.TempDir(), "snap.qcow2")}
	s, err := vmm.LookupStrategy("trap")
	if err != nil {
		t.Fatal(err)
	}
	w, _ := guest.Lookup("disk")
	gi, err := w.Load(vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	inst, err := s.New(gi, vmm.Config{Args: "n=4 hang=1", Disk: snap, InsnBudget: 2_000_000, Count: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := inst.Run()
	out := inst.Result().Serial
	inst.Close()
	if err != nil || st.Kind != vmm.StopBudget || !strings.Contains(out, "disk: unflushed") {
		t.Fatalf("first VM: %v %v\n%s", st, err, out)
	}
	if !snap.taken || snap.err != nil {
		t.Fatalf("snapshot taken %v: %v", snap.taken, snap.err)
	}
	ro, err := disk.OpenReadOnly(snap.dst)
	if err != nil {
		t.Fatal(err)
	}
	orig := guest.DiskContents(128)
	buf := make([]byte, disk.SectorSize)
	for s := uint32(128 - n); s < 128; s++ {
		ro.ReadAt(buf, int64(s)*512)
		if !bytes.Equal(buf, pattern(s)) {
			t.Errorf("snapshot sector %d lacks the write flushed before it", s)
		}
	}
	for s := uint32(n); s < 2*n; s++ {
		ro.ReadAt(buf, int64(s)*512)
		if !bytes.Equal(buf, orig[s*512:(s+1)*512]) {
			t.Errorf("snapshot sector %d has a write made after it", s)
		}
		im.ReadAt(buf, int64(s)*512)
		if !bytes.Equal(buf, pattern(s)) {
			t.Errorf("live sector %d lacks the write made after the snapshot", s)
		}
	}
	ro.Close()
	// A second VM boots on the snapshot as a shared disk (its own writes go
	// to its overlay) and runs the workload through.
	status, vmOut, errOut := run(t, "run", "--guest", "disk", "--strategy", "bt", "--shared-disk", snap.dst, "--args", "n=16", "--quiet")
	if status != 0 || !strings.Contains(vmOut, "verify=ok") {
		t.Fatalf("second VM on the snapshot: %d\n%s\n%s", status, vmOut, errOut)
	}
}

// virtsim disk-image writes the streaming workload's disk (the bytes
// guest.StreamImage makes), which then boots the loader from a file under
// the ring (pv, shared) and the emulated disk (trap, private: the loader
// writes nothing); workloads without a disk, a missing --out and --pad on
// another workload's disk are usage errors.
func TestDiskImageStreaming(t *testing.T) {
	out := filepath.Join(t.TempDir(), "stream.img")
	if status, _, errOut := run(t, "disk-image", "--guest", "streaming", "--pad", "3", "--out", out); status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := guest.StreamImage(3)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("disk-image wrote other bytes than guest.StreamImage(3)")
	}
	for _, c := range [][]string{
		{"disk-image", "--guest", "hello", "--out", out},
		{"disk-image", "--guest", "streaming"},
		{"disk-image", "--guest", "disk", "--pad", "1", "--out", out},
	} {
		if status, _, _ := run(t, c...); status != exitUsage {
			t.Errorf("%v: status %d, want %d", c, status, exitUsage)
		}
	}
	needDisk(t)
	if status, _, errOut := run(t, "disk-image", "--guest", "streaming", "--pad", "3", "--out", out); status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	for _, c := range [][]string{
		{"--strategy", "pv", "--shared-disk", out},
		{"--strategy", "trap", "--disk", out},
	} {
		status, vmOut, errOut := run(t, append([]string{"run", "--guest", "streaming", "--args", "n=2", "--quiet"}, c...)...)
		if status != 0 || !strings.Contains(vmOut, "streaming: boot=2 fresh=1 patched=2") || !strings.Contains(vmOut, "sectors=13 streamed=26") {
			t.Errorf("%v: status %d\n%s%s", c, status, vmOut, errOut)
		}
	}
}

// TestTwoVMsOneSharedBase: two VMs run at once on one shared base, each
// with its own overlay. A (disk n=64, bt) writes and flushes sectors
// 64..127; B (disk n=16 hang=1, trap) writes and flushes 112..127, writes
// 16..31 without flushing and spins until its budget ends it. While both
// disks are open, each reads back only its own writes: A's sectors 64..111
// are its pattern and B's are the base's; neither sees the other's, nor
// B's unflushed sectors (a volatile cache). The base file never changes.
func TestTwoVMsOneSharedBase(t *testing.T) {
	needDisk(t)
	base := defaultDisk(t)
	orig := guest.DiskContents(128)
	w, _ := guest.Lookup("disk")
	type vm struct {
		strategy, args string
		budget         uint64
		im             *disk.Image
		st             vmm.Stop
		out            string
		err            error
	}
	vms := []*vm{{strategy: "bt", args: "n=64"}, {strategy: "trap", args: "n=16 hang=1", budget: 2_000_000}}
	for _, v := range vms {
		im, err := disk.OpenShared(base)
		if err != nil {
			t.Fatal(err)
		}
		defer im.Close()
		v.im = im
	}
	done := make(chan *vm)
	for _, v := range vms {
		go func(v *vm) {
			defer func() { done <- v }()
			s, err := vmm.LookupStrategy(v.strategy)
			if err != nil {
				v.err = err
				return
			}
			gi, err := w.Load(vmm.DefaultMemSize)
			if err != nil {
				v.err = err
				return
			}
			inst, err := s.New(gi, vmm.Config{Args: v.args, Disk: disk.NewWriteCache(v.im), InsnBudget: v.budget, Count: true, TimeBudget: time.Minute})
			if err != nil {
				v.err = err
				return
			}
			defer inst.Close()
			v.st, v.err = inst.Run()
			v.out = inst.Result().Serial
		}(v)
	}
	for range vms {
		<-done
	}
	a, b := vms[0], vms[1]
	if a.err != nil || a.st.Kind != vmm.StopExit || a.st.Status != 0 || !strings.Contains(a.out, "verify=ok") {
		t.Fatalf("A: %v %v\n%s", a.st, a.err, a.out)
	}
	if b.err != nil || b.st.Kind != vmm.StopBudget || !strings.Contains(b.out, "disk: unflushed n=16") {
		t.Fatalf("B: %v %v\n%s", b.st, b.err, b.out)
	}
	buf := make([]byte, disk.SectorSize)
	sector := func(im *disk.Image, s uint32) []byte {
		if _, err := im.ReadAt(buf, int64(s)*disk.SectorSize); err != nil {
			t.Fatal(err)
		}
		return buf
	}
	for s := uint32(16); s < 128; s++ {
		baseBytes, pat := orig[s*512:(s+1)*512], pattern(s)
		wantA, wantB := baseBytes, baseBytes
		if s >= 64 {
			wantA = pat
		}
		if s >= 112 {
			wantB = pat
		}
		if !bytes.Equal(sector(a.im, s), wantA) {
			t.Errorf("A's sector %d is not A's own", s)
		}
		if !bytes.Equal(sector(b.im, s), wantB) {
			t.Errorf("B's sector %d is not B's own (A's write, or B's unflushed one, leaked)", s)
		}
	}
	if raw, _ := os.ReadFile(base); !bytes.Equal(raw, orig) {
		t.Error("the shared base changed")
	}
}
