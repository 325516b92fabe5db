package vmm

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"virtsim/vmm/unicorn"

	"virtsim/disk"
	"virtsim/guest"
)

// Config is everything besides the image that decides a run. Counts on the
// Unicorn strategies are a pure function of (image, Config, strategy).
type Config struct {
	// Name labels the guest in results.
	Name string
	// MemSize is guest-physical RAM in bytes (default 16 MiB).
	MemSize uint32
	// Args is the multiboot command line ("n=5000").
	Args string
	// Count enables the counting pass: exact guest instruction counts and
	// an exact instruction budget, at ~8 ns per instruction. Timing runs
	// leave it off. (One Unicorn quirk: a store that overwrites its own
	// translated block is abandoned and re-executed in a fresh block, so it
	// counts twice — the smc workload shows it.)
	Count bool
	// InsnBudget stops a counting run after this many guest instructions
	// (0 = DefaultInsnBudget).
	InsnBudget uint64
	// TimeBudget stops any run after this much wall time (0 = DefaultTimeBudget).
	TimeBudget time.Duration
	// Trace keeps every event in order in Result.Trace.
	Trace bool
	// TCSize is the translation cache size of a binary translator, in bytes
	// (0 = the translator's default). A full cache is flushed.
	TCSize uint32
	// Audit asks strategies that cannot trap every sensitive instruction to
	// count each one executed (slow: a hook on every guest instruction).
	Audit bool
	// ClassicIF keeps the real EFLAGS.IF set while a trap-and-emulate
	// guest kernel runs, as a VMM on real hardware must to take the host's
	// interrupts: the guest's pushf then shows IF=1 after its cli (the
	// Popek-Goldberg hole of lab 1). By default trap lends the real IF to
	// the guest (trap.VMM.MirrorIF), so pushf shows the virtual IF.
	ClassicIF bool
	// UntilOutput, if set, ends the run as a success (StopExit, status 0)
	// once the guest's serial output ends with it: the end of a scripted
	// session of a kernel that never powers off (xv6 printing its last
	// answer). The stop comes at the port write of its last byte, so the
	// counts stay a pure function of image, strategy and configuration.
	UntilOutput string
	// Serial, if set, receives guest serial output byte by byte as it is written.
	Serial func(b byte)
	// OnEvent, if set, receives every event as it is recorded (on the
	// goroutine running the guest).
	OnEvent func(Event)
	// Disk, if set, is the disk attached as the IDE master (and served by
	// the paravirtual ring); nil means the workload's default disk, if it
	// has one (guest.Image.Disk). The caller opens and closes it.
	Disk disk.Backend
	// Input is queued for the guest's UART (COM1) at power-on
	// (`virtsim run --input FILE`).
	Input []byte
	// LiveInput says more input may arrive while the guest runs (a terminal,
	// the UI: Machine.FeedInput); a guest waiting for it then waits in real
	// time.
	LiveInput bool
	// InputReader, if set, is a live input source (a terminal) read on a
	// goroutine of its own until it ends; it implies LiveInput.
	InputReader io.Reader
	// Engines, if set, lends the Unicorn engine (and takes it back at
	// Close) instead of opening a new one: a benchmark's timing runs
	// reuse one (unicorn.Pool). Nil: every machine opens its own.
	Engines *unicorn.Pool
}

// Defaults for Config's zero values.
const (
	DefaultMemSize    = 16 << 20
	DefaultInsnBudget = 2_000_000_000
	DefaultTimeBudget = 60 * time.Second
)

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.MemSize == 0 {
		c.MemSize = DefaultMemSize
	}
	if c.InsnBudget == 0 {
		c.InsnBudget = DefaultInsnBudget
	}
	if c.TimeBudget == 0 {
		c.TimeBudget = DefaultTimeBudget
	}
	return c
}

// Instance is one guest booted under one strategy.
type Instance interface {
	// Run runs until the guest stops (exit, crash, budget).
	Run() (Stop, error)
	// RunToExit runs until the next exit (for strategies without exits,
	// such as native, the next event), or until the guest stops.
	RunToExit() (Stop, error)
	// Step executes one guest instruction.
	Step() (Stop, error)
	// Result reports what the run has produced so far.
	Result() *Result
	// Close releases the substrate.
	Close() error
}

// Interrupter is an Instance whose run can be paused from another
// goroutine: Interrupt makes a Run or RunToExit in progress return at the
// next instruction boundary.
type Interrupter interface {
	Interrupt()
}

// Strategy is one way of running a guest.
type Strategy struct {
	Name        string
	Description string
	Substrate   string // "unicorn" or "kvm"
	// PV strategies run the paravirtual build of a workload.
	PV bool
	// Available reports whether the strategy can run on this machine, and
	// if not, why.
	Available func() error
	New       func(img *guest.Image, cfg Config) (Instance, error)
}

var registry = map[string]*Strategy{}

// Register adds a strategy; strategy packages call it from init.
func Register(s *Strategy) {
	if _, dup := registry[s.Name]; dup {
		panic("vmm: strategy registered twice: " + s.Name)
	}
	registry[s.Name] = s
}

// Strategies lists the registered strategies in their canonical order.
func Strategies() []*Strategy {
	order := map[string]int{"native": 0, "trap": 1, "bt": 2, "pv": 3, "kvm": 4}
	out := make([]*Strategy, 0, len(registry))
	for _, s := range registry {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		oi, iok := order[out[i].Name]
		oj, jok := order[out[j].Name]
		if iok && jok {
			return oi < oj
		}
		if iok != jok {
			return iok
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// LookupStrategy finds a strategy by name.
func LookupStrategy(name string) (*Strategy, error) {
	if s, ok := registry[name]; ok {
		return s, nil
	}
	var names []string
	for _, s := range Strategies() {
		names = append(names, s.Name)
	}
	return nil, fmt.Errorf("unknown strategy %q (have: %s)", name, strings.Join(names, ", "))
}

// ParseSize parses a size such as 4096, 64K, 16M or 1G (a "B" or "iB"
// suffix is accepted) for the --mem and --tc-size flags.
func ParseSize(s string) (uint32, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "IB"), "B")
	mult := uint64(1)
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, t[:len(t)-1]
	case strings.HasSuffix(t, "G"):
		mult, t = 1<<30, t[:len(t)-1]
	}
	n, err := strconv.ParseUint(t, 0, 32)
	if err != nil || n == 0 || n*mult > 0xFFFFFFFF {
		return 0, fmt.Errorf("bad size %q (want e.g. 64K or 16M)", s)
	}
	return uint32(n * mult), nil
}
