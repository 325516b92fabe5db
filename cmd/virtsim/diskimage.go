package main

import (
	"fmt"
	"io"
	"os"

	"virtsim/guest"
)

// cmdDiskImage writes a workload's default disk as a raw image file: what
// virtsim attaches when a run names no disk, for QEMU (-drive
// file=FILE,format=raw,if=ide), qemu-img and --disk/--shared-disk.
func cmdDiskImage(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("disk-image", "--guest NAME --out FILE [--pad N]", stdout, stderr)
	guestName := fs.String("guest", "", "workload whose default disk to write (disk, streaming)")
	outPath := fs.String("out", "", "the raw image file to write")
	pad := fs.Int("pad", 0, "streaming: append N sectors to the program (counted in its header and checksum), to measure per-sector costs")
	if done, st := parseFlags(fs, args); done {
		return st
	}
	if *guestName == "" || *outPath == "" {
		fmt.Fprintln(stderr, "virtsim disk-image: want --guest NAME and --out FILE")
		return exitUsage
	}
	w, err := guest.Lookup(*guestName)
	if err != nil {
		fmt.Fprintf(stderr, "virtsim disk-image: %v\n", err)
		return exitUsage
	}
	var img []byte
	switch {
	case w.Name == "streaming":
		img, err = guest.StreamImage(*pad)
	case *pad != 0:
		err = fmt.Errorf("--pad applies to the streaming workload's disk only")
	case w.Disk == nil:
		err = fmt.Errorf("workload %s has no disk", w.Name)
	default:
		img, err = w.Disk()
	}
	if err != nil {
		fmt.Fprintf(stderr, "virtsim disk-image: %v\n", err)
		return exitUsage
	}
	out := *outPath
	if err := os.WriteFile(out, img, 0o644); err != nil {
		fmt.Fprintf(stderr, "virtsim disk-image: %v\n", err)
		return exitInternal
	}
	fmt.Fprintf(stderr, "wrote %s: %d sectors, raw (QEMU: -drive file=%s,format=raw,if=ide)\n", out, len(img)/512, out)
	return exitOK
}
