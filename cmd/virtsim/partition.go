package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"virtsim/guest"
	"virtsim/partition"
)

// hostFromVMs is `virtsim run --vms K --guest NAME`: K copies of a
// workload, under the strategy given, or else each under the next
// Unicorn strategy in turn (native, trap, bt, and pv for workloads with a
// PV build).
func hostFromVMs(k int, guestName, args, strategy string) (*partition.Host, error) {
	if guestName == "" {
		return nil, errors.New("--vms needs --guest (or use --host FILE for mixed guests)")
	}
	if k < 1 || k > 64 {
		return nil, fmt.Errorf("--vms %d: give 1 to 64 VMs", k)
	}
	w, err := guest.Lookup(guestName)
	if err != nil {
		return nil, err
	}
	cycle := []string{strategy}
	if strategy == "" {
		cycle = []string{"native", "trap", "bt"}
		if len(w.PVImage) > 0 {
			cycle = append(cycle, "pv")
		}
	}
	h := &partition.Host{}
	for i := 0; i < k; i++ {
		s := cycle[i%len(cycle)]
		if _, refused := w.Refused[s]; refused && strategy == "" {
			s = "native"
		}
		h.VMs = append(h.VMs, partition.VM{Name: fmt.Sprintf("%s-%d", w.Name, i), Guest: w.Name, Args: args, Strategy: s})
	}
	return h, nil
}

// runHost runs a host and prints each VM's serial output, then the
// combined table. The status is 0 when every VM exited with status 0,
// else the status of the first VM that did not (a crash, 80; ...).
func runHost(h *partition.Host, dir string, stdout, stderr io.Writer) int {
	if err := h.Resolve(dir); err != nil {
		fmt.Fprintf(stderr, "virtsim run: %v\n", err)
		if errors.Is(err, os.ErrNotExist) {
			return exitNoInput
		}
		return exitUsage
	}
	rep, err := partition.Run(h)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim run: %v\n", err)
		return exitUsage
	}
	status := exitOK
	for _, v := range rep.VMs {
		if v.Result == nil {
			fmt.Fprintf(stdout, "== %s (%s): not started: %v\n", v.VM.Name, v.VM.Strategy, v.Err)
			if status == exitOK {
				status = exitUnavailable
			}
			continue
		}
		fmt.Fprintf(stdout, "== %s (%s under %s): %s\n", v.VM.Name, v.Result.Guest, v.VM.Strategy, v.Result.Stop)
		out := v.Result.Serial
		const show = 4096
		if len(out) > show {
			out = out[:show] + fmt.Sprintf("\n[... %d more bytes]\n", len(v.Result.Serial)-show)
		}
		fmt.Fprint(stdout, out)
		if st := stopStatus(v.Result.Stop); st != exitOK && status == exitOK {
			status = st
		}
		if v.Err != nil && status == exitOK {
			status = exitInternal
		}
	}
	fmt.Fprintf(stdout, "\nhost: %d VMs, stride scheduling in slices of %d guest instructions (%d slices)\n", len(rep.VMs), rep.Slice, len(rep.Schedule))
	if err := rep.Table(stdout); err != nil {
		return exitInternal
	}
	return status
}

// loadHostFile reads a host description.
func loadHostFile(path string) (*partition.Host, string, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", exitNoInput, err
	}
	h, err := partition.ParseHost(b)
	if err != nil {
		return nil, "", exitUsage, fmt.Errorf("%s: %w", path, err)
	}
	return h, filepath.Dir(path), exitOK, nil
}
