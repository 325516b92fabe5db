package experiments

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"virtsim/vmm"
)

// The plots of a results set. Each is drawn from Results alone (no run), so
// results.json can be re-plotted and tests render them from a fixture.

// Chart is one rendered plot: its file stem and a drawing function.
type Chart struct {
	Name  string // file stem: exits, overhead, breakdown, cumulative
	Title string
	W, H  vg.Length
	draw  func(dc draw.Canvas)
}

// Okabe–Ito colours: distinguishable with the common colour-vision
// deficiencies and in greyscale print.
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{230, 159, 0, 255},   // orange
	color.RGBA{0, 158, 115, 255},   // green
	color.RGBA{204, 121, 167, 255}, // purple
	color.RGBA{213, 94, 0, 255},    // vermillion
	color.RGBA{86, 180, 233, 255},  // sky blue
	color.RGBA{240, 228, 66, 255},  // yellow
	color.RGBA{0, 0, 0, 255},       // black
	color.RGBA{153, 153, 153, 255}, // grey
}

var strategyOrder = map[string]int{"native": 0, "trap": 1, "bt": 2, "pv": 3, "kvm": 4}

// strategies lists the strategies of res in canonical order.
func (res *Results) strategies() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range res.Runs {
		if !seen[r.Strategy] {
			seen[r.Strategy] = true
			out = append(out, r.Strategy)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		oi, iok := strategyOrder[out[i]]
		oj, jok := strategyOrder[out[j]]
		if iok && jok {
			return oi < oj
		}
		if iok != jok {
			return iok
		}
		return out[i] < out[j]
	})
	return out
}

// guests lists the workloads of res in first-appearance order.
func (res *Results) guests() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range res.Runs {
		if !seen[r.Guest] {
			seen[r.Guest] = true
			out = append(out, r.Guest)
		}
	}
	return out
}

func strategyColor(all []string, s string) color.Color {
	if i, ok := strategyOrder[s]; ok {
		return palette[i]
	}
	for i, n := range all {
		if n == s {
			return palette[(5+i)%len(palette)]
		}
	}
	return palette[len(palette)-1]
}

// strategyLegend labels a strategy in legends: the KVM flavour, pv's own image.
func (res *Results) strategyLegend(s string) string {
	for _, r := range res.Runs {
		if r.Strategy != s {
			continue
		}
		switch {
		case r.Flavour != "":
			return fmt.Sprintf("%s (%s)", s, r.Flavour)
		case r.Image == "pv":
			return s + " (own image)"
		}
		break
	}
	return s
}

// log10Ticks labels a log10-transformed axis with the untransformed
// values: 1, 10, 100, 1k, ...; an axis whose values are log10(x) + shift
// puts the label of x at log10(x) + shift.
type log10Ticks struct {
	suffix string
	shift  float64
}

func (t log10Ticks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	const eps = 1e-9 // a decade at the axis's end, shifted and back
	lo, hi := min-t.shift-eps, max-t.shift+eps
	for k := math.Floor(lo); k <= math.Ceil(hi); k++ {
		if k >= lo && k <= hi {
			ticks = append(ticks, plot.Tick{Value: k + t.shift, Label: humanPow10(k) + t.suffix})
		}
		for m := 2.0; m < 10 && k+math.Log10(m) < math.Ceil(hi); m++ {
			if v := k + math.Log10(m); v >= lo {
				ticks = append(ticks, plot.Tick{Value: v + t.shift})
			}
		}
	}
	return ticks
}

// logAxisEnds are the ends of a log10 axis over data from lo to hi (in
// log10 units) with a little room: each end at the next decade when it is
// near, else 0.3 decades (×2) beyond the data; the top at least 1 (×10).
func logAxisEnds(lo, hi float64) (min, max float64) {
	min = math.Max(math.Floor(lo-0.05), lo-0.3)
	max = math.Max(1, math.Min(math.Ceil(hi+0.05), hi+0.3))
	return min, max
}

// countTicks are gonum's default ticks labelled as counts: whole numbers,
// with k and M (2.5k, 1.2M) instead of 2500.00 or 1.2e+06.
type countTicks struct{}

func (countTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = humanCount(ticks[i].Value)
		}
	}
	return ticks
}

// humanCount prints a count compactly: 950, 2.5k, 40k, 1.2M.
func humanCount(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'g', 4, 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 4, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 4, 64) + "k"
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'g', 4, 64)
}

