package hypercall

import (
	"fmt"
	"sort"

	"golang.org/x/arch/x86/x86asm"

	"virtsim/vmm"
	"virtsim/vmm/unicorn"
)

// In-place events: cli and sti written as stores to the shared-info page
// cost no exit, yet they are what trap-and-emulate counts as exits, so
// virtsim counts them too, as events with mechanism shared-info.
//
// The VMM never sees a store happen (that is the point), so it finds the
// operations in the image instead, the way the machine finds I/O
// instructions: a linear decode of every segment. Each in-place macro of
// pvops-pv.inc touches the shared-info page with exactly one instruction
// of a form unique to it, its marker (`movb $1, PV_SI_MASK` is a cli). A
// counter on each marker's one address counts executions in C, with no Go
// code on the guest's path; when the run keeps a trace or reports events
// live (the TUI), a Go hook records each one as it happens instead, with
// its PC and instruction count. Either way the counts are the same.

// site is one marker instruction.
type site struct {
	pc      uint32
	cause   string
	counter *unicorn.Counter
}

// markerCause classifies an instruction that touches the shared-info page,
// or returns "" if it is not a marker.
func markerCause(inst x86asm.Inst) string {
	field, memArg, ok := siOperand(inst)
	if !ok {
		return ""
	}
	imm := func() (int64, bool) {
		if v, ok := inst.Args[1].(x86asm.Imm); ok {
			return int64(v), true
		}
		return 0, false
	}
	switch field {
	case SIMask:
		switch inst.Op {
		case x86asm.MOV:
			if v, ok := imm(); ok && memArg == 0 {
				if v == 1 {
					return "priv/cli"
				}
				if v == 0 {
					return "priv/sti"
				}
			}
		case x86asm.TEST:
			return "sens/pushf"
		case x86asm.SETE:
			return "sens/popf"
		case x86asm.OR, x86asm.AND:
			return "priv/iret"
		}
	case SICR0:
		switch {
		case inst.Op == x86asm.MOV && memArg == 1:
			return "priv/mov-from-cr0"
		case inst.Op == x86asm.MOVZX && memArg == 1:
			return "sens/smsw"
		}
	case SICR3:
		if inst.Op == x86asm.MOV && memArg == 1 {
			return "priv/mov-from-cr3"
		}
	case SICR2:
		if inst.Op == x86asm.MOV && memArg == 1 {
			return "priv/mov-from-cr2"
		}
	case SICR4:
		if inst.Op == x86asm.MOV && memArg == 1 {
			return "priv/mov-from-cr4"
		}
	case SIGDTR:
		if inst.Op == x86asm.MOV && memArg == 1 {
			return "sens/sgdt"
		}
	case SIIDTR:
		if inst.Op == x86asm.MOV && memArg == 1 {
			return "sens/sidt"
		}
	case SITR:
		if inst.Op == x86asm.MOV {
			if memArg == 0 {
				return "priv/ltr"
			}
			return "sens/str"
		}
	}
	return ""
}

// siOperand finds an absolute memory operand inside the shared-info page:
// the field's offset and which argument it is.
func siOperand(inst x86asm.Inst) (field uint32, arg int, ok bool) {
	for i, a := range inst.Args {
		mem, isMem := a.(x86asm.Mem)
		if !isMem || mem.Base != 0 || mem.Index != 0 {
			continue
		}
		addr := uint32(mem.Disp)
		if addr >= SharedInfo && addr < SharedInfo+PageSize {
			return addr - SharedInfo, i, true
		}
	}
	return 0, 0, false
}

// findSites decodes the image linearly and returns its markers.
func (p *VMM) findSites() []site {
	var out []site
	for _, seg := range p.Img.Segments {
		code := seg.Data
		for off := 0; off < len(code); {
			inst, err := x86asm.Decode(code[off:], 32)
			if err != nil || inst.Len == 0 {
				off++
				continue
			}
			if cause := markerCause(inst); cause != "" {
				out = append(out, site{pc: seg.Addr + uint32(off), cause: cause})
			}
			off += inst.Len
		}
	}
	return out
}

// installSites counts every marker: C counters, or Go hooks that record
// each event as it happens when the run keeps a trace or reports events.
func (p *VMM) installSites() error {
	p.sites = p.findSites()
	if len(p.sites) == 0 {
		return nil
	}
	if p.Cfg.Trace || p.Cfg.OnEvent != nil {
		for _, s := range p.sites {
			cause, pc := s.cause, s.pc
			if _, err := p.E.HookCode(uint64(pc), uint64(pc), func(uint64, uint32) {
				p.Record(cause, vmm.MechSharedInfo, pc)
			}); err != nil {
				return fmt.Errorf("hook shared-info site %#x: %w", pc, err)
			}
		}
		return nil
	}
	// A counter created between runs drops every translated block (tens of
	// milliseconds each); created while the engine runs it does not. So the
	// counters are made at the guest's first instruction, when only the
	// entry block has been translated (and is dropped to be safe).
	var arm unicorn.Hook
	arm, err := p.E.HookCode(uint64(p.Img.Entry), uint64(p.Img.Entry), func(uint64, uint32) {
		if p.sitesArmed {
			return
		}
		if err := p.armCounters(); err != nil {
			p.Fail(err)
		}
		if err := p.E.Del(arm); err != nil {
			p.Fail(fmt.Errorf("pv: remove the site-arming hook: %w", err))
		}
	})
	if err != nil {
		return fmt.Errorf("hook the entry point: %w", err)
	}
	return nil
}

// armCounters puts a C counter on every marker (from inside a hook, or
// between runs when a restored guest never passes its entry point).
func (p *VMM) armCounters() error {
	if p.sitesArmed {
		return nil
	}
	p.sitesArmed = true
	for i := range p.sites {
		s := &p.sites[i]
		c, err := p.E.NewInsnCounterRange(uint64(s.pc), uint64(s.pc), 0)
		if err != nil {
			return fmt.Errorf("pv: count shared-info site %#x: %w", s.pc, err)
		}
		s.counter = c
	}
	lo, hi := p.Img.Bounds()
	if err := p.E.RemoveCache(uint64(lo), hi); err != nil {
		return fmt.Errorf("pv: drop translations of the image: %w", err)
	}
	return nil
}

// siteCounts sums the C counters by cause (live hooks record their events
// themselves).
func (p *VMM) siteCounts() map[string]uint64 {
	out := map[string]uint64{}
	for _, s := range p.sites {
		if s.counter != nil {
			out[s.cause] += s.counter.Count()
		}
	}
	return out
}

// Site is one in-place operation of a PV image: the address of its marker
// instruction and the event cause it is counted under.
type Site struct {
	PC    uint32
	Cause string
}

// Sites lists the image's in-place operations, sorted by address (for tests
// and the curious).
func (p *VMM) Sites() []Site {
	out := make([]Site, len(p.sites))
	for i, s := range p.sites {
		out[i] = Site{PC: s.pc, Cause: s.cause}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PC < out[j].PC })
	return out
}
