package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"virtsim/disk"
	"virtsim/experiments"
	"virtsim/guest"
	"virtsim/hypercall"
	"virtsim/partition"
	"virtsim/vmm"
	"virtsim/vmm/unicorn"
)

func cmdList(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("list", "", stdout, stderr)
	if done, st := parseFlags(fs, args); done {
		return st
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKLOAD\tDEFAULT ARGS\tIMAGES\tDESCRIPTION")
	for _, w := range guest.All() {
		images := "native"
		if len(w.PVImage) > 0 {
			images += "+pv" // guest/images/NAME.elf and NAME.pv.elf
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", w.Name, w.DefaultArgs, images, w.Description)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "STRATEGY\tSUBSTRATE\tDESCRIPTION")
	ucErr := unicorn.CheckVersion()
	for _, s := range vmm.Strategies() {
		desc := s.Description
		err := s.Available()
		if err == nil && s.Substrate == "unicorn" {
			err = ucErr
		}
		if err != nil {
			desc += " [unavailable: " + err.Error() + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, substrateLabel(s.Substrate), desc)
	}
	tw.Flush()
	return exitOK
}

// target is what a run command runs: a catalogue workload or an image file.
type target struct {
	name string
	img  *guest.Image
	args string
}

// loadTarget resolves --guest/--image into an image: for a catalogue
// workload, its PV build when pv is set (a strategy with Strategy.PV).
// status is a virtsim exit status when err is set.
func loadTarget(guestName, imagePath, load, args string, mem uint32, pv bool) (t target, status int, err error) {
	switch {
	case guestName != "" && imagePath != "":
		return t, exitUsage, errors.New("give --guest or --image, not both")
	case guestName == "" && imagePath == "":
		return t, exitUsage, errors.New("give --guest NAME (see 'virtsim list') or --image FILE")
	case guestName != "":
		w, err := guest.Lookup(guestName)
		if err != nil {
			return t, exitUsage, err
		}
		img, err := w.LoadFor(pv, mem)
		if err != nil {
			// The catalogue's images are valid: what fails is this
			// configuration (too little --mem), a usage error.
			return t, exitUsage, fmt.Errorf("workload %s does not fit this machine: %w", w.Name, err)
		}
		if args == "" {
			args = w.DefaultArgs
		}
		if err := guest.CheckCmdline(args); err != nil {
			return t, exitUsage, fmt.Errorf("--args: %w", err)
		}
		return target{w.Name, img, args}, 0, nil
	}
	data, err := os.ReadFile(imagePath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return t, exitNoInput, err
		}
		return t, exitNoInput, err
	}
	var img *guest.Image
	if load != "" {
		addr, perr := strconv.ParseUint(load, 0, 32)
		if perr != nil {
			return t, exitUsage, fmt.Errorf("--load %q: not an address", load)
		}
		img, err = guest.LoadFlat(data, uint32(addr), mem)
	} else {
		img, err = guest.Load(data, mem)
	}
	if err != nil {
		return t, exitBadImage, fmt.Errorf("%s: %w", imagePath, err)
	}
	name := imagePath
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	img.Name = name
	if err := guest.CheckCmdline(args); err != nil {
		return t, exitUsage, fmt.Errorf("--args: %w", err)
	}
	if pv {
		// The pv strategy runs only paravirtual builds; a native image
		// is the user's mistake, found before anything runs.
		if err := hypercall.CheckImage(img); err != nil {
			return t, exitBadImage, err
		}
	}
	return target{name, img, args}, 0, nil
}

// stopStatus maps how a guest stopped to virtsim's exit status.
func stopStatus(s vmm.Stop) int {
	switch s.Kind {
	case vmm.StopExit:
		return int(s.Status & 0xFF)
	case vmm.StopHalted:
		return exitHalted
	case vmm.StopBudget:
		return exitBudget
	}
	return exitCrash
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "--guest NAME | --image FILE [flags]", stdout, stderr)
	guestName := fs.String("guest", "", "workload from the catalogue (see 'virtsim list')")
	imagePath := fs.String("image", "", "guest image file: a multiboot ELF32 kernel, or a flat binary with --load")
	load := fs.String("load", "", "load a flat binary at this address (e.g. 0x100000); entry is the load address")
	strategy := fs.String("strategy", "native", "VMM strategy (see 'virtsim list')")
	gargs := argsVar(fs, "guest command line, e.g. \"n=5000\" (default: the workload's own)")
	mem := memSizeFlag()
	fs.Var(mem, "mem", "guest RAM size, 2M to 4080M in whole 4K pages")
	jsonPath := fs.String("json", "", "write the result as JSON to this file; - for stdout (the guest's serial output then goes to stderr)")
	maxInsns := fs.Uint64("max-insns", vmm.DefaultInsnBudget, "instruction budget: stop a runaway guest after this many instructions")
	timeout := fs.Duration("timeout", vmm.DefaultTimeBudget, "time budget per pass")
	noTiming := fs.Bool("no-timing", false, "skip the uninstrumented timing pass (wall time then includes counting overhead)")
	quiet := fs.Bool("quiet", false, "no summary on stderr")
	tcSize := tcSizeFlag()
	fs.Var(tcSize, "tc-size", "bt: translation cache size, e.g. 64K (default 4M; a full cache is flushed)")
	audit := fs.Bool("audit", false, "count every executed sensitive-but-unprivileged instruction by mnemonic (slower; strategies that cannot trap them)")
	classicIF := fs.Bool("classic-if", false, "trap: keep the real IF set while the guest kernel runs, as a VMM that takes host interrupts must (pushf then shows IF=1 after cli: lab 1's hole); by default trap lends the real IF to the guest")
	diskPath := fs.String("disk", "", "private disk image (raw, qcow2, ...) as the IDE master and the PV ring's disk: the guest's writes persist, durable once it flushes")
	sharedPath := fs.String("shared-disk", "", "shared base image: never written; this VM writes into its own overlay, discarded when it stops")
	inputPath := fs.String("input", "", "guest serial input (COM1 receive): a file, queued at power-on; - reads stdin live (the default when stdin is a terminal)")
	untilOut := untilOutputFlag(fs)
	vms := fs.Int("vms", 0, "run K copies of --guest at once, each under the next strategy (native, trap, bt, pv) unless --strategy is given; per-VM output and a combined table")
	hostPath := fs.String("host", "", "run the VMs of a host description file (JSON: {\"slice\": N, \"vms\": [{\"name\", \"guest\" or \"image\", \"args\", \"strategy\", \"shares\", \"max_insns\"}]})")
	slice := fs.Uint64("slice", partition.DefaultSlice, "with --vms or --host: the time slice, in guest instructions")
	saveAt := fs.Uint64("save-at", 0, "stop after this many guest instructions (a counting run) and save the whole VM to --save-dir (see 'virtsim restore')")
	saveDir := fs.String("save-dir", "", "with --save-at: the directory to save the VM into (manifest.json, ram.bin, disk.bin)")
	if done, st := parseFlags(fs, args); done {
		return st
	}
	if (*saveAt == 0) != (*saveDir == "") {
		fmt.Fprintln(stderr, "virtsim run: --save-at and --save-dir go together")
		return exitUsage
	}
	if *hostPath != "" || *vms != 0 {
		explicit := ""
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "strategy" {
				explicit = *strategy
			}
		})
		var h *partition.Host
		dir := ""
		if *hostPath != "" {
			var st int
			var err error
			if h, dir, st, err = loadHostFile(*hostPath); err != nil {
				fmt.Fprintf(stderr, "virtsim run: --host: %v\n", err)
				return st
			}
		} else {
			var err error
			if h, err = hostFromVMs(*vms, *guestName, *gargs, explicit); err != nil {
				fmt.Fprintf(stderr, "virtsim run: %v\n", err)
				return exitUsage
			}
		}
		h.Slice = *slice
		return runHost(h, dir, stdout, stderr)
	}
	if *diskPath != "" && *sharedPath != "" {
		fmt.Fprintln(stderr, "virtsim run: --disk and --shared-disk exclude each other (one disk per VM)")
		return exitUsage
	}
	s, err := vmm.LookupStrategy(*strategy)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim run: %v\n", err)
		return exitUsage
	}
	if err := vmm.CheckMemSize(mem.n); err != nil {
		fmt.Fprintf(stderr, "virtsim run: --mem: %v\n", err)
		return exitUsage
	}
	var input []byte
	var live io.Reader
	switch {
	case *inputPath == "-" || (*inputPath == "" && stdinIsTerminal()):
		live = os.Stdin
	case *inputPath != "":
		input, err = os.ReadFile(*inputPath)
		if err != nil {
			fmt.Fprintf(stderr, "virtsim run: --input: %v\n", err)
			if errors.Is(err, os.ErrNotExist) {
				return exitNoInput
			}
			return exitUsage
		}
	}
	if err := s.Available(); err != nil {
		fmt.Fprintf(stderr, "virtsim run: strategy %s is not available here: %v\n", s.Name, err)
		return exitUnavailable
	}
	if *jsonPath != "" && *jsonPath != "-" {
		if err := checkWritable(*jsonPath); err != nil {
			fmt.Fprintf(stderr, "virtsim run: --json: %v\n", err)
			return exitUsage
		}
	}
	t, st, err := loadTarget(*guestName, *imagePath, *load, *gargs, mem.n, s.PV)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim run: %v\n", err)
		return st
	}
	serial := stdout
	if *jsonPath == "-" {
		serial = stderr
	}
	cfg := vmm.Config{
		Name: t.name, MemSize: mem.n, Args: t.args,
		InsnBudget: *maxInsns, TimeBudget: *timeout, Audit: *audit, ClassicIF: *classicIF, TCSize: tcSize.n,
		Serial: func(b byte) { serial.Write([]byte{b}) },
		Input:  input, InputReader: live, UntilOutput: *untilOut,
	}
	if *diskPath != "" || *sharedPath != "" {
		d, st, err := openDisk(*diskPath, *sharedPath)
		if err != nil {
			fmt.Fprintf(stderr, "virtsim run: %v\n", err)
			return st
		}
		defer d.Close()
		// The drive's volatile write cache: writes are durable after the
		// guest's flush command, not before.
		cfg.Disk = disk.NewWriteCache(d)
		*noTiming = true // a second pass would find the first one's writes
	}
	if *saveAt != 0 {
		return saveRun(s, t, cfg, *saveAt, *saveDir, *quiet, stderr)
	}
	// Live input cannot be replayed: one (counting) pass only.
	res, err := vmm.RunGuest(s, t.img, cfg, !*noTiming && live == nil)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim run: %v\n", err)
		if res == nil {
			return exitInternal
		}
		if errors.Is(err, vmm.ErrNotDeterministic) {
			return exitMismatch
		}
		return exitInternal
	}
	if *noTiming {
		res.Wall = 0
	}
	if !*quiet {
		fmt.Fprint(stderr, res.Summary())
	}
	if res.Stop.Kind != vmm.StopExit {
		fmt.Fprintf(stderr, "virtsim run: guest %s: %s\n", t.name, res.Stop)
	}
	if *jsonPath != "" {
		err := writeOutput(*jsonPath, stdout, func(w io.Writer) error {
			b, err := withProvenance(res, commandLine("run", args))
			if err == nil {
				_, err = w.Write(b)
			}
			return err
		})
		if err != nil {
			fmt.Fprintf(stderr, "virtsim run: write %s: %v\n", *jsonPath, err)
			return exitInternal
		}
	}
	return stopStatus(res.Stop)
}