// exitsShift puts the exits plot's baseline at half an exit, so that a
// run with one exit has a bar (log10(1) = 0 would draw none, as for 0).
var exitsShift = math.Log10(2)

// exitsBar is the bar height of a count of exits on the exits plot.
func exitsBar(exits uint64) float64 {
	if exits == 0 {
		return 0
	}
	return math.Log10(float64(exits)) + exitsShift
}

func humanPow10(k float64) string {
	v := math.Pow(10, k)
	switch {
	case k >= 9:
		return fmt.Sprintf("%gG", v/1e9)
	case k >= 6:
		return fmt.Sprintf("%gM", v/1e6)
	case k >= 3:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}

// panel is a plot whose legend is drawn in a strip to its right, so it
// never hides data.
type panel struct {
	p      *plot.Plot
	leg    plot.Legend
	n      int // legend entries
	labels []string
	// Bars are sized when the panel is drawn, from the real plot width:
	// groups along x, bars per group (1 when stacked), the share of the
	// group spacing they fill.
	bars    []*plotter.BarChart
	groups  int
	grouped bool
	fill    float64
}

// sizeBars sets bar widths (and offsets of grouped bars) for a data area
// plotW wide.
func (pn *panel) sizeBars(plotW vg.Length) {
	if len(pn.bars) == 0 || pn.groups == 0 {
		return
	}
	per := 1
	if pn.grouped {
		per = len(pn.bars)
	}
	spacing := float64(plotW) / float64(pn.groups)
	width := vg.Length(math.Max(2, math.Min(float64(vg.Points(40)), pn.fill*spacing/float64(per))))
	for i, bc := range pn.bars {
		bc.Width = width
		if pn.grouped {
			bc.Offset = vg.Length(float64(i)-float64(per-1)/2) * width
		}
	}
}

func newPanel(title, x, y string) *panel {
	leg := plot.NewLegend()
	leg.TextStyle.Font.Size = vg.Points(10)
	leg.Top = true
	leg.Left = true
	leg.ThumbnailWidth = vg.Points(14)
	return &panel{p: newPlot(title, x, y), leg: leg}
}

func (pn *panel) add(label string, th plot.Thumbnailer) {
	pn.leg.Add(label, th)
	pn.n++
	pn.labels = append(pn.labels, label)
}

// legendWidth is the width of the legend strip.
func (pn *panel) legendWidth() vg.Length {
	if pn.n == 0 {
		return 0
	}
	var w vg.Length
	for _, l := range pn.labels {
		w = max(w, pn.leg.TextStyle.Width(l))
	}
	return w + pn.leg.ThumbnailWidth + vg.Points(16)
}

// draw draws the plot in dc less a legend strip of width lw (at least the
// panel's own), and the legend in that strip.
func (pn *panel) draw(dc draw.Canvas, lw vg.Length) {
	lw = max(lw, pn.legendWidth())
	w := dc.Max.X - dc.Min.X
	pn.sizeBars(w - lw - vg.Inch)
	pn.p.Draw(draw.Crop(dc, 0, -lw, 0, 0))
	if pn.n > 0 {
		lc := draw.Crop(dc, w-lw+vg.Points(8), 0, 0, -vg.Points(24))
		pn.leg.Draw(lc)
	}
}

// drawTiles draws panels in a grid with legend strips of one width.
func drawTiles(dc draw.Canvas, grid [][]*panel) {
	rows := len(grid)
	cols := 0
	var lw vg.Length
	for _, row := range grid {
		cols = max(cols, len(row))
		for _, pn := range row {
			if pn != nil {
				lw = max(lw, pn.legendWidth())
			}
		}
	}
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(16), PadY: vg.Points(16),
		PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(4)}
	for i, row := range grid {
		for j, pn := range row {
			if pn != nil {
				pn.draw(tiles.At(dc, j, i), lw)
			}
		}
	}
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.X.Label.TextStyle.Font.Size = vg.Points(12)
	p.Y.Label.TextStyle.Font.Size = vg.Points(12)
	p.X.Tick.Label.Font.Size = vg.Points(10)
	p.Y.Tick.Label.Font.Size = vg.Points(10)
	p.Add(plotter.NewGrid())
	return p
}

