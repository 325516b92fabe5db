package guest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var updateCPUID = flag.Bool("update-cpuid", false, "rewrite testdata/qemu-cpuid.txt from QEMU's output")

const qemuTimeout = 60 * time.Second

func qemuBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("qemu-system-i386")
	if err != nil {
		t.Skip("qemu-system-i386 is not on PATH (Debian: apt-get install qemu-system-x86); the QEMU oracle tests need it")
	}
	return p
}

// bootQEMU boots image under QEMU as virtsim's oracle does and returns the
// serial output and QEMU's exit status ((v<<1)|1 for a debug-exit write of v).
func bootQEMU(t *testing.T, qemu, name string, image []byte, args string) (string, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".elf")
	if err := os.WriteFile(path, image, 0o644); err != nil {
		t.Fatal(err)
	}
	qargs := QEMUArgs(path, args)
	if w, err := Lookup(name); err == nil && w.Disk != nil {
		b, err := w.Disk()
		if err != nil {
			t.Fatal(err)
		}
		disk := filepath.Join(t.TempDir(), name+".img")
		if err := os.WriteFile(disk, b, 0o644); err != nil {
			t.Fatal(err)
		}
		qargs = append(qargs, QEMUDiskArgs(disk)...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), qemuTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, qargs...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		t.Fatalf("%s %q: QEMU did not finish within %v; output so far:\n%s", name, args, qemuTimeout, out)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	default:
		t.Fatalf("%s %q: run QEMU: %v\n%s", name, args, err, stderr.String())
		return "", -1
	}
}

func resultLine(t *testing.T, name, out string) map[string]string {
	t.Helper()
	f, err := ParseResult(name, out)
	if err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	return f
}

// allFields merges the key=value fields of every "name: " line.
func allFields(name, out string) map[string]string {
	all := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), name+": "); ok {
			for k, v := range parseFields(rest) {
				all[k] = v
			}
		}
	}
	return all
}

func parseFields(s string) map[string]string {
	f := map[string]string{}
	for _, w := range strings.Fields(s) {
		if k, v, ok := strings.Cut(w, "="); ok {
			f[k] = v
		}
	}
	return f
}

func fieldUint(t *testing.T, f map[string]string, key string) uint64 {
	t.Helper()
	n, err := ResultUint(f, key)
	if err != nil {
		t.Fatalf("%v (fields %v)", err, f)
	}
	return n
}

// computeChecksum mirrors guest/src/workloads/compute.s.
func computeChecksum(n uint32) uint32 {
	x, sum := uint32(0x12345678), uint32(0)
	for i := uint32(1); i <= n; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		sum = bits.RotateLeft32(sum*31+(x^i), 5)
	}
	return sum
}

// callRetResult mirrors guest/src/workloads/call-ret.s.
func callRetResult(n uint32) uint32 {
	acc := uint32(0)
	for i := uint32(0); i < n; i++ {
		acc = bits.RotateLeft32((acc^i)*3+1, 1)
	}
	return acc
}

// qemuCase says how to boot one workload and what its result line must say.
type qemuCase struct {
	ns []uint32 // two values of n
	// countKeys must equal n; doubleKeys must equal 2n
	countKeys, doubleKeys []string
	check                 func(t *testing.T, n uint32, out string, f map[string]string)
}

