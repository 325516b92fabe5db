// Command virtsim runs small x86 guests under interchangeable VMM
// strategies and reports every exit by cause and mechanism.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"virtsim/vmm/unicorn"
)

// Exit statuses of virtsim itself. A guest's own status (the value it wrote
// to the debug-exit port) passes through unchanged, so guests keep their
// statuses below 64.
const (
	exitOK          = 0
	exitUsage       = 64 // bad command line
	exitBadImage    = 65 // malformed or unloadable guest image
	exitNoInput     = 66 // image file not found
	exitUnavailable = 69 // strategy not available on this machine
	exitInternal    = 70 // virtsim itself failed
	exitCrash       = 80 // guest crash: triple fault, invalid state, access outside RAM
	exitHalted      = 81 // guest halted forever (hlt with nothing to wake it)
	exitBudget      = 82 // instruction or time budget exhausted (a runaway guest)
	exitMismatch    = 83 // counts not deterministic (the two passes of a run disagree)
	exitRegression  = 1  // virtsim check: a count differs from the golden file (what CI pipelines test for)
)

const statusHelp = `Exit status:
  the guest's own status   the value it wrote to port 0xF4 (0 = success; guests use 0-63)
  64  usage error          65  malformed guest image     66  image file not found
  69  strategy unavailable 70  internal error
  80  guest crashed (triple fault, invalid instruction with no handler, access outside RAM)
  81  guest halted forever (hlt with nothing to wake it)
  82  budget exhausted (instruction or time budget: a runaway guest)
  83  counts not deterministic
  virtsim check exits 1 when a count differs from the golden file`

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

var commands []command

func init() {
	commands = []command{
		{"list", "list workloads and strategies", cmdList},
		{"run", "run one guest under one strategy", cmdRun},
		{"table", "run every workload under every available strategy and print the exit table", cmdTable},
		{"tui", "step through a guest in a terminal UI and see every exit and why", cmdTUI},
		{"compare", "one workload under every strategy: exits by cause and mechanism, measured and modeled overhead", cmdCompare},
		{"bench", "workloads × strategies × repetitions: results.json, results.csv, plots, a summary", cmdBench},
		{"check", "compare exit counts with a golden file (CI regression); --update rewrites it", cmdCheck},
		{"disk-laws", "exits per disk sector by strategy: the emulated IDE disk beside the paravirtual ring", cmdDiskLaws},
		{"translate", "run a guest under binary translation and show each guest block beside its translation", cmdTranslate},
		{"calibrate", "measure this host's costs per exit and instruction and write a cost file", cmdCalibrate},
		{"version", "print virtsim's commit, Go, the linked libunicorn, KVM's flavour and the host (also --version)", cmdVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `virtsim — a CPU-virtualization lab.

Runs small x86 guests under interchangeable VMM strategies (native,
trap-and-emulate, binary translation, paravirtual hypercalls, KVM) and
records every exit by what the guest did (cause) and how the VMM got
control (mechanism).

Usage: virtsim COMMAND [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'virtsim COMMAND --help' for a command's flags.\n\n%s\n", statusHelp)
}

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout)
		return exitOK
	case "--version":
		args = append([]string{"version"}, args[1:]...)
	}
	for _, c := range commands {
		if c.name == args[0] {
			// The start-up check: every command that runs a guest needs
			// the libunicorn the binding was written for.
			if needsUnicorn(c.name) {
				if err := unicorn.CheckVersion(); err != nil {
					fmt.Fprintf(stderr, "virtsim %s: %v\n", c.name, err)
					return exitUnavailable
				}
			}
			return c.run(args[1:], stdout, stderr)
		}
	}
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	sort.Strings(names)
	fmt.Fprintf(stderr, "virtsim: unknown command %q (commands: %s; try 'virtsim --help')\n", args[0], strings.Join(names, ", "))
	return exitUsage
}

// newFlags makes a flag set that never exits the process: --help prints the
// command's help on stdout, a bad flag a one-line hint on stderr.
func newFlags(name, synopsis string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parseFlags reports errors itself
	fs.Usage = func() {}
	helps[fs] = flagHelp{stderr, func() {
		fmt.Fprintf(stdout, "Usage: virtsim %s %s\n\nFlags:\n", name, synopsis)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		fmt.Fprintf(stdout, "\n%s\n", statusHelp)
	}}
	return fs
}

type flagHelp struct {
	stderr io.Writer
	print  func()
}

var helps = map[*flag.FlagSet]flagHelp{}

// parseFlags parses and turns -h into a clean exit.
func parseFlags(fs *flag.FlagSet, args []string) (done bool, status int) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			helps[fs].print()
			return true, exitOK
		}
		fmt.Fprintf(helps[fs].stderr, "virtsim %s: %v (see 'virtsim %s --help')\n", fs.Name(), err, fs.Name())
		return true, exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(helps[fs].stderr, "virtsim %s: unexpected argument %q (see 'virtsim %s --help')\n", fs.Name(), fs.Arg(0), fs.Name())
		return true, exitUsage
	}
	return false, 0
}
