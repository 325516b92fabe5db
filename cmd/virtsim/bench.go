package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"virtsim/experiments"
	"virtsim/guest"
)

func cmdBench(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("bench", "[flags]", stdout, stderr)
	var guests listFlag
	fs.Var(&guests, "guests", "comma-separated workloads (default: the whole catalogue)")
	reps := fs.Int("reps", 3, "timing runs per cell (made one at a time; median and spread reported); 0 = counting only")
	out := fs.String("out", "bench-out", "output directory for results.json, results.csv and the plots")
	gargs := argsVar(fs, "command line for every workload (default: each workload's own)")
	scale := fs.Float64("scale", 1, "multiply each workload's default n= by this factor")
	workers := fs.Int("workers", 2, "counting passes run at once (timing runs are always one at a time)")
	traceGuest := fs.String("trace-guest", "", "workload whose event trace gives the cumulative-exits plot (default: timer if selected, else the first)")
	suite := fs.String("suite", "", "preset: adams-agesen (the paper's nanobenchmarks; adds the literature report, profile p4-2006 unless --profile is given)")
	noPlots := fs.Bool("no-plots", false, "write no plots")
	var images listFlag
	fs.Var(&images, "image", "guest image file(s), multiboot ELF32, comma-separated: benchmarked beside --guests (alone when --guests is not given)")
	inputPath := fs.String("input", "", "guest serial input (COM1 receive) for every run: a file, queued at power-on (a scripted session; see --until-output)")
	untilOut := untilOutputFlag(fs)
	m := addMatrixFlags(fs, true)
	if done, st := parseFlags(fs, args); done {
		return st
	}
	var input []byte
	if *inputPath != "" {
		var err error
		if input, err = os.ReadFile(*inputPath); err != nil {
			fmt.Fprintf(stderr, "virtsim bench: --input: %v\n", err)
			return exitNoInput
		}
	}
	imgs, st, err := imageWorkloads(images, m.mem.n)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim bench: %v\n", err)
		return st
	}
	if *reps < 0 || *workers < 1 || *scale <= 0 {
		fmt.Fprintln(stderr, "virtsim bench: --reps must be >= 0, --workers >= 1, --scale > 0")
		return exitUsage
	}
	// An output folder that cannot be made or written is found before the
	// runs, not after them.
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(stderr, "virtsim bench: --out: %v\n", err)
		return exitUsage
	}
	if err := checkWritable(filepath.Join(*out, "results.json")); err != nil {
		fmt.Fprintf(stderr, "virtsim bench: --out: %v\n", err)
		return exitUsage
	}
	profileSet := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "profile" {
			profileSet = true
		}
	})
	o := m.options("bench", stderr)
	o.Guests, o.Images, o.Args, o.Scale, o.Reps, o.Workers = guests, imgs, *gargs, *scale, *reps, *workers
	o.Input, o.UntilOutput = input, *untilOut
	var lo *experiments.Results
	var lowArgs map[string]string
	if *suite != "" {
		ws, err := experiments.SuiteWorkloads(*suite)
		if err != nil {
			fmt.Fprintf(stderr, "virtsim bench: %v\n", err)
			return exitUsage
		}
		if len(guests) == 0 {
			o.Guests = ws
		}
		if !profileSet {
			m.profile = "p4-2006"
		}
	}
	p, err := m.loadProfile()
	if err != nil {
		fmt.Fprintf(stderr, "virtsim bench: %v\n", err)
		return exitUsage
	}
	o.Profile = p
	if _, isImage := experiments.FindImage(imgs, *traceGuest); *traceGuest != "" && !isImage {
		if _, err := guest.Lookup(*traceGuest); err != nil {
			fmt.Fprintf(stderr, "virtsim bench: --trace-guest: %v\n", err)
			return exitUsage
		}
		o.TraceGuest = *traceGuest
	} else if *traceGuest != "" {
		o.TraceGuest = *traceGuest
	} else {
		sel := o.Guests
		for _, w := range imgs {
			sel = append(sel, w.Name)
		}
		o.TraceGuest = defaultTraceGuest(sel)
	}
	if *suite != "" {
		// The literature report needs counts at two iteration counts: the
		// cheap lower one first (counting only), then the full bench at the
		// higher one.
		lowArgs, _ = experiments.SuiteArgs(*suite, experiments.SuiteN[0])
		highArgs, _ := experiments.SuiteArgs(*suite, experiments.SuiteN[1])
		lo1 := o
		lo1.GuestArgs, lo1.Reps, lo1.TraceGuest = lowArgs, 0, ""
		if lo, err = experiments.Matrix(lo1); err != nil {
			fmt.Fprintf(stderr, "virtsim bench: %v\n", err)
			return exitUsage
		}
		o.GuestArgs = highArgs
	}
	res, err := experiments.Matrix(o)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim bench: %v\n", err)
		return exitUsage
	}
	res.Provenance = experiments.CollectProvenance(commandLine("bench", args))
	res.Config = m.config(o, p)
	if *inputPath != "" {
		res.Config.Input = &experiments.InputRef{Path: *inputPath, Bytes: len(input), SHA256: sha256Hex(input)}
	}
	res.Config.Suite = *suite
	if lo != nil {
		res.Config.SuiteN = experiments.SuiteN[1]
		res.Passes = append(res.Passes, experiments.Pass{Name: fmt.Sprintf("n=%d (counting only)", experiments.SuiteN[0]),
			N: experiments.SuiteN[0], Args: lowArgs, Runs: lo.Runs, Skipped: lo.Skipped})
	}
	for _, r := range res.Runs {
		if r.Flavour != "" && res.Provenance.KVMFlavour == "" {
			res.Provenance.KVMFlavour = r.Flavour
		}
	}
	written, err := writeBench(res, *out, !*noPlots)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim bench: %v\n", err)
		return exitInternal
	}
	fmt.Fprint(stdout, experiments.SummaryTable(res))
	if lo != nil {
		rows, err := experiments.LiteratureReport(res, p)
		if err != nil {
			fmt.Fprintf(stderr, "virtsim bench: %v\n", err)
			return exitInternal
		}
		rep := experiments.FormatLiterature(rows, p, experiments.SuiteN[0], experiments.SuiteN[1])
		macros, err := experiments.MacroReport(res, p)
		if err != nil {
			fmt.Fprintf(stderr, "virtsim bench: %v\n", err)
			return exitInternal
		}
		rep += "\n" + experiments.FormatMacro(macros, experiments.AdamsAgesenMacro)
		fmt.Fprintf(stdout, "\n%s", rep)
		path := filepath.Join(*out, "report.txt")
		if err := os.WriteFile(path, []byte(rep), 0o644); err != nil {
			fmt.Fprintf(stderr, "virtsim bench: %v\n", err)
			return exitInternal
		}
		written = append(written, path)
	}
	fmt.Fprintf(stdout, "\nwrote:")
	for _, w := range written {
		fmt.Fprintf(stdout, " %s", w)
	}
	fmt.Fprintln(stdout)
	return runStatus(res)
}

// defaultTraceGuest picks the workload for the cumulative-exits plot: the
// timer (exits arrive in phases) when it is in the selection.
func defaultTraceGuest(selected []string) string {
	if len(selected) == 0 {
		return "timer"
	}
	for _, g := range selected {
		if g == "timer" {
			return g
		}
	}
	return selected[0]
}

func writeBench(res *experiments.Results, dir string, plots bool) ([]string, error) {
	var written []string
	write := func(name string, f func(io.Writer) error) error {
		path := filepath.Join(dir, name)
		fh, err := os.Create(path)
		if err != nil {
			return err
		}
		err = f(fh)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		written = append(written, path)
		return nil
	}
	if err := write("results.json", res.WriteJSON); err != nil {
		return written, err
	}
	if err := write("results.csv", res.WriteCSV); err != nil {
		return written, err
	}
	if plots {
		ps, err := experiments.WritePlots(res, dir)
		written = append(written, ps...)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}