// groupedBars adds one bar series per strategy over the workloads.
func groupedBars(pn *panel, series []string, guests []string, value func(g, s string) (float64, bool), legend func(s string, plotted bool) string) error {
	p := pn.p
	if len(series) == 0 {
		return nil
	}
	// Bars of a group fill 80% of the space between group centres.
	pn.groups, pn.grouped, pn.fill = len(guests), true, 0.8
	for _, s := range series {
		vals := make(plotter.Values, len(guests))
		any := false
		for j, g := range guests {
			if v, ok := value(g, s); ok {
				vals[j] = v
				any = true
			}
		}
		bc, err := plotter.NewBarChart(vals, vg.Points(10))
		if err != nil {
			return fmt.Errorf("plot %s: %w", s, err)
		}
		bc.Color = strategyColor(series, s)
		bc.LineStyle.Width = vg.Points(0.5)
		pn.bars = append(pn.bars, bc)
		p.Add(bc)
		pn.add(legend(s, any), bc)
		// A cell with no value (the strategy did not run it: refused,
		// unavailable, failed) says so where its bar would stand, so that
		// it is not read as a bar of height zero.
		na := &naMarks{bar: bc, text: naTextStyle(p)}
		for j, g := range guests {
			if _, ok := value(g, s); !ok {
				na.at = append(na.at, j)
			}
		}
		if len(na.at) > 0 {
			p.Add(na)
		}
	}
	p.NominalX(guests...)
	p.X.Min, p.X.Max = -0.5, float64(len(guests))-0.5
	if len(guests) > 4 {
		p.X.Tick.Label.Rotation = math.Pi / 6
		p.X.Tick.Label.XAlign = draw.XRight
	}
	return nil
}

// ExitsChart: exits per workload per strategy, grouped bars, log scale.
func ExitsChart(res *Results) (*Chart, error) {
	pn := newPanel("Exits per workload and strategy", "workload", "exits (log scale; no bar = 0; n/a = did not run)")
	p := pn.p
	guests, strats := res.guests(), res.strategies()
	var top float64
	const w = 11 * vg.Inch
	err := groupedBars(pn, strats, guests, func(g, s string) (float64, bool) {
		r := res.Find(g, s)
		if r == nil || r.Error != "" {
			return 0, false
		}
		v := exitsBar(r.Exits)
		top = math.Max(top, v)
		return v, true
	}, func(s string, _ bool) string {
		lbl := res.strategyLegend(s)
		if s == "native" {
			lbl += ": no VMM, 0 exits"
		}
		return lbl
	})
	if err != nil {
		return nil, err
	}
	// A little room over the highest bar: to the next decade when it is
	// near, else 0.3 decades (×2).
	_, hi := logAxisEnds(0, top-exitsShift)
	p.Y.Min, p.Y.Max = 0, hi+exitsShift
	p.Y.Tick.Marker = log10Ticks{shift: exitsShift}
	return &Chart{Name: "exits", Title: p.Title.Text, W: w, H: 5 * vg.Inch, draw: func(dc draw.Canvas) { pn.draw(dc, 0) }}, nil
}