var qemuCases = map[string]qemuCase{
	"disk": {ns: []uint32{1, 40},
		check: func(t *testing.T, n uint32, _ string, f map[string]string) {
			read, written := diskChecksums(DiskContents(128), int(n))
			if got := fieldUint(t, f, "read"); got != uint64(read) {
				t.Errorf("read=%#x, want %#x", got, read)
			}
			if got := fieldUint(t, f, "written"); got != uint64(written) {
				t.Errorf("written=%#x, want %#x", got, written)
			}
			if f["verify"] != "ok" {
				t.Errorf("verify=%q", f["verify"])
			}
		}},
	"streaming": {ns: []uint32{1, 3}, countKeys: []string{"boots"},
		check: func(t *testing.T, n uint32, out string, f map[string]string) {
			img, err := StreamImage(0)
			if err != nil {
				t.Fatal(err)
			}
			h, err := ParseStreamHeader(img)
			if err != nil {
				t.Fatal(err)
			}
			if got := fieldUint(t, f, "streamed"); got != uint64(n)*uint64(h.Sectors) {
				t.Errorf("streamed=%d, want n×%d sectors", got, h.Sectors)
			}
			// every boot ran the disk's bytes: fresh code, zeroed data
			for b := uint32(1); b <= n; b++ {
				line := fmt.Sprintf("streaming: boot=%d fresh=1 patched=2 primes=%d\n", b, primesBelow(1000))
				if !strings.Contains(out, line) {
					t.Errorf("no line %q", line)
				}
			}
		}},
	"hello": {ns: []uint32{1, 3}, countKeys: []string{"greetings"},
		check: func(t *testing.T, n uint32, out string, _ map[string]string) {
			if got := strings.Count(out, "Hello from a virtsim guest!\n"); got != int(n) {
				t.Errorf("%d greeting lines, want %d", got, n)
			}
		}},
	"compute": {ns: []uint32{1000, 2500},
		check: func(t *testing.T, n uint32, _ string, f map[string]string) {
			if got, want := fieldUint(t, f, "checksum"), computeChecksum(n); got != uint64(want) {
				t.Errorf("checksum %#x, want %#x", got, want)
			}
		}},
	"io":         {ns: []uint32{7, 50}, countKeys: []string{"outs"}},
	"io-in":      {ns: []uint32{7, 50}, countKeys: []string{"ins"}},
	"syscall":    {ns: []uint32{7, 50}, countKeys: []string{"calls"}},
	"sysenter":   {ns: []uint32{7, 50}, countKeys: []string{"calls"}},
	"irq-toggle": {ns: []uint32{7, 50}, countKeys: []string{"pairs"}},
	"cpuid":      {ns: []uint32{1, 9}, countKeys: []string{"calls"}, check: checkCPUID},
	"divzero":    {ns: []uint32{7, 50}, countKeys: []string{"faults"}},
	"call-ret": {ns: []uint32{1000, 2500}, doubleKeys: []string{"calls"},
		check: func(t *testing.T, n uint32, _ string, f map[string]string) {
			if got, want := fieldUint(t, f, "result"), callRetResult(n); got != uint64(want) {
				t.Errorf("result %#x, want %#x", got, want)
			}
		}},
	"pgprobe": {ns: []uint32{1, 3}, countKeys: []string{"rounds"}, check: checkPgprobe},
	"timer":   {ns: []uint32{5, 9}, countKeys: []string{"ticks"}, check: checkTimer},
	"smc": {ns: []uint32{1, 7}, countKeys: []string{"fresh", "chained", "inblock", "jump"},
		check: func(t *testing.T, n uint32, _ string, f map[string]string) {
			if got, want := fieldUint(t, f, "sum"), smcSum(n); got != uint64(want) {
				t.Errorf("sum %#x, want %#x", got, want)
			}
		}},
}

// primesBelow mirrors guest/src/stream/program.s's sieve.
func primesBelow(n int) int {
	composite, count := make([]bool, n), 0
	for i := 2; i < n; i++ {
		if !composite[i] {
			count++
			for j := 2 * i; j < n; j += i {
				composite[j] = true
			}
		}
	}
	return count
}

// smcSum mirrors guest/src/workloads/smc.s: the checksum of every value
// the patched code produces in n rounds.
func smcSum(n uint32) uint32 {
	sum := uint32(0)
	add := func(v uint32) { sum = bits.RotateLeft32(sum+v, 3) }
	for r := uint32(0); r < n; r++ {
		add(0x10000 + r) // (a) fresh
		if r > 0 {
			sum += 0x20000 + r - 1 // (b) before the patch: last round's value
		}
		add(0x20000 + r)             // (b) after it
		add(0x30000 + r)             // (c) inblock
		add(0x40000 + 0x10000*(r&1)) // (d) jump_a or jump_b
	}
	return sum
}

