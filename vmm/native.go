package vmm

import "virtsim/guest"

// The native strategy: the guest kernel at real CPL 0 on the machine model,
// with no VMM at all. It is the bare-metal reference every other strategy
// is measured against: its events all have mechanism "machine" (the
// hardware delivered them), so it has no exits.
func init() {
	Register(&Strategy{
		Name:        "native",
		Description: "bare-metal reference: the guest kernel at real CPL 0 on the machine model, no VMM",
		Substrate:   "unicorn",
		Available:   func() error { return nil },
		New: func(img *guest.Image, cfg Config) (Instance, error) {
			m, err := NewMachine(img, cfg, "native")
			if err != nil {
				return nil, err
			}
			if err := m.GuardVMMRegion(true); err != nil {
				m.Close()
				return nil, err
			}
			return &native{m}, nil
		},
	})
}

type native struct{ *Machine }

// RunToExit: native has no exits, so it runs to the next event.
func (n *native) RunToExit() (Stop, error) {
	return n.RunUntil(func(Event) bool { return true })
}
