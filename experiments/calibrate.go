package experiments

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"virtsim/guest"
	"virtsim/vmm"
)

// Calibration measures what events and instructions cost on this host, in
// virtsim itself: the time a strategy spends per exit of a mechanism and
// cause, and per guest instruction. Each figure is a difference between
// two iteration counts of a probe workload, so set-up, boot and the result
// line cancel out:
//
//	ns per event = (T(n2) − T(n1) − ΔI × ns per instruction) / ΔE
//
// where T is the median wall time of Reps timing runs (one at a time), ΔI
// the difference in guest instructions and ΔE in events (both exact, from
// counting passes), and ns per instruction comes from the compute probe
// (no events per iteration) under the same strategy. Costs are converted to
// cycles at the host clock (/proc/cpuinfo; 1 GHz when unknown, i.e. the
// figures are then nanoseconds) and written as a cost profile based on
// Base, so `--cost FILE` prices counts with this host's own costs.

// Probe is a workload that isolates some per-iteration events.
type Probe struct {
	Workload string
	N1, N2   uint64
}

// InstructionProbe is the one probe designated to measure the cost of a
// guest instruction (no events per iteration under any strategy). Every
// other probe measures events: under a strategy where it causes none (cli
// under native) it measures nothing and is reported as skipped, never
// taken for an instruction probe.
const InstructionProbe = "compute"

// DefaultProbes are the workloads calibrate runs. compute gives the cost
// of a guest instruction; the others one or two event kinds each.
var DefaultProbes = []Probe{
	{InstructionProbe, 100000, 600000},
	{"io", 1000, 6000},
	{"irq-toggle", 1000, 6000},
	{"syscall", 1000, 6000},
	{"divzero", 1000, 6000},
	{"cpuid", 1000, 6000},
}

// CalibrateOptions configure a calibration.
type CalibrateOptions struct {
	Strategies []string // empty: every available strategy
	Probes     []Probe  // empty: DefaultProbes
	Reps       int      // timing runs per point (default 5)
	Base       string   // profile the unmeasured entries come from (default DefaultProfile)
	MemSize    uint32
	TimeBudget time.Duration
	Progress   func(Progress)
}

// Measurement is one probe under one strategy.
type Measurement struct {
	Strategy string
	Probe    Probe
	T1, T2   Stats  // timing runs at N1 and N2
	DInsns   uint64 // guest instructions, N2 − N1
	// Rows are the (cause, mechanism) counts that grow with N (per ΔN).
	Rows []CountRow
	// NsPerInsn is set for the compute probe; NsPerEvent for the others.
	NsPerInsn  float64
	NsPerEvent float64
	Noisy      string // why the figure is unreliable, if it is
}

// Calibration is the outcome: the measurements and the cost profile.
type Calibration struct {
	Measurements []Measurement
	MHz          float64
	Profile      *Profile
	Skipped      []Skip
}

func (o CalibrateOptions) withDefaults() CalibrateOptions {
	if len(o.Probes) == 0 {
		o.Probes = DefaultProbes
	}
	if o.Reps <= 0 {
		o.Reps = 5
	}
	if o.Base == "" {
		o.Base = DefaultProfile
	}
	return o
}

