package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"virtsim/guest"
)

// cmdNewGuest writes the guest SDK for a new guest: a folder whose make
// builds NAME.elf and NAME.pv.elf from C.
func cmdNewGuest(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("new-guest", "NAME [--dir D]", stdout, stderr)
	dir := fs.String("dir", "", "folder to create (default ./NAME); it must not exist or be empty")
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if done, st := parseFlags(fs, args); done {
		return st
	}
	if name == "" {
		fmt.Fprintln(stderr, "virtsim new-guest: give the guest a name: virtsim new-guest NAME [--dir D]")
		return exitUsage
	}
	d := *dir
	if d == "" {
		d = name
	}
	files, err := guest.NewGuest(name, d)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim new-guest: %v\n", err)
		if errors.Is(err, guest.ErrGuestExists) || len(files) == 0 {
			return exitUsage
		}
		return exitInternal
	}
	fmt.Fprintf(stdout, "wrote %d files into %s: %s.c is yours, sdk/virtsim.h says what a guest may do.\n", len(files), d, name)
	fmt.Fprintf(stdout, "  cd %s && make            # %s.elf and %s.pv.elf\n", d, name, name)
	fmt.Fprintf(stdout, "  make run VIRTSIM=virtsim   # under native, trap, bt and pv\n")
	fmt.Fprintf(stdout, "  make qemu                  # on QEMU, the bare-metal oracle\n")
	return exitOK
}