// OverheadChart: overhead vs native, measured (wall-time medians) and
// modeled (cost model), in two panels side by side on the same log scale.
func OverheadChart(res *Results) (*Chart, error) {
	guests := res.guests()
	var strats []string
	for _, s := range res.strategies() {
		if s != "native" {
			strats = append(strats, s)
		}
	}
	profile := ""
	if res.Profile != nil {
		profile = res.Profile.Name
	}
	mpn := newPanel("Measured: wall time / native's (median; whiskers: range over runs, red ! = noise)", "workload", "wall-time ratio to native (log scale)")
	lpn := newPanel(fmt.Sprintf("Modeled: cycles / native's (profile %s; < 1× = work avoided)", profile), "workload", "cycle ratio to native (log scale)")
	mp, lp := mpn.p, lpn.p
	const w = 16 * vg.Inch
	lo, hi := 0.0, 0.0
	val := func(measured bool) func(g, s string) (float64, bool) {
		return func(g, s string) (float64, bool) {
			r := res.Find(g, s)
			if r == nil {
				return 0, false
			}
			ratio := r.ModeledRatio
			if measured {
				ratio = r.MeasuredRatio
			}
			if ratio == nil || *ratio <= 0 {
				return 0, false
			}
			v := math.Log10(*ratio)
			lo, hi = math.Min(lo, v), math.Max(hi, v)
			return v, true
		}
	}
	legend := func(measured bool) func(s string, plotted bool) string {
		return func(s string, plotted bool) string {
			lbl := res.strategyLegend(s)
			if !plotted {
				timed := false
				for _, r := range res.Runs {
					if r.Strategy == s && measured && r.Substrate == "kvm" {
						return lbl + ": no native on its substrate"
					}
					timed = timed || (r.Strategy == s && r.Wall.N > 0)
				}
				if measured && !timed {
					return lbl + ": not timed (--reps 0)"
				}
				return lbl + ": not plotted"
			}
			return lbl
		}
	}
	if err := groupedBars(mpn, strats, guests, val(true), legend(true)); err != nil {
		return nil, err
	}
	if err := groupedBars(lpn, strats, guests, val(false), legend(false)); err != nil {
		return nil, err
	}
	anyCI := false
	for k, st := range strats {
		w := &whiskers{bar: mpn.bars[k], lo: make([]float64, len(guests)), hi: make([]float64, len(guests)), noisy: make([]bool, len(guests)),
			ciLo: make([]float64, len(guests)), ciHi: make([]float64, len(guests)),
			style: draw.LineStyle{Color: color.Black, Width: vg.Points(1)}}
		w.warnText = draw.TextStyle{Color: color.RGBA{200, 0, 0, 255}, Font: mp.X.Tick.Label.Font, XAlign: draw.XCenter, Handler: mp.X.Tick.Label.Handler}
		w.warnText.Font.Size = vg.Points(11)
		for j, g := range guests {
			w.lo[j], w.hi[j], w.ciLo[j], w.ciHi[j] = math.NaN(), math.NaN(), math.NaN(), math.NaN()
			r := res.Find(g, st)
			if r == nil || r.MeasuredRatio == nil {
				continue
			}
			if ci := r.MeasuredRatioCI; len(ci) == 2 && ci[0] > 0 {
				w.ciLo[j], w.ciHi[j], anyCI = math.Log10(ci[0]), math.Log10(ci[1]), true
			}
			if a, b, ok := res.ratioRange(r); ok && a > 0 {
				w.lo[j], w.hi[j] = math.Log10(a), math.Log10(b)
				lo, hi = math.Min(lo, w.lo[j]), math.Max(hi, w.hi[j])
			}
			w.noisy[j] = r.Wall.Noise != "" || res.nativeNoisy(r)
		}
		mp.Add(w)
	}
	if anyCI {
		mp.Title.Text = "Measured: wall time / native's (median; whiskers: range, thick: 95% CI, red !: noise)"
	}
	for _, p := range []*plot.Plot{mp, lp} {
		p.Y.Min, p.Y.Max = logAxisEnds(lo, hi)
		p.Y.Tick.Marker = log10Ticks{suffix: "×"}
		p.Add(plotter.NewFunction(func(float64) float64 { return 0 }))
	}
	return &Chart{Name: "overhead", Title: "Overhead vs native, measured and modeled", W: w, H: 5.5 * vg.Inch, draw: func(dc draw.Canvas) {
		drawTiles(dc, [][]*panel{{mpn, lpn}})
	}}, nil
}

// hsv converts a hue (degrees), saturation and value to a colour: the
// colours beyond the palette, spread by the golden angle so neighbours differ.
func hsv(h, s, v float64) color.Color {
	c := v * s
	x := c * (1 - math.Abs(math.Mod(h/60, 2)-1))
	m := v - c
	var r, g, b float64
	switch {
	case h < 60:
		r, g, b = c, x, 0
	case h < 120:
		r, g, b = x, c, 0
	case h < 180:
		r, g, b = 0, c, x
	case h < 240:
		r, g, b = 0, x, c
	case h < 300:
		r, g, b = x, 0, c
	default:
		r, g, b = c, 0, x
	}
	return color.RGBA{uint8((r + m) * 255), uint8((g + m) * 255), uint8((b + m) * 255), 255}
}

// causeClass groups causes for the breakdown: "io/out:0x80" → "io",
// "int/0x80" → "int"; the privileged instructions strategies differ on most
// keep classes of their own: the interrupt flag (cli, sti), iret, and the
// rest of priv/* together.
func causeClass(cause string) string {
	switch {
	case cause == "priv/cli" || cause == "priv/sti":
		return "priv/cli,sti"
	case cause == "priv/iret":
		return "priv/iret"
	case strings.HasPrefix(cause, "priv/"):
		return "priv/other"
	}
	if i := strings.IndexAny(cause, "/:"); i > 0 {
		return cause[:i]
	}
	return cause
}

