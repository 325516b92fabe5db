package experiments

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// FormatDuration prints a wall time compactly.
func FormatDuration(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.3gs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.3gms", float64(d)/1e6)
	case d >= time.Microsecond:
		return fmt.Sprintf("%.3gµs", float64(d)/1e3)
	}
	return fmt.Sprintf("%dns", ns)
}

// FormatCycles prints a cycle count compactly (k, M, G).
func FormatCycles(c float64) string {
	switch {
	case c >= 1e9:
		return fmt.Sprintf("%.3gG", c/1e9)
	case c >= 1e6:
		return fmt.Sprintf("%.3gM", c/1e6)
	case c >= 1e4:
		return fmt.Sprintf("%.3gk", c/1e3)
	}
	return fmt.Sprintf("%.0f", c)
}

func formatRatio(p *float64, label string) string {
	s := "—"
	if p != nil {
		s = fmt.Sprintf("%.2f×", *p)
	}
	if label != "" {
		s += " (" + label + ")"
	}
	return s
}

// CompareTable renders one workload under every strategy of res: events by
// cause (each cell the count and how it was handled), totals, guest
// instructions, the measured time and its ratio to native, and the modeled
// cycles and their ratio to native — measured and modeled on separate rows.
func CompareTable(res *Results, guestName string) string {
	var runs []*Run
	for _, s := range res.strategies() {
		if r := res.Find(guestName, s); r != nil {
			runs = append(runs, r)
		}
	}
	var b strings.Builder
	args := ""
	if len(runs) > 0 {
		args = runs[0].Args
	}
	profile := ""
	if res.Profile != nil {
		profile = res.Profile.Name
	}
	fmt.Fprintf(&b, "%s (%s) under %d strategies\n", guestName, args, len(runs))
	fmt.Fprintf(&b, "measured: wall time, median of %d timing runs each, made one at a time\n", res.Config.Reps)
	fmt.Fprintf(&b, "modeled:  cycles from the exact counts, cost profile %s\n\n", profile)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "cause")
	for _, r := range runs {
		fmt.Fprintf(tw, "\t%s", r.Label())
	}
	fmt.Fprintln(tw)
	causes := map[string]bool{}
	for _, r := range runs {
		for _, c := range r.Counts {
			causes[c.Cause] = true
		}
	}
	var cl []string
	for c := range causes {
		cl = append(cl, c)
	}
	sort.Strings(cl)
	for _, c := range cl {
		fmt.Fprint(tw, c)
		for _, r := range runs {
			var parts []string
			for _, row := range r.Counts {
				if row.Cause == c {
					parts = append(parts, fmt.Sprintf("%d %s", row.Count, row.Mechanism))
				}
			}
			cell := strings.Join(parts, " + ")
			if cell == "" {
				cell = "-"
			}
			fmt.Fprintf(tw, "\t%s", cell)
		}
		fmt.Fprintln(tw)
	}
	row := func(name string, f func(r *Run) string) {
		fmt.Fprint(tw, name)
		for _, r := range runs {
			fmt.Fprintf(tw, "\t%s", f(r))
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(tw)
	row("exits (to the VMM)", func(r *Run) string { return fmt.Sprint(r.Exits) })
	row("events (all)", func(r *Run) string { return fmt.Sprint(r.Events) })
	// The guest's own instructions apart from what the strategy's CPU
	// executed beyond them (bt: the translation's own code), so that no
	// row mixes the two.
	row("guest instructions", func(r *Run) string {
		switch {
		case r.GuestInstructionsFrom != "":
			return fmt.Sprintf("%d (%s's)", r.GuestInstructions, r.GuestInstructionsFrom)
		case r.Instructions == 0 && r.Substrate != "unicorn":
			return "not counted"
		}
		return fmt.Sprint(r.guestInstructions())
	})
	if slices.ContainsFunc(runs, func(r *Run) bool { return r.TCInstructions > 0 || r.OverheadInstructions > 0 }) {
		row("instructions executed", func(r *Run) string {
			if r.Instructions == 0 {
				return "—"
			}
			s := fmt.Sprint(r.Instructions)
			if r.TCInstructions > 0 {
				s += fmt.Sprintf(" (%d in the TC)", r.TCInstructions)
			}
			return s
		})
		row("translation's own", func(r *Run) string {
			if r.TCInstructions == 0 && r.OverheadInstructions == 0 {
				return "—"
			}
			return fmt.Sprint(r.OverheadInstructions)
		})
	}
	row("stop", func(r *Run) string {
		if r.Error != "" {
			return "error"
		}
		return fmt.Sprintf("%s %d", r.Stop, r.Status)
	})
	row("measured: wall (median)", func(r *Run) string {
		if r.Wall.N == 0 {
			return "—"
		}
		return FormatDuration(r.Wall.Median)
	})
	row("measured: spread", func(r *Run) string {
		if r.Wall.N == 0 {
			return "—"
		}
		s := fmt.Sprintf("%s–%s (n=%d)", FormatDuration(r.Wall.Min), FormatDuration(r.Wall.Max), r.Wall.N)
		if r.Wall.CIHigh > 0 {
			s += fmt.Sprintf(", 95%% CI %s–%s", FormatDuration(r.Wall.CILow), FormatDuration(r.Wall.CIHigh))
		}
		if r.Wall.Noise != "" {
			s += " NOISE"
		}
		return s
	})
	row("measured: / native", func(r *Run) string {
		s := formatRatio(r.MeasuredRatio, r.MeasuredLabel)
		if ci := r.MeasuredRatioCI; len(ci) == 2 {
			s += fmt.Sprintf(", 95%% CI %.2f–%.2f", ci[0], ci[1])
		}
		return s
	})
	row("modeled: cycles", func(r *Run) string {
		if r.Modeled == nil {
			return "—"
		}
		return FormatCycles(r.Modeled.Cycles)
	})
	row("modeled: insns|own|events|device|transl", func(r *Run) string {
		if r.Modeled == nil {
			return "—"
		}
		m := r.Modeled
		return fmt.Sprintf("%s|%s|%s|%s|%s", FormatCycles(m.Instructions), FormatCycles(m.Overhead), FormatCycles(m.Events),
			FormatCycles(m.Device), FormatCycles(m.Translation))
	})
	row("modeled: / native", func(r *Run) string { return formatRatio(r.ModeledRatio, r.ModeledLabel) })
	tw.Flush()
	for _, r := range runs {
		var names []string
		for k := range r.Counters {
			names = append(names, k)
		}
		sort.Strings(names)
		if len(names) > 0 {
			fmt.Fprintf(&b, "\ncounters under %s:", r.Label())
			for _, k := range names {
				fmt.Fprintf(&b, " %s=%d", k, r.Counters[k])
			}
			b.WriteString("\n")
		}
	}
	var tail []string
	for _, r := range runs {
		if r.Error != "" {
			tail = append(tail, fmt.Sprintf("error under %s: %s", r.Label(), r.Error))
		}
		if r.Modeled != nil && len(r.Modeled.Unpriced) > 0 {
			tail = append(tail, fmt.Sprintf("unpriced under %s (profile has no entry, counted as 0): %s", r.Label(), strings.Join(r.Modeled.Unpriced, ", ")))
		}
		for _, n := range r.Notes {
			tail = append(tail, fmt.Sprintf("note (%s): %s", r.Label(), n))
		}
		if r.Wall.Noise != "" {
			tail = append(tail, fmt.Sprintf("noise (%s): %s; the measured figure is not to be trusted", r.Label(), r.Wall.Noise))
		}
		if r.ModeledRatio != nil && *r.ModeledRatio < 1 && r.Strategy != "native" {
			tail = append(tail, fmt.Sprintf("modeled below 1× (%s): it avoided work native does (%s)", r.Label(), res.avoided(r)))
		}
	}
	for _, s := range res.Skipped {
		if s.Guest == guestName {
			tail = append(tail, fmt.Sprintf("skipped %s: %s", s.Strategy, s.Reason))
		}
	}
	if len(tail) > 0 {
		b.WriteString("\n")
		for _, t := range tail {
			b.WriteString(t + "\n")
		}
	}
	return b.String()
}

// SummaryTable renders a bench: one row per workload, per strategy its
// exits, measured ratio and modeled ratio to native.
func SummaryTable(res *Results) string {
	var b strings.Builder
	strats := res.strategies()
	noisy, withCI := false, false
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "workload\targs\tinstructions")
	for _, s := range strats {
		fmt.Fprintf(tw, "\t%s exits\t%s measured\t%s modeled", s, s, s)
	}
	fmt.Fprintln(tw)
	for _, g := range res.guests() {
		// The guest's own instructions: native's, else the first run's
		// guest count (bt's is native's counting pass, not its own count).
		var args string
		var insns uint64
		if r := res.Find(g, "native"); r != nil {
			args, insns = r.Args, r.guestInstructions()
		} else {
			for _, s := range strats {
				if r := res.Find(g, s); r != nil {
					args, insns = r.Args, r.guestInstructions()
					break
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d", g, args, insns)
		for _, s := range strats {
			r := res.Find(g, s)
			switch {
			case r == nil:
				fmt.Fprint(tw, "\tskipped\t\t")
			case r.Error != "":
				fmt.Fprint(tw, "\terror\t\t")
			default:
				m := "—"
				if r.MeasuredRatio != nil {
					m = fmt.Sprintf("%.2f×", *r.MeasuredRatio)
					if lo, hi, ok := res.ratioRange(r); ok {
						m += fmt.Sprintf(" [%.2f–%.2f]", lo, hi)
					}
					if ci := r.MeasuredRatioCI; len(ci) == 2 {
						m += fmt.Sprintf(" ci %.2f–%.2f", ci[0], ci[1])
						withCI = true
					}
				} else if r.Wall.N > 0 {
					m = FormatDuration(r.Wall.Median)
				}
				if r.Wall.Noise != "" || res.nativeNoisy(r) {
					m += " !"
					noisy = true
				}
				l := "—"
				if r.ModeledRatio != nil {
					l = fmt.Sprintf("%.2f×", *r.ModeledRatio)
				}
				fmt.Fprintf(tw, "\t%d\t%s\t%s", r.Exits, m, l)
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintf(&b, "measured: median wall time / native's median, [range over the runs: min/max vs native's max/min]; modeled: cycles / native's (profile %s)\n", res.profileName())
	if withCI {
		fmt.Fprintf(&b, "ci: 95%% bootstrap interval of the measured ratio (cell and native resampled, %d resamples), where both ran %d times or more\n", BootstrapResamples, BootstrapMinN)
	}
	if noisy {
		fmt.Fprintf(&b, "! noise: the runs of this cell or of its native spread more than %.0f%% of the median, fewer than %d ran, or they are shorter than %s: do not read the measured ratio\n",
			100*NoiseSpread, NoiseMinN, FormatDuration(NoiseMinWall))
	}
	for _, r := range res.Runs {
		if r.ModeledRatio != nil && *r.ModeledRatio < 1 && r.Strategy != "native" {
			fmt.Fprintf(&b, "modeled below 1×: %s under %s avoided work native does (%s)\n", r.Guest, r.Label(), res.avoided(&r))
		}
	}
	labels := map[string]bool{}
	for _, r := range res.Runs {
		if r.MeasuredLabel != "" && !labels[r.Strategy+r.MeasuredLabel] {
			labels[r.Strategy+r.MeasuredLabel] = true
			fmt.Fprintf(&b, "%s measured: %s\n", r.Strategy, r.MeasuredLabel)
		}
	}
	var reasons []string
	seen := map[string]bool{}
	for _, s := range res.Skipped {
		k := s.Strategy + ": " + s.Reason
		if !seen[k] {
			seen[k] = true
			reasons = append(reasons, k)
		}
	}
	for _, r := range reasons {
		fmt.Fprintf(&b, "skipped %s\n", r)
	}
	return b.String()
}

func (res *Results) profileName() string {
	if res.Profile != nil {
		return res.Profile.Name
	}
	return res.Config.Profile
}

// native returns the native run of r's workload and arguments.
func (res *Results) native(r *Run) *Run {
	for i := range res.Runs {
		n := &res.Runs[i]
		if n.Strategy == "native" && n.Guest == r.Guest && n.Args == r.Args && n.Error == "" {
			return n
		}
	}
	return nil
}

// ratioRange is the measured ratio's range over the runs: r's fastest
// over native's slowest, r's slowest over native's fastest.
func (res *Results) ratioRange(r *Run) (lo, hi float64, ok bool) {
	n := res.native(r)
	if n == nil || n.Wall.N == 0 || r.Wall.N == 0 || n.Wall.Min <= 0 || n.Wall.Max <= 0 {
		return 0, 0, false
	}
	return float64(r.Wall.Min) / float64(n.Wall.Max), float64(r.Wall.Max) / float64(n.Wall.Min), true
}

func (res *Results) nativeNoisy(r *Run) bool {
	n := res.native(r)
	return r.MeasuredRatio != nil && n != nil && n.Wall.Noise != ""
}

// avoided names what a run below native's modeled cost did not do: the
// modeled terms that are smaller than native's.
func (res *Results) avoided(r *Run) string {
	n := res.native(r)
	if n == nil || n.Modeled == nil || r.Modeled == nil {
		return "no native to compare"
	}
	var parts []string
	if d := n.Modeled.Device - r.Modeled.Device; d > 0 {
		parts = append(parts, fmt.Sprintf("%s cycles of device work", FormatCycles(d)))
	}
	if d := n.Modeled.Instructions - r.Modeled.Instructions; d > 0 {
		parts = append(parts, fmt.Sprintf("%s cycles of guest instructions", FormatCycles(d)))
	}
	if d := n.Modeled.Events - r.Modeled.Events; d > 0 {
		parts = append(parts, fmt.Sprintf("%s cycles of event handling", FormatCycles(d)))
	}
	if len(parts) == 0 {
		return "no single term"
	}
	return strings.Join(parts, ", ")
}
