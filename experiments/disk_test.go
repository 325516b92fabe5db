package experiments

import (
	"bytes"
	"strings"
	"testing"
)

// TestDiskLaws: under trap the emulated disk costs (263 + 264 + 263) / 3
// exits per sector moved and the ring none (4 notifications per run);
// native has no exits at all.
func TestDiskLaws(t *testing.T) {
	laws, skipped, err := DiskLaws([]string{"native", "trap", "zz-unavailable"}, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0], "zz-unavailable") {
		t.Errorf("skipped %q", skipped)
	}
	want := map[string]struct {
		perSector float64
		notify    uint64
	}{
		"native/ide": {0, 0}, "native/ring": {0, 4},
		"trap/ide": {790.0 / 3, 0}, "trap/ring": {0, 4},
	}
	if len(laws) != len(want) {
		t.Fatalf("%d laws, want %d", len(laws), len(want))
	}
	for _, l := range laws {
		w, ok := want[l.Strategy+"/"+l.Path]
		if !ok || l.ExitsPerSector != w.perSector || l.Notifications != w.notify {
			t.Errorf("%s/%s: %.3f exits/sector, %d notifications; want %+v", l.Strategy, l.Path, l.ExitsPerSector, l.Notifications, w)
		}
	}
	var b bytes.Buffer
	if err := WriteDiskLaws(&b, laws, 4); err != nil || !strings.Contains(b.String(), "263.33") || !strings.Contains(b.String(), "0.5143") {
		t.Errorf("table:\n%s (%v)", b.String(), err)
	}
	c, err := DiskLawsChart(laws)
	if err != nil {
		t.Fatal(err)
	}
	if svg, err := c.SVG(); err != nil || !bytes.Contains(svg, []byte("trap (ring: 4 notifications per run)")) {
		t.Errorf("chart: %v", err)
	}
	if _, _, err := DiskLaws([]string{"trap"}, 4, 4); err == nil {
		t.Error("n1 == n2 accepted")
	}
}
