package main

import (
	"fmt"
	"io"
	"strings"

	"virtsim/difftest"
	"virtsim/internal/qemu"
)

// cmdDifftest generates random instruction streams, runs them under every
// Unicorn strategy (and QEMU, with --qemu) and reports the streams whose
// final state differs, shrunk to minimal reproducers; documented
// differences are counted by name. Exit status 1 if an undocumented
// divergence was found.
func cmdDifftest(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("difftest", "[flags]", stdout, stderr)
	n := fs.Int("streams", 100, "streams per family")
	batch := fs.Int("batch", 100, "streams per guest image (one boot of each runner)")
	length := fs.Int("length", 16, "instructions per stream (about)")
	seed := fs.Int64("seed", 0, "the first stream's seed; streams use seed, seed+1, ...")
	fams := fs.String("family", "all", "comma-separated families: "+familyList()+", or all")
	withQEMU := fs.Bool("qemu", false, "compare native with QEMU TCG too (slower: one QEMU boot per batch)")
	shrink := fs.Bool("shrink", true, "shrink undocumented divergences to minimal reproducers")
	if done, st := parseFlags(fs, args); done {
		return st
	}
	if *n <= 0 || *batch <= 0 || *length <= 0 || *batch > 9999 {
		fmt.Fprintln(stderr, "virtsim difftest: --streams, --batch and --length must be positive (--batch at most 9999)")
		return exitUsage
	}
	families := difftest.Families
	if *fams != "all" {
		families = nil
		for _, f := range strings.Split(*fams, ",") {
			fam, err := difftest.ParseFamily(strings.TrimSpace(f))
			if err != nil {
				fmt.Fprintf(stderr, "virtsim difftest: %v\n", err)
				return exitUsage
			}
			families = append(families, fam)
		}
	}
	if err := difftest.ToolsAvailable(); err != nil {
		fmt.Fprintf(stderr, "virtsim difftest: %v\n", err)
		return exitUnavailable
	}
	if *withQEMU {
		if err := qemu.Available(); err != nil {
			fmt.Fprintf(stderr, "virtsim difftest: %v\n", err)
			return exitUnavailable
		}
	}
	bugs, total := 0, 0
	known := map[string]int{}
	for _, f := range families {
		for start := 0; start < *n; start += *batch {
			var ss []difftest.Stream
			for i := start; i < min(start+*batch, *n); i++ {
				ss = append(ss, difftest.Generate(f, *seed+int64(i), *length))
			}
			total += len(ss)
			divs, err := difftest.Compare(ss, *withQEMU)
			if err != nil {
				fmt.Fprintf(stderr, "virtsim difftest: %s: %v\n", f, err)
				return exitInternal
			}
			for _, d := range divs {
				if d.Known == nil && *shrink {
					if _, err := difftest.Shrink(&d); err != nil {
						fmt.Fprintf(stderr, "virtsim difftest: shrink: %v\n", err)
						return exitInternal
					}
				}
				if d.Known != nil {
					known[d.Known.Name]++
					continue
				}
				bugs++
				fmt.Fprintf(stdout, "DIVERGENCE %s\n", d)
			}
		}
		fmt.Fprintf(stderr, "difftest: %s done\n", f)
	}
	fmt.Fprintf(stdout, "%d streams, %d undocumented divergences; documented differences: %v\n", total, bugs, known)
	if bugs > 0 {
		return exitRegression
	}
	return exitOK
}

func familyList() string {
	var s []string
	for _, f := range difftest.Families {
		s = append(s, string(f))
	}
	return strings.Join(s, ", ")
}
