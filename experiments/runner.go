package experiments

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"virtsim/guest"
	"virtsim/vmm"
	"virtsim/vmm/unicorn"
)

// Options describe a matrix of workloads × strategies × repetitions.
type Options struct {
	// Guests names the workloads (empty: the whole catalogue, or only
	// Images when there are some).
	Guests []string
	// Images are workloads from image files (--image): run besides Guests.
	// They have no paravirtual build, so PV strategies skip them.
	Images []guest.Workload
	// Strategies names the strategies (empty: every registered one).
	Strategies []string
	// Args, if set, is the command line of every workload (else each
	// workload's DefaultArgs, scaled by Scale).
	Args string
	// GuestArgs sets the command line of individual workloads (a suite's
	// presets); it wins over Args.
	GuestArgs map[string]string
	// Scale multiplies the n= of each workload's default arguments
	// (0 or 1: unchanged).
	Scale float64
	// Reps is the number of timing runs per cell (0: counting only).
	Reps int
	// Workers is the number of counting passes run at once (default 2).
	// Timing runs are always made one at a time.
	Workers int
	// MemSize, InsnBudget and TimeBudget go into every vmm.Config.
	MemSize    uint32
	InsnBudget uint64
	TimeBudget time.Duration
	// Input and UntilOutput go into every vmm.Config too: a scripted
	// session typed on the guest's serial port, and the text that ends it
	// (a macro benchmark of a kernel that never powers off: xv6).
	Input       []byte
	UntilOutput string
	// Profile prices every run (default: the built-in DefaultProfile).
	Profile *Profile
	// TraceGuest keeps the event trace of this workload's counting passes
	// and turns it into cumulative-exit series (empty: no trace).
	TraceGuest string
	// Progress, if set, is told about every finished step.
	Progress func(Progress) // called once at a time (never concurrently), in order
	// Engines lends timing runs their Unicorn engine (nil: each opens
	// its own). Matrix sets one for its timing pass, so the pass reuses
	// one engine, recycled between runs, instead of opening one per run;
	// counting passes always open their own.
	Engines *unicorn.Pool
}

// Progress reports how far a matrix run is.
type Progress struct {
	Phase string // "count" or "time"
	Done  int    // steps finished, over both phases
	Total int
	Label string // "io under trap", "io under trap rep 2/3"
}

// Cell is one (workload, strategy) entry of a matrix.
type Cell struct {
	Workload guest.Workload
	Args     string
	Strategy *vmm.Strategy
	// Image is "native" or "pv" (the workload's paravirtual build).
	Image string
	// Skip says why the cell is not run (empty: it runs).
	Skip string
}

// ScaleArgs multiplies the n= field of a command line by f, keeping at
// least 1.
func ScaleArgs(args string, f float64) string {
	if f <= 0 || f == 1 {
		return args
	}
	fields := strings.Fields(args)
	for i, w := range fields {
		k, v, ok := strings.Cut(w, "=")
		if !ok || (k != "n" && k != "k") {
			continue
		}
		n, err := strconv.ParseUint(v, 0, 64)
		if err != nil {
			continue
		}
		m := uint64(float64(n)*f + 0.5)
		if m < 1 {
			m = 1
		}
		fields[i] = fmt.Sprintf("%s=%d", k, m)
	}
	return strings.Join(fields, " ")
}

