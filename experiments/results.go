package experiments

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"virtsim/vmm"
)

// SchemaVersion is the version of the results.json and results.csv
// layout. It changes when a field changes meaning or disappears; adding a
// field does not change it. Readers reject files of another version.
//
// History: 1, the first layout; 2, guest instructions apart from the
// strategy's own (guest_instructions, guest_instructions_from replacing
// modeled_instructions_from, tc_instructions, overhead_instructions),
// modeled rows with a term and derived_from, device and overhead terms,
// wall statistics with a bootstrap interval and a noise verdict, and every
// pass of a suite (passes).
const SchemaVersion = 2

// Results is the content of results.json (schema_version 2).
//
// Layout, for readers in other languages:
//
//	{
//	  "schema_version": 2,
//	  "provenance": {commit, go_version, unicorn_version, host_cpu, host_cpus,
//	                 kernel, kvm_flavour?, date (RFC 3339 UTC), command, extra?},
//	  "config":     {guests[], strategies[], args?, scale?, reps, workers,
//	                 mem_bytes, insn_budget, time_budget_ns, profile, cost_file?, trace_guest?, suite?,
//	                 suite_n?, images?: [{name, path, sha256}], input?: {path, bytes, sha256},
//	                 until_output?},
//	  "cost_profile": the Profile used for every "modeled" (see profiles/*.json),
//	  "runs": [ one per (guest, args, strategy) that ran:
//	    {guest, args, strategy, flavour?, substrate ("unicorn"|"kvm"), image ("native"|"pv"),
//	     stop ("exit"|"crash"|"budget"|"halted"), status, stop_reason?,
//	     instructions, guest_instructions, guest_instructions_from?,
//	     tc_instructions?, overhead_instructions?, exits, events,
//	     counts: [{cause, mechanism, exit, count}],      // from the counting pass
//	     counters?: {name: value},                        // translation work, KVM statistics
//	     wall_ns: [each timing run], wall: {n, median_ns, min_ns, max_ns,
//	           ci_low_ns?, ci_high_ns?, noise?},          // 95% bootstrap interval of the median (n >= 5)
//	     measured_ratio?, measured_ratio_ci?: [lo, hi],   // wall median / native's wall median; its 95% bootstrap interval (both n >= 5)
//	     measured_label?,
//	     modeled?: {profile, cycles, instruction_cycles, overhead_instruction_cycles,
//	                event_cycles, device_cycles, translation_cycles,
//	                rows: [{term, cause, mechanism?, count, cycles_each, cycles, derived_from?}],
//	                unpriced[]},
//	     modeled_ratio?, modeled_label?,                  // modeled cycles / native's
//	     notes?, error?} ],
//	  "skipped": [{guest, args, strategy, reason}],
//	  "passes": [{name, n, args: {guest: args}, runs: [as above], skipped}],  // a suite's other passes (counting only)
//	  "traces": [{guest, strategy, instructions, exits, points: [{icount, exits}]}]
//	}
//
// Measured fields (wall_ns, wall, measured_ratio) come only from timing
// runs; modeled fields only from counts and the cost profile. No field
// mixes the two.
type Results struct {
	SchemaVersion int           `json:"schema_version"`
	Provenance    Provenance    `json:"provenance"`
	Config        BenchConfig   `json:"config"`
	Profile       *Profile      `json:"cost_profile,omitempty"`
	Runs          []Run         `json:"runs"`
	Skipped       []Skip        `json:"skipped,omitempty"`
	Traces        []TraceSeries `json:"traces,omitempty"`
	// Passes are the other passes of a suite (the literature report's
	// lower iteration count), kept whole so every figure derived from
	// them can be recomputed from this file.
	Passes []Pass `json:"passes,omitempty"`
}

// Pass is one extra counting pass of a suite.
type Pass struct {
	Name    string            `json:"name"`
	N       uint64            `json:"n,omitempty"`
	Args    map[string]string `json:"args,omitempty"`
	Runs    []Run             `json:"runs"`
	Skipped []Skip            `json:"skipped,omitempty"`
}

