package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"virtsim/experiments"
)

// isTerminal reports whether w is a terminal (a progress bar is drawn only
// there; logs and CI get plain lines).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressPrinter shows a matrix run's progress on w: a bar redrawn in
// place on a terminal, one line per step otherwise.
type progressPrinter struct {
	w     io.Writer
	tty   bool
	cmd   string
	start time.Time
}

func newProgress(cmd string, w io.Writer, quiet bool) func(experiments.Progress) {
	if quiet {
		return nil
	}
	p := &progressPrinter{w: w, tty: isTerminal(w), cmd: cmd, start: time.Now()}
	return p.show
}

func (p *progressPrinter) show(pr experiments.Progress) {
	phase := "counting"
	if pr.Phase == "time" {
		phase = "timing"
	} else if pr.Phase != "count" {
		phase = pr.Phase
	}
	if !p.tty {
		fmt.Fprintf(p.w, "virtsim %s: [%d/%d] %s %s\n", p.cmd, pr.Done, pr.Total, phase, pr.Label)
		return
	}
	const width = 30
	fill := 0
	if pr.Total > 0 {
		fill = pr.Done * width / pr.Total
	}
	bar := strings.Repeat("█", fill) + strings.Repeat("░", width-fill)
	line := fmt.Sprintf("%s %d/%d %s %s %s", bar, pr.Done, pr.Total, time.Since(p.start).Round(time.Second), phase, pr.Label)
	fmt.Fprintf(p.w, "\r\x1b[K%s", line)
	if pr.Done >= pr.Total {
		fmt.Fprintln(p.w)
	}
}
