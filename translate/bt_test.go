package translate

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"virtsim/guest"
	"virtsim/vmm"
	"virtsim/vmm/vmmtest"
)

func load(t testing.TB, name string) *guest.Image { return vmmtest.Load(t, name, false) }

func run(t testing.TB, strategy string, img *guest.Image, args string) *vmm.Result {
	t.Helper()
	return vmmtest.Run(t, strategy, img, args, vmm.Config{TimeBudget: 60 * time.Second})
}

// withTCSize runs f with the translation cache of new instances set to size.
func withTCSize(size uint32, f func()) {
	old := TCSize
	TCSize = size
	defer func() { TCSize = old }()
	f()
}

// translatorWork are the counters of the translator's own work (not the
// guest's events, not the lookups the translated code makes).
var translatorWork = []string{"bt/blocks", "bt/insns", "bt/tc-bytes", "bt/chain-patches", "bt/chain-direct",
	"bt/lookup-misses", "bt/lookup-entries", "bt/invalidations", "bt/flushes", "bt/smc-faults", "bt/shadow-blocks",
	"bt/callouts/chain", "bt/callouts/ret-miss", "bt/callouts/resync", "bt/dma-invalidations"}

// A program read from the disk over code the translator has translated
// (the streaming workload's boots after the first: the program patched
// itself last boot) is retranslated, never run stale: the device's write
// retires the frame's translations (bt/dma-invalidations, one code page a
// boot), and every boot prints the disk's fresh=1 as native does.
func TestBTDeviceWriteRetiresCode(t *testing.T) {
	img := load(t, "streaming")
	for _, args := range []string{"n=3", "n=3 ring=1"} {
		native := run(t, "native", img, args)
		got := run(t, "bt", img, args)
		if got.Serial != native.Serial || strings.Contains(got.Serial, "fresh=2") {
			t.Errorf("%s: bt:\n%s\nnative:\n%s", args, got.Serial, native.Serial)
		}
		if n := got.Counters["bt/dma-invalidations"]; n != 2 {
			t.Errorf("%s: bt/dma-invalidations = %d, want 2 (boots 2 and 3 overwrite the translated code page)", args, n)
		}
	}
}

// Every workload prints under bt exactly what it prints under native
// (which the foundation checks against QEMU), at two values of N; events
// are callouts, traps, in-TC events or the machine's; exits and
// translation counts are pinned in the golden files.
func TestBTMatchesNative(t *testing.T) {
	golden := filepath.Join("testdata", "bt.golden")
	counters := &counterGolden{path: filepath.Join("testdata", "bt-counters.golden")}
	defer counters.finish(t)
	for _, w := range guest.Catalog() {
		for _, n := range []int{3, 17} {
			args := fmt.Sprintf("n=%d", n)
			t.Run(w.Name+"/"+args, func(t *testing.T) {
				img := load(t, w.Name)
				native := run(t, "native", img, args)
				got := run(t, "bt", img, args)
				if got.Stop.Kind != native.Stop.Kind || got.Stop.Status != native.Stop.Status {
					t.Fatalf("bt stopped %s, native %s\n%s", got.Stop, native.Stop, got.Serial)
				}
				if got.Serial != native.Serial {
					t.Errorf("serial differs from native\nbt:\n%s\nnative:\n%s", got.Serial, native.Serial)
				}
				for k := range got.Counts {
					switch k.Mech {
					case vmm.MechCallout, vmm.MechTrap, vmm.MechInTC, vmm.MechMachine:
					default:
						t.Errorf("event %s has mechanism %s under bt", k.Cause, k.Mech)
					}
					// User code runs directly: its int n and sysenter trap.
					if k.Mech == vmm.MechTrap && !strings.HasPrefix(k.Cause, "exc/") && !strings.HasPrefix(k.Cause, "int/") && !strings.HasPrefix(k.Cause, "irq/") && k.Cause != vmm.CauseSysenter {
						t.Errorf("%s trapped: translated code should have called out", k.Cause)
					}
				}
				vmmtest.CheckGolden(t, golden, got)
				counters.check(t, got)
			})
		}
	}
}

