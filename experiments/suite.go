package experiments

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"virtsim/hwassist/vtx"
	"virtsim/vmm"
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
	// Substitute names what virtsim measures instead of the paper's
	// operation, and why ("" when it is the same operation).
	Substitute string
	Note       string
}

// AdamsAgesen is the paper's nanobenchmark table and virtsim's stand-ins.
// The pgfault and ptemod rows run the paging workloads (guest.Workload
// Paging) under the strategies in PagingStrategies.
var AdamsAgesen = []PaperRow{
	{Name: "syscall", Workload: "syscall", OpsPerIter: 1, Native: 242, BT: 2308, HW: 246},
	{Name: "in", Workload: "io", OpsPerIter: 1, Native: 3209, BT: 216, HW: 15826,
		Substitute: "an out to the POST port 0x80 stands in for the paper's in from a port: both are port I/O every VMM must intercept, and virtsim's devices have no read-side register free of side effects to time"},
	{Name: "cr8wr", Workload: "irq-toggle", OpsPerIter: 2, Native: 150, BT: 35, HW: 177,
		Substitute: "each cli and each sti (2 per iteration) stands in for a cr8 write: both are privileged writes of the interrupt-masking state, and cr8 exists only in 64-bit mode (virtsim's guests are 32-bit, with no local APIC TPR); native records no event for cli/sti, so the native and modeled VT-x columns count them from bt's in-TC events of the same image (WithCensus) and price them as the CPU running them"},
	{Name: "call/ret", Workload: "call-ret", OpsPerIter: 2, Native: 11, BT: 51, HW: 11,
		Note: "each call-ret iteration makes 2 call/ret pairs (one nested)"},
	{Name: "divzero", Workload: "divzero", OpsPerIter: 1, Native: 889, BT: 3223, HW: 1014},
	{Name: "pgfault", Workload: "pgfault", OpsPerIter: 1, Native: 1093, BT: 3927, HW: 11242,
		Note: "native records the #PF but not the handler's PTE writes and invlpg: the native and modeled VT-x columns count them (and, without nested paging, the shadow's hidden faults) from trap's run (WithCensus)"},
	{Name: "ptemod", Workload: "ptemod", OpsPerIter: 1, Native: 1, BT: 391, HW: 12733,
		Note: "native records no event for a PTE write or invlpg: the native and modeled VT-x columns count them (and, without nested paging, the shadow's hidden faults) from trap's run (WithCensus)"},
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

// Columns of the literature report.
const (
	ColNative = "native"
	ColTrap   = "trap"
	ColBT     = "bt"
	ColPV     = "pv"
	// ColVTx is hardware-assisted KVM (vmx or svm) measured here.
	ColVTx = "VT-x (kvm)"
	// ColPVM is KVM on PVM: software virtualization, its own column.
	ColPVM = "PVM (kvm)"
	// ColVTxModel is VT-x modeled from native's counts (package vtx).
	ColVTxModel = "VT-x (modeled)"
)

// Labels of a literature cell.
const (
	LabelPrediction = "prediction"
	LabelEcho       = "echo"
)

// LitTerm is one term of a cell's per-operation breakdown.
type LitTerm struct {
	Term        string   `json:"term"`
	What        string   `json:"what"`   // cause and mechanism, counter name, "guest instructions"
	PerOp       float64  `json:"per_op"` // units per operation
	Each        float64  `json:"cycles_each"`
	Cycles      float64  `json:"cycles"` // per operation
	DerivedFrom []string `json:"derived_from,omitempty"`
}

// LitCell is virtsim's figure for one row and column.
type LitCell struct {
	Column   string    `json:"column"`
	Strategy string    `json:"strategy"`
	OK       bool      `json:"ok"`
	Cycles   float64   `json:"cycles"`
	Terms    []LitTerm `json:"terms,omitempty"`
	// Label is LabelPrediction when no unit cost that priced the cell was
	// derived from the cell's own table row (after holding those out),
	// LabelEcho otherwise; EchoOf names the entries.
	Label  string   `json:"label,omitempty"`
	EchoOf []string `json:"echo_of,omitempty"`
	// Paper is the paper's figure for the column (0: none), Ratio ours /
	// the paper's.
	Paper float64 `json:"paper,omitempty"`
	Ratio float64 `json:"ratio,omitempty"`
	Why   string  `json:"why,omitempty"` // why the cell is empty
}

// Within2x says whether the cell lies within a factor 2 of the paper's.
func (c LitCell) Within2x() bool { return c.OK && c.Paper > 0 && c.Ratio >= 0.5 && c.Ratio <= 2 }

// LiteratureRow is one row of the literature report.
type LiteratureRow struct {
	Paper PaperRow  `json:"paper"`
	Cells []LitCell `json:"cells"`
	// PaperWinner and OurWinner are "BT" or "VT-x"; ours compares bt with
	// the VT-x column (hardware KVM if it ran, else the modeled one).
	PaperWinner string `json:"paper_winner"`
	OurWinner   string `json:"our_winner,omitempty"`
	HWColumn    string `json:"hw_column,omitempty"`
	// Verdict: "prediction" when the bt and VT-x cells both are, "echo"
	// otherwise, or why the row cannot be computed.
	Verdict string `json:"verdict"`
}

// Cell returns the row's cell of column col, or nil.
func (r *LiteratureRow) Cell(col string) *LitCell {
	for i := range r.Cells {
		if r.Cells[i].Column == col {
			return &r.Cells[i]
		}
	}
	return nil
}

// SameWinner is "yes", "no", or "" when there is no winner of ours.
func (r *LiteratureRow) SameWinner() string {
	switch {
	case r.OurWinner == "":
		return ""
	case r.OurWinner == r.PaperWinner:
		return "yes"
	}
	return "no"
}

// findRun returns the run of guest under strategy in runs.
func findRun(runs []Run, guestName, strategy string) *Run {
	for i := range runs {
		if runs[i].Guest == guestName && runs[i].Strategy == strategy && runs[i].Error == "" {
			return &runs[i]
		}
	}
	return nil
}

// VTxInput models a run under first-generation or nested-paging VT-x
// from native's counts: every event native recorded is classified by the
// vtx decision table (an exit to user space, an exit handled in the
// kernel, or no exit); the guest instructions are native's.
func VTxInput(native ModelInput, nestedPaging bool) ModelInput {
	out := ModelInput{GuestInstructions: native.GuestInstructions, Counts: vmm.Counts{}}
	for k, n := range native.Counts {
		m := vmm.MechMachine
		if d, ok := vtx.Classify(k.Cause, nestedPaging); ok {
			m = d.Mech
		}
		out.Counts[vmm.Key{Cause: k.Cause, Mech: m}] += n
	}
	return out
}

// WithCensus adds to native's counts what the guest does that native
// executes without recording, counted by strategies that see it in the
// same program: the sensitive instructions bt rewrites in the TC (cli,
// sti, pushf...: its in-TC events) and the paging operations trap's shadow
// page tables trace (page-table writes pt/*, invlpg, CR3 writes). They
// are priced as machine events, what the CPU charges for running them.
// With shadowFaults (a modeled VT-x without nested paging, which keeps
// shadow page tables too) trap's hidden page faults are added as well.
func WithCensus(native ModelInput, bt, trap *Run, shadowFaults bool) ModelInput {
	out := native
	out.Counts = native.Counts.Clone()
	if bt != nil {
		for _, c := range bt.Counts {
			if c.Mechanism == vmm.MechInTC.String() {
				out.Counts[vmm.Key{Cause: c.Cause, Mech: vmm.MechMachine}] += c.Count
			}
		}
	}
	if trap != nil {
		for _, c := range trap.Counts {
			if strings.HasPrefix(c.Cause, "pt/") || c.Cause == "priv/invlpg" || c.Cause == "priv/mov-cr3" ||
				(shadowFaults && c.Cause == "pf/hidden") {
				out.Counts[vmm.Key{Cause: c.Cause, Mech: vmm.MechMachine}] += c.Count
			}
		}
	}
	return out
}

// perOpCell prices the difference between two passes of a row's workload
// with the profile whose figures derived from the row are held out.
func perOpCell(p *Profile, row PaperRow, a, b ModelInput, dn uint64) LitCell {
	q := p.HoldOut(row.Name)
	ma, mb := q.ModelCounts(a), q.ModelCounts(b)
	div := float64(dn) * row.OpsPerIter
	type acc struct {
		r      ModeledRow
		count  float64
		cycles float64
	}
	terms := map[string]*acc{}
	var keys []string
	for sign, m := range map[float64]Modeled{-1: ma, 1: mb} {
		for _, r := range m.Rows {
			k := r.Key()
			t := terms[k]
			if t == nil {
				t = &acc{r: r}
				terms[k] = t
				keys = append(keys, k)
			}
			t.count += sign * float64(r.Count)
			t.cycles += sign * r.Cycles
			if sign > 0 {
				t.r = r
			}
		}
	}
	sort.Strings(keys)
	c := LitCell{OK: true, Label: LabelPrediction}
	var small float64
	for _, k := range keys {
		t := terms[k]
		if math.Abs(t.cycles/div) < 0.5 {
			small += t.cycles / div // counted, not listed (e.g. the longer result line at the higher n)
			continue
		}
		what := t.r.Cause
		switch t.r.Term {
		case TermInstructions:
			what = "guest instructions"
		case TermOverhead:
			what = "translation's own instructions"
		case TermEvent, TermDevice:
			what = t.r.Cause + " " + t.r.Mechanism
			if t.r.Term == TermDevice {
				what = "device work of " + t.r.Cause
			}
		}
		lt := LitTerm{Term: t.r.Term, What: what, PerOp: t.count / div, Each: t.r.Each, Cycles: t.cycles / div, DerivedFrom: t.r.DerivedFrom}
		c.Terms = append(c.Terms, lt)
		c.Cycles += lt.Cycles
		if slices.Contains(t.r.DerivedFrom, row.Name) {
			c.Label = LabelEcho
			c.EchoOf = append(c.EchoOf, what)
		}
	}
	sort.SliceStable(c.Terms, func(i, j int) bool { return c.Terms[i].Cycles > c.Terms[j].Cycles })
	if math.Abs(small) >= 0.005 {
		c.Terms = append(c.Terms, LitTerm{Term: "other", What: "terms under 0.5 cycles each", PerOp: 1, Each: small, Cycles: small})
		c.Cycles += small
	}
	return c
}

// LiteratureReport compares the paper's cycles per operation with
// virtsim's modeled ones, from a suite's results: its main runs (n =
// Config.SuiteN) and its lower pass (Passes). Every cell is computed from
// counts × unit costs of profile p with the figures derived from that
// cell's own row held out.
func LiteratureReport(res *Results, p *Profile) ([]LiteratureRow, error) {
	var lo *Pass
	for i := range res.Passes {
		if res.Passes[i].N > 0 && res.Passes[i].N < res.Config.SuiteN {
			lo = &res.Passes[i]
		}
	}
	if lo == nil || res.Config.SuiteN == 0 {
		return nil, fmt.Errorf("literature report: the results hold no suite pass at a lower n (run bench --suite %s)", SuiteAdamsAgesen)
	}
	dn := res.Config.SuiteN - lo.N
	var rows []LiteratureRow
	for _, pr := range AdamsAgesen {
		row := LiteratureRow{Paper: pr, PaperWinner: "BT"}
		if pr.HW < pr.BT {
			row.PaperWinner = "VT-x"
		}
		if pr.Workload == "" {
			row.Verdict = "n/a: " + pr.Note
			rows = append(rows, row)
			continue
		}
		cell := func(col, strategy string, in func(r *Run) ModelInput, paper float64) LitCell {
			a, b := findRun(lo.Runs, pr.Workload, strategy), findRun(res.Runs, pr.Workload, strategy)
			if a == nil || b == nil {
				why := strategy + " did not run"
				for _, sk := range res.Skipped {
					if sk.Guest == pr.Workload && sk.Strategy == strategy {
						why = sk.Reason
					}
				}
				for _, r := range res.Runs {
					if r.Guest == pr.Workload && r.Strategy == strategy && r.Error != "" {
						why = "error: " + r.Error
					}
				}
				return LitCell{Column: col, Strategy: strategy, Paper: paper, Why: why}
			}
			c := perOpCell(p, pr, in(a), in(b), dn)
			c.Column, c.Strategy, c.Paper = col, strategy, paper
			if paper > 0 {
				c.Ratio = c.Cycles / paper
			}
			return c
		}
		own := func(r *Run) ModelInput { return r.ModelInput() }
		// Native's counts with the census of its unrecorded sensitive
		// instructions from bt's run of the same pass.
		census := func(r *Run, shadowFaults bool) ModelInput {
			runs := lo.Runs
			if findRun(res.Runs, r.Guest, "native") == r {
				runs = res.Runs
			}
			return WithCensus(r.ModelInput(), findRun(runs, r.Guest, "bt"), findRun(runs, r.Guest, "trap"), shadowFaults)
		}
		row.Cells = append(row.Cells,
			cell(ColNative, "native", func(r *Run) ModelInput { return census(r, false) }, pr.Native),
			cell(ColBT, "bt", own, pr.BT),
			cell(ColTrap, "trap", own, 0),
			cell(ColPV, "pv", own, 0))
		// kvm goes to the VT-x column only on hardware assist.
		var kvmFlavour string
		if r := findRun(res.Runs, pr.Workload, "kvm"); r != nil {
			kvmFlavour = r.Flavour
		}
		switch kvmFlavour {
		case "vmx", "svm":
			row.Cells = append(row.Cells, cell(ColVTx, "kvm", own, pr.HW))
		case "":
			row.Cells = append(row.Cells, LitCell{Column: ColVTx, Strategy: "kvm", Paper: pr.HW, Why: "no hardware-assisted KVM here"})
		default:
			row.Cells = append(row.Cells,
				LitCell{Column: ColVTx, Strategy: "kvm", Paper: pr.HW, Why: "KVM here is " + kvmFlavour + ", not hardware assist"},
				cell(ColPVM, "kvm", own, 0))
		}
		row.Cells = append(row.Cells, cell(ColVTxModel, "native", func(r *Run) ModelInput { return VTxInput(census(r, !p.NestedPaging), p.NestedPaging) }, pr.HW))
		bt := row.Cell(ColBT)
		hw := row.Cell(ColVTx)
		row.HWColumn = ColVTx
		if !hw.OK {
			hw, row.HWColumn = row.Cell(ColVTxModel), ColVTxModel
		}
		switch {
		case !bt.OK:
			row.Verdict = "n/a: bt: " + bt.Why
		case !hw.OK:
			row.Verdict = "n/a: no VT-x column"
		default:
			row.OurWinner = "BT"
			if hw.Cycles < bt.Cycles {
				row.OurWinner = "VT-x"
			}
			row.Verdict = LabelPrediction
			if bt.Label == LabelEcho || hw.Label == LabelEcho {
				row.Verdict = LabelEcho
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// litColumns are the columns the report prints, in order.
var litColumns = []string{ColNative, ColBT, ColVTx, ColVTxModel, ColPVM, ColTrap, ColPV}

// FormatLiterature prints the paper's table beside virtsim's, every cell
// labelled, then each cell's breakdown and where the model disagrees.
func FormatLiterature(rows []LiteratureRow, p *Profile, n1, n2 uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Adams & Agesen (ASPLOS 2006) nanobenchmarks, cycles per operation: the paper's P4 measurements beside\n")
	fmt.Fprintf(&b, "virtsim's MODELED cycles (cost profile %s; exact counts at n=%d and n=%d, their difference per operation;\n", p.Name, n1, n2)
	b.WriteString("no wall time is involved). Each cell is counts × unit costs with the figures taken from that row of the\n")
	b.WriteString("paper's table held out: P = prediction (no such figure priced it), E = echo (one did; see the breakdown).\n")
	b.WriteString("(×r) is virtsim / paper. The VT-x (modeled) column is native's counts classified by hwassist/vtx and priced\n")
	b.WriteString("with VM exit costs: a model, not a measurement.\n\n")
	used := map[string]bool{}
	for _, r := range rows {
		for _, c := range r.Cells {
			if c.OK {
				used[c.Column] = true
			}
		}
	}
	var cols []string
	for _, c := range litColumns {
		if used[c] || c == ColVTx {
			cols = append(cols, c)
		}
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "benchmark\tworkload\tpaper native\tpaper BT\tpaper VT-x\t")
	for _, c := range cols {
		fmt.Fprintf(tw, "%s\t", c)
	}
	fmt.Fprintln(tw, "winner paper/ours\trow")
	for _, r := range rows {
		wl := r.Paper.Workload
		if wl == "" {
			wl = "—"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%.0f\t", r.Paper.Name, wl, r.Paper.Native, r.Paper.BT, r.Paper.HW)
		for _, col := range cols {
			c := r.Cell(col)
			switch {
			case c == nil || !c.OK:
				fmt.Fprint(tw, "—\t")
			default:
				s := fmt.Sprintf("%.0f %s", c.Cycles, strings.ToUpper(c.Label[:1]))
				if c.Paper > 0 {
					s += fmt.Sprintf(" (×%.2g)", c.Ratio)
				}
				fmt.Fprintf(tw, "%s\t", s)
			}
		}
		ow := r.OurWinner
		if ow == "" {
			ow = "—"
		}
		verdict := r.Verdict
		if s := r.SameWinner(); s != "" {
			verdict += ", same winner: " + s
		}
		fmt.Fprintf(tw, "%s/%s\t%s\n", r.PaperWinner, ow, verdict)
	}
	tw.Flush()

	b.WriteString("\nBreakdown per operation (unit cost × units = cycles; [row] marks a unit cost taken from that table row):\n")
	for _, r := range rows {
		if r.Paper.Workload == "" {
			continue
		}
		fmt.Fprintf(&b, "\n%s (%s):\n", r.Paper.Name, r.Paper.Workload)
		for _, col := range cols {
			c := r.Cell(col)
			if c == nil {
				continue
			}
			if !c.OK {
				fmt.Fprintf(&b, "  %-15s —  %s\n", col, c.Why)
				continue
			}
			var parts []string
			for _, t := range c.Terms {
				s := fmt.Sprintf("%.3g %s × %.4g", t.PerOp, t.What, t.Each)
				if len(t.DerivedFrom) > 0 {
					s += " [" + strings.Join(t.DerivedFrom, ",") + "]"
				}
				parts = append(parts, s)
			}
			if len(parts) == 0 {
				parts = []string{"nothing grows with n"}
			}
			fmt.Fprintf(&b, "  %-15s = %.0f %s: %s\n", col, c.Cycles, c.Label, strings.Join(parts, " + "))
		}
	}

	b.WriteString("\nWhere the model disagrees with the paper:\n")
	any := false
	for _, r := range rows {
		if r.Paper.Workload == "" {
			continue
		}
		if r.SameWinner() == "no" {
			any = true
			fmt.Fprintf(&b, "- %s: the paper's winner is %s, the model's %s (%s %.0f vs bt %.0f).\n", r.Paper.Name, r.PaperWinner, r.OurWinner,
				r.HWColumn, r.Cell(r.HWColumn).Cycles, r.Cell(ColBT).Cycles)
		}
		for _, c := range r.Cells {
			if !c.OK || c.Paper == 0 || c.Within2x() {
				continue
			}
			any = true
			big := ""
			if len(c.Terms) > 0 {
				big = fmt.Sprintf("; its largest term is %s (%.0f cycles)", c.Terms[0].What, c.Terms[0].Cycles)
			}
			fmt.Fprintf(&b, "- %s, %s: %.0f vs the paper's %.0f (×%.2g)%s.\n", r.Paper.Name, c.Column, c.Cycles, c.Paper, c.Ratio, big)
		}
	}
	if !any {
		b.WriteString("- nowhere beyond a factor 2.\n")
	}
	b.WriteString("\nSubstitutes and notes:\n")
	for _, r := range rows {
		if r.Paper.Substitute != "" {
			fmt.Fprintf(&b, "- %s: %s.\n", r.Paper.Name, r.Paper.Substitute)
		}
		if r.Paper.Note != "" {
			fmt.Fprintf(&b, "- %s: %s.\n", r.Paper.Name, r.Paper.Note)
		}
	}
	b.WriteString("- Device work (a port access's own latency) is charged the same under every strategy; the paper's VMMs emulated\n")
	b.WriteString("  the port without touching the hardware, which is how its BT beat native on in. The model cannot show that inversion.\n")
	npred, nwin, n2x := 0, 0, 0
	for _, r := range rows {
		if r.Verdict == LabelPrediction {
			npred++
			if r.SameWinner() == "yes" {
				nwin++
				if r.Cell(ColBT).Within2x() && r.Cell(r.HWColumn).Within2x() {
					n2x++
				}
			}
		}
	}
	fmt.Fprintf(&b, "\nSummary: %d of %d rows are predictions; %d of them name the paper's winner; in %d of those the BT and VT-x cells both lie within 2× of the paper's cycles.\n",
		npred, len(rows), nwin, n2x)
	return b.String()
}