// tint mixes c with white (f > 0) or black (f < 0): f = 0 keeps c, 1 is
// white, -1 black.
func tint(c color.Color, f float64) color.Color {
	f = math.Max(-1, math.Min(1, f))
	to := 255.0
	if f < 0 {
		to, f = 0, -f
	}
	r, g, b, _ := c.RGBA()
	mix := func(v uint32) uint8 { return uint8(math.Round(float64(v>>8)*(1-f) + to*f)) }
	return color.RGBA{mix(r), mix(g), mix(b), 255}
}

// mechShade is how a mechanism varies its cause class's colour in the
// breakdown (a tint: > 0 towards white, < 0 towards black), one value per
// mechanism, so a class and mechanism has the same colour in every panel;
// the mechanisms one strategy records together (machine with trap,
// callout and in-tc under bt; with hypercall, shared-info and trap under
// pv; with vmexit, kernel and emulation under kvm) differ.
var mechShade = map[vmm.Mechanism]float64{
	vmm.MechMachine: 0,
	vmm.MechTrap:    -0.25, vmm.MechKernel: -0.25,
	vmm.MechCallout: 0.3, vmm.MechHypercall: 0.3, vmm.MechVMExit: 0.3,
	vmm.MechInTC: -0.55, vmm.MechSharedInfo: -0.55, vmm.MechEmulation: -0.55,
}

// mechShadeDark replaces mechShade for a dark class colour (indigo,
// wine, green, blue), whose darker tints would look alike.
var mechShadeDark = map[vmm.Mechanism]float64{
	vmm.MechMachine: 0,
	vmm.MechTrap:    0.3, vmm.MechKernel: 0.3,
	vmm.MechCallout: 0.6, vmm.MechHypercall: 0.6, vmm.MechVMExit: 0.6,
	vmm.MechInTC: -0.45, vmm.MechSharedInfo: -0.45, vmm.MechEmulation: -0.45,
}

// mechShadeLight replaces mechShade for a light class colour (yellow,
// cyan), whose lighter tints would look alike.
var mechShadeLight = map[vmm.Mechanism]float64{
	vmm.MechMachine: 0,
	vmm.MechTrap:    -0.25, vmm.MechKernel: -0.25,
	vmm.MechCallout: -0.5, vmm.MechHypercall: -0.5, vmm.MechVMExit: -0.5,
	vmm.MechInTC: 0.45, vmm.MechSharedInfo: 0.45, vmm.MechEmulation: 0.45,
}

// shade is a class colour varied for mechanism m (unknown names: the
// colour itself).
func shade(base color.Color, m string) color.Color {
	mi, err := vmm.ParseMechanism(m)
	if err != nil {
		return base
	}
	r, g, b, _ := base.RGBA()
	switch luma := (0.299*float64(r>>8) + 0.587*float64(g>>8) + 0.114*float64(b>>8)) / 255; {
	case luma < 0.36:
		return tint(base, mechShadeDark[mi])
	case luma > 0.65:
		return tint(base, mechShadeLight[mi])
	}
	return tint(base, mechShade[mi])
}

// classColors are the breakdown's colours of the cause classes, the same
// in every figure virtsim draws: Okabe and Ito's colours and Paul Tol's
// muted ones, distinguishable with the common colour-vision deficiencies.
var classColors = map[string]color.Color{
	"exc":          color.RGBA{0, 114, 178, 255},   // blue
	"int":          color.RGBA{0, 158, 115, 255},   // bluish green
	"io":           color.RGBA{230, 159, 0, 255},   // orange
	"irq":          color.RGBA{240, 228, 66, 255},  // yellow
	"priv/cli,sti": color.RGBA{68, 170, 153, 255},  // teal
	"priv/iret":    color.RGBA{213, 94, 0, 255},    // vermillion
	"priv/other":   color.RGBA{204, 121, 167, 255}, // reddish purple
	"pf":           color.RGBA{51, 34, 136, 255},   // indigo
	"pt":           color.RGBA{153, 153, 51, 255},  // olive
	"hypercall":    color.RGBA{119, 119, 119, 255}, // grey
	"cpuid":        color.RGBA{136, 204, 238, 255}, // cyan
	"sens":         color.RGBA{238, 51, 119, 255},  // magenta
	"hlt":          color.RGBA{140, 81, 10, 255},   // brown
	"mmio":         color.RGBA{17, 119, 51, 255},   // green
	"irq-window":   color.RGBA{136, 34, 85, 255},   // wine
}

