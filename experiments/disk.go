package experiments

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"virtsim/guest"
	"virtsim/vmm"
)

// DiskLaw is the cost of the disk workload's I/O under one strategy
// through one disk path: exact, from two counting runs.
type DiskLaw struct {
	Strategy, Path string // Path: "ide" (emulated ATA, PIO) or "ring" (paravirtual)
	// ExitsPerSector is (exits(n2) - exits(n1)) / (3 (n2 - n1)): the
	// workload moves 3n sectors (read, write, read back), so this is the
	// per-sector law with boot, console and the fixed batches excluded.
	ExitsPerSector float64
	// Notifications is the ring's notifications in the n2 run (one per
	// batch: read, write, flush, read back), 0 for the ATA path.
	Notifications uint64
	// Exits is the total of the n2 run, by cause for the table.
	Exits  uint64
	Counts vmm.Counts
}

// diskPaths: which disk each strategy can use (pv runs the PV build,
// which has only the ring; kvm and the Unicorn strategies run the native
// build, which has both).
func diskPaths(s *vmm.Strategy) []string {
	if s.PV {
		return []string{"ring"}
	}
	return []string{"ide", "ring"}
}

// DiskLaws measures the per-sector exit law of both disk paths under each
// named strategy available here (unavailable ones are skipped and named in
// skipped), at n1 and n2 sectors per phase (1 <= n1 < n2 <= 64).
func DiskLaws(strategies []string, n1, n2 int) (laws []DiskLaw, skipped []string, err error) {
	if n1 < 1 || n2 <= n1 || n2 > 64 {
		return nil, nil, fmt.Errorf("experiments: disk laws: need 1 <= n1 < n2 <= 64, got %d, %d", n1, n2)
	}
	w, err := guest.Lookup("disk")
	if err != nil {
		return nil, nil, err
	}
	for _, name := range strategies {
		s, err := vmm.LookupStrategy(name)
		if err != nil {
			return nil, nil, err
		}
		if err := s.Available(); err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		img, err := w.LoadFor(s.PV, vmm.DefaultMemSize)
		if err != nil {
			return nil, nil, err
		}
		for _, path := range diskPaths(s) {
			ring := ""
			if path == "ring" && !s.PV {
				ring = " ring=1"
			}
			var res [2]*vmm.Result
			for i, n := range []int{n1, n2} {
				r, err := vmm.RunGuest(s, img, vmm.Config{Name: "disk", Args: fmt.Sprintf("n=%d%s", n, ring)}, false)
				if err != nil {
					return nil, nil, fmt.Errorf("experiments: disk under %s (%s): %w", name, path, err)
				}
				if r.Stop.Kind != vmm.StopExit || r.Stop.Status != 0 {
					return nil, nil, fmt.Errorf("experiments: disk under %s (%s): %s", name, path, r.Stop)
				}
				res[i] = r
			}
			law := DiskLaw{Strategy: name, Path: path, Exits: res[1].Exits, Counts: res[1].Counts,
				ExitsPerSector: (float64(res[1].Exits) - float64(res[0].Exits)) / float64(3*(n2-n1))}
			for k, c := range res[1].Counts {
				if k.Cause == "io/out:0xe8" || k.Cause == "hypercall/event_channel_op:send" {
					law.Notifications += c
				}
			}
			laws = append(laws, law)
		}
	}
	return laws, skipped, nil
}

// WriteDiskLaws prints the laws as a table.
func WriteDiskLaws(out io.Writer, laws []DiskLaw, n2 int) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "strategy\tdisk\texits/sector\texits/byte\tnotifications\texits (n=%d)\t\n", n2)
	for _, l := range laws {
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.4f\t%d\t%d\t\n", l.Strategy, l.Path, l.ExitsPerSector, l.ExitsPerSector/512, l.Notifications, l.Exits)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(out, strings.TrimSpace(`
exits/sector: (exits(n2) - exits(n1)) / 3(n2 - n1), exact; exits/byte: the same over 512. ide: per sector read 6 task-file
outs + 1 status in + the 256 words of rep insw (each an exit under trap, one callout under bt),
per sector written one more status in; ring: notifications, one per batch of up to 256 sectors.`))
	return err
}

// DiskLawsChart: exits per sector by disk path (groups) and strategy
// (bars), log scale; a path without exits per sector draws no bar.
func DiskLawsChart(laws []DiskLaw) (*Chart, error) {
	pn := newPanel("Exits per disk sector: emulated IDE (PIO) vs paravirtual ring", "disk path", "exits per sector (log scale; no bar = 0)")
	p := pn.p
	paths := []string{"ide", "ring"}
	var strats []string
	seen := map[string]bool{}
	for _, l := range laws {
		if !seen[l.Strategy] {
			seen[l.Strategy] = true
			strats = append(strats, l.Strategy)
		}
	}
	find := func(path, s string) (DiskLaw, bool) {
		for _, l := range laws {
			if l.Path == path && l.Strategy == s {
				return l, true
			}
		}
		return DiskLaw{}, false
	}
	var top float64
	err := groupedBars(pn, strats, paths, func(path, s string) (float64, bool) {
		l, ok := find(path, s)
		if !ok || l.ExitsPerSector < 1 {
			return 0, ok
		}
		v := math.Log10(l.ExitsPerSector)
		top = math.Max(top, v)
		return v, true
	}, func(s string, _ bool) string {
		lbl := s
		if l, ok := find("ring", s); ok {
			lbl += fmt.Sprintf(" (ring: %d notifications per run)", l.Notifications)
		}
		return lbl
	})
	if err != nil {
		return nil, err
	}
	p.Y.Min, p.Y.Max = 0, math.Max(1, math.Ceil(top+0.3))
	p.Y.Tick.Marker = log10Ticks{}
	return &Chart{Name: "disk-laws", Title: p.Title.Text, W: 8 * vg.Inch, H: 5 * vg.Inch, draw: func(dc draw.Canvas) { pn.draw(dc, 0) }}, nil
}
