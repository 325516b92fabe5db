package hwassist

import (
	"fmt"

	"virtsim/guest"
	"virtsim/vmm"
)

func init() {
	vmm.Register(&vmm.Strategy{
		Name:        "kvm",
		Description: description(),
		Substrate:   "kvm",
		Available:   Available,
		New: func(img *guest.Image, cfg vmm.Config) (vmm.Instance, error) {
			return New(img, cfg)
		},
	})
}

// description names the flavour in `virtsim list`.
func description() string {
	f := HostFlavour()
	d := "hardware-assisted virtualization through /dev/kvm: the guest runs in the CPU's guest mode; exits reach the VMM"
	// A flavour is named only where KVM can run: a loaded module
	// without a usable /dev/kvm is not "here".
	if f.Name != "" && Available() == nil {
		d += "; here: " + f.Describe()
	}
	return d
}

var _ vmm.Instance = (*VM)(nil)
var _ vmm.Inspector = (*VM)(nil)
var _ vmm.Interrupter = (*VM)(nil)
var _ vmm.InputFeeder = (*VM)(nil) // the UI types into the guest's UART (vmm.Platform.FeedInput)

// Result reports the run so far: events, the in-kernel statistics as
// counters named kvm/STAT (the change over the run, beside the exits and
// never added into them), and the flavour.
func (v *VM) Result() *vmm.Result {
	r := v.res
	r.Counts = v.res.Counts.Clone()
	r.Trace = append([]vmm.Event(nil), v.res.Trace...)
	r.Stop = v.stop
	if v.stop.Kind == vmm.StopNone {
		r.Stop.PC = uint32(v.regs.RIP)
	}
	r.Serial = v.Serial.Output.String()
	r.Exits = r.Counts.Exits()
	r.Timed = []string{CauseIRQWindow} // when a window opens is the host's timing
	r.Counters = map[string]uint64{}
	for k, n := range v.res.Counters {
		r.Counters[k] = n
	}
	counted := false
	if v.schema != nil && v.stats != nil {
		if after, err := v.schema.snapshot(v.stats); err == nil {
			for k, n := range statsDelta(v.schema, v.statsBefore, after) {
				r.Counters[k] = n
			}
			if v.Cfg.Count && v.Flavour.Name == FlavourPVM {
				// PVM's emulator runs every guest instruction: its count,
				// plus the ones the VMM finished before KVM saw them, is
				// the guest's instruction count (checked against native's
				// by TestPVMCountsInstructions).
				r.Instructions = after["insn_emulation"] - v.statsBefore["insn_emulation"] + v.preEmulated
				counted = true
			}
		} else if v.statsErr == nil {
			r.Notes = append(r.Notes, "in-kernel statistics unreadable: "+err.Error())
		}
	}
	for name, n := range map[string]uint64{"kvm-eintr": v.eintr, "kvm-clock-kicks": v.kicks, "kvm-window-steps": v.steps, "kvm-user-steps": v.userSteps, "kvm-sti-shadow-windows": v.stiSteps,
		"kvm-string-io-exits": v.strIOExits, "kvm-string-io-elements": v.strIOElems} {
		if n > 0 {
			r.Counters[name] = n
		}
	}
	if on, ok := nestedPaging(v.Flavour); ok {
		r.Counters[CounterNestedPaging] = 0
		if on {
			r.Counters[CounterNestedPaging] = 1
		}
	}
	r.Notes = append([]string(nil), v.res.Notes...)
	r.Notes = append(r.Notes, fmt.Sprintf("KVM flavour %s: %s", r.Flavour, v.Flavour.Describe()))
	if v.Flavour.Name == FlavourPVM {
		r.Notes = append(r.Notes, "under PVM every 32-bit guest instruction runs in KVM's in-kernel emulator (kvm/insn_emulation counts them; kvm/exits counts batches of them); "+
			"the emulation exits are the instructions it refuses (int n, iret, lar, ...), which virtsim finishes in user space")
	}
	switch {
	case counted:
		r.Notes = append(r.Notes, "guest instructions: counted by KVM's emulator under PVM (kvm/insn_emulation, plus the instructions virtsim finished before KVM saw them); the instruction budget is not enforced on kvm: only the time budget stops a runaway guest")
	case v.Cfg.Count:
		r.Notes = append(r.Notes, "guest instructions are not counted on kvm (the guest runs on the CPU; KVM has no instruction counter), and only the time budget stops a runaway guest")
	}
	if v.statsErr != nil {
		r.Notes = append(r.Notes, "in-kernel statistics unavailable: "+v.statsErr.Error())
	}
	return &r
}

// Real reads the vCPU's registers (for the terminal UI).
func (v *VM) Real() vmm.CPUState {
	var s vmm.CPUState
	if v.thread == nil {
		return s
	}
	var c *kvmCPU
	var err error
	v.thread.do(func() {
		c, err = v.cpu()
		if err == nil {
			err = getRegs(v.vcpuFD, &c.regs)
		}
	})
	if err != nil {
		return s
	}
	r, sr := c.regs, c.sregs
	s.GPR = [8]uint32{uint32(r.RAX), uint32(r.RCX), uint32(r.RDX), uint32(r.RBX), uint32(r.RSP), uint32(r.RBP), uint32(r.RSI), uint32(r.RDI)}
	s.EIP, s.EFLAGS = uint32(r.RIP), uint32(r.RFLAGS)
	s.Seg = [6]uint16{sr.ES.Selector, sr.CS.Selector, sr.SS.Selector, sr.DS.Selector, sr.FS.Selector, sr.GS.Selector}
	s.CR0, s.CR2, s.CR3, s.CR4 = uint32(sr.CR0), uint32(sr.CR2), uint32(sr.CR3), uint32(sr.CR4)
	s.GDTBase, s.GDTLimit = uint32(sr.GDT.Base), sr.GDT.Limit
	s.IDTBase, s.IDTLimit = uint32(sr.IDT.Base), sr.IDT.Limit
	s.LDTR, s.TR = sr.LDT.Selector, sr.TR.Selector
	s.CPL = uint8(sr.CS.Selector & 3)
	return s
}

// Virtual: under KVM the guest's state is the real vCPU's.
func (v *VM) Virtual() (vmm.CPUState, bool) { return vmm.CPUState{}, false }

// ReadMem reads guest memory by linear address (paging off: physical).
func (v *VM) ReadMem(addr uint32, b []byte) error {
	if uint64(addr)+uint64(len(b)) > uint64(len(v.mem)) {
		return fmt.Errorf("hwassist: read %d bytes at %#x: %w", len(b), addr, errOutsideRAM)
	}
	copy(b, v.mem[addr:])
	for i := range b {
		b[i] = v.original(addr+uint32(i), b[i])
	}
	return nil
}

// Image is the guest image.
func (v *VM) Image() *guest.Image { return v.Img }

// DiskState reports the VM's disks.
func (v *VM) DiskState() vmm.DiskState { return v.Disks.State() }
