package partition

import (
	"fmt"
	"io"
	"text/tabwriter"

	"virtsim/vmm"
)

// VMResult is one VM's outcome on the host.
type VMResult struct {
	VM     VM
	Result *vmm.Result // nil if the VM could not be created
	Err    error       // why it could not be created or failed inside the VMM
	Slices int         // time slices it ran
}

// Report is the outcome of a host run.
type Report struct {
	Slice    uint64
	VMs      []VMResult
	Schedule []int // the VM index of every slice, in order
}

type vmRun struct {
	inst     vmm.Instance
	pass     uint64
	runnable bool
}

// Run runs every VM of h to its end, sharing the CPU by stride
// scheduling in slices of h.Slice guest instructions. h must be resolved.
func Run(h *Host) (*Report, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	slice := h.Slice
	if slice == 0 {
		slice = DefaultSlice
	}
	rep := &Report{Slice: slice, VMs: make([]VMResult, len(h.VMs))}
	runs := make([]vmRun, len(h.VMs))
	for i, v := range h.VMs {
		rep.VMs[i].VM = v
		if v.Img == nil {
			return nil, fmt.Errorf("partition: VM %s has no image (Resolve)", v.Name)
		}
		inst, err := newVM(v)
		if err != nil {
			rep.VMs[i].Err = err
			continue
		}
		runs[i] = vmRun{inst: inst, pass: Stride(v.Shares), runnable: true}
	}
	defer func() {
		for _, r := range runs {
			if r.inst != nil {
				r.inst.Close()
			}
		}
	}()
	pass := make([]uint64, len(runs))
	runnable := make([]bool, len(runs))
	for {
		for i, r := range runs {
			pass[i], runnable[i] = r.pass, r.runnable
		}
		i := Next(pass, runnable)
		if i < 0 {
			break
		}
		r := &runs[i]
		vr := &rep.VMs[i]
		vr.Slices++
		rep.Schedule = append(rep.Schedule, i)
		r.inst.(vmm.Pauser).PauseAt(uint64(vr.Slices) * slice)
		stop, err := r.inst.Run()
		if err != nil {
			vr.Err = err
			r.runnable = false
		} else if stop.Kind != vmm.StopNone {
			r.runnable = false
		}
		r.pass += Stride(h.VMs[i].Shares)
	}
	for i, r := range runs {
		if r.inst != nil {
			rep.VMs[i].Result = r.inst.Result()
		}
	}
	return rep, nil
}

func newVM(v VM) (vmm.Instance, error) {
	s, err := vmm.LookupStrategy(v.Strategy)
	if err != nil {
		return nil, err
	}
	if err := s.Available(); err != nil {
		return nil, fmt.Errorf("strategy %s is not available: %w", s.Name, err)
	}
	cfg := vmm.Config{Name: v.Name, Args: v.Args, Count: true, InsnBudget: v.MaxInsns}
	inst, err := s.New(v.Img, cfg)
	if err != nil {
		return nil, err
	}
	if _, ok := inst.(vmm.Pauser); !ok {
		inst.Close()
		return nil, fmt.Errorf("strategy %s cannot be time-sliced (no PauseAt)", s.Name)
	}
	return inst, nil
}

// Table writes the combined table: one line per VM.
func (r *Report) Table(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "VM\tGUEST\tSTRATEGY\tSHARES\tSLICES\tINSTRUCTIONS\tEXITS\tEVENTS\tSERIAL BYTES\tSTOP\n")
	for _, v := range r.VMs {
		guestName := v.VM.Guest
		if guestName == "" {
			guestName = v.VM.Image
		}
		if v.Result == nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t-\t-\t-\t-\t-\tnot started: %v\n", v.VM.Name, guestName, v.VM.Strategy, v.VM.Shares, v.Err)
			continue
		}
		stop := v.Result.Stop.String()
		if v.Err != nil {
			stop = "VMM error: " + v.Err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", v.VM.Name, guestName, v.VM.Strategy, v.VM.Shares, v.Slices,
			v.Result.Instructions, v.Result.Exits, v.Result.Counts.Total(), len(v.Result.Serial), stop)
	}
	return tw.Flush()
}
