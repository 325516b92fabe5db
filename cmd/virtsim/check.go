package main

import (
	"fmt"
	"io"

	"virtsim/experiments"
	"virtsim/vmm"
)

// defaultGolden is the project's own golden file, checked by `make test`.
const defaultGolden = "experiments/golden/exits.golden"

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", "[--golden FILE] [--update] [flags]", stdout, stderr)
	golden := fs.String("golden", defaultGolden, "golden exit-count file (vmm's golden format)")
	update := fs.Bool("update", false, "rewrite the file: re-run its records and add every workload × available strategy (review the diff)")
	var guests listFlag
	fs.Var(&guests, "guests", "comma-separated workloads: check only their records (with --update: the matrix's workloads)")
	gargs := argsVar(fs, "with --update: the command line of added records (default: each workload's own)")
	workers := fs.Int("workers", 2, "runs at once (counting passes only: exact, so parallel is safe)")
	var images listFlag
	fs.Var(&images, "image", "guest image file(s), multiboot ELF32, comma-separated: check (with --update: pin) their records, named by file name")
	m := addMatrixFlags(fs, false)
	if done, st := parseFlags(fs, args); done {
		return st
	}
	imgs, st, err := imageWorkloads(images, m.mem.n)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim check: %v\n", err)
		return st
	}
	if len(imgs) > 0 && len(guests) == 0 {
		for _, w := range imgs {
			guests = append(guests, w.Name)
		}
	}
	rep, err := experiments.Check(experiments.CheckOptions{
		Golden: *golden, Update: *update, Guests: guests, Images: imgs, Strategies: m.strategies, Args: *gargs,
		MemSize: m.mem.n, InsnBudget: m.maxInsns, TimeBudget: m.timeout, Workers: *workers,
		Progress: newProgress("check", stderr, m.quiet),
	})
	if err != nil {
		fmt.Fprintf(stderr, "virtsim check: %v\n", err)
		if rep == nil {
			return exitUsage
		}
		return exitInternal
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(stdout, "skipped %s %q under %s: %s\n", s.Guest, s.Args, s.Strategy, s.Reason)
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(stdout, "error %s\n", e)
	}
	for _, st := range rep.Stops {
		fmt.Fprintf(stdout, "stopped %s\n", st)
	}
	if *update {
		for _, k := range rep.Added {
			fmt.Fprintf(stdout, "added %s\n", k)
		}
		fmt.Fprintf(stdout, "wrote %s: %d records run, %d skipped (kept as they were)\n", *golden, rep.Checked, len(rep.Skipped))
		if len(rep.Errors) > 0 {
			return exitInternal
		}
		return exitOK
	}
	if len(rep.Diffs) > 0 {
		fmt.Fprintf(stdout, "exit counts differ from %s:\n%s", *golden, vmm.FormatDiffs(rep.Diffs))
		runs := map[vmm.GoldenKey]bool{}
		for _, d := range rep.Diffs {
			runs[d.Key] = true
		}
		fmt.Fprintf(stdout, "FAIL: %d differences in %d of %d runs (if intended: virtsim check --update --golden %s, and review the diff)\n",
			len(rep.Diffs), len(runs), rep.Checked, *golden)
		return exitRegression
	}
	if len(rep.Errors) > 0 {
		fmt.Fprintf(stdout, "FAIL: %d runs failed\n", len(rep.Errors))
		return exitRegression
	}
	fmt.Fprintf(stdout, "ok: %d runs match %s (%d skipped)\n", rep.Checked, *golden, len(rep.Skipped))
	return exitOK
}
