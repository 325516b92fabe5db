package vmm

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"virtsim/vmstate"
)

// StopKind says why a run ended.
type StopKind uint8

const (
	StopNone   StopKind = iota // still runnable (paused after a step or an exit)
	StopExit                   // the guest wrote its status to the debug-exit port
	StopCrash                  // triple fault, invalid instruction, unhandled condition
	StopBudget                 // instruction or time budget exhausted
	StopHalted                 // hlt with interrupts disabled and nothing pending
)

var stopNames = [...]string{"running", "exit", "crash", "budget", "halted"}

func (k StopKind) String() string {
	if int(k) < len(stopNames) {
		return stopNames[k]
	}
	return fmt.Sprintf("stop(%d)", k)
}

// MarshalText makes StopKind readable in JSON.
func (k StopKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Stop describes how a run ended.
type Stop struct {
	Kind   StopKind `json:"kind"`
	Status uint32   `json:"status"`           // the guest's debug-exit value (StopExit)
	Reason string   `json:"reason,omitempty"` // what went wrong, for crashes and budgets
	PC     uint32   `json:"pc"`               // guest EIP where it stopped
	Insn   string   `json:"insn,omitempty"`   // the decoded instruction at PC, when known
}

func (s Stop) String() string {
	switch s.Kind {
	case StopExit:
		if s.Reason != "" {
			return fmt.Sprintf("guest stopped with status %d: %s", s.Status, s.Reason)
		}
		return fmt.Sprintf("guest exited with status %d", s.Status)
	case StopNone:
		return fmt.Sprintf("paused at %#08x", s.PC)
	}
	msg := fmt.Sprintf("%s at pc=%#08x", s.Reason, s.PC)
	if s.Insn != "" {
		msg += " (" + s.Insn + ")"
	}
	return msg
}

// Result is everything one run produced.
type Result struct {
	Guest    string `json:"guest"`
	Args     string `json:"args"`
	Strategy string `json:"strategy"`
	// Flavour qualifies strategies whose counts depend on what runs
	// underneath (KVM: "pvm", "vmx", "svm"); empty on Unicorn.
	Flavour string `json:"flavour,omitempty"`
	Stop    Stop   `json:"stop"`
	Serial  string `json:"serial"`
	// Counts holds every event by cause and mechanism.
	Counts Counts `json:"-"`
	// Exits is Counts.Exits(): events that transferred control to a VMM.
	Exits uint64 `json:"exits"`
	// Instructions is the guest instruction count, from a counting pass
	// (0 if the run did not count). Under a binary translator it is what
	// the CPU executed for the guest, the translation cache's code
	// included: Counters[CounterTCInstructions] is that share.
	Instructions uint64 `json:"instructions"`
	// Counters holds strategy-specific counters (translation work, in-kernel
	// KVM statistics), reported beside exits and never added into them.
	Counters map[string]uint64 `json:"counters,omitempty"`
	// Wall is the wall time of the run's timed pass.
	Wall time.Duration `json:"wall_ns"`
	// Legs are the stretches of a run restored from a saved VM, one per
	// strategy it ran under, oldest first (empty for a run from boot).
	Legs []vmstate.Leg `json:"legs,omitempty"`
	// Trace holds every event in order when the configuration asked for it.
	Trace []Event `json:"-"`
	// Notes are what the strategy wants the user to know about this run
	// (e.g. the Popek-Goldberg divergence under trap-and-emulate).
	Notes []string `json:"notes,omitempty"`
	// Uncounted names the mechanisms whose events this run did not count
	// because their counters would sit on the timed path (bt's in-TC
	// events in a timing pass); nil if it counted everything.
	// SameOutcome leaves them out of its comparison.
	Uncounted []Mechanism `json:"-"`
	// Timed names the causes whose counts depend on the host's timing, not
	// on the image alone (KVM's interrupt-window exits: whether a window
	// is still closed when the host's timer fires); SameOutcome leaves
	// them out too.
	Timed []string `json:"-"`
}

// SameOutcome reports whether a timing run ended as its counting pass
// did: the same stop and the same count of every event the timing run
// counted (all but timed.Uncounted). On a deterministic substrate any
// difference is a bug.
func SameOutcome(counted, timed *Result) bool {
	if timed.Stop.Kind != counted.Stop.Kind || timed.Stop.Status != counted.Stop.Status {
		return false
	}
	if len(timed.Uncounted) == 0 && len(timed.Timed) == 0 {
		return timed.Counts.Equal(counted.Counts)
	}
	kept := func(c Counts) Counts {
		out := Counts{}
		for k, v := range c {
			if !slices.Contains(timed.Uncounted, k.Mech) && !slices.Contains(timed.Timed, k.Cause) {
				out[k] = v
			}
		}
		return out
	}
	return kept(timed.Counts).Equal(kept(counted.Counts))
}

type jsonCount struct {
	Cause     string `json:"cause"`
	Mechanism string `json:"mechanism"`
	Exit      bool   `json:"exit"`
	Count     uint64 `json:"count"`
}

// MarshalJSON writes the counts as a sorted list of rows.
func (r *Result) MarshalJSON() ([]byte, error) {
	type plain Result
	rows := []jsonCount{}
	for _, k := range r.Counts.Sorted() {
		rows = append(rows, jsonCount{k.Cause, k.Mech.String(), k.Mech.IsExit(), r.Counts[k]})
	}
	return json.Marshal(struct {
		*plain
		Events []jsonCount `json:"events"`
	}{(*plain)(r), rows})
}

// CounterTCInstructions is the counter in which a binary translator
// reports its translation cache's share of Instructions: the guest code it
// translated and the translation's own code (lookups, in-TC emulation).
// Instructions then counts more than the guest program's own instructions.
const CounterTCInstructions = "bt/tc-insns"

// InstructionsText says what Instructions counts, for people: the guest's
// instructions, or under a binary translator what its CPU executed, the
// translation cache's share apart (the guest's own count is what native
// counts for the same image and arguments).
func (r *Result) InstructionsText() string {
	tc, ok := r.Counters[CounterTCInstructions]
	if !ok {
		return fmt.Sprintf("guest instructions: %d", r.Instructions)
	}
	return fmt.Sprintf("instructions executed: %d (%d in the translation cache: translated guest code with the translation's own; native counts the guest's alone)",
		r.Instructions, tc)
}

// Summary is the human-readable report `virtsim run` prints to stderr.
func (r *Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "virtsim: %s under %s", r.Guest, r.Strategy)
	if r.Flavour != "" {
		fmt.Fprintf(&b, " (%s)", r.Flavour)
	}
	if r.Args != "" {
		fmt.Fprintf(&b, " (%s)", r.Args)
	}
	fmt.Fprintf(&b, ": %s\n", r.Stop)
	fmt.Fprintf(&b, "  exits: %d   events: %d", r.Exits, r.Counts.Total())
	if r.Instructions > 0 {
		fmt.Fprintf(&b, "   %s", r.InstructionsText())
	}
	if r.Wall > 0 {
		// one timing, no spread: compare and bench time repeated runs
		fmt.Fprintf(&b, "   wall: %s (one run)", r.Wall.Round(time.Microsecond))
	}
	b.WriteString("\n")
	if len(r.Legs) > 0 {
		// A restored run: the stretch under each strategy, oldest first.
		b.WriteString("  legs:")
		for i, l := range r.Legs {
			if i > 0 {
				b.WriteString(" ->")
			}
			fmt.Fprintf(&b, " %s (%d instructions, %d exits)", l.Strategy, l.Instructions, l.Exits)
		}
		b.WriteString("\n")
	}
	if len(r.Counts) > 0 {
		b.WriteString(r.Counts.Format())
	}
	if len(r.Counters) > 0 {
		var names []string
		for k := range r.Counters {
			names = append(names, k)
		}
		sort.Strings(names)
		b.WriteString("  counters:")
		for _, k := range names {
			fmt.Fprintf(&b, " %s=%d", k, r.Counters[k])
		}
		b.WriteString("\n")
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	return b.String()
}
