package main

import (
	"errors"

	"virtsim/experiments"
	"virtsim/hwassist"
)

// Every results set records what KVM is on this host (hardware assist or
// PVM), whether or not a kvm run is in it.
func init() {
	experiments.RegisterProvenance("kvm-flavour", func() (string, error) {
		f := hwassist.HostFlavour()
		if f.Name == "" {
			return "", errors.New(f.Why)
		}
		return f.Name, nil
	})
}
