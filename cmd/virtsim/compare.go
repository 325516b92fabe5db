package main

import (
	"fmt"
	"io"

	"virtsim/experiments"
	"virtsim/guest"
)

func cmdCompare(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("compare", "--guest NAME | --image FILE [flags]", stdout, stderr)
	guestName := fs.String("guest", "", "workload from the catalogue (see 'virtsim list')")
	imagePath := fs.String("image", "", "guest image file (multiboot ELF32) instead of a catalogue workload")
	gargs := argsVar(fs, "guest command line, e.g. \"n=5000\" (default: the workload's own)")
	reps := fs.Int("reps", 3, "timing runs per strategy (made one at a time; the median is reported); 0 = counting only")
	jsonPath := fs.String("json", "", "also write the results (results.json schema) to this file; - for stdout (the table then goes to stderr)")
	m := addMatrixFlags(fs, true)
	if done, st := parseFlags(fs, args); done {
		return st
	}
	var imgs []guest.Workload
	switch {
	case *guestName != "" && *imagePath != "":
		fmt.Fprintln(stderr, "virtsim compare: give --guest or --image, not both")
		return exitUsage
	case *imagePath != "":
		var st int
		var err error
		if imgs, st, err = imageWorkloads([]string{*imagePath}, m.mem.n); err != nil {
			fmt.Fprintf(stderr, "virtsim compare: %v\n", err)
			return st
		}
		*guestName = imgs[0].Name
	case *guestName == "":
		fmt.Fprintf(stderr, "virtsim compare: give --guest NAME (workloads: %v) or --image FILE\n", guest.Names())
		return exitUsage
	default:
		if _, err := guest.Lookup(*guestName); err != nil {
			fmt.Fprintf(stderr, "virtsim compare: %v\n", err)
			return exitUsage
		}
	}
	if *reps < 0 {
		fmt.Fprintln(stderr, "virtsim compare: --reps must be >= 0")
		return exitUsage
	}
	if *jsonPath != "" && *jsonPath != "-" {
		if err := checkWritable(*jsonPath); err != nil {
			fmt.Fprintf(stderr, "virtsim compare: --json: %v\n", err)
			return exitUsage
		}
	}
	p, err := m.loadProfile()
	if err != nil {
		fmt.Fprintf(stderr, "virtsim compare: %v\n", err)
		return exitUsage
	}
	o := m.options("compare", stderr)
	o.Guests, o.Images, o.Args, o.Reps, o.Profile = []string{*guestName}, imgs, *gargs, *reps, p
	res, err := experiments.Matrix(o)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim compare: %v\n", err)
		return exitUsage
	}
	res.Provenance = experiments.CollectProvenance(commandLine("compare", args))
	res.Config = m.config(o, p)
	table := stdout
	if *jsonPath == "-" {
		table = stderr
	}
	fmt.Fprint(table, experiments.CompareTable(res, *guestName))
	if *jsonPath != "" {
		if err := writeOutput(*jsonPath, stdout, res.WriteJSON); err != nil {
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
