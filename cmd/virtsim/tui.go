package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"

	"virtsim/guest"
	"virtsim/tui"
	"virtsim/vmm"
)

func cmdTUI(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("tui", "[--guest NAME | --image FILE] [--strategy S] [--args ARGS]", stdout, stderr)
	guestName := fs.String("guest", "", "workload to open (see 'virtsim list'); without it, a guest picker")
	imagePath := fs.String("image", "", "guest image file (multiboot ELF32) to open and step instead of a catalogue workload; NAME.pv.elf beside NAME.elf is what pv runs")
	strategy := fs.String("strategy", "", "VMM strategy to start with (default: trap, else the first available)")
	gargs := argsVar(fs, "guest command line, e.g. \"n=10\" (default: the workload's own)")
	mem := memSizeFlag()
	fs.Var(mem, "mem", "guest RAM size, 2M to 4080M in whole 4K pages")
	maxInsns := fs.Uint64("max-insns", vmm.DefaultInsnBudget, "instruction budget: stop a runaway guest after this many instructions")
	classicIF := fs.Bool("classic-if", false, "trap: keep the real IF set while the guest kernel runs (see 'virtsim run --help')")
	if done, st := parseFlags(fs, args); done {
		return st
	}
	var img *guest.Workload
	if *imagePath != "" {
		if *guestName != "" {
			fmt.Fprintln(stderr, "virtsim tui: give --guest or --image, not both")
			return exitUsage
		}
		imgs, st, err := imageWorkloads([]string{*imagePath}, mem.n)
		if err != nil {
			fmt.Fprintf(stderr, "virtsim tui: %v\n", err)
			return st
		}
		img = &imgs[0]
		// the SDK's paravirtual build beside it is what pv runs
		if pvPath, ok := strings.CutSuffix(*imagePath, ".elf"); ok {
			if pv, err := os.ReadFile(pvPath + ".pv.elf"); err == nil {
				img.PVImage = pv
			}
		}
	}
	in, out := os.Stdin, os.Stdout
	if f, ok := stdout.(*os.File); ok {
		out = f
	}
	if !isTTY(in) || !isTTY(out) {
		fmt.Fprintln(stderr, "virtsim tui: needs a terminal (stdin and stdout must be a TTY); for scripts use 'virtsim run'")
		return exitUsage
	}
	opts := tui.Options{Guest: *guestName, Image: img, Strategy: *strategy, Args: *gargs, MemSize: mem.n, InsnBudget: *maxInsns, ClassicIF: *classicIF}
	if err := tui.Run(opts, in, out); err != nil {
		fmt.Fprintf(stderr, "virtsim tui: %v\n", err)
		if errors.Is(err, tui.ErrUnavailable) {
			return exitUnavailable
		}
		return exitUsage
	}
	return exitOK
}

func isTTY(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}