// With a translation cache so small that it is flushed again and again,
// every workload still prints what it prints natively.
func TestBTTinyCache(t *testing.T) {
	withTCSize(MinTCSize, func() {
		for _, w := range guest.Catalog() {
			t.Run(w.Name, func(t *testing.T) {
				img := load(t, w.Name)
				native := run(t, "native", img, "n=5")
				got := run(t, "bt", img, "n=5")
				if got.Serial != native.Serial || got.Stop.Kind != native.Stop.Kind || got.Stop.Status != native.Stop.Status {
					t.Errorf("bt with a %d-byte TC: %s\n%s\nnative: %s\n%s", MinTCSize, got.Stop, got.Serial, native.Stop, native.Serial)
				}
				if f := got.Counters["bt/flushes"]; f < 2 {
					t.Errorf("%d flushes: the cache should fill repeatedly", f)
				}
				// The counts of guest events do not depend on the cache.
				def := run(t, "bt", img, "n=5")
				if !def.Counts.Equal(got.Counts) {
					t.Errorf("events differ with a tiny cache:\n%s\ndefault cache:\n%s", got.Counts.Format(), def.Counts.Format())
				}
			})
		}
	})
}

// irq-toggle: cli and sti run in the TC on the virtual CPU — not one exit
// for them, one in-TC event each per iteration.
func TestIrqToggleInTC(t *testing.T) {
	img := load(t, "irq-toggle")
	a := run(t, "bt", img, "n=100")
	b := run(t, "bt", img, "n=200")
	for _, r := range []*vmm.Result{a, b} {
		for k, v := range r.Counts {
			if (k.Cause == "priv/cli" || k.Cause == "priv/sti") && k.Mech != vmm.MechInTC {
				t.Errorf("%s: %d events with mechanism %s", k.Cause, v, k.Mech)
			}
		}
	}
	if a.Exits != b.Exits {
		t.Errorf("exits grow with n: %d at n=100, %d at n=200", a.Exits, b.Exits)
	}
	for _, cause := range []string{"priv/cli", "priv/sti"} {
		k := vmm.Key{Cause: cause, Mech: vmm.MechInTC}
		if d := b.Counts[k] - a.Counts[k]; d != 100 {
			t.Errorf("%s: %d more in-TC events for 100 more iterations, want 100", cause, d)
		}
	}
}

// A loop's second and later passes cause no translator activity: the
// translator's counters are the same for N and 2N iterations.
func TestLoopsTranslateOnce(t *testing.T) {
	for _, tc := range []struct{ name, a, b string }{
		{"compute", "n=4000", "n=8000"},
		{"call-ret", "n=4000", "n=8000"},
		{"irq-toggle", "n=4000", "n=8000"},
		{"io", "n=4000", "n=8000"},
		{"io-in", "n=4000", "n=8000"},
		{"divzero", "n=4000", "n=8000"},
		{"syscall", "n=4000", "n=8000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := load(t, tc.name)
			a, b := run(t, "bt", img, tc.a), run(t, "bt", img, tc.b)
			for _, k := range translatorWork {
				if a.Counters[k] != b.Counters[k] {
					t.Errorf("%s: %d at %s, %d at %s", k, a.Counters[k], tc.a, b.Counters[k], tc.b)
				}
			}
		})
	}
}

// call-ret: the returns find their target in the in-TC lookup table.
func TestCallRetLookupHits(t *testing.T) {
	res := run(t, "bt", load(t, "call-ret"), "n=10000")
	hits, misses := res.Counters["bt/lookup-hits"], res.Counters["bt/lookup-misses"]
	if hits+misses == 0 || float64(hits)/float64(hits+misses) < 0.99 {
		t.Errorf("lookup hits %d, misses %d: want >= 99%% hits", hits, misses)
	}
	if hits < 20000 {
		t.Errorf("lookup hits %d, want at least one per return (20000)", hits)
	}
}

