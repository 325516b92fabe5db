package experiments

import (
	"bytes"
	"os"
	"path/filepath"
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
		"cumulative": {"Cumulative exits over instructions executed: io", "instructions executed (bt: guest + translation cache)", "exits so far", "trap (1035 exits)", "native (0 exits)"},
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
