package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"virtsim/experiments"
	"virtsim/hwassist"
	"virtsim/vmm"
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
	// Where KVM itself runs: a results set from the nested rig
	// (scripts/kvm-nested.sh) says its hardware assist was emulated.
	experiments.RegisterProvenance("kvm-host", func() (string, error) {
		f := hwassist.HostFlavour()
		if f.Host == hwassist.HostBare {
			return "bare metal (the CPU shows no hypervisor)", nil
		}
		return f.Host + ": " + f.HostWhy, nil
	})
}

// withProvenance renders one run's result as indented JSON with this
// process's provenance (commit, Go, libunicorn version, KVM flavour, host)
// as its first field, "provenance", as a results set carries it.
// vmm.Result has its own MarshalJSON, so the field is spliced in front of
// its object rather than added by embedding.
func withProvenance(res *vmm.Result, command string) ([]byte, error) {
	body, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	p, err := json.Marshal(experiments.CollectProvenance(command))
	if err != nil {
		return nil, err
	}
	if len(body) < 2 || body[0] != '{' {
		return nil, fmt.Errorf("result JSON is not an object: %.20q", body)
	}
	out := append([]byte(`{"provenance":`), p...)
	if string(body) != "{}" {
		out = append(out, ',')
	}
	out = append(out, body[1:]...)
	var buf bytes.Buffer
	if err := json.Indent(&buf, out, "", "  "); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}
