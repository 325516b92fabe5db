package main

import (
	"fmt"
	"io"
	"os"

	"virtsim/experiments"
	"virtsim/guest"
)

func cmdCompare(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("compare", "--guest NAME [flags]", stdout, stderr)
	guestName := fs.String("guest", "", "workload from the catalogue (see 'virtsim list')")
	gargs := fs.String("args", "", "guest command line, e.g. \"n=5000\" (default: the workload's own)")
	reps := fs.Int("reps", 3, "timing runs per strategy (made one at a time; the median is reported); 0 = counting only")
	jsonPath := fs.String("json", "", "also write the results (results.json schema) to this file")
	m := addMatrixFlags(fs, true)
	if done, st := parseFlags(fs, args); done {
		return st
	}
	if *guestName == "" {
		fmt.Fprintf(stderr, "virtsim compare: give --guest NAME (workloads: %v)\n", guest.Names())
		return exitUsage
	}
	if _, err := guest.Lookup(*guestName); err != nil {
		fmt.Fprintf(stderr, "virtsim compare: %v\n", err)
		return exitUsage
	}
	if *reps < 0 {
		fmt.Fprintln(stderr, "virtsim compare: --reps must be >= 0")
		return exitUsage
	}
	p, err := m.loadProfile()
	if err != nil {
		fmt.Fprintf(stderr, "virtsim compare: %v\n", err)
		return exitUsage
	}
	o := m.options("compare", stderr)
	o.Guests, o.Args, o.Reps, o.Profile = []string{*guestName}, *gargs, *reps, p
	res, err := experiments.Matrix(o)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim compare: %v\n", err)
		return exitUsage
	}
	res.Provenance = experiments.CollectProvenance(commandLine("compare", args))
	res.Config = m.config(o, p)
	fmt.Fprint(stdout, experiments.CompareTable(res, *guestName))
	if *jsonPath != "" {
		f, err := os.Create(*jsonPath)
		if err == nil {
			err = res.WriteJSON(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "virtsim compare: write %s: %v\n", *jsonPath, err)
			return exitInternal
		}
	}
	return runStatus(res)
}

func commandLine(cmd string, args []string) string {
	s := "virtsim " + cmd
	for _, a := range args {
		s += " " + a
	}
	return s
}