// divzero: the #DE raised by the translated div is reported at the guest
// instruction (precise exceptions) — the handler checks its frame's EIP,
// and the event names it.
func TestPreciseException(t *testing.T) {
	img := load(t, "divzero")
	site := symbol(t, img, "divzero_site")
	s, _ := vmm.LookupStrategy("bt")
	res, err := vmm.RunGuest(s, img, vmm.Config{Args: "n=3", Trace: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range res.Trace {
		if e.Cause == "exc/#DE" {
			n++
			if e.PC != site {
				t.Errorf("#DE at %#x, want the guest's div at %#x", e.PC, site)
			}
		}
	}
	if n != 3 || res.Stop.Kind != vmm.StopExit || res.Stop.Status != 0 {
		t.Errorf("%d #DE, stop %s\n%s", n, res.Stop, res.Serial)
	}
}

// smc: every patch is seen, the running block's included; the translator
// invalidated and diverted.
func TestSelfModifyingCode(t *testing.T) {
	res := run(t, "bt", load(t, "smc"), "n=10")
	if res.Stop.Kind != vmm.StopExit || res.Stop.Status != 0 {
		t.Fatalf("%s\n%s", res.Stop, res.Serial)
	}
	for _, k := range []string{"bt/invalidations", "bt/smc-faults", "bt/callouts/resync"} {
		if res.Counters[k] == 0 {
			t.Errorf("%s = 0", k)
		}
	}
}

func symbol(t testing.TB, img *guest.Image, name string) uint32 {
	t.Helper()
	for _, s := range img.Symbols {
		if s.Name == name {
			return s.Addr
		}
	}
	t.Fatalf("%s: no symbol %s", img.Name, name)
	return 0
}

// counterGolden pins the translator's counters per run, in the spirit of
// vmm's golden files: `run GUEST ARGS` then `  counter NAME VALUE` lines.
type counterGolden struct {
	path    string
	records map[string]map[string]uint64
	got     map[string]map[string]uint64
}

func (g *counterGolden) load(t *testing.T) {
	if g.records != nil {
		return
	}
	g.records, g.got = map[string]map[string]uint64{}, map[string]map[string]uint64{}
	f, err := os.Open(g.path)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cur map[string]uint64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "run "):
			cur = map[string]uint64{}
			g.records[strings.TrimPrefix(line, "run ")] = cur
		case strings.HasPrefix(line, "  counter ") && cur != nil:
			f := strings.Fields(line)
			v, err := strconv.ParseUint(f[2], 10, 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", g.path, line, err)
			}
			cur[f[1]] = v
		}
	}
}

func (g *counterGolden) check(t *testing.T, r *vmm.Result) {
	t.Helper()
	g.load(t)
	key := fmt.Sprintf("%s %q", r.Guest, r.Args)
	got := map[string]uint64{}
	for _, k := range translatorWork {
		got[k] = r.Counters[k]
	}
	g.got[key] = got
	if vmmtest.Updating() {
		return
	}
	want, ok := g.records[key]
	if !ok {
		t.Errorf("%s has no record for %s; run `go test -update` and review the diff", g.path, key)
		return
	}
	for _, k := range translatorWork {
		if want[k] != got[k] {
			t.Errorf("%s: %s = %d, golden %d", key, k, got[k], want[k])
		}
	}
}

func (g *counterGolden) finish(t *testing.T) {
	if !vmmtest.Updating() || g.got == nil {
		return
	}
	for k, v := range g.got {
		g.records[k] = v
	}
	var keys []string
	for k := range g.records {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# The binary translator's own work per run (not guest exits), pinned by translate's tests.\n")
	b.WriteString("# Rewrite with `go test ./translate -update`; review the diff.\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "run %s\n", k)
		names := make([]string, 0, len(g.records[k]))
		for n := range g.records[k] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(&b, "  counter %s %d\n", n, g.records[k][n])
		}
	}
	if err := os.WriteFile(g.path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