// selectWorkloads resolves names against the catalogue (all if empty
// and there are no images) and adds the image workloads.
func selectWorkloads(names []string, images []guest.Workload) ([]guest.Workload, error) {
	var out []guest.Workload
	if len(names) == 0 && len(images) == 0 {
		for _, w := range guest.Catalog() {
			if len(w.Image) > 0 {
				out = append(out, w)
			}
		}
		return out, nil
	}
	for _, n := range names {
		if w, ok := FindImage(images, n); ok {
			out = append(out, w)
			continue
		}
		w, err := guest.Lookup(n)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	for _, w := range images {
		if !contains(names, w.Name) || len(names) == 0 {
			out = append(out, w)
		}
	}
	return out, nil
}

// FindImage returns the image workload (--image) called name.
func FindImage(images []guest.Workload, name string) (guest.Workload, bool) {
	for _, w := range images {
		if w.Name == name {
			return w, true
		}
	}
	return guest.Workload{}, false
}

// selectStrategies resolves names against the registry (all if empty).
func selectStrategies(names []string) ([]*vmm.Strategy, error) {
	if len(names) == 0 {
		return vmm.Strategies(), nil
	}
	var out []*vmm.Strategy
	for _, n := range names {
		s, err := vmm.LookupStrategy(n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// PagingStrategies are the strategies that run workloads which turn paging
// on (guest.Workload.Paging): native (the machine pages as the CPU does),
// trap and bt (shadow page tables), pv (direct paging) and kvm (the
// hardware or PVM's shadow MMU). A strategy not listed has its paging cells
// skipped with that reason.
var PagingStrategies = map[string]bool{"native": true, "trap": true, "bt": true, "pv": true, "kvm": true}

// Plan enumerates the cells of a matrix, marking those that cannot run
// here (strategy unavailable, no paravirtual image) with their reason.
func Plan(o Options) ([]Cell, error) {
	ws, err := selectWorkloads(o.Guests, o.Images)
	if err != nil {
		return nil, err
	}
	ss, err := selectStrategies(o.Strategies)
	if err != nil {
		return nil, err
	}
	avail := map[string]string{}
	for _, s := range ss {
		if err := s.Available(); err != nil {
			avail[s.Name] = "strategy unavailable: " + err.Error()
		}
	}
	var cells []Cell
	for _, w := range ws {
		args := ScaleArgs(w.DefaultArgs, o.Scale)
		if o.Args != "" {
			args = o.Args
		}
		if a, ok := o.GuestArgs[w.Name]; ok {
			args = a
		}
		for _, s := range ss {
			c := Cell{Workload: w, Args: args, Strategy: s, Image: "native", Skip: avail[s.Name]}
			if c.Skip == "" && w.Paging && !PagingStrategies[s.Name] {
				c.Skip = s.Name + " does not virtualize paging yet: " + w.Name + " turns paging on"
			}
			if why, refused := w.Refused[s.Name]; c.Skip == "" && refused {
				c.Skip = s.Name + " refuses " + w.Name + ": " + why
			}
			if s.PV {
				c.Image = "pv"
				if c.Skip == "" && len(w.PVImage) == 0 {
					c.Skip = "no paravirtual image of " + w.Name
				}
			}
			cells = append(cells, c)
		}
	}
	return cells, nil
}

// LoadCellImage loads the image a cell runs (the PV build for PV strategies).
func LoadCellImage(c Cell, mem uint32) (*guest.Image, error) {
	if mem == 0 {
		mem = vmm.DefaultMemSize
	}
	// Workload.LoadFor attaches the workload's default disk to either
	// build (the PV one once went without: disk pinned exit 1 under pv).
	return c.Workload.LoadFor(c.Image == "pv", mem)
}

func (o Options) config(c Cell) vmm.Config {
	return vmm.Config{
		Name: c.Workload.Name, Args: c.Args, MemSize: o.MemSize,
		InsnBudget: o.InsnBudget, TimeBudget: o.TimeBudget,
		Input: o.Input, UntilOutput: o.UntilOutput,
	}
}

// runOnce boots one instance and runs it to the end.
func runOnce(s *vmm.Strategy, img *guest.Image, cfg vmm.Config) (*vmm.Result, error) {
	inst, err := s.New(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s under %s: %w", cfg.Name, s.Name, err)
	}
	res, err := vmm.RunToEnd(inst)
	if err != nil {
		return res, fmt.Errorf("%s under %s: %w", cfg.Name, s.Name, err)
	}
	return res, nil
}

// CountCell makes a cell's counting pass (exact instruction count, every
// event; the trace too if trace is set).
func CountCell(o Options, c Cell, trace bool) (*vmm.Result, error) {
	img, err := LoadCellImage(c, o.MemSize)
	if err != nil {
		return nil, err
	}
	cfg := o.config(c)
	cfg.Count, cfg.Trace = true, trace
	return runOnce(c.Strategy, img, cfg)
}

// TimeCell makes one uninstrumented timing run of a cell and checks it
// against the counting pass: on a deterministic substrate (Unicorn) the stop
// and every count must agree.
func TimeCell(o Options, c Cell, counted *vmm.Result) (time.Duration, error) {
	img, err := LoadCellImage(c, o.MemSize)
	if err != nil {
		return 0, err
	}
	cfg := o.config(c)
	cfg.Engines = o.Engines
	t, err := runOnce(c.Strategy, img, cfg)
	if err != nil {
		return 0, fmt.Errorf("timing run: %w", err)
	}
	if counted != nil && c.Strategy.Substrate != "kvm" && !vmm.SameOutcome(counted, t) {
		return t.Wall, fmt.Errorf("%s under %s is not deterministic: the counting pass ended %q with %d events, a timing run %q with %d: %w",
			c.Workload.Name, c.Strategy.Name, counted.Stop, counted.Counts.Total(), t.Stop, t.Counts.Total(), ErrNotDeterministic)
	}
	return t.Wall, nil
}

// ErrNotDeterministic marks a timing run whose counts differ from the
// counting pass on a deterministic substrate.
var ErrNotDeterministic = errors.New("counts not deterministic")

// Matrix runs every cell: counting passes first, up to Workers at once,
// then Reps rounds of timing runs, strictly one at a time (a round visits
// every cell once, so slow drift of the host spreads over all cells). It
// returns the results (without provenance, which the caller adds) and an
// error only for a bad plan; per-run failures are recorded in the runs.
func Matrix(o Options) (*Results, error) {
	if o.Profile == nil {
		p, err := LookupProfile(DefaultProfile)
		if err != nil {
			return nil, err
		}
		o.Profile = p
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	cells, err := Plan(o)
	if err != nil {
		return nil, err
	}
	var runCells []int
	res := &Results{SchemaVersion: SchemaVersion, Profile: o.Profile}
	for i, c := range cells {
		if c.Skip != "" {
			res.Skipped = append(res.Skipped, Skip{Guest: c.Workload.Name, Args: c.Args, Strategy: c.Strategy.Name, Reason: c.Skip})
			continue
		}
		runCells = append(runCells, i)
	}
	total := len(runCells) * (1 + o.Reps)
	var mu sync.Mutex
	done := 0
	// Progress is reported under the lock: callers (a progress bar, a
	// test) get one call at a time, in order, from whichever worker.
	report := func(phase, label string) {
		mu.Lock()
		defer mu.Unlock()
		done++
		if o.Progress != nil {
			o.Progress(Progress{phase, done, total, label})
		}
	}

	counted := make([]*vmm.Result, len(cells))
	errs := make([]error, len(cells))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < o.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				c := cells[i]
				counted[i], errs[i] = CountCell(o, c, c.Workload.Name == o.TraceGuest)
				report("count", fmt.Sprintf("%s under %s", c.Workload.Name, c.Strategy.Name))
			}
		}()
	}
	for _, i := range runCells {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	walls := make([][]time.Duration, len(cells))
	if o.Engines == nil && o.Reps > 0 {
		o.Engines = &unicorn.Pool{}
		defer o.Engines.Close()
	}
	for rep := 0; rep < o.Reps; rep++ {
		for _, i := range runCells {
			c := cells[i]
			label := fmt.Sprintf("%s under %s rep %d/%d", c.Workload.Name, c.Strategy.Name, rep+1, o.Reps)
			if errs[i] != nil || counted[i] == nil || counted[i].Stop.Kind != vmm.StopExit {
				report("time", label)
				continue
			}
			d, err := TimeCell(o, c, counted[i])
			if err != nil {
				errs[i] = err
			} else {
				walls[i] = append(walls[i], d)
			}
			report("time", label)
		}
	}

	// The guest program's instructions: a strategy that counts none (kvm)
	// or whose count includes its own code (bt: the TC's lookups and
	// in-TC emulation) takes them from native's counting pass of the same
	// image and arguments: the guest program is the same, only the machine
	// underneath differs.
	nativeInsns := map[[2]string]uint64{}
	for _, i := range runCells {
		if c := cells[i]; c.Strategy.Name == "native" && counted[i] != nil && errs[i] == nil {
			nativeInsns[[2]string{c.Workload.Name, c.Args}] = counted[i].Instructions
		}
	}
	// Without native in the matrix (--strategies bt), its counting pass
	// is made for those counts alone (no run of the results): else bt's
	// count, translation cache included, would pass for the guest's.
	for _, i := range runCells {
		c := cells[i]
		k := [2]string{c.Workload.Name, c.Args}
		if _, ok := nativeInsns[k]; ok || counted[i] == nil || errs[i] != nil || c.Image != "native" {
			continue
		}
		if r := NewRun(c, counted[i], nil, nil); !r.needsNativeInstructions() {
			continue
		}
		nat, err := vmm.LookupStrategy("native")
		if err != nil || nat.Available() != nil {
			continue
		}
		nc := c
		nc.Strategy = nat
		if n, err := CountCell(o, nc, false); err == nil {
			nativeInsns[k] = n.Instructions
		}
	}
	for _, i := range runCells {
		c := cells[i]
		r := NewRun(c, counted[i], walls[i], nil)
		if n, ok := nativeInsns[[2]string{c.Workload.Name, c.Args}]; ok && counted[i] != nil && c.Image == "native" && r.needsNativeInstructions() {
			r.GuestInstructions, r.GuestInstructionsFrom = n, "native"
			if r.Instructions > n {
				r.OverheadInstructions = r.Instructions - n
			}
		}
		if counted[i] != nil {
			m := o.Profile.ModelCounts(r.ModelInput())
			r.Modeled = &m
		}
		if errs[i] != nil {
			r.Error = errs[i].Error()
		}
		if c.Workload.Name == o.TraceGuest && counted[i] != nil {
			res.Traces = append(res.Traces, CumulativeExits(c.Workload.Name, c.Strategy.Name, counted[i].Trace, counted[i].Instructions, 400))
		}
		res.Runs = append(res.Runs, r)
	}
	ModelHardwareKVM(res.Runs, o.Profile)
	res.Ratios()
	return res, nil
}

// NewRun turns a counting pass and its timing runs into a Run row.
func NewRun(c Cell, counted *vmm.Result, walls []time.Duration, p *Profile) Run {
	r := Run{
		Guest: c.Workload.Name, Args: c.Args, Strategy: c.Strategy.Name,
		Substrate: c.Strategy.Substrate, Image: c.Image,
	}
	if counted == nil {
		return r
	}
	r.Flavour = counted.Flavour
	r.Stop = counted.Stop.Kind.String()
	r.Status = counted.Stop.Status
	r.StopReason = counted.Stop.Reason
	r.Instructions = counted.Instructions
	r.GuestInstructions = counted.Instructions
	r.TCInstructions = counted.Counters[CounterTCInsns]
	r.Exits = counted.Counts.Exits()
	r.Events = counted.Counts.Total()
	for _, k := range counted.Counts.Sorted() {
		r.Counts = append(r.Counts, CountRow{k.Cause, k.Mech.String(), k.Mech.IsExit(), counted.Counts[k]})
	}
	if len(counted.Counters) > 0 {
		r.Counters = map[string]uint64{}
		for k, v := range counted.Counters {
			r.Counters[k] = v
		}
	}
	r.Notes = append(r.Notes, counted.Notes...)
	for _, w := range walls {
		r.WallNS = append(r.WallNS, w.Nanoseconds())
	}
	r.Wall = Summarize(r.WallNS)
	if p != nil {
		m := p.ModelCounts(r.ModelInput())
		r.Modeled = &m
	}
	return r
}

// guestInstructions is the guest program's own count: GuestInstructions,
// or Instructions in results made before guest_instructions existed.
func (r *Run) guestInstructions() uint64 {
	if r.GuestInstructions == 0 {
		return r.Instructions
	}
	return r.GuestInstructions
}

// needsNativeInstructions: the run counted no guest instructions (kvm) or
// counted its translation's code with them (bt).
func (r *Run) needsNativeInstructions() bool {
	return r.Instructions == 0 || r.TCInstructions > 0
}

// ModelInput is what the model prices for this run: its guest and
// overhead instructions, counts and counters.
func (r *Run) ModelInput() ModelInput {
	counts := vmm.Counts{}
	for _, c := range r.Counts {
		m, err := vmm.ParseMechanism(c.Mechanism)
		if err != nil {
			continue // results written by this package hold known mechanisms only
		}
		counts[vmm.Key{Cause: c.Cause, Mech: m}] += c.Count
	}
	return ModelInput{GuestInstructions: r.GuestInstructions, OverheadInstructions: r.OverheadInstructions, Counts: counts, Counters: r.Counters}
}

// Stats summarises repeated measurements: the median, the range, a 95%
// bootstrap interval of the median when there are enough runs, and a
// verdict when the figure is noise.
type Stats struct {
	N      int   `json:"n"`
	Median int64 `json:"median_ns"`
	Min    int64 `json:"min_ns"`
	Max    int64 `json:"max_ns"`
	// CILow and CIHigh bound the median (95%, percentile bootstrap of
	// BootstrapResamples resamples with a fixed seed, so the same runs give
	// the same interval); 0 when N < BootstrapMinN.
	CILow  int64 `json:"ci_low_ns,omitempty"`
	CIHigh int64 `json:"ci_high_ns,omitempty"`
	// Noise says why the figure should not be trusted ("" when it can):
	// the runs spread by more than NoiseSpread of the median, too few ran, or
	// they are shorter than NoiseMinWall.
	Noise string `json:"noise,omitempty"`
}

// Thresholds of Stats.
const (
	BootstrapMinN      = 5
	BootstrapResamples = 2000
	NoiseSpread        = 0.25 // (max − min) / median
	NoiseMinN          = 3
	// NoiseMinWall: a run shorter than this is dominated by the clock's
	// granularity, start-up and scheduler jitter, whatever its spread.
	NoiseMinWall = int64(time.Millisecond)
)

// Spread is (max-min)/median, the relative spread of the repetitions.
func (s Stats) Spread() float64 {
	if s.Median == 0 {
		return 0
	}
	return float64(s.Max-s.Min) / float64(s.Median)
}

func median(s []int64) int64 {
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return med
}

// bootstrap is the 95% percentile interval of stat over
// BootstrapResamples resamples: stat computes its figure from medians of
// resamples, which rs draws (with replacement) from the runs it is given.
func bootstrap(rng *rand.Rand, stat func(rs func([]int64) int64) float64) (lo, hi float64) {
	var buf []int64
	rs := func(s []int64) int64 {
		buf = buf[:0]
		for range s {
			buf = append(buf, s[rng.IntN(len(s))])
		}
		slices.Sort(buf)
		return median(buf)
	}
	vals := make([]float64, BootstrapResamples)
	for i := range vals {
		vals[i] = stat(rs)
	}
	slices.Sort(vals)
	return vals[BootstrapResamples*25/1000], vals[BootstrapResamples*975/1000-1]
}

// RatioCI is the 95% percentile-bootstrap interval of median(a) /
// median(b), each side resampled on its own (fixed seed); ok is false when
// either has fewer than BootstrapMinN runs or a zero median.
func RatioCI(a, b []int64) (lo, hi float64, ok bool) {
	if len(a) < BootstrapMinN || len(b) < BootstrapMinN {
		return 0, 0, false
	}
	rng := rand.New(rand.NewPCG(3, 4))
	lo, hi = bootstrap(rng, func(rs func([]int64) int64) float64 {
		x, y := rs(a), rs(b)
		if y == 0 {
			return math.Inf(1)
		}
		return float64(x) / float64(y)
	})
	return lo, hi, !math.IsInf(hi, 0)
}

// Summarize computes median, min and max (the median of an even count is
// the mean of the middle two), the bootstrap interval and the verdict.
func Summarize(ns []int64) Stats {
	if len(ns) == 0 {
		return Stats{}
	}
	s := append([]int64(nil), ns...)
	slices.Sort(s)
	st := Stats{N: len(s), Median: median(s), Min: s[0], Max: s[len(s)-1]}
	if len(s) >= BootstrapMinN {
		lo, hi := bootstrap(rand.New(rand.NewPCG(1, 2)), func(rs func([]int64) int64) float64 { return float64(rs(s)) })
		st.CILow, st.CIHigh = int64(lo), int64(hi)
	}
	switch {
	case st.Spread() > NoiseSpread:
		st.Noise = fmt.Sprintf("runs spread %.0f%% of the median (> %.0f%%)", 100*st.Spread(), 100*NoiseSpread)
	case st.N < NoiseMinN:
		st.Noise = fmt.Sprintf("only %d run(s): no spread to judge by", st.N)
	case st.Median < NoiseMinWall:
		st.Noise = fmt.Sprintf("runs of %s are too short to time (under %s)", FormatDuration(st.Median), FormatDuration(NoiseMinWall))
	}
	return st
}

// CumulativeExits turns a trace into a step series of exits over guest
// instructions, thinned to at most maxPoints points (always keeping the
// last).
func CumulativeExits(guestName, strategy string, trace []vmm.Event, instructions uint64, maxPoints int) TraceSeries {
	ts := TraceSeries{Guest: guestName, Strategy: strategy, Instructions: instructions}
	var pts []TracePoint
	var n uint64
	for _, e := range trace {
		if !e.Mech.IsExit() {
			continue
		}
		n++
		pts = append(pts, TracePoint{e.Icount, n})
	}
	ts.Exits = n
	if maxPoints > 1 && len(pts) > maxPoints {
		step := float64(len(pts)-1) / float64(maxPoints-1)
		thin := make([]TracePoint, 0, maxPoints)
		for i := 0; i < maxPoints; i++ {
			thin = append(thin, pts[int(float64(i)*step+0.5)])
		}
		thin[len(thin)-1] = pts[len(pts)-1]
		pts = thin
	}
	ts.Points = pts
	return ts
}
