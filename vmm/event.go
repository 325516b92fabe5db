package vmm

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"virtsim/vmm/x86"
)

// Mechanism is how a VMM (or the hardware) got control of an event.
type Mechanism uint8

// The mechanisms of DESIGN.md section 3. The order is the order tables print.
const (
	MechMachine    Mechanism = iota // the hardware model delivered it: no VMM involved
	MechTrap                        // a fault taken into the VMM
	MechCallout                     // translated code calling the VMM
	MechHypercall                   // the paravirtual guest asked the VMM
	MechVMExit                      // KVM exit to user space
	MechKernel                      // KVM handled it in the host kernel
	MechEmulation                   // KVM's emulator refused it; virtsim finished it
	MechInTC                        // translated code handled it in place
	MechSharedInfo                  // a PV shared-memory write handled it in place
	numMechanisms
)

// MechanismInfo describes one mechanism: its name in every table, file and
// golden, whether it transfers control to the VMM (an exit), and a
// one-line explanation for the TUI and the docs.
type MechanismInfo struct {
	Mech    Mechanism
	Name    string
	Exit    bool
	Explain string
}

// Mechanisms is the mechanism table.
var Mechanisms = [numMechanisms]MechanismInfo{
	{MechMachine, "machine", false, "the machine model delivered it as hardware would; no VMM ran"},
	{MechTrap, "trap", true, "the deprivileged guest faulted into the VMM, which emulated or reflected it"},
	{MechCallout, "callout", true, "translated code called out to the VMM"},
	{MechHypercall, "hypercall", true, "the paravirtual guest called the VMM explicitly"},
	{MechVMExit, "vmexit", true, "the CPU left guest mode and KVM returned to the user-space VMM"},
	{MechKernel, "kernel", true, "the CPU left guest mode and KVM handled it inside the host kernel"},
	{MechEmulation, "emulation", true, "KVM's instruction emulator gave up and the user-space VMM finished the instruction"},
	{MechInTC, "in-tc", false, "translated code handled it in place on the virtual CPU"},
	{MechSharedInfo, "shared-info", false, "a write to the shared-info page handled it in place"},
}

func (m Mechanism) String() string {
	if m < numMechanisms {
		return Mechanisms[m].Name
	}
	return fmt.Sprintf("mechanism(%d)", m)
}

// IsExit reports whether the mechanism transfers control to the VMM.
func (m Mechanism) IsExit() bool { return m < numMechanisms && Mechanisms[m].Exit }

// ParseMechanism is the inverse of String.
func ParseMechanism(s string) (Mechanism, error) {
	for _, mi := range Mechanisms {
		if mi.Name == s {
			return mi.Mech, nil
		}
	}
	return 0, fmt.Errorf("unknown mechanism %q", s)
}

// Event is one thing the guest did that a VMM may have to act on.
type Event struct {
	Cause  string    // what the guest did: "io/out:0x80", "int/0x80", "exc/#DE", "cpuid", ...
	Mech   Mechanism // how it was handled
	PC     uint32    // guest EIP of the instruction
	Icount uint64    // guest instructions retired before it (counting passes only, else 0)
}

func (e Event) String() string {
	return fmt.Sprintf("%-16s %-11s pc=%#08x", e.Cause, e.Mech, e.PC)
}

// Cause spellings. They are the same words under every strategy. The exit
// path records one per exit, so the spellings are interned: built once
// (at start-up for vectors, on first use for ports), never formatted per
// exit.
func CauseOut(port uint16) string  { return ioCause(1, port) }
func CauseIn(port uint16) string   { return ioCause(0, port) }
func CauseInt(vec uint8) string    { return intCauses[vec] }
func CausePriv(insn string) string { return "priv/" + insn }
func CauseExc(vec uint8) string    { return excCauses[vec] }

var intCauses, excCauses [256]string

func init() {
	for v := range 256 {
		intCauses[v] = fmt.Sprintf("int/%#x", v)
		excCauses[v] = "exc/" + x86.VectorName(uint8(v))
	}
}

var (
	ioCauseMu sync.Mutex
	ioCauses  = map[uint32]string{} // dir<<16 | port -> "io/out:0x80"
)

func ioCause(out uint32, port uint16) string {
	k := out<<16 | uint32(port)
	ioCauseMu.Lock()
	defer ioCauseMu.Unlock()
	c, ok := ioCauses[k]
	if !ok {
		dir := "in"
		if out != 0 {
			dir = "out"
		}
		c = fmt.Sprintf("io/%s:%#x", dir, port)
		ioCauses[k] = c
	}
	return c
}

const (
	CauseCPUID = "cpuid"
	CauseHLT   = "hlt"
)

// Key is one row of a counter table.
type Key struct {
	Cause string
	Mech  Mechanism
}

// Counts holds events aggregated by cause and mechanism.
type Counts map[Key]uint64

// Add counts one event.
func (c Counts) Add(cause string, m Mechanism) { c[Key{cause, m}]++ }

// Exits is the number of events whose mechanism is an exit.
func (c Counts) Exits() uint64 {
	var n uint64
	for k, v := range c {
		if k.Mech.IsExit() {
			n += v
		}
	}
	return n
}

// Total is the number of events of every mechanism.
func (c Counts) Total() uint64 {
	var n uint64
	for _, v := range c {
		n += v
	}
	return n
}

// Sorted returns the keys in a stable order: by cause, then mechanism.
func (c Counts) Sorted() []Key {
	keys := make([]Key, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Cause != keys[j].Cause {
			return keys[i].Cause < keys[j].Cause
		}
		return keys[i].Mech < keys[j].Mech
	})
	return keys
}

// Equal reports whether two count tables hold the same rows.
func (c Counts) Equal(o Counts) bool {
	if len(c) != len(o) {
		return false
	}
	for k, v := range c {
		if o[k] != v {
			return false
		}
	}
	return true
}

// Clone returns a copy.
func (c Counts) Clone() Counts {
	o := make(Counts, len(c))
	for k, v := range c {
		o[k] = v
	}
	return o
}

// Format renders the table as aligned text, one row per cause and mechanism.
func (c Counts) Format() string {
	var b strings.Builder
	w := len("cause")
	for k := range c {
		w = max(w, len(k.Cause))
	}
	fmt.Fprintf(&b, "  %-*s %-12s %10s\n", w, "cause", "mechanism", "count")
	for _, k := range c.Sorted() {
		exit := ""
		if k.Mech.IsExit() {
			exit = " exit"
		}
		fmt.Fprintf(&b, "  %-*s %-12s %10d%s\n", w, k.Cause, k.Mech, c[k], exit)
	}
	return b.String()
}
