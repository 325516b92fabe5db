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
  0-63  the guest's own status: the value it wrote to port 0xF4 (0 = success)
  64    usage error                 65  malformed guest image
  66    image file not found        69  strategy unavailable here
  70    internal error              80  guest crashed (triple fault, access outside RAM, ...)
  81    guest halted forever        82  budget exhausted (a runaway guest)
  83    counts not deterministic     1  virtsim check: a count differs from the golden file`

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

var commands []command

func init() {
	commands = []command{
		{"list", "list workloads and strategies", cmdList},
		{"run", "run one guest under one strategy", cmdRun},
		{"migrate", "live migration between two virtsim processes: --listen ADDR, then --to ADDR --guest NAME", cmdMigrate},
		{"restore", "continue a VM saved by 'run --save-at', under the same or another strategy", cmdRestore},
		{"table", "run every workload under every available strategy and print the exit table", cmdTable},
		{"tui", "step through a guest in a terminal UI and see every exit and why", cmdTUI},
		{"compare", "one workload under every strategy: exits by cause and mechanism, measured and modeled overhead", cmdCompare},
		{"bench", "workloads × strategies × repetitions: results.json, results.csv, plots, a summary", cmdBench},
		{"check", "compare exit counts with a golden file (CI regression); --update rewrites it", cmdCheck},
		{"disk-laws", "exits per disk sector by strategy: the emulated IDE disk beside the paravirtual ring", cmdDiskLaws},
		{"disk-image", "write a workload's default disk (disk, streaming) as a raw image file, for QEMU, qemu-img and --disk", cmdDiskImage},
		{"translate", "run a guest under binary translation and show each guest block beside its translation", cmdTranslate},
		{"calibrate", "measure this host's costs per exit and instruction and write a cost file", cmdCalibrate},
		{"version", "print virtsim's commit, Go, the linked libunicorn, KVM's flavour and the host (also --version)", cmdVersion},
		{"difftest", "random instruction streams under every strategy (and QEMU): divergences shrunk to reproducers", cmdDifftest},
		{"new-guest", "write a folder whose make builds a C guest, NAME.elf and NAME.pv.elf (the guest SDK)", cmdNewGuest},
		{"lab", "guided labs: 'lab' lists them, 'lab N' shows one, 'lab N --check' checks your answers", cmdLab},
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
	width := 0
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
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
		printFlags(stdout, fs)
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
		fmt.Fprintf(helps[fs].stderr, "virtsim %s: %s (see 'virtsim %s --help')\n", fs.Name(), flagError(err), fs.Name())
		return true, exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(helps[fs].stderr, "virtsim %s: unexpected argument %q (see 'virtsim %s --help')\n", fs.Name(), fs.Arg(0), fs.Name())
		return true, exitUsage
	}
	return false, 0
}

// flagError words a flag package error as "--name: why", without echoing
// the rejected value (a 5000-byte --args need not be printed back).
func flagError(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "invalid value ") {
		if i := strings.LastIndex(msg, " for flag -"); i >= 0 {
			return "--" + msg[i+len(" for flag -"):]
		}
	}
	return msg
}

// printFlags lists a command's flags in two aligned columns, "--name TYPE"
// and the description with its default, wrapped under itself.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	type row struct{ left, help string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *flag.Flag) {
		typ, help := flag.UnquoteUsage(f)
		if v, ok := f.Value.(interface{ Placeholder() string }); ok {
			typ = v.Placeholder()
		}
		left := "--" + f.Name
		if typ != "" {
			left += " " + strings.ToUpper(typ)
		}
		if d := f.DefValue; d != "" && d != "false" && d != "0" {
			help += " (default " + d + ")"
		}
		rows = append(rows, row{left, help})
		width = max(width, len(left))
	})
	for _, r := range rows {
		lines := wrapWords(r.help, max(30, 78-width-4))
		for i, l := range lines {
			left := r.left
			if i > 0 {
				left = ""
			}
			fmt.Fprintf(w, "  %-*s  %s\n", width, left, l)
		}
	}
}

// wrapWords breaks s into lines of at most n bytes at spaces.
func wrapWords(s string, n int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > n {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}
