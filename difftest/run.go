package difftest

import (
	"fmt"
	"strings"
	"time"

	"virtsim/guest"
	"virtsim/internal/qemu"
	"virtsim/vmm"

	// The strategies a differential run compares.
	_ "virtsim/translate"
	_ "virtsim/trap"
)

// Strategies are the Unicorn strategies every test guest runs under. pv
// needs a paravirtual build and kvm a machine with /dev/kvm (and is far
// slower here); neither runs arbitrary native images.
var Strategies = []string{"native", "trap", "bt"}

// QEMU is the oracle's name in outcomes.
const QEMU = "qemu"

// Outcome is how one run of a test guest ended: what it printed on the
// serial port and how it stopped. Two runs agree when their outcomes are equal.
type Outcome struct {
	Serial string
	// End is "exit N" for a debug-exit write of N, "triple-fault" (QEMU
	// resets; virtsim reports a triple-fault crash), or "crash: reason" /
	// "budget" / "halted" for virtsim's other stops.
	End string
}

func (o Outcome) String() string { return fmt.Sprintf("%s\n%s", o.End, o.Serial) }

// RunVM runs elf under a virtsim strategy with a budget of insns guest
// instructions (0: the default) and returns its outcome.
func RunVM(strategy string, elf []byte, insns uint64) (Outcome, error) {
	return runVM(strategy, elf, insns, false)
}

// RunVMTwoPass is RunVM followed, when the guest exits normally, by the
// timing pass `virtsim run` makes (no instrumentation: Unicorn's blocks
// are longer, the fast paths armed); an error if the two passes disagree
// on the stop or any event count.
func RunVMTwoPass(strategy string, elf []byte, insns uint64) (Outcome, error) {
	return runVM(strategy, elf, insns, true)
}

func runVM(strategy string, elf []byte, insns uint64, timed bool) (Outcome, error) {
	s, err := vmm.LookupStrategy(strategy)
	if err != nil {
		return Outcome{}, err
	}
	img, err := guest.LoadELF(elf, vmm.DefaultMemSize)
	if err != nil {
		return Outcome{}, err
	}
	img.Name = "difftest"
	res, err := vmm.RunGuest(s, img, vmm.Config{InsnBudget: insns, TimeBudget: 30 * time.Second}, timed)
	if err != nil {
		return Outcome{}, fmt.Errorf("difftest: under %s: %w", strategy, err)
	}
	return Outcome{Serial: res.Serial, End: endOf(res.Stop)}, nil
}

func endOf(s vmm.Stop) string {
	switch s.Kind {
	case vmm.StopExit:
		return fmt.Sprintf("exit %d", s.Status)
	case vmm.StopCrash:
		if strings.HasPrefix(s.Reason, "triple fault") || strings.HasPrefix(s.Reason, vmm.CauseSystemReset) {
			return "triple-fault" // QEMU resets (with -no-reboot: stops) on both
		}
		return fmt.Sprintf("crash: %s at %#x (%s)", s.Reason, s.PC, s.Insn)
	case vmm.StopHalted:
		return "halted"
	case vmm.StopBudget:
		return "budget"
	}
	return s.String()
}

// RunQEMU boots elf under QEMU TCG (-cpu qemu32) and returns its outcome.
func RunQEMU(elf []byte, timeout time.Duration) (Outcome, error) {
	r, err := qemu.Run(elf, "", timeout)
	if err != nil {
		return Outcome{}, err
	}
	if v, ok := r.GuestStatus(); ok {
		return Outcome{Serial: r.Serial, End: fmt.Sprintf("exit %d", v)}, nil
	}
	return Outcome{Serial: r.Serial, End: "triple-fault"}, nil
}