// TestQEMUWorkloads boots every workload under QEMU at two values of n (and
// with no arguments, which must mean DefaultArgs) and checks the exit
// status and the result line.
func TestQEMUWorkloads(t *testing.T) {
	qemu := qemuBinary(t)
	for _, w := range Catalog() {
		c, ok := qemuCases[w.Name]
		if !ok {
			t.Errorf("%s: no QEMU test case", w.Name)
			continue
		}
		def, err := strconv.ParseUint(strings.TrimPrefix(w.DefaultArgs, "n="), 10, 32)
		if err != nil {
			t.Fatalf("%s: DefaultArgs %q: %v", w.Name, w.DefaultArgs, err)
		}
		runs := []struct {
			args string
			n    uint32
		}{
			{fmt.Sprintf("n=%d", c.ns[0]), c.ns[0]},
			{fmt.Sprintf("n=%d", c.ns[1]), c.ns[1]},
			{"", uint32(def)},
		}
		for _, r := range runs {
			t.Run(fmt.Sprintf("%s/%q", w.Name, r.args), func(t *testing.T) {
				t.Parallel()
				out, status := bootQEMU(t, qemu, w.Name, w.Image, r.args)
				if status != ExitOK<<1|1 {
					t.Fatalf("QEMU exit status %d, want %d (guest status %d); output:\n%s", status, ExitOK<<1|1, ExitOK, out)
				}
				f := resultLine(t, w.Name, out)
				if got := fieldUint(t, f, "n"); got != uint64(r.n) {
					t.Errorf("n=%d, want %d", got, r.n)
				}
				for _, k := range c.countKeys {
					if got := fieldUint(t, f, k); got != uint64(r.n) {
						t.Errorf("%s=%d, want n=%d", k, got, r.n)
					}
				}
				for _, k := range c.doubleKeys {
					if got := fieldUint(t, f, k); got != 2*uint64(r.n) {
						t.Errorf("%s=%d, want 2n=%d", k, got, 2*r.n)
					}
				}
				if c.check != nil {
					c.check(t, r.n, out, f)
				}
			})
		}
	}
}

// TestQEMUBadArgs: a malformed argument stops the guest with ExitBadArgs and
// a message naming the argument.
func TestQEMUBadArgs(t *testing.T) {
	qemu := qemuBinary(t)
	w, err := Lookup("io")
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range []string{"n=12x", "n=", "n=0x", "n=4294967296"} {
		out, status := bootQEMU(t, qemu, w.Name, w.Image, args)
		if status != ExitBadArgs<<1|1 {
			t.Errorf("%q: exit status %d, want %d; output:\n%s", args, status, ExitBadArgs<<1|1, out)
		}
		if !strings.Contains(out, "io: bad value for argument n") {
			t.Errorf("%q: output %q lacks the error message", args, out)
		}
	}
	// hex values, unknown keys and the first occurrence winning
	out, status := bootQEMU(t, qemu, w.Name, w.Image, "junk x=5 n=0x10 n=3")
	if status != 1 || fieldUint(t, resultLine(t, "io", out), "n") != 16 {
		t.Errorf("status %d, output %q; want n=16", status, out)
	}
}

func checkCPUID(t *testing.T, n uint32, out string, _ map[string]string) {
	t.Helper()
	var leaves []string
	for _, line := range strings.SplitAfter(out, "\n") {
		if strings.HasPrefix(line, "cpuid: ") && !strings.HasPrefix(line, "cpuid: n=") {
			leaves = append(leaves, line)
		}
	}
	got := strings.Join(leaves, "")
	if !strings.Contains(got, "cpuid: vendor=GenuineIntel\n") {
		t.Errorf("qemu32 vendor missing:\n%s", got)
	}
	golden := filepath.Join("testdata", "qemu-cpuid.txt")
	if *updateCPUID {
		if n == 1 {
			if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestQEMUWorkloads -update-cpuid)", err)
	}
	var wantLeaves []string
	for _, line := range strings.SplitAfter(string(want), "\n") {
		if strings.HasPrefix(line, "cpuid: ") && !strings.HasPrefix(line, "cpuid: n=") {
			wantLeaves = append(wantLeaves, line)
		}
	}
	if w := strings.Join(wantLeaves, ""); got != w {
		t.Errorf("QEMU's CPU model changed; got:\n%s\nwant (%s):\n%s", got, golden, w)
	}
}