// Calibrate runs the probes under each strategy and builds the host profile.
func Calibrate(o CalibrateOptions) (*Calibration, error) {
	o = o.withDefaults()
	base, err := LookupProfile(o.Base)
	if err != nil {
		return nil, err
	}
	ss, err := selectStrategies(o.Strategies)
	if err != nil {
		return nil, err
	}
	cal := &Calibration{MHz: HostMHz()}
	var strats []*vmm.Strategy
	for _, s := range ss {
		if err := s.Available(); err != nil {
			cal.Skipped = append(cal.Skipped, Skip{Strategy: s.Name, Reason: "strategy unavailable: " + err.Error()})
			continue
		}
		strats = append(strats, s)
	}
	type point struct {
		s     *vmm.Strategy
		probe Probe
		n     uint64
	}
	var pts []point
	for _, s := range strats {
		for _, p := range o.Probes {
			pts = append(pts, point{s, p, p.N1}, point{s, p, p.N2})
		}
	}
	total := len(pts) * (1 + o.Reps)
	done := 0
	step := func(label string) {
		done++
		if o.Progress != nil {
			o.Progress(Progress{"calibrate", done, total, label})
		}
	}
	mo := Options{MemSize: o.MemSize, TimeBudget: o.TimeBudget}
	type outcome struct {
		counted *vmm.Result
		walls   []int64
		err     error
	}
	outs := map[point]*outcome{}
	for _, pt := range pts {
		w, err := guest.Lookup(pt.probe.Workload)
		if err != nil {
			return nil, fmt.Errorf("calibrate: %w", err)
		}
		c := Cell{Workload: w, Args: fmt.Sprintf("n=%d", pt.n), Strategy: pt.s, Image: "native"}
		if pt.s.PV {
			c.Image = "pv"
			if len(w.PVImage) == 0 {
				outs[pt] = &outcome{err: fmt.Errorf("no paravirtual image of %s", w.Name)}
				step(fmt.Sprintf("%s n=%d under %s (skipped)", w.Name, pt.n, pt.s.Name))
				for r := 0; r < o.Reps; r++ {
					step("")
				}
				continue
			}
		}
		oc := &outcome{}
		outs[pt] = oc
		label := fmt.Sprintf("%s n=%d under %s", w.Name, pt.n, pt.s.Name)
		oc.counted, oc.err = CountCell(mo, c, false)
		step(label + " (counting)")
		for r := 0; r < o.Reps; r++ {
			if oc.err == nil {
				var d time.Duration
				d, oc.err = TimeCell(mo, c, oc.counted)
				oc.walls = append(oc.walls, d.Nanoseconds())
			}
			step(fmt.Sprintf("%s (timing %d/%d)", label, r+1, o.Reps))
		}
	}

	nsPerInsn := map[string]float64{}
	for _, s := range strats {
		for _, p := range o.Probes {
			a, b := outs[point{s, p, p.N1}], outs[point{s, p, p.N2}]
			if a.err != nil || b.err != nil {
				err := a.err
				if err == nil {
					err = b.err
				}
				cal.Skipped = append(cal.Skipped, Skip{Guest: p.Workload, Strategy: s.Name, Reason: err.Error()})
				continue
			}
			m := Measurement{Strategy: s.Name, Probe: p, T1: Summarize(a.walls), T2: Summarize(b.walls)}
			m.DInsns = b.counted.Instructions - a.counted.Instructions
			for _, k := range b.counted.Counts.Sorted() {
				if d := b.counted.Counts[k] - a.counted.Counts[k]; b.counted.Counts[k] > a.counted.Counts[k] && d > 0 {
					m.Rows = append(m.Rows, CountRow{k.Cause, k.Mech.String(), k.Mech.IsExit(), d})
				}
			}
			dt := float64(m.T2.Median - m.T1.Median)
			if sp := math.Max(m.T1.Spread(), m.T2.Spread()); sp > 0.25 {
				m.Noisy = fmt.Sprintf("repetitions spread %.0f%%", 100*sp)
			}
			var dev uint64
			for _, r := range m.Rows {
				dev += r.Count
			}
			switch {
			case p.Workload == InstructionProbe:
				if dev > 0 {
					cal.Skipped = append(cal.Skipped, Skip{Guest: p.Workload, Strategy: s.Name, Reason: "the instruction probe caused events that grow with n: not used"})
					continue
				}
				if m.DInsns > 0 {
					m.NsPerInsn = dt / float64(m.DInsns)
					nsPerInsn[s.Name] = m.NsPerInsn
				}
			case dev == 0:
				cal.Skipped = append(cal.Skipped, Skip{Guest: p.Workload, Strategy: s.Name, Reason: "no events grow with n under this strategy: nothing to measure (not an instruction probe)"})
				continue
			default:
				per := dt
				if ns, ok := nsPerInsn[s.Name]; ok {
					per -= ns * float64(m.DInsns)
				}
				m.NsPerEvent = per / float64(dev)
			}
			if dt <= 0 || m.NsPerEvent < 0 || m.NsPerInsn < 0 {
				m.Noisy = strings.TrimPrefix(m.Noisy+"; time did not grow with n", "; ")
				m.NsPerEvent, m.NsPerInsn = math.Max(0, m.NsPerEvent), math.Max(0, m.NsPerInsn)
			}
			cal.Measurements = append(cal.Measurements, m)
		}
	}
	cal.Profile = cal.profile(base, o.Reps)
	return cal, nil
}

