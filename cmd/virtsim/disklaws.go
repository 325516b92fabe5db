package main

import (
	"fmt"
	"io"

	"virtsim/experiments"
	"virtsim/vmm"
)

// cmdDiskLaws prints the disk workload's exits per sector by strategy and
// disk path (the emulated ATA disk, the paravirtual ring), measured exactly.
func cmdDiskLaws(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("disk-laws", "[--strategies a,b] [--n1 N --n2 N]", stdout, stderr)
	var strategies listFlag
	fs.Var(&strategies, "strategies", "comma-separated strategies (default: every registered one; unavailable ones are skipped with their reason)")
	n1 := fs.Int("n1", 10, "sectors per phase of the first run")
	plotDir := fs.String("plot", "", "also write the chart as DIR/disk-laws.svg and .png")
	n2 := fs.Int("n2", 20, "sectors per phase of the second run (at most 64; the same number of digits as n1, or the console line adds exits)")
	if done, st := parseFlags(fs, args); done {
		return st
	}
	if len(strategies) == 0 {
		for _, s := range vmm.Strategies() {
			strategies = append(strategies, s.Name)
		}
	}
	laws, skipped, err := experiments.DiskLaws(strategies, *n1, *n2)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim disk-laws: %v\n", err)
		return exitUsage
	}
	for _, s := range skipped {
		fmt.Fprintf(stderr, "virtsim disk-laws: skipped %s\n", s)
	}
	if err := experiments.WriteDiskLaws(stdout, laws, *n2); err != nil {
		fmt.Fprintf(stderr, "virtsim disk-laws: %v\n", err)
		return exitInternal
	}
	if *plotDir != "" {
		c, err := experiments.DiskLawsChart(laws)
		if err == nil {
			var paths []string
			paths, err = experiments.WriteCharts([]*experiments.Chart{c}, *plotDir)
			for _, p := range paths {
				fmt.Fprintf(stderr, "wrote %s\n", p)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "virtsim disk-laws: %v\n", err)
			return exitInternal
		}
	}
	return exitOK
}