// breakdownColors gives every (cause class, mechanism) of res one colour,
// the same in every panel: the class's colour (classColors), varied by the
// mechanism (mechShade).
func breakdownColors(res *Results) map[[2]string]color.Color {
	mechs := map[string]map[string]bool{}
	for _, r := range res.Runs {
		for _, c := range r.Counts {
			cl := causeClass(c.Cause)
			if mechs[cl] == nil {
				mechs[cl] = map[string]bool{}
			}
			mechs[cl][c.Mechanism] = true
		}
	}
	var classes []string
	for c := range mechs {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	out := map[[2]string]color.Color{}
	extra := 0
	for _, cl := range classes {
		base, ok := classColors[cl]
		if !ok {
			// a class the table does not know: hues spread by the golden angle
			base = hsv(math.Mod(float64(extra)*137.508+320, 360), 0.75, 0.9)
			extra++
		}
		for m := range mechs[cl] {
			out[[2]string{cl, m}] = shade(base, m)
		}
	}
	return out
}

// BreakdownChart: for each strategy a panel of stacked bars, one per
// workload, splitting its events by cause class and mechanism (share of
// the run's events, so workloads of any size compare). A cause class and
// mechanism has one colour in every panel (breakdownColors); a workload
// the strategy did not run is marked n/a, one it ran without events "no
// events".
func BreakdownChart(res *Results) (*Chart, error) {
	guests, strats := res.guests(), res.strategies()
	colors := breakdownColors(res)
	type cat struct{ class, mech string }
	var plots []*panel
	const panelW = 8 * vg.Inch
	for _, s := range strats {
		pn := newPanel("Events under "+res.strategyLegend(s)+" by cause and mechanism", "workload", "share of the run's events (%)")
		p := pn.p
		pn.groups, pn.fill = len(guests), 0.6
		// The categories present in this panel, by class then mechanism.
		catSet := map[cat]bool{}
		for _, g := range guests {
			if r := res.Find(g, s); r != nil {
				for _, row := range r.Counts {
					catSet[cat{causeClass(row.Cause), row.Mechanism}] = true
				}
			}
		}
		var cats []cat
		for c := range catSet {
			cats = append(cats, c)
		}
		sort.Slice(cats, func(i, j int) bool {
			if cats[i].class != cats[j].class {
				return cats[i].class < cats[j].class
			}
			return cats[i].mech < cats[j].mech
		})
		var below *plotter.BarChart
		for _, c := range cats {
			vals := make(plotter.Values, len(guests))
			any := false
			for j, g := range guests {
				r := res.Find(g, s)
				if r == nil || r.Events == 0 {
					continue
				}
				var n uint64
				for _, row := range r.Counts {
					if causeClass(row.Cause) == c.class && row.Mechanism == c.mech {
						n += row.Count
					}
				}
				if n > 0 {
					vals[j] = 100 * float64(n) / float64(r.Events)
					any = true
				}
			}
			if !any {
				continue
			}
			bc, err := plotter.NewBarChart(vals, vg.Points(10))
			if err != nil {
				return nil, fmt.Errorf("breakdown plot: %w", err)
			}
			bc.Color = colors[[2]string{c.class, c.mech}]
			bc.LineStyle.Width = vg.Points(0.5)
			if below != nil {
				bc.StackOn(below)
			}
			below = bc
			pn.bars = append(pn.bars, bc)
			p.Add(bc)
			pn.add(c.class+" · "+c.mech, bc)
		}
		// An empty column says why it is empty.
		na := &naMarks{text: naTextStyle(p)}
		for j, g := range guests {
			switch r := res.Find(g, s); {
			case r == nil || r.Error != "":
				na.at, na.texts = append(na.at, j), append(na.texts, "n/a")
			case r.Events == 0:
				na.at, na.texts = append(na.at, j), append(na.texts, "no events")
			}
		}
		if len(na.at) > 0 {
			p.Add(na)
		}
		p.NominalX(guests...)
		p.X.Min, p.X.Max = -0.5, float64(len(guests))-0.5
		p.Y.Min, p.Y.Max = 0, 100
		p.X.Tick.Label.Rotation = math.Pi / 6
		p.X.Tick.Label.XAlign = draw.XRight
		plots = append(plots, pn)
	}
	cols := 2
	if len(plots) < 2 {
		cols = max(1, len(plots))
	}
	rows := (len(plots) + cols - 1) / cols
	grid := make([][]*panel, rows)
	for i := range grid {
		grid[i] = make([]*panel, cols)
		for j := range grid[i] {
			if k := i*cols + j; k < len(plots) {
				grid[i][j] = plots[k]
			}
		}
	}
	h := vg.Length(rows) * 5 * vg.Inch
	return &Chart{Name: "breakdown", Title: "Exit breakdown by cause and mechanism", W: vg.Length(cols) * panelW, H: max(h, 5*vg.Inch), draw: func(dc draw.Canvas) {
		drawTiles(dc, grid)
	}}, nil
}

// naMarks writes "n/a" (or texts[k] for at[k]) upward from the axis where
// a bar chart has no bar because the cell has no value, at the bar's own
// offset (bar nil: at the group's centre, as stacked bars stand).
type naMarks struct {
	bar   *plotter.BarChart
	at    []int
	texts []string
	text  draw.TextStyle
}

// naTextStyle is the style of n/a marks in p: small, grey, upright.
func naTextStyle(p *plot.Plot) draw.TextStyle {
	st := draw.TextStyle{Color: color.Gray{Y: 90}, Font: p.X.Tick.Label.Font,
		XAlign: draw.XLeft, YAlign: draw.YCenter, Rotation: math.Pi / 2, Handler: p.X.Tick.Label.Handler}
	st.Font.Size = vg.Points(8)
	return st
}

func (n *naMarks) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	var off vg.Length
	if n.bar != nil {
		off = n.bar.Offset
	}
	for k, i := range n.at {
		text := "n/a"
		if k < len(n.texts) {
			text = n.texts[k]
		}
		c.FillText(n.text, vg.Point{X: trX(float64(i)) + off, Y: trY(plt.Y.Min) + vg.Points(3)}, text)
	}
}

