package migrate

import (
	"fmt"
	"io"
	"math/rand"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"virtsim/guest"
	_ "virtsim/hypercall"
	_ "virtsim/translate"
	_ "virtsim/trap"
	"virtsim/vmm"
	"virtsim/vmstate"
)

// The workloads' arguments for these tests: small, so that every workload
// runs under every strategy several times in a few seconds.
var smallArgs = map[string]string{
	"call-ret": "n=2000", "compute": "n=2000", "cpuid": "n=50", "disk": "n=2", "divzero": "n=50",
	"hello": "n=2", "io": "n=100", "irq-toggle": "n=100", "pgfault": "n=30", "pgprobe": "n=1",
	"ptemod": "n=30", "smc": "n=5", "syscall": "n=100", "timer": "n=3", "higherhalf": "n=5",
	"sysenter": "n=100", "pftrue": "n=30", "ptestore": "n=30",
}

var testStrategies = []string{"native", "trap", "bt", "pv"}

func strategy(t *testing.T, name string) *vmm.Strategy {
	t.Helper()
	s, err := vmm.LookupStrategy(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func workloadImage(t *testing.T, w guest.Workload, pv bool) *guest.Image {
	t.Helper()
	img, err := w.LoadFor(pv, vmm.DefaultMemSize)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func config(w guest.Workload) vmm.Config {
	return vmm.Config{Name: w.Name, Args: smallArgs[w.Name], Count: true, TimeBudget: 10 * time.Second}
}

func uninterrupted(t *testing.T, s *vmm.Strategy, img *guest.Image, cfg vmm.Config) *vmm.Result {
	t.Helper()
	res, err := vmm.RunGuest(s, img, cfg, false)
	if err != nil {
		t.Fatalf("%s under %s: %v", cfg.Name, s.Name, err)
	}
	return res
}

// countsDiff lists the differences of two exit tables, ignoring the
// causes a cold cache changes (vmstate.CacheCauses) when ignoreCache.
func countsDiff(want, got vmm.Counts, ignoreCache bool) []string {
	keys := map[vmm.Key]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		if ignoreCache && vmstate.CacheCauses[k.Cause] {
			continue
		}
		if want[k] != got[k] {
			out = append(out, fmt.Sprintf("%s/%s: %d, want %d", k.Cause, k.Mech, got[k], want[k]))
		}
	}
	sort.Strings(out)
	return out
}

// saveRestore cuts a run of w under from at instruction at, saves it to a
// directory, loads it and finishes it under to.
func saveRestore(t *testing.T, w guest.Workload, img *guest.Image, from, to *vmm.Strategy, at uint64) *vmm.Result {
	t.Helper()
	cfg := config(w)
	st, cut, err := RunAndSave(from, img, cfg, at)
	if err != nil {
		t.Fatalf("%s under %s, save at %d: %v", w.Name, from.Name, at, err)
	}
	if st == nil {
		return cut // the guest ended before the cut
	}
	dir := t.TempDir()
	if err := vmstate.Save(dir, st); err != nil {
		t.Fatal(err)
	}
	loaded, err := vmstate.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunRestored(to, img, cfg, loaded)
	if err != nil {
		t.Fatalf("%s saved under %s at %d, restored under %s: %v", w.Name, from.Name, at, to.Name, err)
	}
	return res
}

func same(t *testing.T, what string, want, got *vmm.Result, exactCounts bool) {
	t.Helper()
	if got.Serial != want.Serial {
		t.Errorf("%s: serial output\n%q\nwant\n%q", what, got.Serial, want.Serial)
	}
	if got.Stop.Kind != want.Stop.Kind || got.Stop.Status != want.Stop.Status {
		t.Errorf("%s: stop %v, want %v", what, got.Stop, want.Stop)
	}
	if exactCounts {
		if d := countsDiff(want.Counts, got.Counts, true); len(d) > 0 {
			t.Errorf("%s: counts differ:\n  %s", what, strings.Join(d, "\n  "))
		}
	}
}

// TestSaveRestoreSameStrategy: every workload, cut at a pseudo-random
// instruction count (from a fixed seed: a failure reproduces), saved to a directory, loaded and continued under the
// same strategy, prints the same, stops the same and has the same counts
// as an uninterrupted run (except the cold caches' pf/hidden and pt/write)
// and the same instruction count.
func TestSaveRestoreSameStrategy(t *testing.T) {
	rng := rand.New(rand.NewSource(18))
	for _, sname := range testStrategies {
		s := strategy(t, sname)
		for _, w := range guest.All() {
			if _, refused := w.Refused[sname]; refused {
				continue
			}
			img := workloadImage(t, w, s.PV)
			want := uninterrupted(t, s, img, config(w))
			for i := 0; i < 1; i++ {
				at := 1 + uint64(rng.Int63n(int64(want.Instructions)))
				what := fmt.Sprintf("%s under %s cut at %d of %d", w.Name, sname, at, want.Instructions)
				t.Log(what)
				got := saveRestore(t, w, img, s, s, at)
				same(t, what, want, got, true)
				checkInstructions(t, what, want, got, sname == "bt")
			}
		}
	}
}

// checkInstructions: the instruction count equals the uninterrupted run's
// but for the instructions a cold cache re-executes: each extra hidden
// page fault runs its faulting instruction once more, or none when it was
// raised by the VMM's own access (pushing a frame).
//
// Under bt only guest code's own instructions are compared: the TC's share
// (bt/tc-insns) depends on the translations, which are rebuilt (a lookup
// that hit before a restore misses after it).
func checkInstructions(t *testing.T, what string, want, got *vmm.Result, bt bool) {
	t.Helper()
	if bt {
		w, g := want.Instructions-want.Counters["bt/tc-insns"], got.Instructions-got.Counters["bt/tc-insns"]
		if w != g {
			t.Errorf("%s: %d guest-code instructions, want %d", what, g, w)
		}
		return
	}
	hidden := func(r *vmm.Result) int64 {
		var n int64
		for k, v := range r.Counts {
			if k.Cause == "pf/hidden" {
				n += int64(v)
			}
		}
		return n
	}
	if d, h := int64(got.Instructions)-int64(want.Instructions), hidden(got)-hidden(want); d < 0 || d > h {
		t.Errorf("%s: %d instructions, want %d (+ at most %d re-executed after extra hidden faults)", what, got.Instructions, want.Instructions, h)
	}
}

// causeTotals sums counts by cause over mechanisms, for the causes every
// strategy records alike: port I/O and external interrupts.
func causeTotals(c vmm.Counts) map[string]uint64 {
	out := map[string]uint64{}
	for k, n := range c {
		if strings.HasPrefix(k.Cause, "io/") || strings.HasPrefix(k.Cause, "irq/") {
			out[k.Cause] += n
		}
	}
	return out
}

// TestMigrationChain: every workload starts under bt, moves to trap, then
// to the bare machine (native), then back to bt, each at a seeded
// instruction count; it prints and ends as an uninterrupted run does, its
// I/O and interrupts are the same by cause, and its result has the four
// legs.
func TestMigrationChain(t *testing.T) {
	rng := rand.New(rand.NewSource(1818))
	chain := []string{"bt", "trap", "native", "bt"}
	for _, w := range guest.All() {
		refused := false
		for _, s := range chain {
			_, r := w.Refused[s]
			refused = refused || r
		}
		if refused {
			continue
		}
		img := workloadImage(t, w, false)
		want := uninterrupted(t, strategy(t, "bt"), img, config(w))
		// What the chain can be held to: the output and the I/O and
		// interrupt counts that do not depend on the strategy (pgprobe
		// prints what the x86 hole shows under trap; the timer's PIT
		// polls follow each strategy's blocks of guest time).
		stable := causeTotals(want.Counts)
		skip := false
		for _, s := range []string{"trap", "native"} {
			r := uninterrupted(t, strategy(t, s), img, config(w))
			if r.Serial != want.Serial {
				t.Logf("%s: prints differently under %s and bt: the chain cannot be compared with either", w.Name, s)
				skip = true
			}
			for c, n := range causeTotals(r.Counts) {
				if stable[c] != n {
					delete(stable, c)
				}
			}
		}
		if skip {
			continue
		}
		// Cuts in increasing order over bt's count (the legs count their
		// own instructions, so later cuts may come after the end: then the
		// chain is shorter).
		var cuts []uint64
		for range chain[1:] {
			cuts = append(cuts, 1+uint64(rng.Int63n(int64(want.Instructions))))
		}
		sort.Slice(cuts, func(i, j int) bool { return cuts[i] < cuts[j] })
		what := fmt.Sprintf("%s %v at %v", w.Name, chain, cuts)
		t.Log(what)
		inst, err := strategy(t, chain[0]).New(img, config(w))
		if err != nil {
			t.Fatal(err)
		}
		legs := 1
		for i, next := range chain[1:] {
			st, err := SaveAt(inst, cuts[i])
			if err != nil {
				t.Fatalf("%s: save under %s: %v", what, chain[i], err)
			}
			if st == nil {
				break // the guest ended first
			}
			inst.Close()
			if inst, err = Restore(strategy(t, next), img, config(w), st); err != nil {
				t.Fatalf("%s: restore under %s: %v", what, next, err)
			}
			legs++
		}
		if _, err := inst.Run(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		got := inst.Result()
		inst.Close()
		same(t, what, want, got, false)
		gt := causeTotals(got.Counts)
		for c, n := range stable {
			if gt[c] != n {
				t.Errorf("%s: %s: %d events, want %d", what, c, gt[c], n)
			}
		}
		if legs > 1 && len(got.Legs) != legs {
			t.Errorf("%s: %d legs in the result, want %d: %+v", what, len(got.Legs), legs, got.Legs)
		}
		for i, l := range got.Legs {
			if l.Strategy != chain[i] {
				t.Errorf("%s: leg %d ran under %s, want %s", what, i, l.Strategy, chain[i])
			}
		}
	}
}

// A state that cannot move is refused with the reason, before anything
// runs: a paravirtual guest to trap, a native build to pv.
func TestMoveRefused(t *testing.T) {
	w, err := guest.Lookup("hello")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to, want string }{
		{"pv", "trap", "it is a paravirtual guest"},
		{"pv", "native", "it is a paravirtual guest"},
		{"native", "pv", "native build"},
	} {
		from, to := strategy(t, c.from), strategy(t, c.to)
		st, _, err := RunAndSave(from, workloadImage(t, w, from.PV), config(w), 100)
		if err != nil || st == nil {
			t.Fatalf("save under %s: %v", c.from, err)
		}
		_, err = Restore(to, workloadImage(t, w, to.PV), config(w), st)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s -> %s: %v, want a refusal saying %q", c.from, c.to, err, c.want)
		}
	}
}

// A cut after the guest's end saves nothing and reports how it ended.
func TestSaveAfterEnd(t *testing.T) {
	w, err := guest.Lookup("hello")
	if err != nil {
		t.Fatal(err)
	}
	st, res, err := RunAndSave(strategy(t, "native"), workloadImage(t, w, false), config(w), 1<<40)
	if err != nil || st != nil || res.Stop.Kind != vmm.StopExit {
		t.Errorf("state %v, stop %v, err %v: want no state and the guest's exit", st != nil, res.Stop, err)
	}
}

// TestLiveMigration: a paging VM (pgfault: new pages every iteration)
// migrates over a loopback TCP connection while it runs — pre-copy rounds,
// then stop-and-copy — from bt to trap, and
// finishes with the output and I/O counts of an uninterrupted run; the
// rounds sent pages; a connection that drops leaves the source VM to run
// on locally with the same result.
func TestLiveMigration(t *testing.T) {
	w, err := guest.Lookup("pgfault")
	if err != nil {
		t.Fatal(err)
	}
	img := workloadImage(t, w, false)
	cfg := vmm.Config{Name: w.Name, Args: "n=200", Count: true}
	want := uninterrupted(t, strategy(t, "bt"), img, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type recv struct {
		res *vmm.Result
		rep *LiveReport
		err error
	}
	done := make(chan recv, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- recv{err: err}
			return
		}
		defer c.Close()
		d := &Destination{Strategy: "trap"}
		inst, _, rep, err := d.Receive(c)
		if err != nil {
			done <- recv{err: err}
			return
		}
		defer inst.Close()
		_, err = inst.Run()
		done <- recv{inst.Result(), rep, err}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	src, err := strategy(t, "bt").New(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := SaveAt(src, 3000); err != nil { // run a while before migrating
		t.Fatal(err)
	}
	rep, err := SendLive(src, HelloFor(src, img, false), conn, conn, LiveOptions{Round: 3000, MaxRounds: 3, StopPages: -1})
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("rounds %+v, final pages %d, stopped at %d, downtime %v", rep.Rounds, rep.FinalPages, rep.StopAt, rep.Downtime)
	same(t, "live bt -> trap", want, r.res, false)
	if len(rep.Rounds) != 4 || rep.Rounds[0].Pages == 0 || rep.Rounds[1].Pages == 0 || len(r.rep.Rounds) != len(rep.Rounds) || rep.StopAt <= 3000+3*3000 {
		t.Errorf("pre-copy rounds: source %+v, destination %+v", rep.Rounds, r.rep.Rounds)
	}
	for c, n := range causeTotals(want.Counts) {
		if r.res.Counts == nil || causeTotals(r.res.Counts)[c] != n {
			t.Errorf("%s: %d, want %d", c, causeTotals(r.res.Counts)[c], n)
		}
	}

	// A connection that drops: the source keeps its VM and runs it on.
	src2, err := strategy(t, "bt").New(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer src2.Close()
	if _, err := SendLive(src2, HelloFor(src2, img, false), failingWriter{}, nil, LiveOptions{}); err == nil {
		t.Fatal("SendLive over a dead connection succeeded")
	}
	if _, err := src2.Run(); err != nil {
		t.Fatal(err)
	}
	same(t, "source after a dropped connection", want, src2.Result(), true)
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }
