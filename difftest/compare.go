package difftest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Runner names a way of running a guest: a virtsim strategy or QEMU.
type Runner = string

// Run runs a guest under runner (QEMU or a strategy).
func Run(runner Runner, elf []byte) (Outcome, error) { return run(runner, elf, false) }

// run is Run, with a strategy's timing pass after its counting pass when
// twoPass is set (RunVMTwoPass).
func run(runner Runner, elf []byte, twoPass bool) (Outcome, error) {
	switch {
	case runner == QEMU:
		return RunQEMU(elf, 60*time.Second)
	case twoPass:
		return RunVMTwoPass(runner, elf, 50_000_000)
	}
	return RunVM(runner, elf, 50_000_000)
}

// Options says how Compare runs a batch.
type Options struct {
	// QEMU adds QEMU TCG as the reference for native.
	QEMU bool
	// TwoPass runs each strategy's uninstrumented timing pass after its
	// counting pass, as virtsim run does, and fails the batch when the
	// two disagree on the stop or any event count.
	TwoPass bool
}

// Report is one stream's line of the harness's output (without "S<n>").
// A missing line (the run ended before the stream) is "(no report: END)".
func reports(o Outcome, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "(no report: " + o.End + ")"
	}
	for _, line := range strings.Split(o.Serial, "\n") {
		if len(line) < 5 || line[0] != 'S' {
			continue
		}
		i, err := strconv.Atoi(line[1:5])
		if err != nil || i >= n {
			continue
		}
		out[i] = strings.TrimSpace(line[5:])
	}
	return out
}

// Divergence is a stream whose report differs between two runners: Ref
// (QEMU for native; native for the other strategies) and Got.
type Divergence struct {
	Stream   Stream
	Ref, Got Runner
	RefLine  string
	GotLine  string
	// Known is the documented difference it is, if any.
	Known *Rule
	// Shrunk is the smallest stream found that still diverges the same way
	// (nil until Shrink).
	Shrunk *Stream
}

// Field is the first field of the two reports that differs ("eax", "fl",
// "X" for a fault in one and not the other, ...).
func (d Divergence) Field() string { return firstField(d.RefLine, d.GotLine) }

func firstField(a, b string) string {
	fa, fb := strings.Fields(a), strings.Fields(b)
	for i := 0; i < len(fa) && i < len(fb); i++ {
		if fa[i] != fb[i] {
			if k, _, ok := strings.Cut(fa[i], "="); ok {
				return k
			}
			return fa[i]
		}
	}
	if len(fa) != len(fb) {
		return "length"
	}
	return ""
}

func (d Divergence) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s stream %d (%s vs %s, first difference: %s)", d.Stream.Family, d.Stream.Seed, d.Got, d.Ref, d.Field())
	if d.Known != nil {
		fmt.Fprintf(&b, " — known: %s", d.Known.Name)
	}
	fmt.Fprintf(&b, "\n  %-6s %s\n  %-6s %s\n", d.Ref, d.RefLine, d.Got, d.GotLine)
	s := d.Stream
	if d.Shrunk != nil {
		s = *d.Shrunk
		b.WriteString("  minimal reproducer:\n")
	}
	for _, in := range s.Insns {
		fmt.Fprintf(&b, "    %s\n", in)
	}
	return b.String()
}

// Compare runs a batch of streams in one image under every runner and
// returns the streams whose reports differ: each strategy against native,
// and native against QEMU when withQEMU. Each divergence is classified
// against the documented differences, and a classification holds only if
// the stream without that rule's instructions agrees (a second batch).
func Compare(streams []Stream, withQEMU bool) ([]Divergence, error) {
	return CompareWith(streams, Options{QEMU: withQEMU})
}

