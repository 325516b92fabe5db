package labs

import (
	"errors"
	"sort"
	"strconv"
	"strings"
)

// Verdict is one checked answer.
type Verdict struct {
	Q        *Question
	Given    string
	Expected string // computed from the run ("" when it could not be)
	OK       bool
	// Err is why no answer could be computed: ErrUnavailable (the
	// strategy cannot run here) or a failed run.
	Err error
}

// Unavailable reports whether the question cannot be checked here.
func (v Verdict) Unavailable() bool { return errors.Is(v.Err, ErrUnavailable) }

// Check computes every question's answer by running the simulator and
// compares the student's (answers by question id; a missing one is wrong).
func Check(l *Lab, answers map[string]string, r *Runner) []Verdict {
	var out []Verdict
	for _, q := range l.Questions {
		v := Verdict{Q: q, Given: answers[q.ID]}
		v.Expected, v.Err = r.Eval(q.Spec)
		if v.Err == nil {
			v.OK = Same(v.Expected, v.Given)
		}
		out = append(out, v)
	}
	return out
}

// Same compares an answer with the computed one: case and spacing do not
// matter, numbers compare as numbers (0.0 is 0, 0x10 is 16), lists
// ("a, b" or "a b") as sets.
func Same(expected, given string) bool {
	e, g := norm(expected), norm(given)
	if e == g {
		return true
	}
	if x, ok := number(e); ok {
		y, ok := number(g)
		return ok && x == y
	}
	if strings.Contains(e, ",") {
		return sameSet(e, g)
	}
	// a counter's name without its family: "pushf" for "sens/pushf"
	if i := strings.LastIndexByte(e, '/'); i >= 0 && !strings.Contains(g, "/") {
		return e[i+1:] == g
	}
	return false
}

func norm(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(strings.Trim(strings.TrimSpace(s), ".")), " "))
}

func number(s string) (float64, bool) {
	if i, err := strconv.ParseInt(s, 0, 64); err == nil {
		return float64(i), true
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

func sameSet(a, b string) bool {
	split := func(s string) []string {
		f := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == ';' })
		sort.Strings(f)
		return f
	}
	x, y := split(a), split(b)
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}
