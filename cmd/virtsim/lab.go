package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"virtsim/labs"
)

// labInput is where --check reads the student's answers (tests replace it).
var labInput io.Reader = os.Stdin

// cmdLab lists the guided labs, shows one, runs one of its steps, or
// checks a student's answers against real runs.
func cmdLab(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("lab", "[N|NAME] [--check | --answers FILE | --step K | --solutions] [--dir D]", stdout, stderr)
	check := fs.Bool("check", false, "ask each question on stdin and check the answers against runs of the simulator")
	answers := fs.String("answers", "", "check the answers in FILE (lines \"ID: answer\") against runs of the simulator")
	step := fs.Int("step", 0, "run step K of the lab (its virtsim command)")
	solutions := fs.Bool("solutions", false, "for teachers: compute and print every answer (from runs, as --check does)")
	dir := fs.String("dir", "", "also load the labs (*.md) in this directory (a teacher's own; see labs/doc.go)")
	var key string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		key, args = args[0], args[1:]
	}
	if done, st := parseFlags(fs, args); done {
		return st
	}
	all, err := labs.All(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim lab: %v\n", err)
		return exitUsage
	}
	if key == "" {
		if *check || *answers != "" || *step != 0 || *solutions {
			fmt.Fprintln(stderr, "virtsim lab: which lab? (virtsim lab N ...; 'virtsim lab' lists them)")
			return exitUsage
		}
		fmt.Fprintln(stdout, "Guided labs (virtsim lab N shows one; --check checks your answers):")
		for i, l := range all {
			fmt.Fprintf(stdout, "  %d  %-20s %s\n", i+1, l.Name, l.Title)
		}
		return exitOK
	}
	l, n, err := labs.Find(all, key)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim lab: %v\n", err)
		return exitUsage
	}
	switch {
	case *step != 0:
		if *step < 1 || *step > len(l.Steps) {
			fmt.Fprintf(stderr, "virtsim lab: lab %d has steps 1 to %d\n", n, len(l.Steps))
			return exitUsage
		}
		s := l.Steps[*step-1]
		fmt.Fprintf(stderr, "$ %s\n", s.Command())
		return realMain(s.Args, stdout, stderr)
	case *solutions:
		r := labs.NewRunner()
		for _, q := range l.Questions {
			a, err := r.Eval(q.Spec)
			if err != nil {
				a = "(" + err.Error() + ")"
			}
			fmt.Fprintf(stdout, "%s: %s\n", q.ID, a)
		}
		return exitOK
	case *check || *answers != "":
		given, st := readAnswers(l, *answers, labInput, stdout, stderr)
		if st != exitOK {
			return st
		}
		return report(l, labs.Check(l, given, labs.NewRunner()), stdout)
	}
	showLab(l, n, stdout)
	return exitOK
}

// showLab prints a lab: its text, numbered steps and questions.
func showLab(l *labs.Lab, n int, w io.Writer) {
	fmt.Fprintf(w, "Lab %d: %s\n", n, l.Title)
	for i, p := range l.Parts {
		switch {
		case p.Step != nil:
			fmt.Fprintf(w, "  [step %d]  $ %s\n", p.Step.N, p.Step.Command())
		case p.Question != nil:
			// a question wraps under itself, within 80 columns
			head := fmt.Sprintf("  [%s] ", p.Question.ID)
			for j, l := range wrapWords(p.Question.Text, 78-len(head)) {
				if j > 0 {
					head = strings.Repeat(" ", len(head))
				}
				fmt.Fprintln(w, head+l)
			}
		case i == 0 && p.Text == "":
			fmt.Fprintln(w) // the file's own blank line after the title
		default:
			fmt.Fprintln(w, p.Text)
		}
	}
	fmt.Fprintf(w, "\nvirtsim lab %d --step K runs step K; virtsim lab %d --check asks the questions and checks your answers against runs.\n", n, n)
}

// readAnswers reads "ID: answer" lines from a file, or asks each question
// on stdin (one line per answer).
func readAnswers(l *labs.Lab, path string, in io.Reader, stdout, stderr io.Writer) (map[string]string, int) {
	given := map[string]string{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "virtsim lab: %v\n", err)
			return nil, exitNoInput
		}
		known := map[string]bool{}
		for _, q := range l.Questions {
			known[q.ID] = true
		}
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			id, a, ok := strings.Cut(line, ":")
			if !ok || !known[strings.TrimSpace(id)] {
				fmt.Fprintf(stderr, "virtsim lab: %s:%d: want \"ID: answer\" with an ID of this lab, got %q\n", path, i+1, line)
				return nil, exitUsage
			}
			given[strings.TrimSpace(id)] = strings.TrimSpace(a)
		}
		return given, exitOK
	}
	sc := bufio.NewScanner(in)
	for _, q := range l.Questions {
		fmt.Fprintf(stdout, "[%s] %s\n> ", q.ID, q.Text)
		if !sc.Scan() {
			fmt.Fprintln(stdout)
			break
		}
		given[q.ID] = strings.TrimSpace(sc.Text())
	}
	return given, exitOK
}

// report prints the verdicts; the status is 0 when every checkable answer
// is right, 1 otherwise.
func report(l *labs.Lab, vs []labs.Verdict, w io.Writer) int {
	right, wrong, skipped := 0, 0, 0
	fmt.Fprintf(w, "\nChecking against runs of the simulator:\n")
	for _, v := range vs {
		switch {
		case v.Unavailable():
			skipped++
			fmt.Fprintf(w, "  %-18s not checkable here: %v\n", v.Q.ID, v.Err)
		case v.Err != nil:
			wrong++
			fmt.Fprintf(w, "  %-18s the run failed: %v\n", v.Q.ID, v.Err)
		case v.OK:
			right++
			fmt.Fprintf(w, "  %-18s right: %s\n", v.Q.ID, v.Given)
		default:
			wrong++
			given := v.Given
			if given == "" {
				given = "(no answer)"
			}
			fmt.Fprintf(w, "  %-18s not what virtsim shows: you said %q; look again: %s\n", v.Q.ID, given, v.Q.Spec.Command())
		}
	}
	fmt.Fprintf(w, "%d right, %d to look at again", right, wrong)
	if skipped > 0 {
		fmt.Fprintf(w, ", %d not checkable on this machine", skipped)
	}
	fmt.Fprintln(w)
	if wrong > 0 {
		return exitRegression
	}
	return exitOK
}