func checkPgprobe(t *testing.T, _ uint32, out string, _ map[string]string) {
	t.Helper()
	f := allFields("pgprobe", out)
	w, err := Lookup("pgprobe")
	if err != nil {
		t.Fatal(err)
	}
	im, err := w.Load(16 << 20)
	if err != nil {
		t.Fatal(err)
	}
	addr := func(sym string) string {
		for _, s := range im.Symbols {
			if s.Name == sym {
				return fmt.Sprintf("0x%08x", s.Addr)
			}
		}
		t.Fatalf("no symbol %s", sym)
		return ""
	}
	// what a kernel at CPL 0 must observe: exactly the state it set
	want := map[string]string{
		"cli-if": "0", "popf-if": "1",
		"cs": "0x0008", "cs-rpl": "0", "ss": "0x0010", "ss-rpl": "0",
		"sgdt-base": addr("rt_gdt"), "sgdt-limit": "0x002f", "sgdt-match": "1",
		"sidt-base": addr("rt_idt"), "sidt-limit": "0x07ff", "sidt-match": "1",
		"str":     "0x0028",
		"mov-cr0": "0xb", "smsw": "0xb",
		"lar-cs": "0x00c09b00", "lar-ok": "1",
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("pgprobe %s=%q, want %q", k, f[k], v)
		}
	}
}

// timerOutput is the timer workload's whole serial output for K periodic
// ticks (guest/src/workloads/timer.s). Nothing in it depends on the speed
// of the machine, so QEMU, whose PIT runs in real time, and virtsim, whose
// PIT runs in guest blocks, must print exactly this.
func timerOutput(k uint32) string {
	return fmt.Sprintf("timer: oneshot irqs=1\n"+
		"timer: periodic k=%d ticks=%d\n"+
		"timer: masked irr=1 irqs-while-masked=0 irqs-after-unmask=1\n"+
		"timer: n=%d ticks=%d irqs=%d\n", k, k, k, k, k+2)
}

func checkTimer(t *testing.T, n uint32, out string, _ map[string]string) {
	t.Helper()
	if want := timerOutput(n); out != want {
		t.Errorf("timer output:\n%s\nwant:\n%s", out, want)
	}
}

// TestQEMUTimer boots timer under QEMU with K given as k= (its own name for
// n=) at two values, with both arguments (k= wins), and with K=0 (no
// periodic tick: parts a and c only). The whole output must be the
// speed-independent text of timerOutput.
func TestQEMUTimer(t *testing.T) {
	qemu := qemuBinary(t)
	w, err := Lookup("timer")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args string
		k    uint32
	}{
		{"k=5", 5}, {"k=9", 9}, {"n=9 k=5", 5}, {"k=0", 0},
	} {
		t.Run(c.args, func(t *testing.T) {
			t.Parallel()
			out, status := bootQEMU(t, qemu, w.Name, w.Image, c.args)
			if status != ExitOK<<1|1 {
				t.Fatalf("QEMU exit status %d, want %d; output:\n%s", status, ExitOK<<1|1, out)
			}
			checkTimer(t, c.k, out, nil)
		})
	}
	out, status := bootQEMU(t, qemu, w.Name, w.Image, "k=5x")
	if status != ExitBadArgs<<1|1 || !strings.Contains(out, "timer: bad value for argument k") {
		t.Errorf("k=5x: status %d, output %q; want status %d and the error message", status, out, ExitBadArgs<<1|1)
	}
}

// diskChecksums is the disk workload's arithmetic, written again: the FNV-1a
// checksum (over little-endian dwords) of sectors 0..n-1 of img, and of the
// pattern it writes to the last n sectors (dword j of sector s is
// (s<<16|j) * 2654435761).
func diskChecksums(img []byte, n int) (read, written uint32) {
	fnv := func(words func(i int) uint32) uint32 {
		h := uint32(0x811C9DC5)
		for i := 0; i < n*128; i++ {
			h = (h ^ words(i)) * 16777619
		}
		return h
	}
	read = fnv(func(i int) uint32 {
		return uint32(img[4*i]) | uint32(img[4*i+1])<<8 | uint32(img[4*i+2])<<16 | uint32(img[4*i+3])<<24
	})
	first := uint32(len(img)/512 - n)
	written = fnv(func(i int) uint32 { return ((first+uint32(i/128))<<16 | uint32(i%128)) * 2654435761 })
	return read, written
}