// whiskers draws a vertical range (with caps) over each bar of a grouped
// bar chart, at the bar's own offset, which is known only when the panel
// is drawn; a noisy range is drawn in red with a "!" above it.
type whiskers struct {
	bar      *plotter.BarChart
	lo, hi   []float64 // in the plot's (log10) units; NaN: none
	ciLo     []float64 // the 95% bootstrap interval, drawn as a thick bar; NaN: none
	ciHi     []float64
	noisy    []bool
	style    draw.LineStyle
	warnText draw.TextStyle
}

func (w *whiskers) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	cap := vg.Points(3)
	for i := range w.lo {
		if math.IsNaN(w.lo[i]) || math.IsNaN(w.hi[i]) {
			continue
		}
		x := trX(float64(i)) + w.bar.Offset
		y0, y1 := trY(w.lo[i]), trY(w.hi[i])
		st := w.style
		if w.noisy[i] {
			st.Color = color.RGBA{200, 0, 0, 255}
		}
		c.StrokeLine2(st, x, y0, x, y1)
		c.StrokeLine2(st, x-cap, y0, x+cap, y0)
		c.StrokeLine2(st, x-cap, y1, x+cap, y1)
		if i < len(w.ciLo) && !math.IsNaN(w.ciLo[i]) && !math.IsNaN(w.ciHi[i]) {
			ci := st
			ci.Width = 3 * st.Width
			c.StrokeLine2(ci, x, trY(w.ciLo[i]), x, trY(w.ciHi[i]))
		}
		if w.noisy[i] {
			c.FillText(w.warnText, vg.Point{X: x, Y: y1 + vg.Points(2)}, "!")
		}
	}
}

