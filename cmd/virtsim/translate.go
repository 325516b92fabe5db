package main

import (
	"fmt"
	"io"
	"sort"

	"virtsim/translate"
	"virtsim/vmm"
)

// cmdTranslate runs a guest under binary translation and prints every
// basic block the translator made, the guest's instructions beside the
// translated code, non-IDENT instructions marked.
func cmdTranslate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("translate", "--guest NAME | --image FILE [flags]", stdout, stderr)
	guestName := fs.String("guest", "", "workload from the catalogue (see 'virtsim list')")
	imagePath := fs.String("image", "", "guest image file: a multiboot ELF32 kernel, or a flat binary with --load")
	load := fs.String("load", "", "load a flat binary at this address (e.g. 0x100000); entry is the load address")
	gargs := argsVar(fs, "guest command line, e.g. \"n=5\" (default: the workload's own)")
	mem := memSizeFlag()
	fs.Var(mem, "mem", "guest RAM size, 2M to 4080M in whole 4K pages")
	tcSize := tcSizeFlag()
	fs.Var(tcSize, "tc-size", "translation cache size, e.g. 64K (default 4M; a full cache is flushed)")
	timeout := fs.Duration("timeout", vmm.DefaultTimeBudget, "time budget")
	serial := fs.Bool("serial", false, "also print the guest's serial output")
	if done, st := parseFlags(fs, args); done {
		return st
	}
	t, st, err := loadTarget(*guestName, *imagePath, *load, *gargs, mem.n, false)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim translate: %v\n", err)
		return st
	}
	cfg := vmm.Config{Name: t.name, MemSize: mem.n, Args: t.args, TimeBudget: *timeout, TCSize: tcSize.n}
	if *serial {
		cfg.Serial = func(b byte) { stdout.Write([]byte{b}) }
	}
	b, err := translate.NewBT(t.img, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim translate: %v\n", err)
		return exitInternal
	}
	defer b.Close()
	b.KeepHistory()
	if _, err := b.Run(); err != nil {
		fmt.Fprintf(stderr, "virtsim translate: %v\n", err)
		return exitInternal
	}
	res := b.Result()
	fmt.Fprintf(stdout, "# %s %q under bt: guest | translation cache. '*' marks instructions not copied unchanged (non-IDENT).\n\n", t.name, t.args)
	if err := b.Listing(stdout); err != nil {
		fmt.Fprintf(stderr, "virtsim translate: %v\n", err)
		return exitInternal
	}
	var keys []string
	for k := range res.Counters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(stdout, "# %s\n# counters:", res.Stop)
	for _, k := range keys {
		fmt.Fprintf(stdout, " %s=%d", k, res.Counters[k])
	}
	fmt.Fprintln(stdout)
	return stopStatus(res.Stop)
}
