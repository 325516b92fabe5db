package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"virtsim/experiments"
)

func cmdCalibrate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("calibrate", "[--out FILE] [flags]", stdout, stderr)
	out := fs.String("out", "host-costs.json", "cost file to write (use it with compare/bench --cost FILE); - for stdout (the table then goes to stderr)")
	reps := fs.Int("reps", 5, "timing runs per point (the median is used; more runs, less noise)")
	base := fs.String("base", experiments.DefaultProfile, "built-in profile the entries this host cannot measure come from")
	var probes listFlag
	fs.Var(&probes, "probes", "probe workloads, each NAME or NAME:N1:N2 (default: compute,io,irq-toggle,syscall,divzero,cpuid; compute first gives ns per instruction)")
	m := addMatrixFlags(fs, false)
	if done, st := parseFlags(fs, args); done {
		return st
	}
	if *reps < 1 {
		fmt.Fprintln(stderr, "virtsim calibrate: --reps must be >= 1")
		return exitUsage
	}
	ps, err := parseProbes(probes)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim calibrate: %v\n", err)
		return exitUsage
	}
	// A cost file that cannot be written is found before minutes of runs,
	// not after them.
	if *out != "-" {
		if err := checkWritable(*out); err != nil {
			fmt.Fprintf(stderr, "virtsim calibrate: --out: %v\n", err)
			return exitUsage
		}
	}
	report := stdout
	if *out == "-" {
		report = stderr
	}
	cal, err := experiments.Calibrate(experiments.CalibrateOptions{
		Strategies: m.strategies, Probes: ps, Reps: *reps, Base: *base,
		MemSize: m.mem.n, TimeBudget: m.timeout, Progress: newProgress("calibrate", stderr, m.quiet),
	})
	if err != nil {
		fmt.Fprintf(stderr, "virtsim calibrate: %v\n", err)
		return exitUsage
	}
	fmt.Fprint(report, cal.Format())
	b, err := cal.Profile.MarshalIndent()
	if err == nil {
		err = writeOutput(*out, stdout, func(w io.Writer) error { _, err := w.Write(b); return err })
	}
	if err != nil {
		fmt.Fprintf(stderr, "virtsim calibrate: write %s: %v\n", *out, err)
		return exitInternal
	}
	where, file := *out, *out
	if where == "-" {
		where, file = "the cost file to stdout", "FILE"
	}
	fmt.Fprintf(report, "\nwrote %s (cost profile %q: use 'virtsim compare --guest io --cost %s').\n", where, cal.Profile.Name, file)
	fmt.Fprintln(report, "These are virtsim's own costs on this host (Unicorn emulation included), medians of repeated one-at-a-time runs;")
	fmt.Fprintln(report, "figures marked noisy varied by more than 25% between runs: calibrate again with more --reps on an idle machine.")
	return exitOK
}

func parseProbes(list []string) ([]experiments.Probe, error) {
	var out []experiments.Probe
	for _, s := range list {
		f := strings.Split(s, ":")
		p := experiments.Probe{Workload: f[0]}
		for _, d := range experiments.DefaultProbes {
			if d.Workload == p.Workload {
				p = d
			}
		}
		switch len(f) {
		case 1:
			if p.N1 == 0 {
				p.N1, p.N2 = 1000, 6000
			}
		case 3:
			a, err1 := strconv.ParseUint(f[1], 10, 64)
			b, err2 := strconv.ParseUint(f[2], 10, 64)
			if err1 != nil || err2 != nil || a == 0 || b <= a {
				return nil, fmt.Errorf("--probes %q: want NAME:N1:N2 with 0 < N1 < N2", s)
			}
			p.N1, p.N2 = a, b
		default:
			return nil, fmt.Errorf("--probes %q: want NAME or NAME:N1:N2", s)
		}
		out = append(out, p)
	}
	return out, nil
}
