package experiments

import (
	"errors"
	"strings"
	"testing"

	"virtsim/guest"
	"virtsim/vmm"
	"virtsim/vmm/unicorn"

	_ "virtsim/trap" // registers the trap strategy
)

func init() {
	// Strategies that cannot run here: the matrix must skip them with
	// their reason (tests name their strategies, so these stay out of the
	// other tests' matrices).
	vmm.Register(&vmm.Strategy{Name: "zz-unavailable", Description: "test", Substrate: "unicorn",
		Available: func() error { return errors.New("no such hardware") },
		New:       func(*guest.Image, vmm.Config) (vmm.Instance, error) { return nil, errors.New("unreachable") }})
	vmm.Register(&vmm.Strategy{Name: "zz-pv", Description: "test", Substrate: "unicorn", PV: true,
		Available: func() error { return nil },
		New:       func(*guest.Image, vmm.Config) (vmm.Instance, error) { return nil, errors.New("unreachable") }})
}

func TestPlanSkips(t *testing.T) {
	cells, err := Plan(Options{Guests: []string{"io", "hello"}, Strategies: []string{"native", "zz-unavailable", "zz-pv"}, Scale: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 6 {
		t.Fatalf("%d cells", len(cells))
	}
	for _, c := range cells {
		switch c.Strategy.Name {
		case "native":
			if c.Skip != "" || c.Image != "native" {
				t.Errorf("native cell %s skipped: %q", c.Workload.Name, c.Skip)
			}
			if c.Workload.Name == "io" && c.Args != "n=2000" {
				t.Errorf("scaled args %q", c.Args)
			}
		case "zz-unavailable":
			if !strings.Contains(c.Skip, "no such hardware") {
				t.Errorf("unavailable strategy not skipped with its reason: %q", c.Skip)
			}
		case "zz-pv":
			if c.Image != "pv" || (len(c.Workload.PVImage) == 0 && !strings.Contains(c.Skip, "no paravirtual image")) {
				t.Errorf("pv cell %s: image %s skip %q", c.Workload.Name, c.Image, c.Skip)
			}
		}
	}
	if _, err := Plan(Options{Guests: []string{"nosuch"}}); err == nil {
		t.Error("unknown guest accepted")
	}
	if _, err := Plan(Options{Strategies: []string{"warp"}}); err == nil {
		t.Error("unknown strategy accepted")
	}
}

// A tiny real matrix: counts exact and equal to the workload's law, timing
// runs made, ratios and the model filled, the trace turned into a series.
func TestMatrixSmall(t *testing.T) {
	var progress []Progress
	res, err := Matrix(Options{Guests: []string{"io"}, Strategies: []string{"native", "trap", "zz-unavailable"}, Args: "n=20",
		Reps: 2, TraceGuest: "io", Progress: func(p Progress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 2 || len(res.Skipped) != 1 || res.Skipped[0].Strategy != "zz-unavailable" {
		t.Fatalf("runs %d skipped %+v", len(res.Runs), res.Skipped)
	}
	if len(progress) != 2*(1+2) || progress[len(progress)-1].Done != progress[len(progress)-1].Total {
		t.Errorf("progress %+v", progress)
	}
	nat, trp := res.Find("io", "native"), res.Find("io", "trap")
	for _, r := range []*Run{nat, trp} {
		if r.Error != "" || r.Stop != "exit" || r.Status != 0 || len(r.WallNS) != 2 || r.Wall.Median <= 0 || r.Modeled == nil || r.Instructions == 0 {
			t.Errorf("%s: %+v", r.Strategy, r)
		}
	}
	find := func(r *Run, cause, mech string) uint64 {
		for _, c := range r.Counts {
			if c.Cause == cause && c.Mechanism == mech {
				return c.Count
			}
		}
		return 0
	}
	if find(nat, "io/out:0x80", "machine") != 20 || find(trp, "io/out:0x80", "trap") != 20 || nat.Exits != 0 || trp.Exits != trp.Events {
		t.Errorf("counts: native %+v trap %+v", nat.Counts, trp.Counts)
	}
	if nat.Instructions != trp.Instructions {
		t.Errorf("instructions differ: %d vs %d", nat.Instructions, trp.Instructions)
	}
	if nat.MeasuredRatio == nil || *nat.MeasuredRatio != 1 || trp.MeasuredRatio == nil || trp.ModeledRatio == nil {
		t.Errorf("ratios: %v %v", trp.MeasuredRatio, trp.ModeledRatio)
	}
	if len(res.Traces) != 2 {
		t.Fatalf("%d traces", len(res.Traces))
	}
	for _, tr := range res.Traces {
		want := map[string]uint64{"native": 0, "trap": trp.Exits}[tr.Strategy]
		if tr.Exits != want || tr.Instructions != nat.Instructions {
			t.Errorf("trace %s: %d exits over %d instructions", tr.Strategy, tr.Exits, tr.Instructions)
		}
	}
}

func TestCumulativeExits(t *testing.T) {
	var tr []vmm.Event
	for i := uint64(0); i < 1000; i++ {
		tr = append(tr, vmm.Event{Cause: "io/out:0x80", Mech: vmm.MechTrap, Icount: 10 * i})
		tr = append(tr, vmm.Event{Cause: "priv/cli", Mech: vmm.MechInTC, Icount: 10*i + 1}) // not an exit
	}
	ts := CumulativeExits("io", "trap", tr, 10000, 50)
	if ts.Exits != 1000 || len(ts.Points) != 50 {
		t.Fatalf("exits %d points %d", ts.Exits, len(ts.Points))
	}
	last := ts.Points[len(ts.Points)-1]
	if last.Exits != 1000 || last.Icount != 9990 || ts.Points[0].Exits != 1 {
		t.Errorf("first %+v last %+v", ts.Points[0], last)
	}
	for i := 1; i < len(ts.Points); i++ {
		if ts.Points[i].Exits < ts.Points[i-1].Exits || ts.Points[i].Icount < ts.Points[i-1].Icount {
			t.Fatalf("not monotonic at %d", i)
		}
	}
	if ts := CumulativeExits("io", "native", nil, 5, 50); ts.Exits != 0 || len(ts.Points) != 0 {
		t.Errorf("empty trace: %+v", ts)
	}
}

func TestCompareAndSummaryTables(t *testing.T) {
	res := fixtureResults(t)
	out := CompareTable(res, "io")
	for _, w := range []string{"io/out:0x80", "1000 machine", "1000 trap", "1000 callout", "1000 hypercall", "1000 vmexit",
		"kvm/pvm", "guest instructions", "measured: wall (median)", "measured: / native", "own image",
		"no native on substrate (flavour pvm)", "modeled: cycles", "modeled: / native", "counters under bt: bt/insns=120 bt/lookup-hits=3"} {
		if !strings.Contains(out, w) {
			t.Errorf("compare table lacks %q:\n%s", w, out)
		}
	}
	// Measured and modeled are separate rows, never one cell.
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "measured") && strings.Contains(line, "modeled") {
			t.Errorf("a line mixes measured and modeled: %q", line)
		}
	}
	sum := SummaryTable(res)
	for _, w := range []string{"workload", "irq-toggle", "trap exits", "kvm measured", "skipped pv: no paravirtual image of irq-toggle", "kvm measured: no native on substrate"} {
		if !strings.Contains(sum, w) {
			t.Errorf("summary lacks %q:\n%s", w, sum)
		}
	}
}

// The timing pass reuses one engine (recycled between runs) and every
// timing run on it still agrees with its counting pass, which opened its
// own: TimeCell fails a run whose counts differ.
func TestTimingReusesEngine(t *testing.T) {
	p := &unicorn.Pool{}
	defer p.Close()
	res, err := Matrix(Options{Guests: []string{"io", "irq-toggle"}, Strategies: []string{"native", "trap"}, Args: "n=20",
		Reps: 2, Engines: p})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Runs {
		if r.Error != "" || len(r.WallNS) != 2 {
			t.Errorf("%s under %s: %d timing runs, error %q", r.Guest, r.Strategy, len(r.WallNS), r.Error)
		}
	}
	if p.Opened != 1 || p.Reused != 4*2-1 {
		t.Errorf("timing pass opened %d engines and reused %d times, want 1 and %d", p.Opened, p.Reused, 4*2-1)
	}
}
