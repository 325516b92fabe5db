package vmm

import (
	"errors"
	"fmt"

	"virtsim/guest"
)

// ErrNotDeterministic: the two passes of RunGuest disagree on the stop or
// an event count (the Unicorn strategies' counts must be a pure function
// of image, strategy and configuration).
var ErrNotDeterministic = errors.New("not deterministic")

// RunGuest runs a guest to completion the way `virtsim run` reports it: a
// counting pass (exact guest instruction count, exact instruction budget,
// the events) and then, if timed is set and the guest exited normally, a
// timing pass without instrumentation whose wall time goes into the result.
// The two passes must agree on the stop and every event count — the
// Unicorn strategies are deterministic — or RunGuest reports an error.
func RunGuest(s *Strategy, img *guest.Image, cfg Config, timed bool) (*Result, error) {
	counting := cfg
	counting.Count = true
	res, err := runOnce(s, img, counting)
	if err != nil || !timed || res.Stop.Kind != StopExit {
		return res, err
	}
	timing := cfg
	timing.Count, timing.Trace, timing.Serial = false, false, nil
	t, err := runOnce(s, img, timing)
	if err != nil {
		return res, fmt.Errorf("timing pass: %w", err)
	}
	if !SameOutcome(res, t) {
		return res, fmt.Errorf("vmm: %s under %s is %w: the counting pass ended %q with %d events, the timing pass %q with %d",
			res.Guest, s.Name, ErrNotDeterministic, res.Stop, res.Counts.Total(), t.Stop, t.Counts.Total())
	}
	res.Wall = t.Wall
	return res, nil
}

func runOnce(s *Strategy, img *guest.Image, cfg Config) (*Result, error) {
	inst, err := s.New(img, cfg)
	if err != nil {
		return nil, err
	}
	return RunToEnd(inst)
}

// RunToEnd runs inst until the guest stops, closes it and returns what it
// produced (with the run's error, if any).
func RunToEnd(inst Instance) (*Result, error) {
	defer inst.Close()
	if _, err := inst.Run(); err != nil {
		return inst.Result(), err
	}
	return inst.Result(), nil
}
