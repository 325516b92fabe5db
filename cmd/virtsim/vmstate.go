package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"virtsim/migrate"
	"virtsim/vmm"
	"virtsim/vmstate"
)

// saveRun is `virtsim run --save-at N --save-dir DIR`: a counting run cut
// at N instructions, saved.
func saveRun(s *vmm.Strategy, t target, cfg vmm.Config, at uint64, dir string, quiet bool, stderr io.Writer) int {
	st, res, err := migrate.RunAndSave(s, t.img, cfg, at)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim run: %v\n", err)
		return exitInternal
	}
	if st == nil {
		if !quiet {
			fmt.Fprint(stderr, res.Summary())
		}
		fmt.Fprintf(stderr, "virtsim run: guest %s stopped before instruction %d (%s): nothing saved\n", t.name, at, res.Stop)
		return stopStatus(res.Stop)
	}
	if err := vmstate.Save(dir, st); err != nil {
		fmt.Fprintf(stderr, "virtsim run: %v\n", err)
		return exitInternal
	}
	if !quiet {
		fmt.Fprint(stderr, res.Summary())
	}
	fmt.Fprintf(stderr, "virtsim run: saved %s under %s at instruction %d (guest pc %#08x, CPL %d) to %s; continue it with 'virtsim restore %s [--strategy S]'\n",
		t.name, s.Name, st.Instructions, st.CPU.EIP, st.CPU.CPL, dir, dir)
	return exitOK
}

func cmdRestore(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("restore", "DIR [--strategy S] [flags]", stdout, stderr)
	var dir string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		dir, args = args[0], args[1:]
	}
	strategy := fs.String("strategy", "", "continue under this strategy (default: the one that saved it); moving between native, trap and bt works, pv only to pv")
	imagePath := fs.String("image", "", "the guest image file, for a VM that did not run a catalogue workload")
	load := fs.String("load", "", "with --image: load a flat binary at this address")
	jsonPath := fs.String("json", "", "write the result as JSON to this file; - for stdout (the guest's serial output then goes to stderr)")
	maxInsns := fs.Uint64("max-insns", vmm.DefaultInsnBudget, "instruction budget, counted from the guest's boot")
	timeout := fs.Duration("timeout", vmm.DefaultTimeBudget, "time budget of this run")
	quiet := fs.Bool("quiet", false, "no summary on stderr")
	tcSize := tcSizeFlag()
	fs.Var(tcSize, "tc-size", "bt: translation cache size")
	saveAt := fs.Uint64("save-at", 0, "save the VM again when its instruction count (from boot) reaches this")
	saveDir := fs.String("save-dir", "", "with --save-at: where to save it")
	if done, st := parseFlags(fs, args); done {
		return st
	}
	if dir == "" {
		fmt.Fprintln(stderr, "virtsim restore: give the saved VM's directory: virtsim restore DIR [--strategy S]")
		return exitUsage
	}
	if (*saveAt == 0) != (*saveDir == "") {
		fmt.Fprintln(stderr, "virtsim restore: --save-at and --save-dir go together")
		return exitUsage
	}
	st, err := vmstate.Load(dir)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim restore: %v\n", err)
		if errors.Is(err, os.ErrNotExist) {
			return exitNoInput
		}
		return exitBadImage
	}
	name := *strategy
	if name == "" {
		name = st.Strategy
	}
	s, err := vmm.LookupStrategy(name)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim restore: %v\n", err)
		return exitUsage
	}
	if err := s.Available(); err != nil {
		fmt.Fprintf(stderr, "virtsim restore: strategy %s is not available here: %v\n", s.Name, err)
		return exitUnavailable
	}
	if err := vmm.CheckMove(st, s.Name, s.PV); err != nil {
		fmt.Fprintf(stderr, "virtsim restore: refused: %v\n", err)
		return exitUsage
	}
	var t target
	if *imagePath != "" {
		var status int
		if t, status, err = loadTarget("", *imagePath, *load, st.Args, st.MemSize, s.PV); err != nil {
			fmt.Fprintf(stderr, "virtsim restore: %v\n", err)
			return status
		}
	} else {
		img, err := migrate.ImageFor(st)
		if err != nil {
			fmt.Fprintf(stderr, "virtsim restore: %v\n", err)
			return exitUsage
		}
		t = target{st.Guest, img, st.Args}
	}
	serial := stdout
	if *jsonPath == "-" {
		serial = stderr
	}
	serial.Write(st.Serial) // what the guest printed before the save
	cfg := vmm.Config{
		InsnBudget: *maxInsns, TimeBudget: *timeout, TCSize: tcSize.n,
		Serial: func(b byte) { serial.Write([]byte{b}) },
	}
	inst, err := migrate.Restore(s, t.img, cfg, st)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim restore: %v\n", err)
		return exitInternal
	}
	defer inst.Close()
	if *saveAt != 0 {
		next, err := migrate.SaveAt(inst, *saveAt)
		if err == nil && next != nil {
			err = vmstate.Save(*saveDir, next)
		}
		if err != nil {
			fmt.Fprintf(stderr, "virtsim restore: %v\n", err)
			return exitInternal
		}
		res := inst.Result()
		if !*quiet {
			fmt.Fprint(stderr, res.Summary())
		}
		if next == nil {
			fmt.Fprintf(stderr, "virtsim restore: guest %s stopped before instruction %d (%s): nothing saved\n", t.name, *saveAt, res.Stop)
			return stopStatus(res.Stop)
		}
		fmt.Fprintf(stderr, "virtsim restore: saved %s under %s at instruction %d to %s\n", t.name, s.Name, next.Instructions, *saveDir)
		return exitOK
	}
	_, err = inst.Run()
	res := inst.Result()
	if err != nil {
		fmt.Fprintf(stderr, "virtsim restore: %v\n", err)
		return exitInternal
	}
	if !*quiet {
		fmt.Fprint(stderr, res.Summary())
	}
	if res.Stop.Kind != vmm.StopExit {
		fmt.Fprintf(stderr, "virtsim restore: guest %s: %s\n", t.name, res.Stop)
	}
	if *jsonPath != "" {
		err := writeOutput(*jsonPath, stdout, func(w io.Writer) error {
			b, err := withProvenance(res, commandLine("restore", append([]string{dir}, args...)))
			if err == nil {
				_, err = w.Write(b)
			}
			return err
		})
		if err != nil {
			fmt.Fprintf(stderr, "virtsim restore: write %s: %v\n", *jsonPath, err)
			return exitInternal
		}
	}
	return stopStatus(res.Stop)
}
