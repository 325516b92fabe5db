package experiments

import (
	"bytes"
	"fmt"
	"image/color"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// Each plot is rendered from the committed fixture and compared byte for
// byte with its golden SVG (go test -update rewrites them; look at them).
func TestPlotsGolden(t *testing.T) {
	res := loadFixture(t)
	charts, err := Charts(res)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"exits", "overhead", "breakdown", "cumulative"}
	if len(charts) != len(want) {
		t.Fatalf("%d charts, want %d", len(charts), len(want))
	}
	for i, c := range charts {
		if c.Name != want[i] {
			t.Errorf("chart %d is %s, want %s", i, c.Name, want[i])
		}
		t.Run(c.Name, func(t *testing.T) {
			svg, err := c.SVG()
			if err != nil {
				t.Fatal(err)
			}
			again, err := c.SVG()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(svg, again) {
				t.Fatal("SVG output differs between two renderings")
			}
			path := filepath.Join("testdata", "golden", c.Name+".svg")
			if *update {
				if err := os.WriteFile(path, svg, 0o644); err != nil {
					t.Fatal(err)
				}
				png, err := c.PNG(96)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(os.TempDir(), "virtsim-"+c.Name+".png"), png, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(svg, golden) {
				t.Errorf("%s differs from the rendering (run go test ./experiments -update and review the plots)", path)
			}
		})
	}
}

// The plots carry titles, axis labels and legends a reader needs.
func TestPlotsLabelled(t *testing.T) {
	res := loadFixture(t)
	checks := map[string][]string{
		"exits":      {"Exits per workload and strategy", "workload", "exits (log scale", "native: no VMM, 0 exits", "kvm (pvm)", "pv (own image)", "1k"},
		"overhead":   {"Measured: wall time", "Modeled: cycles", "profile p4-2006", "kvm (pvm): no native on its substrate", "own image", "ratio to native (log scale)", "whiskers: range over runs", "work avoided"},
		"breakdown":  {"Events under trap by cause and mechanism", "Events under bt", "priv/cli,sti · in-tc", "io · callout", "share of the run"},
		"cumulative": {"Cumulative exits over instructions executed: io", "instructions executed (bt: guest + translation cache)", "exits so far", "trap (1035 exits)", "native (0 exits)", "pv (own image): n/a, no trace"},
	}
	charts, err := Charts(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range charts {
		svg, err := c.SVG()
		if err != nil {
			t.Fatal(err)
		}
		s := string(svg)
		for _, w := range checks[c.Name] {
			if !strings.Contains(s, w) {
				t.Errorf("%s.svg lacks %q", c.Name, w)
			}
		}
		png, err := c.PNG(72)
		if err != nil || len(png) < 1000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Errorf("%s.png: %d bytes, %v", c.Name, len(png), err)
		}
	}
}

func TestWritePlots(t *testing.T) {
	dir := t.TempDir()
	paths, err := WritePlots(loadFixture(t), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 8 {
		t.Errorf("wrote %v, want 4 plots × svg, png", paths)
	}
	res := loadFixture(t)
	res.Traces = nil
	if _, err := CumulativeChart(res); err == nil {
		t.Error("cumulative chart without a trace: no error")
	}
}

// A cause class and mechanism has one colour in every panel of the
// breakdown, and two mechanisms of a class never share one; a workload a
// strategy did not run is marked n/a in its panel.
func TestBreakdownColorsAndNA(t *testing.T) {
	res := loadFixture(t)
	colors := breakdownColors(res)
	// In each panel (strategy), no two classes and mechanisms alike.
	for _, s := range res.strategies() {
		seen := map[color.Color][2]string{}
		for _, r := range res.Runs {
			if r.Strategy != s {
				continue
			}
			for _, c := range r.Counts {
				k := [2]string{causeClass(c.Cause), c.Mechanism}
				col, ok := colors[k]
				if !ok {
					t.Fatalf("%v has no colour", k)
				}
				if other, dup := seen[col]; dup && other != k {
					t.Errorf("%s panel: %v and %v share a colour", s, other, k)
				}
				seen[col] = k
			}
		}
	}
	// The same results in another order give the same colours: they depend
	// on what the results hold, not on the panel being drawn.
	rev := *res
	rev.Runs = append([]Run(nil), res.Runs...)
	slices.Reverse(rev.Runs)
	if again := breakdownColors(&rev); !maps.EqualFunc(colors, again, func(a, b color.Color) bool { return a == b }) {
		t.Error("colours depend on the order of the runs")
	}
	c, err := BreakdownChart(res)
	if err != nil {
		t.Fatal(err)
	}
	svg, err := c.SVG()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(svg), ">n/a<"); n != 1 {
		t.Errorf("breakdown marks %d cells n/a, want 1 (pv did not run irq-toggle)", n)
	}
}

// The variants of every class colour differ visibly for the mechanisms
// one strategy records together, so that two mechanisms of a class in
// one panel never look alike.
func TestShadesDistinct(t *testing.T) {
	dist := func(a, b color.Color) float64 {
		ar, ag, ab, _ := a.RGBA()
		br, bg, bb, _ := b.RGBA()
		d := func(x, y uint32) float64 { return float64(int(x>>8) - int(y>>8)) }
		return math.Sqrt(d(ar, br)*d(ar, br) + d(ag, bg)*d(ag, bg) + d(ab, bb)*d(ab, bb))
	}
	var names []string
	for n := range classColors {
		names = append(names, n)
	}
	sort.Strings(names)
	var bases []color.Color
	for _, n := range names {
		bases = append(bases, classColors[n])
	}
	for i := 0; i < 8; i++ { // unknown classes' colours
		names = append(names, fmt.Sprintf("unknown class %d", i))
		bases = append(bases, hsv(math.Mod(float64(i)*137.508+320, 360), 0.75, 0.9))
	}
	together := [][]string{
		{"machine", "trap"}, {"machine", "trap", "callout", "in-tc"},
		{"machine", "trap", "hypercall", "shared-info"}, {"machine", "vmexit", "kernel", "emulation"},
	}
	for i, base := range bases {
		for _, ms := range together {
			for j := range ms {
				for k := j + 1; k < len(ms); k++ {
					if d := dist(shade(base, ms[j]), shade(base, ms[k])); d < 40 {
						t.Errorf("%s: %s and %s are %.0f apart", names[i], ms[j], ms[k], d)
					}
				}
			}
		}
	}
}

// One exit has a bar on the exits plot (no bar means 0), and the axis
// labels stand where their counts' bars end.
func TestExitsBar(t *testing.T) {
	if exitsBar(0) != 0 || exitsBar(1) <= 0 || exitsBar(10) <= exitsBar(1) {
		t.Errorf("bars 0: %g, 1: %g, 10: %g", exitsBar(0), exitsBar(1), exitsBar(10))
	}
	at := map[string]float64{}
	for _, tk := range (log10Ticks{shift: exitsShift}).Ticks(0, exitsBar(20000)) {
		if tk.Label != "" {
			at[tk.Label] = tk.Value
		}
	}
	for label, n := range map[string]uint64{"1": 1, "10": 10, "1k": 1000, "10k": 10000} {
		if v, ok := at[label]; !ok || math.Abs(v-exitsBar(n)) > 1e-9 {
			t.Errorf("tick %q at %g (present %v), bar of %d ends at %g", label, v, ok, n, exitsBar(n))
		}
	}
	if _, ok := at["100k"]; ok {
		t.Error("a tick above the axis")
	}
}

// Log axes hold their data with a little room: the next decade when it is
// near, else a factor 2.
func TestLogAxisEnds(t *testing.T) {
	for _, c := range []struct{ lo, hi, min, max float64 }{
		{math.Log10(0.044), math.Log10(104), math.Log10(0.044) - 0.3, math.Log10(104) + 0.3}, // ptemod's 104×: not up to 1000×
		{math.Log10(0.12), math.Log10(80), -1, 2},                                            // near decades: to them
		{0, 0.2, -0.3, 1},
	} {
		min, max := logAxisEnds(c.lo, c.hi)
		if math.Abs(min-c.min) > 1e-9 || math.Abs(max-c.max) > 1e-9 || min > c.lo || max < c.hi {
			t.Errorf("data %g..%g: axis %g..%g, want %g..%g", c.lo, c.hi, min, max, c.min, c.max)
		}
	}
}

func TestHumanCount(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 950: "950", 2500: "2.5k", 40000: "40k", 1.2e6: "1.2M", 3e9: "3G", 0.5: "0.5"} {
		if got := humanCount(v); got != want {
			t.Errorf("humanCount(%g) = %q, want %q", v, got, want)
		}
	}
}

// A counting-only bench (--reps 0) says why the measured panel is empty.
func TestOverheadNotTimed(t *testing.T) {
	res := loadFixture(t)
	for i := range res.Runs {
		res.Runs[i].WallNS, res.Runs[i].Wall = nil, Stats{}
	}
	res.Ratios()
	c, err := OverheadChart(res)
	if err != nil {
		t.Fatal(err)
	}
	svg, err := c.SVG()
	if err != nil || !strings.Contains(string(svg), "trap: not timed (--reps 0)") {
		t.Errorf("the measured panel does not say it was not timed (%v)", err)
	}
}
