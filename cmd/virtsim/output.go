package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"virtsim/guest"
)

// writeOutput writes what f produces to path, or to stdout when path is
// "-" (the convention of --json -).
func writeOutput(path string, stdout io.Writer, f func(io.Writer) error) error {
	if path == "-" {
		return f(stdout)
	}
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	err = f(fh)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return err
}

// imageWorkloads turns --image files into workloads for the experiments
// commands: each a multiboot ELF32 kernel, named by its file name, with no
// paravirtual build (pv is skipped for it, with that reason). The status is
// a virtsim exit status when err is set: 66 for a missing file, 65 for one
// that does not load, 64 for a name that shadows a catalogue workload.
func imageWorkloads(paths []string, mem uint32) ([]guest.Workload, int, error) {
	var out []guest.Workload
	seen := map[string]bool{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, exitNoInput, fmt.Errorf("--image %s: %w", p, err)
			}
			return nil, exitNoInput, fmt.Errorf("--image: %w", err)
		}
		if _, err := guest.LoadELF(data, mem); err != nil {
			return nil, exitBadImage, fmt.Errorf("--image %s: %w", p, err)
		}
		name := filepath.Base(p)
		if _, err := guest.Lookup(name); err == nil {
			return nil, exitUsage, fmt.Errorf("--image %s: its name %q is a catalogue workload; rename the file", p, name)
		}
		if seen[name] {
			return nil, exitUsage, fmt.Errorf("--image %s: two images named %q", p, name)
		}
		seen[name] = true
		out = append(out, guest.Workload{Name: name, Description: "image file " + p, Image: data, Source: p})
	}
	return out, 0, nil
}

// checkWritable reports whether a file can be written at path without
// writing it: its folder exists and takes a new file, and path itself is
// not a folder.
func checkWritable(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a folder", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".virtsim-write-check-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