// BenchConfig records the configuration of a matrix run.
type BenchConfig struct {
	Guests       []string `json:"guests"`
	Strategies   []string `json:"strategies"`
	Args         string   `json:"args,omitempty"`
	Scale        float64  `json:"scale,omitempty"`
	Reps         int      `json:"reps"`
	Workers      int      `json:"workers"`
	MemBytes     uint32   `json:"mem_bytes"`
	InsnBudget   uint64   `json:"insn_budget"`
	TimeBudgetNS int64    `json:"time_budget_ns"`
	Profile      string   `json:"profile"`
	CostFile     string   `json:"cost_file,omitempty"`
	TraceGuest   string   `json:"trace_guest,omitempty"`
	Suite        string   `json:"suite,omitempty"`
	// SuiteN is the iteration count of the main runs of a suite (its
	// passes hold the others).
	SuiteN uint64 `json:"suite_n,omitempty"`
	// Images are the guest image files benchmarked beside Guests
	// (--image), each with its SHA-256, so a kernel can be pinned.
	Images []ImageRef `json:"images,omitempty"`
	// Input is the serial input every run was given (--input), and
	// UntilOutput the text that ended each run (--until-output): a
	// scripted session is part of what was measured.
	Input       *InputRef `json:"input,omitempty"`
	UntilOutput string    `json:"until_output,omitempty"`
}

