package migrate

import (
	"errors"
	"fmt"

	"virtsim/guest"
	"virtsim/vmm"
	"virtsim/vmstate"
)

// ErrNotSupported marks a strategy that cannot save or restore VMs.
var ErrNotSupported = errors.New("strategy cannot save or restore a VM")

// RunAndSave boots img under s and runs it until at least at instructions
// have run (a counting run), then saves the VM. If the guest stops before
// the cut, the state is nil and the result says how it stopped.
func RunAndSave(s *vmm.Strategy, img *guest.Image, cfg vmm.Config, at uint64) (*vmstate.State, *vmm.Result, error) {
	cfg.Count = true
	inst, err := s.New(img, cfg)
	if err != nil {
		return nil, nil, err
	}
	defer inst.Close()
	st, err := SaveAt(inst, at)
	return st, inst.Result(), err
}

// SaveAt runs inst until its instruction count reaches at (counted from
// boot, across restores) and saves it; nil if the guest stopped first.
func SaveAt(inst vmm.Instance, at uint64) (*vmstate.State, error) {
	p, ok1 := inst.(vmm.Pauser)
	sn, ok2 := inst.(vmm.Snapshotter)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("migrate: %s: %w", inst.Result().Strategy, ErrNotSupported)
	}
	p.PauseAt(at)
	stop, err := inst.Run()
	if err != nil || stop.Kind != vmm.StopNone {
		return nil, err
	}
	return sn.SaveState()
}

// Restore boots a fresh instance of s for img and puts the saved VM into
// it. The caller runs and closes it.
func Restore(s *vmm.Strategy, img *guest.Image, cfg vmm.Config, st *vmstate.State) (vmm.Instance, error) {
	inst, err := Boot(s, img, cfg, st.Guest, st.Args, st.MemSize)
	if err != nil {
		return nil, err
	}
	if err := Load(inst, st); err != nil {
		inst.Close()
		return nil, err
	}
	return inst, nil
}

// Boot makes the fresh instance a saved VM of guest (args, memSize) will
// be loaded into: a destination boots it before the state arrives.
func Boot(s *vmm.Strategy, img *guest.Image, cfg vmm.Config, guestName, args string, memSize uint32) (vmm.Instance, error) {
	if s.Substrate != "unicorn" {
		return nil, fmt.Errorf("migrate: %s runs on %s: restoring into it is not implemented (the saved CPU would go through KVM_SET_SREGS, untested here)", s.Name, s.Substrate)
	}
	cfg.Count = true
	cfg.Name, cfg.Args, cfg.MemSize = guestName, args, memSize
	inst, err := s.New(img, cfg)
	if err != nil {
		return nil, err
	}
	if _, ok := inst.(vmm.Restorer); !ok {
		inst.Close()
		return nil, fmt.Errorf("migrate: %s: %w", s.Name, ErrNotSupported)
	}
	return inst, nil
}

// Load puts a saved VM into a freshly booted instance (Boot).
func Load(inst vmm.Instance, st *vmstate.State) error {
	r, ok := inst.(vmm.Restorer)
	if !ok {
		return fmt.Errorf("migrate: %s: %w", inst.Result().Strategy, ErrNotSupported)
	}
	return r.LoadState(st)
}

// RunRestored restores st under s and runs it to the end.
func RunRestored(s *vmm.Strategy, img *guest.Image, cfg vmm.Config, st *vmstate.State) (*vmm.Result, error) {
	inst, err := Restore(s, img, cfg, st)
	if err != nil {
		return nil, err
	}
	return vmm.RunToEnd(inst)
}

// ImageFor loads the image a saved VM ran: its catalogue workload's build
// (native or PV, as saved). An image from a file is the caller's to load.
func ImageFor(st *vmstate.State) (*guest.Image, error) {
	w, err := guest.Lookup(st.Guest)
	if err != nil {
		return nil, fmt.Errorf("migrate: the saved VM ran %q, not a catalogue workload: give its image (--image): %w", st.Guest, err)
	}
	img, err := w.LoadFor(st.Image.PV, st.MemSize)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return img, nil
}