// profile turns the measurements into a cost profile based on base.
func (cal *Calibration) profile(base *Profile, reps int) *Profile {
	ghz := cal.MHz / 1000
	unit := fmt.Sprintf("cycles at %.0f MHz", cal.MHz)
	if ghz <= 0 {
		ghz, unit = 1, "nanoseconds (host clock unknown)"
	}
	date := time.Now().UTC().Format("2006-01-02")
	host := cpuModel()
	o := &Profile{
		Name:     "host",
		ClockGHz: ghz,
		Description: fmt.Sprintf("costs measured on this host (%s) by virtsim calibrate on %s, in %s: what each mechanism costs in virtsim's own emulation of it; unmeasured entries (marked NOT MEASURED), nested_paging (the modeled VT-x column's) and the reference figures from %s, not measured here",
			host, date, unit, base.Name),
		Sources: []string{fmt.Sprintf("virtsim calibrate, %s, %s, median of %d timing runs per point", host, date, reps)},
	}
	perMech := map[string][]float64{}
	for _, m := range cal.Measurements {
		src := fmt.Sprintf("calibrated: %s under %s, n=%d vs n=%d, median of %d runs", m.Probe.Workload, m.Strategy, m.Probe.N1, m.Probe.N2, reps)
		if m.Noisy != "" {
			src += " (noisy: " + m.Noisy + ")"
		}
		if m.NsPerInsn > 0 && m.Strategy == "native" {
			o.CPI, o.CPISource = m.NsPerInsn*ghz, src
		}
		if len(m.Rows) == 0 {
			continue
		}
		for _, r := range m.Rows {
			o.Events = append(o.Events, EventCost{Mechanism: r.Mechanism, Cause: r.Cause, Cycles: round1(m.NsPerEvent * ghz), Source: src + "; the probe's per-iteration events share its time equally"})
			if r.Exit {
				perMech[r.Mechanism] = append(perMech[r.Mechanism], m.NsPerEvent*ghz)
			}
		}
	}
	// Merge same (mechanism, cause) measured by several probes: keep the first.
	seen := map[[2]string]bool{}
	var evs []EventCost
	for _, e := range o.Events {
		k := [2]string{e.Mechanism, e.Cause}
		if !seen[k] {
			seen[k] = true
			evs = append(evs, e)
		}
	}
	o.Events = evs
	// A port access the probes did not make (the UART's, the disk's) costs
	// what the measured one does under the same mechanism: the device term
	// is zeroed below, so without this every unmeasured port would cost
	// nothing under native (machine io/* is device work alone) and a trap
	// exit elsewhere, and ratios to native would count device emulation
	// under one strategy only.
	for _, e := range evs {
		k := [2]string{e.Mechanism, "io/*"}
		if strings.HasPrefix(e.Cause, "io/") && !seen[k] {
			seen[k] = true
			o.Events = append(o.Events, EventCost{Mechanism: e.Mechanism, Cause: "io/*", Cycles: e.Cycles,
				Source: "calibrated: any port access under " + e.Mechanism + " taken to cost what " + e.Cause + " did (" + strings.TrimPrefix(e.Source, "calibrated: ") + ")"})
		}
	}
	var mechs []string
	for m := range perMech {
		mechs = append(mechs, m)
	}
	sort.Strings(mechs)
	for _, m := range mechs {
		v := perMech[m]
		sort.Float64s(v)
		o.Events = append(o.Events, EventCost{Mechanism: m, Cause: "*", Cycles: round1(v[len(v)/2]),
			Source: "calibrated: median of this host's measured " + m + " exits"})
	}
	measured := map[[2]string]bool{}
	for _, e := range o.Events {
		measured[[2]string{e.Mechanism, e.Cause}] = true
	}
	mark := func(src string) string { return "NOT MEASURED on this host, from " + base.Name + ": " + src }
	p := base.Override(&Profile{})
	for i := range p.Events {
		if !measured[[2]string{p.Events[i].Mechanism, p.Events[i].Cause}] {
			p.Events[i].Source = mark(p.Events[i].Source)
		}
	}
	for i := range p.Devices {
		p.Devices[i].Source = mark(p.Devices[i].Source)
	}
	// A measured port access includes virtsim's device emulation: the
	// device term would count it twice.
	for _, e := range o.Events {
		if strings.HasPrefix(e.Cause, "io/") {
			o.Devices = []DeviceCost{{Cause: "io/*", Cycles: 0, Source: "calibrated: the measured port-access costs include virtsim's own device emulation"}}
			break
		}
	}
	for i := range p.Counters {
		p.Counters[i].Source = mark(p.Counters[i].Source)
	}
	if o.CPI <= 0 {
		p.CPISource = mark(p.CPISource)
	}
	p = p.Override(o)
	p.Name, p.Base = "host", ""
	return p
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// Format prints the measurements as a table.
func (cal *Calibration) Format() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "strategy\tprobe\tn1→n2\tT(n1) median\tT(n2) median\tspread\tevents growing with n\tns/insn\tns/event\tcycles/event\tnote")
	ghz := cal.MHz / 1000
	if ghz <= 0 {
		ghz = 1
	}
	for _, m := range cal.Measurements {
		var ev []string
		for _, r := range m.Rows {
			ev = append(ev, fmt.Sprintf("%s %s", r.Cause, r.Mechanism))
		}
		evs := strings.Join(ev, ", ")
		if evs == "" {
			evs = "none"
		}
		ins, per, cyc := "", "", ""
		if m.NsPerInsn > 0 {
			ins = fmt.Sprintf("%.3f", m.NsPerInsn)
		}
		if len(m.Rows) > 0 {
			per = fmt.Sprintf("%.0f", m.NsPerEvent)
			cyc = fmt.Sprintf("%.0f", m.NsPerEvent*ghz)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d→%d\t%s\t%s\t%.0f%%\t%s\t%s\t%s\t%s\t%s\n", m.Strategy, m.Probe.Workload, m.Probe.N1, m.Probe.N2,
			FormatDuration(m.T1.Median), FormatDuration(m.T2.Median), 100*math.Max(m.T1.Spread(), m.T2.Spread()), evs, ins, per, cyc, m.Noisy)
	}
	tw.Flush()
	for _, s := range cal.Skipped {
		what := s.Strategy
		if s.Guest != "" {
			what = s.Guest + " under " + s.Strategy
		}
		fmt.Fprintf(&b, "skipped %s: %s\n", what, s.Reason)
	}
	return b.String()
}
