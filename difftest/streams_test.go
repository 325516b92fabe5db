package difftest

import (
	"flag"
	"testing"

	"virtsim/internal/qemu"
)

var (
	nStreams = flag.Int("streams", 30, "TestStreams: streams per family")
	seed0    = flag.Int64("seed", 0, "TestStreams: the first seed")
)

// TestStreams is the differential test CI runs: -streams random streams of
// every family (30 by default: 240 in all), batched into one guest per
// family, under QEMU and every strategy. Every divergence must be a
// documented one (Rules); others are shrunk to a minimal reproducer and
// fail the test.
func TestStreams(t *testing.T) {
	if err := ToolsAvailable(); err != nil {
		t.Skip(err)
	}
	withQEMU := qemu.Available() == nil
	if !withQEMU {
		t.Logf("comparing strategies with native only: %v", qemu.ErrUnavailable)
	}
	for _, f := range Families {
		t.Run(string(f), func(t *testing.T) {
			var ss []Stream
			for i := 0; i < *nStreams; i++ {
				ss = append(ss, Generate(f, *seed0+int64(i), 16))
			}
			divs, err := Compare(ss, withQEMU)
			if err != nil {
				t.Fatal(err)
			}
			known := map[string]int{}
			for _, d := range divs {
				if d.Known != nil {
					known[d.Known.Name]++
					continue
				}
				if _, err := Shrink(&d); err != nil {
					t.Fatal(err)
				}
				if d.Known != nil {
					known[d.Known.Name]++
					continue
				}
				t.Errorf("divergence:\n%s", d)
			}
			t.Logf("%d streams: documented differences %v", len(ss), known)
		})
	}
}