// openDisk opens the run's disk image: private (path) or shared (base).
func openDisk(path, base string) (*disk.Image, int, error) {
	var (
		d   *disk.Image
		err error
	)
	if path != "" {
		d, err = disk.OpenPrivate(path)
	} else {
		d, err = disk.OpenShared(base)
	}
	switch {
	case err == nil:
		return d, exitOK, nil
	case errors.Is(err, os.ErrNotExist):
		return nil, exitNoInput, err
	case errors.Is(err, disk.ErrUnavailable):
		return nil, exitUnavailable, err
	case errors.Is(err, disk.ErrBadImage):
		return nil, exitBadImage, err
	}
	return nil, exitInternal, err
}

func cmdTable(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("table", "[flags]", stdout, stderr)
	timeout := fs.Duration("timeout", 30*time.Second, "time budget per run")
	quiet := fs.Bool("quiet", false, "no progress bar (drawn only on a terminal)")
	if done, st := parseFlags(fs, args); done {
		return st
	}
	var strategies []*vmm.Strategy
	for _, s := range vmm.Strategies() {
		if err := s.Available(); err != nil {
			fmt.Fprintf(stderr, "virtsim table: skipping %s: %v\n", s.Name, err)
			continue
		}
		strategies = append(strategies, s)
	}
	// Progress on a terminal only (a bar redrawn in place, gone before
	// the table): logs get the table alone.
	var progress func(experiments.Progress)
	if isTerminal(stderr) && !*quiet {
		progress = newProgress("table", stderr, false)
	}
	total, done := len(guest.All())*len(strategies), 0
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "workload\targs\t")
	for _, s := range strategies {
		fmt.Fprintf(tw, "%s exits\t%s events\t", s.Name, s.Name)
	}
	fmt.Fprintln(tw, "instructions\tstatus\t")
	worst := exitOK
	for _, w := range guest.All() {
		fmt.Fprintf(tw, "%s\t%s\t", w.Name, w.DefaultArgs)
		var insns uint64
		status := "ok"
		var refusedBy []string
		for _, s := range strategies {
			if _, refused := w.Refused[s.Name]; refused {
				// Refused by design (the run says why): not a failure.
				fmt.Fprint(tw, "n/a\tn/a\t")
				refusedBy = append(refusedBy, s.Name)
				done++
				continue
			}
			img, err := w.LoadFor(s.PV, vmm.DefaultMemSize)
			if err != nil {
				fmt.Fprintf(stderr, "virtsim table: %s: %v\n", w.Name, err)
				return exitInternal
			}
			if progress != nil {
				progress(experiments.Progress{Done: done, Total: total, Phase: "count", Label: w.Name + " under " + s.Name})
			}
			res, err := vmm.RunGuest(s, img, vmm.Config{Name: w.Name, Args: w.DefaultArgs, TimeBudget: *timeout}, false)
			done++
			if err != nil {
				fmt.Fprintf(stderr, "virtsim table: %s under %s: %v\n", w.Name, s.Name, err)
				fmt.Fprint(tw, "error\terror\t")
				worst = exitInternal
				continue
			}
			fmt.Fprintf(tw, "%d\t%d\t", res.Exits, res.Counts.Total())
			if s.Name == "native" {
				insns = res.Instructions
			}
			if res.Stop.Kind != vmm.StopExit || res.Stop.Status != 0 {
				status = fmt.Sprintf("%s: %s", s.Name, res.Stop)
				if worst == exitOK {
					worst = stopStatus(res.Stop)
				}
			}
		}
		if len(refusedBy) > 0 && status == "ok" {
			status = "ok; " + strings.Join(refusedBy, ", ") + ": n/a by design (virtsim run says why)"
		}
		fmt.Fprintf(tw, "%d\t%s\t\n", insns, status)
	}
	if progress != nil {
		progress(experiments.Progress{Done: total, Total: total, Phase: "count", Label: "done"})
	}
	tw.Flush()
	return worst
}

// stdinIsTerminal reports whether stdin is a terminal (not /dev/null, a
// pipe or a file): it answers the terminal's own ioctl.
func stdinIsTerminal() bool {
	_, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS)
	return err == nil
}

// untilOutputFlag registers --until-output: the run ends as a success
// once the guest's serial output ends with the text (Go escapes such as
// \n are understood).
func untilOutputFlag(fs *flag.FlagSet) *string {
	v := new(string)
	fs.Func("until-output", "end the run as a success (status 0) once the guest's serial output ends with `TEXT` (escapes like \\n understood): the end of a scripted session of a kernel that never powers off, e.g. xv6", func(s string) error {
		if s == "" {
			return fmt.Errorf("empty text")
		}
		if u, err := strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`); err == nil {
			s = u
		}
		*v = s
		return nil
	})
	return v
}