// ImageRef names an image file by path and content.
type ImageRef struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// InputRef names a serial input file by path, size and content.
type InputRef struct {
	Path   string `json:"path"`
	Bytes  int    `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Run is one (guest, args, strategy) cell: its counting pass and its
// timing runs.
type Run struct {
	Guest      string `json:"guest"`
	Args       string `json:"args"`
	Strategy   string `json:"strategy"`
	Flavour    string `json:"flavour,omitempty"`
	Substrate  string `json:"substrate"`
	Image      string `json:"image"`
	Stop       string `json:"stop"`
	Status     uint32 `json:"status"`
	StopReason string `json:"stop_reason,omitempty"`
	// Instructions is what the strategy's CPU executed for the guest
	// (under bt: user code and the TC's code, translation included; 0
	// under kvm, which cannot count).
	Instructions uint64 `json:"instructions"`
	// GuestInstructions is the guest program's own instruction count:
	// Instructions, or native's count of the same image and arguments
	// where GuestInstructionsFrom says "native" (bt, kvm).
	GuestInstructions     uint64 `json:"guest_instructions"`
	GuestInstructionsFrom string `json:"guest_instructions_from,omitempty"`
	// TCInstructions (bt) is the TC's share of Instructions: translated
	// guest kernel code plus the translation's own code.
	TCInstructions uint64 `json:"tc_instructions,omitempty"`
	// OverheadInstructions = Instructions − GuestInstructions: what the
	// CPU executed beyond the guest program (bt: lookups, in-TC
	// emulation). The model prices it at CPI, once.
	OverheadInstructions uint64            `json:"overhead_instructions,omitempty"`
	Exits                uint64            `json:"exits"`
	Events               uint64            `json:"events"`
	Counts               []CountRow        `json:"counts"`
	Counters             map[string]uint64 `json:"counters,omitempty"`
	WallNS               []int64           `json:"wall_ns"`
	Wall                 Stats             `json:"wall"`
	// MeasuredRatio is Wall.Median over native's on the same substrate and
	// guest; absent where no such native exists (kvm) or nothing was timed.
	MeasuredRatio *float64 `json:"measured_ratio,omitempty"`
	// MeasuredRatioCI is the 95% bootstrap interval of MeasuredRatio
	// (RatioCI: both sides resampled), when this run and native's each
	// have BootstrapMinN timing runs.
	MeasuredRatioCI []float64 `json:"measured_ratio_ci,omitempty"`
	// MeasuredLabel qualifies the ratio: "own image" (pv runs its own
	// build), "no native on substrate (flavour X)" (kvm).
	MeasuredLabel string   `json:"measured_label,omitempty"`
	Modeled       *Modeled `json:"modeled,omitempty"`
	ModeledRatio  *float64 `json:"modeled_ratio,omitempty"`
	ModeledLabel  string   `json:"modeled_label,omitempty"`
	Notes         []string `json:"notes,omitempty"`
	Error         string   `json:"error,omitempty"`
}

// CountRow is one (cause, mechanism) count.
type CountRow struct {
	Cause     string `json:"cause"`
	Mechanism string `json:"mechanism"`
	Exit      bool   `json:"exit"`
	Count     uint64 `json:"count"`
}

// Skip records a cell that did not run, and why.
type Skip struct {
	Guest    string `json:"guest"`
	Args     string `json:"args"`
	Strategy string `json:"strategy"`
	Reason   string `json:"reason"`
}

// TraceSeries is the cumulative exit count of one run over its guest
// instructions (a step function sampled at exits).
type TraceSeries struct {
	Guest        string       `json:"guest"`
	Strategy     string       `json:"strategy"`
	Instructions uint64       `json:"instructions"`
	Exits        uint64       `json:"exits"`
	Points       []TracePoint `json:"points"`
}

// TracePoint says that Exits exits had happened when Icount guest
// instructions had retired.
type TracePoint struct {
	Icount uint64 `json:"icount"`
	Exits  uint64 `json:"exits"`
}

// Label is the run's strategy with its flavour, as tables show it.
func (r *Run) Label() string {
	if r.Flavour != "" {
		return r.Strategy + "/" + r.Flavour
	}
	return r.Strategy
}

// Find returns the run of guest under strategy, or nil.
func (res *Results) Find(guestName, strategy string) *Run {
	for i := range res.Runs {
		if res.Runs[i].Guest == guestName && res.Runs[i].Strategy == strategy {
			return &res.Runs[i]
		}
	}
	return nil
}

// Ratios fills every run's measured and modeled ratios to native.
func (res *Results) Ratios() {
	for i := range res.Runs {
		r := &res.Runs[i]
		r.MeasuredRatio, r.MeasuredRatioCI, r.ModeledRatio, r.MeasuredLabel, r.ModeledLabel = nil, nil, nil, "", ""
		var nat *Run
		for j := range res.Runs {
			n := &res.Runs[j]
			if n.Strategy == "native" && n.Guest == r.Guest && n.Args == r.Args && n.Error == "" {
				nat = n
			}
		}
		if r.Image == "pv" {
			r.MeasuredLabel, r.ModeledLabel = "own image", "own image"
		}
		if r.GuestInstructionsFrom != "" {
			r.ModeledLabel = "guest instructions counted under " + r.GuestInstructionsFrom
		}
		if r.Error != "" {
			continue
		}
		if r.Modeled != nil && nat != nil && nat.Modeled != nil && nat.Modeled.Cycles > 0 {
			v := r.Modeled.Cycles / nat.Modeled.Cycles
			r.ModeledRatio = &v
		}
		if nat != nil && r.Substrate != nat.Substrate {
			fl := r.Flavour
			if fl == "" {
				fl = "unknown"
			}
			r.MeasuredLabel = fmt.Sprintf("no native on substrate (flavour %s)", fl)
			continue
		}
		if nat != nil && nat.Wall.Median > 0 && r.Wall.Median > 0 {
			v := float64(r.Wall.Median) / float64(nat.Wall.Median)
			r.MeasuredRatio = &v
			if lo, hi, ok := RatioCI(r.WallNS, nat.WallNS); ok {
				r.MeasuredRatioCI = []float64{lo, hi}
			}
		}
	}
}

// WriteJSON writes the results, indented.
func (res *Results) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return nil
}

// ReadJSON reads results.json, rejecting other schema versions.
func ReadJSON(r io.Reader) (*Results, error) {
	var res Results
	dec := json.NewDecoder(r)
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	if res.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("results: schema_version %d, this virtsim reads %d", res.SchemaVersion, SchemaVersion)
	}
	return &res, nil
}

// ReadJSONFile reads a results.json file.
func ReadJSONFile(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	res, err := ReadJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}

// CSVHeader is the column list of results.csv. One row per timing run
// (rep 1..reps) of every cell, or one row with rep 0 for a cell that was
// only counted; every parameter and the provenance repeat on each row so
// rows can be filtered and joined without the JSON. counts is
// "cause|mechanism=count" joined by ';', counters "name=value" joined by ';'.
// The columns after error were added within schema_version 2 (CSVAdded):
// readers take them when present.
var CSVHeader = []string{
	"schema_version", "date", "commit", "go_version", "unicorn_version", "host_cpu", "kernel", "kvm_flavour",
	"profile", "reps", "mem_bytes", "insn_budget", "time_budget_ns",
	"guest", "args", "strategy", "flavour", "substrate", "image",
	"stop", "status", "instructions", "guest_instructions", "guest_instructions_from", "overhead_instructions", "exits", "events",
	"rep", "wall_ns", "wall_median_ns", "wall_min_ns", "wall_max_ns", "measured_ratio", "measured_label",
	"modeled_cycles", "modeled_instruction_cycles", "modeled_overhead_instruction_cycles", "modeled_event_cycles", "modeled_device_cycles", "modeled_translation_cycles",
	"modeled_ratio", "modeled_label", "counts", "counters", "error",
	"tc_instructions", "wall_ci_low_ns", "wall_ci_high_ns", "wall_noise", "measured_ratio_ci_low", "measured_ratio_ci_high",
}

// CSVAdded are the columns of CSVHeader a results.csv of schema_version 2
// written before them lacks: bt's translation-cache share of instructions
// the wall time's bootstrap interval and noise verdict, the measured
// ratio's bootstrap interval (each also recomputable from the rows' wall_ns).
var CSVAdded = map[string]bool{"tc_instructions": true, "wall_ci_low_ns": true, "wall_ci_high_ns": true, "wall_noise": true,
	"measured_ratio_ci_low": true, "measured_ratio_ci_high": true}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func fmtRatio(p *float64) string {
	if p == nil {
		return ""
	}
	return fmtFloat(*p)
}

// WriteCSV writes results.csv.
func (res *Results) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return fmt.Errorf("results csv: %w", err)
	}
	pv, cf := res.Provenance, res.Config
	for _, r := range res.Runs {
		var counts []string
		for _, c := range r.Counts {
			counts = append(counts, fmt.Sprintf("%s|%s=%d", c.Cause, c.Mechanism, c.Count))
		}
		var cnames []string
		for k := range r.Counters {
			cnames = append(cnames, k)
		}
		sort.Strings(cnames)
		var counters []string
		for _, k := range cnames {
			counters = append(counters, fmt.Sprintf("%s=%d", k, r.Counters[k]))
		}
		var m Modeled
		if r.Modeled != nil {
			m = *r.Modeled
		}
		var ciLo, ciHi string
		if len(r.MeasuredRatioCI) == 2 {
			ciLo, ciHi = fmtFloat(r.MeasuredRatioCI[0]), fmtFloat(r.MeasuredRatioCI[1])
		}
		reps := r.WallNS
		if len(reps) == 0 {
			reps = []int64{0}
		}
		for i, wall := range reps {
			rep := i + 1
			if len(r.WallNS) == 0 {
				rep = 0
			}
			row := []string{
				strconv.Itoa(res.SchemaVersion), pv.Date, pv.Commit, pv.GoVersion, pv.UnicornVersion, pv.HostCPU, pv.Kernel, pv.KVMFlavour,
				cf.Profile, strconv.Itoa(cf.Reps), strconv.FormatUint(uint64(cf.MemBytes), 10), strconv.FormatUint(cf.InsnBudget, 10), strconv.FormatInt(cf.TimeBudgetNS, 10),
				r.Guest, r.Args, r.Strategy, r.Flavour, r.Substrate, r.Image,
				r.Stop, strconv.FormatUint(uint64(r.Status), 10), strconv.FormatUint(r.Instructions, 10),
				strconv.FormatUint(r.GuestInstructions, 10), r.GuestInstructionsFrom, strconv.FormatUint(r.OverheadInstructions, 10),
				strconv.FormatUint(r.Exits, 10), strconv.FormatUint(r.Events, 10),
				strconv.Itoa(rep), strconv.FormatInt(wall, 10), strconv.FormatInt(r.Wall.Median, 10), strconv.FormatInt(r.Wall.Min, 10), strconv.FormatInt(r.Wall.Max, 10),
				fmtRatio(r.MeasuredRatio), r.MeasuredLabel,
				fmtFloat(m.Cycles), fmtFloat(m.Instructions), fmtFloat(m.Overhead), fmtFloat(m.Events), fmtFloat(m.Device), fmtFloat(m.Translation),
				fmtRatio(r.ModeledRatio), r.ModeledLabel, strings.Join(counts, ";"), strings.Join(counters, ";"), r.Error,
				strconv.FormatUint(r.TCInstructions, 10), strconv.FormatInt(r.Wall.CILow, 10), strconv.FormatInt(r.Wall.CIHigh, 10), r.Wall.Noise,
				ciLo, ciHi,
			}
			if err := cw.Write(row); err != nil {
				return fmt.Errorf("results csv: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("results csv: %w", err)
	}
	return nil
}

// ReadCSV reads results.csv back into Results: runs (with their counts,
// counters, timings, ratios and modeled totals; the modeled per-row
// breakdown is JSON-only), provenance and the configuration columns.
func ReadCSV(r io.Reader) (*Results, error) {
	cr := csv.NewReader(r)
	rows, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("results csv: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("results csv: empty file")
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range CSVHeader {
		if _, ok := col[h]; !ok && !CSVAdded[h] {
			return nil, fmt.Errorf("results csv: no column %q", h)
		}
	}
	res := &Results{}
	index := map[[3]string]int{}
	for ln, row := range rows[1:] {
		get := func(h string) string {
			i, ok := col[h]
			if !ok {
				return "" // a column added since the file was written
			}
			return row[i]
		}
		var perr error
		u := func(h string) uint64 {
			v, err := strconv.ParseUint(get(h), 10, 64)
			if err != nil && perr == nil {
				perr = fmt.Errorf("column %s: %w", h, err)
			}
			return v
		}
		i64 := func(h string) int64 {
			v, err := strconv.ParseInt(get(h), 10, 64)
			if err != nil && perr == nil {
				perr = fmt.Errorf("column %s: %w", h, err)
			}
			return v
		}
		f := func(h string) float64 {
			v, err := strconv.ParseFloat(get(h), 64)
			if err != nil && perr == nil {
				perr = fmt.Errorf("column %s: %w", h, err)
			}
			return v
		}
		ratio := func(h string) *float64 {
			if get(h) == "" {
				return nil
			}
			v := f(h)
			return &v
		}
		sv := int(u("schema_version"))
		if sv != SchemaVersion {
			return nil, fmt.Errorf("results csv: line %d: schema_version %d, this virtsim reads %d", ln+2, sv, SchemaVersion)
		}
		res.SchemaVersion = sv
		res.Provenance = Provenance{Date: get("date"), Commit: get("commit"), GoVersion: get("go_version"),
			UnicornVersion: get("unicorn_version"), HostCPU: get("host_cpu"), Kernel: get("kernel"), KVMFlavour: get("kvm_flavour")}
		res.Config.Profile = get("profile")
		res.Config.Reps = int(u("reps"))
		res.Config.MemBytes = uint32(u("mem_bytes"))
		res.Config.InsnBudget = u("insn_budget")
		res.Config.TimeBudgetNS = i64("time_budget_ns")
		key := [3]string{get("guest"), get("args"), get("strategy")}
		ri, seen := index[key]
		if !seen {
			run := Run{
				Guest: key[0], Args: key[1], Strategy: key[2], Flavour: get("flavour"), Substrate: get("substrate"), Image: get("image"),
				Stop: get("stop"), Status: uint32(u("status")), Instructions: u("instructions"),
				GuestInstructions: u("guest_instructions"), GuestInstructionsFrom: get("guest_instructions_from"), OverheadInstructions: u("overhead_instructions"),
				Exits: u("exits"), Events: u("events"),
				Wall:          Stats{Median: i64("wall_median_ns"), Min: i64("wall_min_ns"), Max: i64("wall_max_ns")},
				MeasuredRatio: ratio("measured_ratio"), MeasuredLabel: get("measured_label"),
				ModeledRatio: ratio("modeled_ratio"), ModeledLabel: get("modeled_label"), Error: get("error"),
			}
			if get("tc_instructions") != "" {
				run.TCInstructions = u("tc_instructions")
			}
			if get("modeled_cycles") != "0" || get("modeled_instruction_cycles") != "0" {
				run.Modeled = &Modeled{Profile: get("profile"), Cycles: f("modeled_cycles"), Instructions: f("modeled_instruction_cycles"),
					Overhead: f("modeled_overhead_instruction_cycles"), Events: f("modeled_event_cycles"), Device: f("modeled_device_cycles"),
					Translation: f("modeled_translation_cycles")}
			}
			if s := get("counts"); s != "" {
				for _, item := range strings.Split(s, ";") {
					ck, n, ok := strings.Cut(item, "=")
					cause, mech, ok2 := strings.Cut(ck, "|")
					if !ok || !ok2 {
						return nil, fmt.Errorf("results csv: line %d: bad count %q", ln+2, item)
					}
					c, err := strconv.ParseUint(n, 10, 64)
					if err != nil {
						return nil, fmt.Errorf("results csv: line %d: count %q: %w", ln+2, item, err)
					}
					run.Counts = append(run.Counts, CountRow{cause, mech, mechIsExit(mech), c})
				}
			}
			if s := get("counters"); s != "" {
				run.Counters = map[string]uint64{}
				for _, item := range strings.Split(s, ";") {
					k, n, ok := strings.Cut(item, "=")
					c, err := strconv.ParseUint(n, 10, 64)
					if !ok || err != nil {
						return nil, fmt.Errorf("results csv: line %d: bad counter %q", ln+2, item)
					}
					run.Counters[k] = c
				}
			}
			res.Runs = append(res.Runs, run)
			ri = len(res.Runs) - 1
			index[key] = ri
		}
		if u("rep") > 0 {
			res.Runs[ri].WallNS = append(res.Runs[ri].WallNS, i64("wall_ns"))
			// The statistics are recomputed from the runs themselves.
			res.Runs[ri].Wall = Summarize(res.Runs[ri].WallNS)
		}
		if perr != nil {
			return nil, fmt.Errorf("results csv: line %d: %w", ln+2, perr)
		}
	}
	return res, nil
}

func mechIsExit(name string) bool {
	m, err := vmm.ParseMechanism(name)
	return err == nil && m.IsExit()
}
