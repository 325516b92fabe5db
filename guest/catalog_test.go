package guest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func TestCatalog(t *testing.T) {
	ws := All()
	want := []string{"call-ret", "compute", "cpuid", "disk", "divzero", "forkwait", "hello", "higherhalf", "io", "io-in", "irq-toggle", "pftrue", "pgfault", "pgprobe", "ptemod", "ptestore", "smc", "streaming", "syscall", "sysenter", "timer"}
	for _, w := range PagingCatalog() {
		if !w.Paging {
			t.Errorf("%s in PagingCatalog without Paging", w.Name)
		}
	}
	if len(Catalog())+len(PagingCatalog()) != len(ws) {
		t.Errorf("Catalog (%d) and PagingCatalog (%d) do not add up to All (%d)", len(Catalog()), len(PagingCatalog()), len(ws))
	}
	var names []string
	for _, w := range ws {
		names = append(names, w.Name)
		if len(w.Image) == 0 {
			t.Errorf("%s: no image embedded", w.Name)
		}
		if len(w.PVImage) == 0 {
			t.Errorf("%s: no PV image embedded", w.Name)
		} else if bytes.Equal(w.PVImage, w.Image) {
			t.Errorf("%s: the PV image is the native one", w.Name)
		} else if im, err := w.LoadPV(DefaultMemSizeForTest); err != nil {
			t.Errorf("%s: PV image: %v", w.Name, err)
		} else if im.Name != w.Name {
			t.Errorf("%s: LoadPV named the image %q", w.Name, im.Name)
		}
		if w.Description == "" || w.ExitsPerIter == "" || w.DefaultArgs == "" {
			t.Errorf("%s: incomplete metadata %+v", w.Name, w)
		}
		if _, err := os.Stat(filepath.Join("..", w.Source)); err != nil {
			t.Errorf("%s: source: %v", w.Name, err)
		}
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("Catalog not sorted: %v", names)
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("Catalog = %v, want %v", names, want)
	}
	// every source has a catalogue entry and every image a source
	srcs, _ := filepath.Glob("src/workloads/*.s")
	imgs, _ := filepath.Glob("images/*.elf")
	pvImgs, _ := filepath.Glob("images/*.pv.elf")
	if len(srcs) != len(want) || len(imgs) != 2*len(want) || len(pvImgs) != len(want) {
		t.Errorf("%d sources, %d images (%d PV), %d workloads: want a native and a PV image per workload", len(srcs), len(imgs), len(pvImgs), len(want))
	}
}

// DefaultMemSizeForTest is guest RAM for loading images in tests (16 MiB).
const DefaultMemSizeForTest = 16 << 20

func TestLookup(t *testing.T) {
	w, err := Lookup("io")
	if err != nil || w.Name != "io" || len(w.Image) == 0 {
		t.Fatalf("Lookup(io) = %v, %v", w.Name, err)
	}
	_, err = Lookup("nope")
	if !errors.Is(err, ErrUnknownWorkload) {
		t.Fatalf("Lookup(nope) error %v, want ErrUnknownWorkload", err)
	}
	for _, n := range Names() {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not list %s", err, n)
		}
	}
}

var workloadDirective = regexp.MustCompile(`(?m)^\s*WORKLOAD\s+([a-z0-9-]+)\s*,\s*(\d+)\s*$`)

// TestDefaultArgsMatchSources: the catalogue's DefaultArgs is the default the
// assembly source declares (WORKLOAD name, default_n), and the source's
// header comment documents it.
func TestDefaultArgsMatchSources(t *testing.T) {
	for _, w := range All() {
		src, err := os.ReadFile(filepath.Join("..", w.Source))
		if err != nil {
			t.Fatal(err)
		}
		m := workloadDirective.FindSubmatch(src)
		if m == nil {
			t.Errorf("%s: no WORKLOAD directive", w.Source)
			continue
		}
		if string(m[1]) != w.Name {
			t.Errorf("%s: WORKLOAD %s, want %s", w.Source, m[1], w.Name)
		}
		if want := "n=" + string(m[2]); w.DefaultArgs != want {
			t.Errorf("%s: DefaultArgs %q, source default %q", w.Name, w.DefaultArgs, want)
		}
		if !strings.Contains(string(src), fmt.Sprintf("(default %s)", m[2])) {
			t.Errorf("%s: header comment does not document the default %s", w.Source, m[2])
		}
	}
}

