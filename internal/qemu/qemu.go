// Package qemu boots a guest image under qemu-system-i386 (TCG), the
// external oracle virtsim's tests compare against: the same image must
// print the same serial output and end with the same status.
package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"virtsim/guest"
)

// Binary is the QEMU system emulator used as the oracle.
const Binary = "qemu-system-i386"

// ErrUnavailable means QEMU is not installed; tests skip with its text.
var ErrUnavailable = errors.New(Binary + " not found on PATH (Debian package qemu-system-x86; `make test` installs it)")

// Available reports whether QEMU can be run.
func Available() error {
	if _, err := exec.LookPath(Binary); err != nil {
		return ErrUnavailable
	}
	return nil
}

// Result is what QEMU printed and how it ended.
type Result struct {
	Serial string
	// Status is QEMU's exit status: (v<<1)|1 after the guest wrote v to the
	// debug-exit port, 0 after a triple fault (with -no-reboot).
	Status int
	Stderr string
}

// GuestStatus decodes Status: the guest's debug-exit value, or ok=false
// when QEMU did not end through the debug-exit device (a triple fault).
func (r Result) GuestStatus() (v int, ok bool) {
	if r.Status&1 == 1 {
		return r.Status >> 1, true
	}
	return 0, false
}

// Run boots image (an ELF multiboot kernel's bytes) with cmdline.
func Run(image []byte, cmdline string, timeout time.Duration) (Result, error) {
	return RunWith(image, Options{Cmdline: cmdline, Timeout: timeout})
}

// RunWithDisk boots image with cmdline and, if disk is not nil, a copy of
// disk as a raw image on the IDE master (-drive file=IMG,format=raw,if=ide).
func RunWithDisk(image []byte, cmdline string, disk []byte, timeout time.Duration) (Result, error) {
	return RunWith(image, Options{Cmdline: cmdline, Disk: disk, Timeout: timeout})
}

// Options are the knobs of RunWith beyond the oracle's fixed machine.
type Options struct {
	Cmdline string
	Timeout time.Duration
	// Disk, if not nil, is copied to a raw image on the IDE master.
	Disk []byte
	// Mem replaces -m 16M (e.g. "1G").
	Mem string
	// Input is the guest's serial input: QEMU's stdio backend reads it
	// from stdin (QEMU 7.2's file backend has no input path).
	Input []byte
	// Extra arguments, e.g. "-rtc", "base=2006-10-21T12:00:00".
	Extra []string
}

// RunWith boots image as Run does, with o's options.
func RunWith(image []byte, o Options) (Result, error) {
	cmdline, timeout, disk := o.Cmdline, o.Timeout, o.Disk
	if err := Available(); err != nil {
		return Result{}, err
	}
	dir, err := os.MkdirTemp("", "virtsim-qemu-")
	if err != nil {
		return Result{}, fmt.Errorf("qemu: %w", err)
	}
	defer os.RemoveAll(dir)
	kernel := filepath.Join(dir, "kernel.elf")
	if err := os.WriteFile(kernel, image, 0o644); err != nil {
		return Result{}, fmt.Errorf("qemu: %w", err)
	}
	args := guest.QEMUArgs(kernel, cmdline)
	if disk != nil {
		img := filepath.Join(dir, "disk.img")
		if err := os.WriteFile(img, disk, 0o644); err != nil {
			return Result{}, fmt.Errorf("qemu: %w", err)
		}
		args = append(args, guest.QEMUDiskArgs(img)...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if o.Mem != "" {
		for i := range args[:len(args)-1] {
			if args[i] == "-m" {
				args[i+1] = o.Mem
			}
		}
	}
	args = append(args, o.Extra...)
	cmd := exec.CommandContext(ctx, Binary, args...)
	cmd.Stdin = bytes.NewReader(o.Input)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	res := Result{Serial: out.String(), Stderr: errb.String()}
	if ctx.Err() != nil {
		return res, fmt.Errorf("qemu: guest did not finish within %s", timeout)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Status = ee.ExitCode()
	default:
		return res, fmt.Errorf("qemu: %w", err)
	}
	return res, nil
}