// CumulativeChart: cumulative exits over guest instructions, one line per
// strategy, from the traces of one workload.
func CumulativeChart(res *Results) (*Chart, error) {
	if len(res.Traces) == 0 {
		return nil, fmt.Errorf("cumulative plot: the results hold no trace (run bench with --trace-guest)")
	}
	g := res.Traces[0].Guest
	pn := newPanel("Cumulative exits over instructions executed: "+g, "instructions executed (bt: guest + translation cache)", "exits so far (count)")
	p := pn.p
	var all []string
	for _, t := range res.Traces {
		all = append(all, t.Strategy)
	}
	dashes := [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}, {vg.Points(8), vg.Points(2), vg.Points(2), vg.Points(2)}}
	var xMax, yMax float64
	for i, t := range res.Traces {
		if t.Guest != g {
			continue
		}
		// A step function: flat until each exit, then up by one.
		xy := plotter.XYs{{X: 0, Y: 0}}
		var prev uint64
		for _, pt := range t.Points {
			xy = append(xy, plotter.XY{X: float64(pt.Icount), Y: float64(prev)}, plotter.XY{X: float64(pt.Icount), Y: float64(pt.Exits)})
			prev = pt.Exits
		}
		xy = append(xy, plotter.XY{X: float64(t.Instructions), Y: float64(prev)})
		for _, pt := range xy {
			xMax, yMax = math.Max(xMax, pt.X), math.Max(yMax, pt.Y)
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, fmt.Errorf("cumulative plot: %w", err)
		}
		l.Color = strategyColor(all, t.Strategy)
		l.Width = vg.Points(2)
		l.Dashes = dashes[i%len(dashes)]
		p.Add(l)
		pn.add(fmt.Sprintf("%s (%d exits)", res.strategyLegend(t.Strategy), t.Exits), l)
	}
	// A strategy of the results without a line for this workload says why.
	traced := map[string]bool{}
	for _, t := range res.Traces {
		if t.Guest == g {
			traced[t.Strategy] = true
		}
	}
	for _, s := range res.strategies() {
		if traced[s] {
			continue
		}
		why := "no trace"
		if r := res.Find(g, s); r == nil || r.Error != "" {
			why = "did not run " + g
		}
		pn.add(res.strategyLegend(s)+": n/a, "+why, emptyThumb{})
	}
	// Axes that contain every series, with a margin above the highest.
	p.Y.Min, p.Y.Max = 0, math.Max(1, yMax*1.05)
	p.X.Min, p.X.Max = 0, math.Max(1, xMax)
	p.X.Tick.Marker, p.Y.Tick.Marker = countTicks{}, countTicks{}
	return &Chart{Name: "cumulative", Title: p.Title.Text, W: 10 * vg.Inch, H: 5 * vg.Inch, draw: func(dc draw.Canvas) { pn.draw(dc, 0) }}, nil
}

// emptyThumb is a legend entry with no line: a series that is not drawn.
type emptyThumb struct{}

func (emptyThumb) Thumbnail(*draw.Canvas) {}

// Figures builds every plot the results allow (the cumulative one needs a
// trace).
func Charts(res *Results) ([]*Chart, error) {
	var out []*Chart
	for _, f := range []func(*Results) (*Chart, error){ExitsChart, OverheadChart, BreakdownChart} {
		fig, err := f(res)
		if err != nil {
			return nil, err
		}
		out = append(out, fig)
	}
	if len(res.Traces) > 0 {
		fig, err := CumulativeChart(res)
		if err != nil {
			return nil, err
		}
		out = append(out, fig)
	}
	return out, nil
}

// SVG renders the figure as SVG (fonts referenced, not embedded: the
// output is byte-identical run to run).
func (f *Chart) SVG() ([]byte, error) {
	c := vgsvg.New(f.W, f.H)
	f.draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("plot %s: svg: %w", f.Name, err)
	}
	return b.Bytes(), nil
}

// PNG renders the figure as PNG at dpi.
func (f *Chart) PNG(dpi int) ([]byte, error) {
	c := vgimg.NewWith(vgimg.UseWH(f.W, f.H), vgimg.UseDPI(dpi), vgimg.UseBackgroundColor(color.White))
	f.draw(draw.New(c))
	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&b); err != nil {
		return nil, fmt.Errorf("plot %s: png: %w", f.Name, err)
	}
	return b.Bytes(), nil
}

// WritePlots renders every figure into dir as NAME.svg and NAME.png and
// returns the paths written.
func WritePlots(res *Results, dir string) ([]string, error) {
	figs, err := Charts(res)
	if err != nil {
		return nil, err
	}
	return WriteCharts(figs, dir)
}

// WriteCharts renders figures into dir as NAME.svg and NAME.png and returns
// the paths written.
func WriteCharts(figs []*Chart, dir string) ([]string, error) {
	var paths []string
	for _, f := range figs {
		svg, err := f.SVG()
		if err != nil {
			return paths, err
		}
		png, err := f.PNG(120)
		if err != nil {
			return paths, err
		}
		for ext, b := range map[string][]byte{".svg": svg, ".png": png} {
			p := filepath.Join(dir, f.Name+ext)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				return paths, fmt.Errorf("plot %s: %w", f.Name, err)
			}
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	return paths, nil
}
