package experiments

import (
	"fmt"
	"math"
	"strings"
	"text/tabwriter"
)

// PaperRow is one nanobenchmark of Adams & Agesen (ASPLOS 2006), raw-data
// appendix, in cycles per operation on the Pentium 4: native, the software
// VMM (binary translation) and the hardware VMM (VT-x).
type PaperRow struct {
	Name       string
	Workload   string // the virtsim workload that stands in ("" = none yet)
	OpsPerIter float64
	Native, BT float64
	HW         float64
	Note       string
}

// AdamsAgesen is the paper's nanobenchmark table and virtsim's stand-ins.
var AdamsAgesen = []PaperRow{
	{"syscall", "syscall", 1, 242, 2308, 246, ""},
	{"in", "io", 1, 3209, 216, 15826, "virtsim's io writes the POST port (out 0x80); the paper reads a port (in)"},
	{"cr8wr", "irq-toggle", 1, 150, 35, 177, "no cr8 in 32-bit mode: one cli/sti pair, the 32-bit way to change interrupt priority, stands in"},
	{"call/ret", "call-ret", 2, 11, 51, 11, "each call-ret iteration makes 2 call/ret pairs (one nested)"},
	{"divzero", "divzero", 1, 889, 3223, 1014, ""},
	{"pgfault", "", 1, 1093, 3927, 11242, "needs paging (not yet in virtsim)"},
	{"ptemod", "", 1, 1, 391, 12733, "needs paging (not yet in virtsim)"},
}

// SuiteAdamsAgesen is the bench --suite name of the literature preset.
const SuiteAdamsAgesen = "adams-agesen"

// SuiteN are the two iteration counts whose difference gives the
// per-operation figures (set-up and the result line cancel out).
var SuiteN = [2]uint64{1000, 5000}

// SuiteWorkloads lists the workloads a suite runs.
func SuiteWorkloads(suite string) ([]string, error) {
	if suite != SuiteAdamsAgesen {
		return nil, fmt.Errorf("unknown suite %q (have: %s)", suite, SuiteAdamsAgesen)
	}
	var out []string
	for _, r := range AdamsAgesen {
		if r.Workload != "" {
			out = append(out, r.Workload)
		}
	}
	return out, nil
}

// SuiteArgs gives each workload of the suite the command line n=N.
func SuiteArgs(suite string, n uint64) (map[string]string, error) {
	ws, err := SuiteWorkloads(suite)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, w := range ws {
		m[w] = fmt.Sprintf("n=%d", n)
	}
	return m, nil
}

// PerOp is the modeled cycles per operation of one row under one strategy.
type PerOp struct {
	Strategy string
	Cycles   float64
	OK       bool
}

// LiteratureRow is one row of the literature report.
type LiteratureRow struct {
	Paper                  PaperRow
	Native, Software, HW   PerOp
	PaperWinner, OurWinner string
	Same                   string // "yes", "no", or why it cannot be said
}

// perOp is (modeled at n2 − modeled at n1) / ((n2 − n1) × ops per iteration).
func perOp(lo, hi *Results, guestName, strategy string, n1, n2 uint64, ops float64) PerOp {
	a, b := lo.Find(guestName, strategy), hi.Find(guestName, strategy)
	if a == nil || b == nil || a.Modeled == nil || b.Modeled == nil || a.Error != "" || b.Error != "" || n2 <= n1 {
		return PerOp{Strategy: strategy}
	}
	return PerOp{Strategy: strategy, Cycles: (b.Modeled.Cycles - a.Modeled.Cycles) / (float64(n2-n1) * ops), OK: true}
}

// firstStrategy returns the first strategy in names that ran in res.
func firstStrategy(res *Results, names ...string) string {
	for _, n := range names {
		for _, r := range res.Runs {
			if r.Strategy == n && r.Error == "" {
				return n
			}
		}
	}
	return ""
}

// LiteratureReport compares the paper's cycles per operation with
// virtsim's modeled ones. lo and hi are the suite's counting results at
// n1 and n2 iterations (hi may be a full bench). The software-VMM column is
// bt (trap if bt is not available), the hardware one kvm.
func LiteratureReport(lo, hi *Results, n1, n2 uint64) []LiteratureRow {
	sw := firstStrategy(hi, "bt", "trap")
	hw := firstStrategy(hi, "kvm")
	var rows []LiteratureRow
	for _, p := range AdamsAgesen {
		row := LiteratureRow{Paper: p}
		row.PaperWinner = "BT"
		if p.HW < p.BT {
			row.PaperWinner = "VT-x"
		}
		if p.Workload == "" {
			row.Same = "n/a: " + p.Note
			rows = append(rows, row)
			continue
		}
		row.Native = perOp(lo, hi, p.Workload, "native", n1, n2, p.OpsPerIter)
		if sw != "" {
			row.Software = perOp(lo, hi, p.Workload, sw, n1, n2, p.OpsPerIter)
		}
		if hw != "" {
			row.HW = perOp(lo, hi, p.Workload, hw, n1, n2, p.OpsPerIter)
		}
		switch {
		case !row.Software.OK:
			row.Same = "n/a: no software VMM ran"
		case !row.HW.OK:
			row.Same = "n/a: kvm did not run here"
		default:
			row.OurWinner = "BT"
			if row.HW.Cycles < row.Software.Cycles {
				row.OurWinner = "VT-x"
			}
			row.Same = "no"
			if row.OurWinner == row.PaperWinner {
				row.Same = "yes"
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// FormatLiterature prints the paper's table and virtsim's side by side.
func FormatLiterature(rows []LiteratureRow, profile string, n1, n2 uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Adams & Agesen (ASPLOS 2006) nanobenchmarks, cycles per operation: the paper's P4 measurements beside\n")
	fmt.Fprintf(&b, "virtsim's MODELED cycles under cost profile %s (from exact counts at n=%d and n=%d; no wall time is involved).\n\n", profile, n1, n2)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	var sw, hw string
	for _, r := range rows {
		if r.Software.Strategy != "" {
			sw = r.Software.Strategy
		}
		if r.HW.Strategy != "" {
			hw = r.HW.Strategy
		}
	}
	if sw == "" {
		sw = "bt"
	}
	if hw == "" {
		hw = "kvm"
	}
	fmt.Fprintf(tw, "benchmark\tvirtsim workload\t│\tpaper native\tpaper BT\tpaper VT-x\twinner\t│\tnative\t%s\t%s\twinner\t│\tsame winner?\t\n", sw, hw)
	cell := func(p PerOp) string {
		if !p.OK {
			return "—"
		}
		return fmt.Sprintf("%.0f", math.Round(p.Cycles))
	}
	for _, r := range rows {
		wl := r.Paper.Workload
		if wl == "" {
			wl = "—"
		}
		ow := r.OurWinner
		if ow == "" {
			ow = "—"
		}
		fmt.Fprintf(tw, "%s\t%s\t│\t%.0f\t%.0f\t%.0f\t%s\t│\t%s\t%s\t%s\t%s\t│\t%s\t\n",
			r.Paper.Name, wl, r.Paper.Native, r.Paper.BT, r.Paper.HW, r.PaperWinner,
			cell(r.Native), cell(r.Software), cell(r.HW), ow, r.Same)
	}
	tw.Flush()
	b.WriteString("\n")
	if sw == "trap" {
		b.WriteString("The software-VMM column is trap-and-emulate: bt is not available here.\n")
	}
	for _, r := range rows {
		if r.Paper.Note != "" {
			fmt.Fprintf(&b, "%s: %s\n", r.Paper.Name, r.Paper.Note)
		}
	}
	return b.String()
}