// TestABIIncMatchesGo keeps guest/src/include/abi.inc and abi.go in step.
func TestABIIncMatchesGo(t *testing.T) {
	vals := incSets(t, "src/include/abi.inc")
	for name, want := range map[string]uint64{
		"MB_HEADER_MAGIC": MultibootHeaderMagic, "MB_BOOT_MAGIC": MultibootMagic,
		"MB_FLAG_CMDLINE": InfoFlagCmdline, "PORT_COM1": PortCOM1, "LSR_THRE": LSRTHREmpty,
		"PORT_DEBUG_EXIT": PortDebugExit, "PORT_POST": PortPOST,
		"PORT_PIC1_DATA": PortPIC1Data, "PORT_PIC2_DATA": PortPIC2Data,
		"PORT_PIC1_CMD": PortPIC1Cmd, "PORT_PIC2_CMD": PortPIC2Cmd,
		"PORT_PIT_CH0": PortPITCh0, "PORT_PIT_CMD": PortPITCmd,
		"EXIT_OK": ExitOK, "EXIT_CHECK_FAILED": ExitCheckFailed, "EXIT_BAD_ARGS": ExitBadArgs,
		"EXIT_UNEXPECTED": ExitUnexpected, "KERNEL_CS": KernelCS, "KERNEL_DS": KernelDS,
		"USER_CS": UserCS, "USER_DS": UserDS, "TSS_SEL": TSSSel,
	} {
		got, ok := vals[name]
		if !ok {
			t.Errorf("abi.inc: %s not defined", name)
		} else if got != want {
			t.Errorf("abi.inc: %s = %#x, abi.go says %#x", name, got, want)
		}
	}
}

func TestParseResult(t *testing.T) {
	out := "Hello\r\nio: starting\nio: n=7 outs=0x7\nother: n=1\n"
	f, err := ParseResult("io", out)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ResultUint(f, "n"); err != nil || n != 7 {
		t.Errorf("n = %d, %v", n, err)
	}
	if n, err := ResultUint(f, "outs"); err != nil || n != 7 {
		t.Errorf("outs = %d, %v", n, err)
	}
	if _, err := ResultUint(f, "missing"); err == nil {
		t.Error("ResultUint(missing) succeeded")
	}
	if _, err := ParseResult("hello", out); err == nil {
		t.Error("ParseResult found a line for hello")
	}
}

// rawSensitive matches a statement that is a privileged or sensitive
// instruction written raw: outside pvops.inc every one must be a PV_* macro
// (doc.go, "The workloads and the pv_ops macro layer").
var rawSensitive = regexp.MustCompile(`^(cli|sti|hlt|(in|out)[bwl]?|(ins|outs)[bwl]|iretl?|l[gi]dt|s[gi]dt|[ls]ldt|ltr|str|[ls]msw|lar|lsl|pushfl?|popfl?|cpuid|invlpg|wbinvd|ljmpl?|lcalll?|lretl?)$`)

// rawSensitiveOperand matches operands that make a mov sensitive: control
// registers and segment registers.
var rawSensitiveOperand = regexp.MustCompile(`%(cr[0-8]|[c-gs]s)\b`)

// TestSourcesUsePVOps: no workload or runtime source executes a privileged
// or sensitive instruction except through the pv_ops macros.
func TestSourcesUsePVOps(t *testing.T) {
	files, err := filepath.Glob("src/workloads/*.s")
	if err != nil {
		t.Fatal(err)
	}
	lib, _ := filepath.Glob("src/lib/*.s")
	label := regexp.MustCompile(`^\s*[A-Za-z0-9_.$]+:`)
	for _, f := range append(files, lib...) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			code, _, _ := strings.Cut(line, "#")
			for _, stmt := range strings.Split(code, ";") {
				for label.MatchString(stmt) {
					stmt = label.ReplaceAllString(stmt, "")
				}
				fields := strings.Fields(stmt)
				if len(fields) == 0 {
					continue
				}
				op := fields[0]
				if rawSensitive.MatchString(op) ||
					(strings.HasPrefix(op, "mov") && rawSensitiveOperand.MatchString(stmt)) {
					t.Errorf("%s:%d: raw %q: use the PV_* macro from pvops.inc", f, i+1, strings.TrimSpace(stmt))
				}
			}
		}
	}
}

// incSets reads the numeric `.set NAME, VALUE` lines of an assembler
// include file (the guest ABI the Go side must agree with).
func incSets(t *testing.T, path string) map[string]uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set := regexp.MustCompile(`^\.set\s+([A-Z0-9_]+),\s*(0x[0-9A-Fa-f]+|\d+)\b`)
	vals := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := set.FindStringSubmatch(sc.Text()); m != nil {
			v, err := strconv.ParseUint(m[2], 0, 32)
			if err != nil {
				t.Fatalf("%s: %s: %v", path, m[1], err)
			}
			vals[m[1]] = v
		}
	}
	return vals
}