// CompareWith is Compare with the options o.
func CompareWith(streams []Stream, o Options) ([]Divergence, error) {
	divs, err := compare(streams, o)
	if err != nil {
		return nil, err
	}
	// A documented difference must explain the divergence: the stream
	// without the rule's instructions must agree. Those that still
	// diverge are bugs the rule would have hidden.
	var stripped []Stream
	var idx []int
	for i, d := range divs {
		if d.Known == nil {
			continue
		}
		s := d.Stream
		s.Insns = nil
		for _, in := range d.Stream.Insns {
			if !d.Known.Insn.MatchString(in) {
				s.Insns = append(s.Insns, in)
			}
		}
		stripped = append(stripped, s)
		idx = append(idx, i)
	}
	if len(stripped) > 0 {
		again, err := compare(stripped, Options{QEMU: o.QEMU})
		if err != nil {
			return nil, err
		}
		for _, a := range again {
			for j, s := range stripped {
				d := &divs[idx[j]]
				if a.Stream.Seed == s.Seed && a.Ref == d.Ref && a.Got == d.Got {
					d.Known = nil
				}
			}
		}
	}
	return divs, nil
}

// compare runs one batch and lists its divergences, classified.
func compare(streams []Stream, o Options) ([]Divergence, error) {
	withQEMU := o.QEMU
	elf, err := Assemble(Render(streams), "")
	if err != nil {
		return nil, err
	}
	runners := append([]Runner{}, Strategies...)
	if withQEMU {
		runners = append(runners, QEMU)
	}
	reps := map[Runner][]string{}
	for _, r := range runners {
		out, err := run(r, elf, o.TwoPass)
		if err != nil {
			return nil, err
		}
		reps[r] = reports(out, len(streams))
	}
	var out []Divergence
	for i, s := range streams {
		pairs := [][2]Runner{}
		if withQEMU {
			pairs = append(pairs, [2]Runner{QEMU, "native"})
		}
		for _, st := range Strategies[1:] {
			pairs = append(pairs, [2]Runner{"native", st})
		}
		for _, p := range pairs {
			a, b := reps[p[0]][i], reps[p[1]][i]
			if a == b {
				continue
			}
			d := Divergence{Stream: s, Ref: p[0], Got: p[1], RefLine: a, GotLine: b}
			d.Known = Classify(d)
			out = append(out, d)
		}
	}
	return out, nil
}

// Rule is a documented difference: a divergence between Ref and Got in a
// stream with an instruction matching Insn (in user streams only, with
// User) is expected, for the reason Why.
type Rule struct {
	Name     string
	Ref, Got []Runner
	Insn     *regexp.Regexp
	User     bool
	Why      string
}

func (r *Rule) applies(d Divergence) bool {
	in := func(x Runner, xs []Runner) bool {
		for _, y := range xs {
			if x == y {
				return true
			}
		}
		return false
	}
	if !in(d.Ref, r.Ref) || !in(d.Got, r.Got) || (r.User && !d.Stream.User) {
		return false
	}
	s := d.Stream
	if d.Shrunk != nil {
		s = *d.Shrunk
	}
	for _, i := range s.Insns {
		if r.Insn.MatchString(i) {
			return true
		}
	}
	return false
}

// Classify finds the documented difference d is, or nil: a bug. When more
// than one rule applies (a stream with rdmsr and smsw differs from QEMU for
// two documented reasons), the result is their combination — named
// "a+b", its instructions those of either — so that the check "without
// the rule's instructions the stream agrees" strips them all.
func Classify(d Divergence) *Rule {
	var rs []*Rule
	for i := range Rules {
		if Rules[i].applies(d) {
			rs = append(rs, &Rules[i])
		}
	}
	switch len(rs) {
	case 0:
		return nil
	case 1:
		return rs[0]
	}
	c := &Rule{Name: rs[0].Name, Insn: rs[0].Insn, Ref: rs[0].Ref, Got: rs[0].Got, Why: rs[0].Why}
	pat := "(?:" + rs[0].Insn.String() + ")"
	for _, r := range rs[1:] {
		c.Name += "+" + r.Name
		c.Why += "; " + r.Why
		pat += "|(?:" + r.Insn.String() + ")"
	}
	c.Insn = regexp.MustCompile(pat)
	return c
}
