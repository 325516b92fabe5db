package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"virtsim/difftest"
	"virtsim/internal/qemu"
	"virtsim/vmm"
)

// cmdDifftest generates random instruction streams, runs them under every
// Unicorn strategy (and QEMU, with --qemu or for the first --qemu-streams
// of each family) and reports the streams whose final state differs,
// shrunk to minimal reproducers; documented differences are counted by
// name. A progress line per batch goes to stderr; the summary (per family:
// streams, runs against QEMU, undocumented divergences, documented ones by
// name) to stdout. Exit status 1 if an undocumented divergence was found.
func cmdDifftest(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("difftest", "[flags]", stdout, stderr)
	n := fs.Int("streams", 100, "streams per family")
	batch := fs.Int("batch", 100, "streams per guest image (one boot of each runner)")
	length := fs.Int("length", 16, "instructions per stream (about)")
	seed := fs.Int64("seed", 0, "the first stream's seed; streams use seed, seed+1, ...")
	fams := fs.String("family", "all", "comma-separated families: "+familyList()+", or all")
	withQEMU := fs.Bool("qemu", false, "compare native with QEMU TCG for every stream (slower: one QEMU boot per batch)")
	qemuN := fs.Int("qemu-streams", 0, "compare native with QEMU for the first N streams of each family (the rest strategy-vs-native)")
	shrink := fs.Bool("shrink", true, "shrink undocumented divergences to minimal reproducers")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	twoPass := fs.Bool("two-pass", false, "also run each strategy's uninstrumented timing pass of every batch, as virtsim run does, and stop with status 83 when it disagrees with the counting pass")
	if done, st := parseFlags(fs, args); done {
		return st
	}
	if *n <= 0 || *batch <= 0 || *length <= 0 || *batch > 9999 || *qemuN < 0 {
		fmt.Fprintln(stderr, "virtsim difftest: --streams, --batch and --length must be positive (--batch at most 9999), --qemu-streams not negative")
		return exitUsage
	}
	if *withQEMU {
		*qemuN = *n
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
	if *qemuN > 0 {
		if err := qemu.Available(); err != nil {
			fmt.Fprintf(stderr, "virtsim difftest: %v\n", err)
			return exitUnavailable
		}
	}
	type famSum struct {
		streams, withQEMU, bugs int
		known                   map[string]int
		took                    time.Duration
	}
	sums := map[difftest.Family]*famSum{}
	all := len(families) * *n
	doneAll := 0
	t0 := time.Now()
	for _, f := range families {
		s := &famSum{known: map[string]int{}}
		sums[f] = s
		tf := time.Now()
		for start := 0; start < *n; start += *batch {
			end := min(start+*batch, *n)
			q := start < *qemuN
			if q {
				end = min(end, *qemuN) // a batch is all QEMU or none
			}
			var ss []difftest.Stream
			for i := start; i < end; i++ {
				ss = append(ss, difftest.Generate(f, *seed+int64(i), *length))
			}
			divs, err := difftest.CompareWith(ss, difftest.Options{QEMU: q, TwoPass: *twoPass})
			if err != nil {
				fmt.Fprintf(stderr, "virtsim difftest: %s streams %d-%d (seeds %d-%d): %v\n", f, start, end-1, *seed+int64(start), *seed+int64(end-1), err)
				if errors.Is(err, vmm.ErrNotDeterministic) {
					return exitMismatch
				}
				return exitInternal
			}
			s.streams += len(ss)
			if q {
				s.withQEMU += len(ss)
			}
			for _, d := range divs {
				if d.Known == nil && *shrink {
					if _, err := difftest.Shrink(&d); err != nil {
						fmt.Fprintf(stderr, "virtsim difftest: shrink: %v\n", err)
						return exitInternal
					}
				}
				if d.Known != nil {
					s.known[d.Known.Name]++
					continue
				}
				s.bugs++
				fmt.Fprintf(stdout, "DIVERGENCE %s\n", d)
			}
			doneAll += len(ss)
			start = end - *batch // the next batch starts at end
			if !*quiet {
				el := time.Since(t0)
				eta := time.Duration(float64(el) / float64(doneAll) * float64(all-doneAll))
				fmt.Fprintf(stderr, "difftest: %-6s %5d/%d streams (%d vs QEMU), %d undocumented, documented %s; all %d/%d, %s elapsed, ~%s left\n",
					f, s.streams, *n, s.withQEMU, s.bugs, knownList(s.known), doneAll, all, el.Round(time.Second), eta.Round(time.Second))
			}
		}
		s.took = time.Since(tf)
	}
	fmt.Fprintf(stdout, "%-8s %8s %8s %13s %8s  %s\n", "family", "streams", "vs qemu", "undocumented", "seconds", "documented differences")
	total, bugs, totalQ := 0, 0, 0
	known := map[string]int{}
	for _, f := range families {
		s := sums[f]
		fmt.Fprintf(stdout, "%-8s %8d %8d %13d %8.1f  %s\n", f, s.streams, s.withQEMU, s.bugs, s.took.Seconds(), knownList(s.known))
		total += s.streams
		totalQ += s.withQEMU
		bugs += s.bugs
		for k, v := range s.known {
			known[k] += v
		}
	}
	fmt.Fprintf(stdout, "%-8s %8d %8d %13d %8.1f  %s\n", "all", total, totalQ, bugs, time.Since(t0).Seconds(), knownList(known))
	if bugs > 0 {
		return exitRegression
	}
	return exitOK
}

// knownList prints documented differences as name×count, sorted.
func knownList(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for i, k := range ks {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s×%d", k, m[k])
	}
	return b.String()
}

func familyList() string {
	var s []string
	for _, f := range difftest.Families {
		s = append(s, string(f))
	}
	return strings.Join(s, ", ")
}
