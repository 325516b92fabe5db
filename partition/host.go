package partition

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"virtsim/guest"
	"virtsim/vmm"
)

// DefaultSlice is the time slice in guest instructions.
const DefaultSlice = 20_000

// VM describes one guest of the host.
type VM struct {
	Name     string `json:"name"`
	Guest    string `json:"guest,omitempty"` // a catalogue workload
	Image    string `json:"image,omitempty"` // or an image file (relative to the host file)
	Load     string `json:"load,omitempty"`  // a flat binary's load address
	Args     string `json:"args,omitempty"`
	Strategy string `json:"strategy"`
	Shares   int    `json:"shares,omitempty"`    // tickets (default 1)
	MaxInsns uint64 `json:"max_insns,omitempty"` // its own instruction budget (default vmm.DefaultInsnBudget)

	Img *guest.Image `json:"-"` // the resolved image (a test may set it directly)
}

// Host is a host description: the VMs it runs and the slice length.
type Host struct {
	Slice uint64 `json:"slice,omitempty"` // guest instructions per time slice (default DefaultSlice)
	VMs   []VM   `json:"vms"`
}

// ParseHost reads a host description (JSON): unknown fields, a VM without
// a name, a guest or an image, or an unknown strategy are errors.
func ParseHost(b []byte) (*Host, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	h := &Host{}
	if err := dec.Decode(h); err != nil {
		return nil, fmt.Errorf("partition: host description: %w", err)
	}
	return h, h.check()
}

func (h *Host) check() error {
	if len(h.VMs) == 0 {
		return fmt.Errorf("partition: the host has no VMs")
	}
	names := map[string]bool{}
	for i := range h.VMs {
		v := &h.VMs[i]
		if v.Name == "" {
			v.Name = fmt.Sprintf("vm%d", i)
		}
		if names[v.Name] {
			return fmt.Errorf("partition: two VMs are named %q", v.Name)
		}
		names[v.Name] = true
		if (v.Guest == "") == (v.Image == "") && v.Img == nil {
			return fmt.Errorf("partition: VM %s: give a guest (catalogue workload) or an image, not both", v.Name)
		}
		if _, err := vmm.LookupStrategy(v.Strategy); err != nil {
			return fmt.Errorf("partition: VM %s: %w", v.Name, err)
		}
		if v.Shares < 0 || v.Shares > Stride1 {
			return fmt.Errorf("partition: VM %s: shares %d out of range 1..%d", v.Name, v.Shares, Stride1)
		}
		if v.Shares == 0 {
			v.Shares = 1
		}
	}
	return nil
}

// Resolve loads the VMs' images; image paths are relative to dir.
func (h *Host) Resolve(dir string) error {
	for i := range h.VMs {
		v := &h.VMs[i]
		if v.Img != nil {
			continue
		}
		s, err := vmm.LookupStrategy(v.Strategy)
		if err != nil {
			return err
		}
		if v.Guest != "" {
			w, err := guest.Lookup(v.Guest)
			if err != nil {
				return fmt.Errorf("partition: VM %s: %w", v.Name, err)
			}
			if v.Img, err = w.LoadFor(s.PV, vmm.DefaultMemSize); err != nil {
				return fmt.Errorf("partition: VM %s: %w", v.Name, err)
			}
			if v.Args == "" {
				v.Args = w.DefaultArgs
			}
			continue
		}
		path := v.Image
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("partition: VM %s: %w", v.Name, err)
		}
		if v.Load != "" {
			addr, perr := strconv.ParseUint(v.Load, 0, 32)
			if perr != nil {
				return fmt.Errorf("partition: VM %s: load %q: not an address", v.Name, v.Load)
			}
			v.Img, err = guest.LoadFlat(data, uint32(addr), vmm.DefaultMemSize)
		} else {
			v.Img, err = guest.Load(data, vmm.DefaultMemSize)
		}
		if err != nil {
			return fmt.Errorf("partition: VM %s: %s: %w", v.Name, v.Image, err)
		}
		v.Img.Name = filepath.Base(v.Image)
	}
	return nil
}
